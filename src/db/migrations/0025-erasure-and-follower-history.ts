import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { addNullableColumns, autoId, dialectOf, timestamp } from "../columns.ts";

/**
 * Two things the admin console needed (issue 17):
 *
 * - `person.erased_at`: when `herald person erase` emptied a former employee's record (DESIGN
 *   rule 7). The row stays, holding only its id, the reserved handle and the dates that make
 *   verification answer "former since D".
 * - `follower_event`: every follower gained and lost, per account, with when (the insights
 *   page's followers over time). Herald deletes a follower's row when they leave, so without
 *   this the curve only counted those who stayed. Followers accepted before this migration get
 *   their "follow" from the row's created_at; those who left before it left no trace.
 */
export class ErasureAndFollowerHistory1763700000025 implements MigrationInterface {
  name = "ErasureAndFollowerHistory1763700000025";

  async up(q: QueryRunner): Promise<void> {
    const d = dialectOf(q);
    await addNullableColumns(q, "person", [
      { name: "erased_at", sqliteType: "datetime", mysqlType: "datetime(3)" },
    ]);
    await q.createTable(
      new Table({
        name: "follower_event",
        columns: [
          autoId("id", d),
          { name: "actor_id", type: "varchar", length: "36" },
          { name: "follower_hash", type: "varchar", length: "64" },
          // "follow" (became an accepted follower) or "unfollow" (an accepted follower left).
          { name: "kind", type: "varchar", length: "16" },
          timestamp("at", d),
        ],
        indices: [{ name: "idx_follower_event_actor", columnNames: ["actor_id", "at"] }],
      }),
    );
    await q.query(
      "INSERT INTO follower_event (actor_id, follower_hash, kind, at) SELECT actor_id, follower_hash, 'follow', created_at FROM follower WHERE status = 'accepted'",
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("follower_event", true);
    await q.query(
      dialectOf(q) === "mysql"
        ? "ALTER TABLE `person` DROP COLUMN `erased_at`"
        : 'ALTER TABLE "person" DROP COLUMN "erased_at"',
    );
  }
}
