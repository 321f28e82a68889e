/**
 * Migration 0032: received boosts are found by index, never by scanning the table — by the boosted
 * post's status id, by the Announce (an Undo), by booster and by author (hashes beside the IRIs,
 * which MySQL cannot index whole) — and a booster boosts a post once per account here. Rows kept
 * before it get their hashes and lose their repeats; rows an earlier version stores without hashes
 * during a rolling upgrade are still forgotten by their IRIs.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ReceivedBoostIndexes1763700000032 } from "../../src/db/migrations/0032-received-boost-indexes.ts";
import { InboundBoostSchema, iriHash } from "../../src/federation/entities.ts";
import { forgetBoosts } from "../../src/federation/received-boosts.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

const ALICE = "https://remote.example/users/alice";
const BOB = "https://remote.example/users/bob";
const CAROL = "https://remote.example/users/carol";
const POST = "https://remote.example/notes/1";
const JANE = "11111111-1111-4111-8111-111111111111";
const DORA = "22222222-2222-4222-8222-222222222222";

describe(`received boost indexes, migration 0032 (${TEST_DB})`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  const migration = new ReceivedBoostIndexes1763700000032();
  async function run(step: "up" | "down") {
    const runner = t.db.dataSource.createQueryRunner();
    try {
      await migration[step](runner);
    } finally {
      await runner.release();
    }
  }

  /** A row as a version before 0032 stores it (no hash columns named). */
  async function oldRow(actor: string, activity: string, booster: string, apiId: number) {
    await t.db.query(
      "INSERT INTO inbound_boost (actor_id, activity_hash, activity_iri, booster_iri, object_hash, object_iri, author_iri, content_html, received_at, api_id, object_api_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      [
        actor,
        iriHash(activity),
        activity,
        booster,
        iriHash(POST),
        POST,
        CAROL,
        "<p>hi</p>",
        "2026-12-05 10:00:00",
        apiId,
        apiId + 1,
      ],
    );
  }

  const rows = () => t.db.run((em) => em.getRepository(InboundBoostSchema).find({ order: { apiId: "ASC" } }));

  test("rows kept before it: hashes filled in, a booster's second boost of a post for one account dropped (the first kept)", async () => {
    await run("down");
    await oldRow(JANE, "https://remote.example/announces/a1", ALICE, 10);
    await oldRow(JANE, "https://remote.example/announces/a2", ALICE, 12);
    await oldRow(JANE, "https://remote.example/announces/b1", BOB, 14);
    await oldRow(DORA, "https://remote.example/announces/a2", ALICE, 16);
    await run("up");
    const kept = await rows();
    assert.deepEqual(
      kept.map((r) => [r.actorId, r.activityIri.split("/").at(-1), r.boosterHash, r.authorHash]),
      [
        [JANE, "a1", iriHash(ALICE), iriHash(CAROL)],
        [JANE, "b1", iriHash(BOB), iriHash(CAROL)],
        [DORA, "a2", iriHash(ALICE), iriHash(CAROL)],
      ],
    );
  });

  test("a run cut short (columns added, one index made) is finished by the next", async () => {
    await run("down");
    const quote = (x: string) => (TEST_DB === "mysql" ? `\`${x}\`` : `"${x}"`);
    for (const column of ["booster_hash", "author_hash"])
      await t.db.query(`ALTER TABLE ${quote("inbound_boost")} ADD COLUMN ${quote(column)} varchar(64) NULL`);
    await t.db.query(
      `CREATE UNIQUE INDEX ${quote("uq_inbound_boost_object_api_id")} ON ${quote("inbound_boost")} (${quote("object_api_id")})`,
    );
    // A boost the cut-short run got to, one it did not, and its repeat.
    await t.db.query(
      `UPDATE ${quote("inbound_boost")} SET ${quote("booster_hash")} = ?, ${quote("author_hash")} = ? WHERE ${quote("activity_hash")} = ?`,
      [iriHash(BOB), iriHash(CAROL), iriHash("https://remote.example/announces/b1")],
    );
    await t.db.query(
      `UPDATE ${quote("inbound_boost")} SET ${quote("booster_hash")} = NULL, ${quote("author_hash")} = NULL WHERE ${quote("activity_hash")} <> ?`,
      [iriHash("https://remote.example/announces/b1")],
    );
    await oldRow(JANE, "https://remote.example/announces/a3", ALICE, 18);
    await run("up");
    assert.deepEqual(
      (await rows()).map((r) => [r.actorId, r.activityIri.split("/").at(-1), r.boosterHash]),
      [
        [JANE, "a1", iriHash(ALICE)],
        [JANE, "b1", iriHash(BOB)],
        [DORA, "a2", iriHash(ALICE)],
      ],
    );
  });

  test("a row without hashes (an earlier version's, mid-upgrade) is forgotten by its booster's Undo, not another's", async () => {
    await oldRow(JANE, "https://remote.example/announces/a9", ALICE, 20);
    const a9 = { activityHash: iriHash("https://remote.example/announces/a9") };
    await t.db.run((em) => forgetBoosts(em, a9, "booster", new URL(BOB)));
    assert.equal((await rows()).length, 4);
    await t.db.run((em) => forgetBoosts(em, a9, "booster", new URL(ALICE)));
    assert.deepEqual(
      (await rows()).map((r) => r.activityIri.split("/").at(-1)),
      ["a1", "b1", "a2"],
    );
    // The author's deletion of their account: every boost of their posts, by hash.
    await oldRow(DORA, "https://remote.example/announces/b7", BOB, 22);
    await t.db.run((em) => forgetBoosts(em, {}, "author", new URL(CAROL)));
    assert.equal((await rows()).length, 0);
  });

  test("each lookup reads an index", async () => {
    const expected: Record<string, string[]> = {
      uq_inbound_boost_object_api_id: ["object_api_id"],
      uq_inbound_boost_reblog: ["actor_id", "booster_hash", "object_hash"],
      idx_inbound_boost_activity: ["activity_hash"],
      idx_inbound_boost_booster: ["booster_hash"],
      idx_inbound_boost_actor_booster_api: ["actor_id", "booster_hash", "api_id"],
      idx_inbound_boost_author: ["author_hash"],
    };
    for (const [name, columns] of Object.entries(expected)) {
      const found =
        TEST_DB === "mysql"
          ? (
              await t.db.query<{ col: string }>(
                "SELECT column_name AS col FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'inbound_boost' AND index_name = ? ORDER BY seq_in_index",
                [name],
              )
            ).map((r) => r.col)
          : (await t.db.query<{ name: string }>(`PRAGMA index_info('${name}')`)).map((r) => r.name);
      assert.deepEqual(found, columns, name);
    }
    if (TEST_DB !== "sqlite") return;
    const lookups: [string, RegExp][] = [
      [
        "SELECT * FROM inbound_boost WHERE object_api_id = 1 AND actor_id = 'x'",
        /uq_inbound_boost_object_api_id/,
      ],
      [
        "DELETE FROM inbound_boost WHERE activity_hash = 'x' AND booster_hash = 'y'",
        /idx_inbound_boost_(activity|booster)/,
      ],
      ["DELETE FROM inbound_boost WHERE booster_hash = 'y'", /idx_inbound_boost_booster/],
      [
        "DELETE FROM inbound_boost WHERE booster_hash IS NULL AND booster_iri = 'y'",
        /idx_inbound_boost_booster/,
      ],
      ["DELETE FROM inbound_boost WHERE author_hash = 'y'", /idx_inbound_boost_author/],
      [
        "DELETE FROM inbound_boost WHERE object_hash = 'x' AND author_hash = 'y'",
        /idx_inbound_boost_(object|author)/,
      ],
      [
        "SELECT api_id FROM inbound_boost WHERE actor_id = 'a' AND booster_hash = 'b' ORDER BY api_id DESC LIMIT 1 OFFSET 2",
        /idx_inbound_boost_actor_booster_api/,
      ],
    ];
    for (const [sql, index] of lookups) {
      const plan = (await t.db.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`))
        .map((r) => r.detail)
        .join("\n");
      assert.match(plan, index, sql);
      assert.doesNotMatch(plan, /^SCAN inbound_boost$/m, sql);
    }
  });
});
