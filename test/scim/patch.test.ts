import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { JsonObject } from "../../src/scim/documents.ts";
import { ScimError } from "../../src/scim/errors.ts";
import { parsePatchRequest } from "../../src/scim/patch.ts";
import { TEST_DB } from "../helpers/env.ts";
import { actor, cases, expand, type Seeded, seedUsers, withIds } from "./helpers.ts";

interface PatchCase {
  name: string;
  /** Applied as a PATCH of its own first (the state the case starts from). */
  before?: unknown[];
  ops: unknown[];
  expect?: [(string | number)[], unknown][];
  error?: [number, string];
}

const table = expand(cases("patch-users.json")) as { base: string; cases: PatchCase[] };
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

function at(doc: unknown, path: (string | number)[]): unknown {
  let cur: unknown = doc;
  for (const key of path) {
    if (cur === undefined || cur === null) return null;
    if (key === "length" && Array.isArray(cur)) return cur.length;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur ?? null;
}

describe(`SCIM PATCH of Users on ${TEST_DB} (cases/patch-users.json)`, () => {
  let s: Seeded;
  before(async () => {
    s = await seedUsers(["bob"]);
  });
  after(async () => {
    await s.t.close();
  });

  for (const c of table.cases) {
    test(c.name, async () => {
      const users = cases("users.json") as Record<string, JsonObject>;
      // A fresh copy of the base user per case.
      const body = withIds(
        { ...users[table.base], userName: `p${Math.random().toString(36).slice(2)}@corp.example` },
        s.ids,
      );
      if (c.name.startsWith("replace userName")) body.userName = "alice@corp.example";
      let created = await s.scim.createUser(body, actor);
      const id = String(created.id);
      if (c.before)
        created = await s.scim.patchUser(
          id,
          parsePatchRequest({ schemas: [PATCH], Operations: c.before }),
          actor,
        );
      const run = async () =>
        s.scim.patchUser(id, parsePatchRequest({ schemas: [PATCH], Operations: c.ops }), actor);
      if (c.error) {
        const [status, scimType] = c.error;
        await assert.rejects(run, (err: unknown) => {
          assert.ok(err instanceof ScimError, String(err));
          assert.equal(err.status, status, err.message);
          assert.equal(err.scimType, scimType, err.message);
          return true;
        });
        // Nothing changed.
        const after = await s.scim.getUser(id);
        assert.equal((after.meta as JsonObject).version, (created.meta as JsonObject).version);
        await s.scim.deleteUser(id, actor);
        return;
      }
      const returned = await run();
      const fetched = await s.scim.getUser(id);
      for (const [path, expected] of c.expect ?? []) {
        assert.deepEqual(at(fetched, path), expected, `GET ${path.join(".")}`);
        assert.deepEqual(at(returned, path), expected, `PATCH response ${path.join(".")}`);
      }
      const version = (r: JsonObject) => Number(/\d+/.exec(String((r.meta as JsonObject).version))?.[0]);
      assert.equal(version(fetched), version(created) + 1, "one PATCH, one new version");
      await s.scim.deleteUser(id, actor);
    });
  }
});
