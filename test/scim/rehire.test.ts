/**
 * The rehire rule at the directory (cases/rehire.json): which POST restores a deleted person —
 * same id, same handle — and which makes a new person whose handle is new, leaving the old one
 * reserved for the deleted record. The account side (a new actor, WebFinger, verification) is
 * tested end to end in test/identity/rehire.test.ts.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { HandleSchema, PersonSchema } from "../../src/identity/entities.ts";
import { createDirectory } from "../../src/identity/directory.ts";
import { createScimService, type ScimService } from "../../src/scim/service.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";
import { actor, cases } from "./helpers.ts";

interface RehireCase {
  name: string;
  old: Record<string, unknown>;
  new: Record<string, unknown>;
  restored: boolean;
  matchedOn?: "userName" | "email";
  handle: string;
}

const table = (cases("rehire.json") as { cases: RehireCase[] }).cases;

describe(`SCIM rehire rule on ${TEST_DB} (cases/rehire.json)`, () => {
  let t: TestDb;
  let scim: ScimService;
  before(async () => {
    t = await migratedDatabase();
    scim = createScimService(createDirectory(t.db), { baseUrl: "https://herald.test/scim/v2" });
  });
  after(async () => {
    await t.close();
  });

  const person = (id: string) => t.db.run((em) => em.getRepository(PersonSchema).findOneByOrFail({ id }));

  for (const c of table) {
    test(`${c.name} → ${c.restored ? "restored" : "a new person"}, @${c.handle}`, async () => {
      const old = await scim.createUser(c.old, actor);
      const oldId = String(old.id);
      const oldHandle = (await person(oldId)).handle!;
      await scim.deleteUser(oldId, actor);
      const created = await scim.createUser(c.new, actor);
      const id = String(created.id);
      const now = await person(id);
      assert.equal(id === oldId, c.restored, "restores the deleted record");
      assert.equal(now.handle, c.handle);
      assert.equal(now.deletedAt, null);
      assert.equal(now.active, true);
      const [audit] = await t.db.run((em) =>
        em.getRepository(AuditEventSchema).find({ where: { targetId: id }, order: { id: "DESC" }, take: 1 }),
      );
      assert.equal(audit.action, c.restored ? "scim.user.rehire" : "scim.user.create");
      const detail = JSON.parse(audit.detail ?? "{}");
      assert.equal(detail.rehireMatchedOn, c.matchedOn);
      const reserved = await t.db.run((em) =>
        em.getRepository(HandleSchema).findOneByOrFail({ handle: oldHandle }),
      );
      if (c.restored) {
        assert.equal(reserved.ownerId, id);
        return;
      }
      // The old handle stays with the deleted record, which stays deleted.
      assert.equal(reserved.ownerId, oldId);
      const former = await person(oldId);
      assert.notEqual(former.deletedAt, null);
      assert.equal(former.handle, oldHandle);
      if (c.new.externalId === c.old.externalId) assert.deepEqual(detail.sameExternalIdAs, [oldId]);
    });
  }

  test("a rehire after the old handle was relinked away gets a new handle", async () => {
    const old = await scim.createUser({ userName: "ivy@corp.example", externalId: "e-10" }, actor);
    await scim.deleteUser(String(old.id), actor);
    // What `herald person relink` leaves behind on the former record (identity/relink.ts).
    await t.db.run((em) => em.getRepository(PersonSchema).update({ id: String(old.id) }, { handle: null }));
    const back = await scim.createUser({ userName: "ivy@corp.example", externalId: "e-10" }, actor);
    assert.equal(back.id, old.id);
    assert.equal((await person(String(back.id))).handle, "ivy2");
  });
});
