/**
 * Migration 0012 puts userNames written before the NFC rule into NFC (identity/user-names.ts), on
 * both dialects, without failing or merging two people whose names differ only in normalisation.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { UserNameNfc1763700000012 } from "../../src/db/migrations/0012-user-name-nfc.ts";
import { type Person, PersonSchema } from "../../src/identity/entities.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

// [id, user_name, user_name_key, deleted?] as rows looked before the rule; then what they become.
const rows: [string, string, string, boolean, string, string][] = [
  [
    "p1",
    "Jose\u0301@corp.example",
    "jose\u0301@corp.example",
    false,
    "Jos\u00e9@corp.example",
    "jos\u00e9@corp.example",
  ],
  [
    "p2",
    "zo\u00eb@corp.example",
    "zo\u00eb@corp.example",
    false,
    "zo\u00eb@corp.example",
    "zo\u00eb@corp.example",
  ],
  // The same name as p2 in the other spelling: left as it was (it cannot take p2's key).
  [
    "p3",
    "zoe\u0308@corp.example",
    "zoe\u0308@corp.example",
    false,
    "zoe\u0308@corp.example",
    "zoe\u0308@corp.example",
  ],
  ["p4", "Ren\u0303e@corp.example", "\u0001deleted:p4", true, "Re\u00f1e@corp.example", "\u0001deleted:p4"],
  ["p5", "plain@corp.example", "plain@corp.example", false, "plain@corp.example", "plain@corp.example"],
];

describe(`migration 0012 (userNames in NFC) on ${TEST_DB}`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
    const now = new Date();
    for (const [id, userName, userNameKey, deleted] of rows) {
      await t.db.run((em) =>
        em.getRepository(PersonSchema).insert({
          id,
          userName,
          userNameKey,
          active: !deleted,
          createdAt: now,
          updatedAt: now,
          deletedAt: deleted ? now : null,
          version: 1,
        } as Person),
      );
    }
    const runner = t.db.dataSource.createQueryRunner();
    try {
      await new UserNameNfc1763700000012().up(runner);
    } finally {
      await runner.release();
    }
  });
  after(async () => {
    await t.close();
  });

  for (const [id, before, , , userName, userNameKey] of rows) {
    test(`${JSON.stringify(before)} → ${JSON.stringify(userName)}, key ${JSON.stringify(userNameKey)}`, async () => {
      const p = await t.db.run((em) => em.getRepository(PersonSchema).findOneByOrFail({ id }));
      assert.equal(p.userName, userName);
      assert.equal(p.userNameKey, userNameKey);
    });
  }
});
