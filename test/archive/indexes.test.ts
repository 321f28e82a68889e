/**
 * The compliance search's person criterion matches who acted or who approved (search.ts:
 * person_id = ? OR approver_id = ?): both columns are indexed (migration 0023 adds the approver's),
 * so the search reads two index ranges instead of the whole archive.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { matching } from "../../src/archive/search.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

describe(`archive indexes (${TEST_DB})`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  test("approver_id is indexed, and a search by person reads indexes, not the table", async () => {
    const columns =
      TEST_DB === "mysql"
        ? (
            await t.db.query<{ name: string; col: string }>(
              "SELECT index_name AS name, column_name AS col FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'archive_record' AND index_name = 'idx_archive_approver' ORDER BY seq_in_index",
            )
          ).map((r) => r.col)
        : (await t.db.query<{ name: string }>("PRAGMA index_info('idx_archive_approver')")).map(
            (r) => r.name,
          );
    assert.deepEqual(columns, ["approver_id", "recorded_at"]);
    if (TEST_DB !== "sqlite") return;
    const [sql, params] = await t.db.run(async (em) =>
      matching(em, { personId: "11111111-1111-4111-8111-111111111111" }).getQueryAndParameters(),
    );
    const plan = (await t.db.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params))
      .map((r) => r.detail)
      .join("\n");
    assert.match(plan, /idx_archive_person/);
    assert.match(plan, /idx_archive_approver/);
    assert.doesNotMatch(plan, /^SCAN r$/m);
  });
});
