/**
 * userNames that differ only in Unicode normalisation are one person (identity/user-names.ts):
 * 409 on create, found by `userName eq` in either spelling, stored and returned in NFC.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parsePatchRequest } from "../../src/scim/patch.ts";
import { createDirectory } from "../../src/identity/directory.ts";
import { createScimService, type ScimService } from "../../src/scim/service.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";
import { actor } from "./helpers.ts";

const NFC = "jos\u00e9@corp.example";
const NFD = "jose\u0301@corp.example";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe(`SCIM userName in Unicode NFC on ${TEST_DB}`, () => {
  let t: TestDb;
  let scim: ScimService;
  let joseId: string;
  before(async () => {
    t = await migratedDatabase();
    scim = createScimService(createDirectory(t.db), { baseUrl: "https://herald.test/scim/v2" });
    joseId = String((await scim.createUser({ userName: NFC }, actor)).id);
  });
  after(async () => {
    await t.close();
  });

  test("the decomposed spelling of a taken userName is 409 uniqueness", async () => {
    await assert.rejects(scim.createUser({ userName: NFD }, actor), { status: 409, scimType: "uniqueness" });
    await assert.rejects(scim.createUser({ userName: NFD.toUpperCase() }, actor), { status: 409 });
  });

  test("a decomposed userName is stored and returned composed", async () => {
    const created = await scim.createUser({ userName: "zoe\u0308@corp.example" }, actor);
    assert.equal(created.userName, "zo\u00eb@corp.example");
    assert.equal((await scim.getUser(String(created.id))).userName, "zo\u00eb@corp.example");
    const [row] = await t.db.query<{ user_name: string; user_name_key: string }>(
      "SELECT user_name, user_name_key FROM person WHERE id = ?",
      [String(created.id)],
    );
    assert.equal(row.user_name, "zo\u00eb@corp.example");
    assert.equal(row.user_name_key, "zo\u00eb@corp.example");
  });

  // [filter, sortBy] — the IdP's hot path (no sortBy, first page) and the general translation.
  for (const [spelling, name] of [
    [NFC, "composed"],
    [NFD, "decomposed"],
    [NFD.toUpperCase(), "decomposed, upper case"],
  ] as const) {
    for (const sortBy of [undefined, "userName"]) {
      test(`userName eq finds the person in the ${name} spelling (${sortBy ? "sorted" : "fast path"})`, async () => {
        const r = await scim.listUsers({
          filter: `userName eq "${spelling}"`,
          startIndex: 1,
          count: 10,
          sortBy,
        });
        assert.equal(r.total, 1);
        assert.deepEqual(
          r.resources.map((u) => u.id),
          [joseId],
        );
      });
    }
  }

  test("renaming someone to the other spelling of a taken userName is 409; renaming oneself is not", async () => {
    const other = String((await scim.createUser({ userName: "other@corp.example" }, actor)).id);
    const rename = (id: string, userName: string) =>
      scim.patchUser(
        id,
        parsePatchRequest({
          schemas: [PATCH],
          Operations: [{ op: "replace", path: "userName", value: userName }],
        }),
        actor,
      );
    await assert.rejects(rename(other, NFD), { status: 409, scimType: "uniqueness" });
    assert.equal((await rename(joseId, NFD)).userName, NFC);
    await assert.rejects(scim.replaceUser(other, { userName: NFD }, actor), { status: 409 });
  });
});
