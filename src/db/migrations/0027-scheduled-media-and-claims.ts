import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/**
 * Scheduled statuses, second step (issue 15):
 *
 * - `media_attachment.scheduled_status_id`: the scheduled status that holds an upload until it is
 *   published (then the post takes it), filed as a draft (the draft holds it), or cancelled (it is
 *   let go and swept like any unattached upload). Held uploads are not swept while they wait.
 * - `api_scheduled_status.claim_id`: the random id of the claim a worker took. Publishing commits
 *   the post (or draft) and the row's `published` (or `drafted`) in one transaction only while the
 *   claim is still this one, so a claim left by a crashed process can be taken over after a while
 *   without ever publishing twice (src/api/scheduled.ts).
 */
export class ScheduledMediaAndClaims1763700000027 implements MigrationInterface {
  name = "ScheduledMediaAndClaims1763700000027";

  async up(q: QueryRunner): Promise<void> {
    await addNullableColumns(q, "media_attachment", [
      { name: "scheduled_status_id", sqliteType: "bigint", mysqlType: "BIGINT" },
    ]);
    await q.query(
      dialectOf(q) === "mysql"
        ? "CREATE INDEX `idx_media_scheduled` ON `media_attachment` (`scheduled_status_id`)"
        : 'CREATE INDEX "idx_media_scheduled" ON "media_attachment" ("scheduled_status_id")',
    );
    await addNullableColumns(q, "api_scheduled_status", [
      { name: "claim_id", sqliteType: "varchar(36)", mysqlType: "VARCHAR(36)" },
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    await q.query(
      mysql ? "DROP INDEX `idx_media_scheduled` ON `media_attachment`" : 'DROP INDEX "idx_media_scheduled"',
    );
    for (const [table, column] of [
      ["api_scheduled_status", "claim_id"],
      ["media_attachment", "scheduled_status_id"],
    ])
      await q.query(
        mysql
          ? `ALTER TABLE \`${table}\` DROP COLUMN \`${column}\``
          : `ALTER TABLE "${table}" DROP COLUMN "${column}"`,
      );
  }
}
