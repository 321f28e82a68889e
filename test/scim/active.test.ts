/**
 * Only an explicit active=true turns a deactivated person back on (cases/active.json). A PATCH
 * `remove active` used to: the person was re-enabled, and every public surface said "current".
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PersonSchema } from "../../src/identity/entities.ts";
import { parsePatchRequest } from "../../src/scim/patch.ts";
import { createDirectory } from "../../src/identity/directory.ts";
import { createScimService, type ScimService } from "../../src/scim/service.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";
import { actor, cases } from "./helpers.ts";

interface ActiveCase {
  name: string;
  method: "PATCH" | "PUT";
  body: Record<string, unknown>;
  active: boolean;
}

const table = (cases("active.json") as { cases: ActiveCase[] }).cases;
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe(`SCIM active: absent is not true on ${TEST_DB} (cases/active.json)`, () => {
  let t: TestDb;
  let scim: ScimService;
  before(async () => {
    t = await migratedDatabase();
    scim = createScimService(createDirectory(t.db), { baseUrl: "https://herald.test/scim/v2" });
  });
  after(async () => {
    await t.close();
  });

  const eventsSince = async (id: number) =>
    (await t.db.query<{ type: string }>("SELECT type FROM domain_event WHERE id > ? ORDER BY id", [id])).map(
      (e) => e.type,
    );
  const lastEvent = async () =>
    Number((await t.db.query<{ n: number | null }>("SELECT MAX(id) AS n FROM domain_event"))[0].n ?? 0);

  for (const [i, c] of table.entries()) {
    test(`deactivated, then ${c.name} → ${c.active ? "active" : "still deactivated"}`, async () => {
      const userName = `leaver${i}@corp.example`;
      const id = String((await scim.createUser({ userName }, actor)).id);
      await scim.patchUser(
        id,
        parsePatchRequest({
          schemas: [PATCH],
          Operations: [{ op: "replace", path: "active", value: false }],
        }),
        actor,
      );
      const left = await t.db.run((em) => em.getRepository(PersonSchema).findOneByOrFail({ id }));
      const mark = await lastEvent();
      const body = JSON.parse(JSON.stringify(c.body).replaceAll("{{userName}}", userName));
      const answer =
        c.method === "PATCH"
          ? await scim.patchUser(id, parsePatchRequest({ schemas: [PATCH], ...body }), actor)
          : await scim.replaceUser(id, body, actor);
      assert.equal(answer.active, c.active);
      const now = await t.db.run((em) => em.getRepository(PersonSchema).findOneByOrFail({ id }));
      assert.equal(now.active, c.active);
      assert.deepEqual(
        await eventsSince(mark),
        c.active ? ["person.updated", "person.reactivated"] : ["person.updated"],
      );
      if (c.active) assert.equal(now.deactivatedAt, null);
      else
        assert.equal(now.deactivatedAt?.getTime(), left.deactivatedAt?.getTime(), "the leaving date stays");
    });
  }

  test("a PUT without active keeps an active person active", async () => {
    const id = String((await scim.createUser({ userName: "stayer@corp.example" }, actor)).id);
    const answer = await scim.replaceUser(
      id,
      { userName: "stayer@corp.example", title: "Still here" },
      actor,
    );
    assert.equal(answer.active, true);
  });
});
