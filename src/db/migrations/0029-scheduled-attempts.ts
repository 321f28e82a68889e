import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/** What a status left in `publishing` by a version before claim ids becomes, and why. */
export const LEFT_BY_EARLIER_VERSION =
  "Left in publishing by an earlier version of Herald (before claims were recorded): it may or may " +
  "not have been posted. Check the account's posts before scheduling it again.";

/**
 * Scheduled statuses, third step (issue 15):
 *
 * - `api_scheduled_status.attempts`: how many times a worker claimed it. A status whose claims
 *   keep being left behind (its publishing crashes or hangs the worker) is given up after a few
 *   (src/api/scheduled.ts, MAX_ATTEMPTS) instead of being retried forever.
 * - A row in `publishing` without a claim id was claimed by a version that published without a
 *   claim check, and may have posted already: taking it over could post twice, so it ends
 *   `failed`, saying so, and the worker never takes over a claim without an id.
 * - Images of rows scheduled before 0027 were not held: each pending row now holds its own
 *   `media_ids` that are still unattached (those of its person and account, held by nobody), so
 *   they are not swept before it is due, and it can publish them.
 */
export class ScheduledAttempts1763700000029 implements MigrationInterface {
  name = "ScheduledAttempts1763700000029";

  async up(q: QueryRunner): Promise<void> {
    await addNullableColumns(q, "api_scheduled_status", [
      { name: "attempts", sqliteType: "integer", mysqlType: "INT" },
    ]);
    await settleEarlierRows(q);
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    await q.query(
      mysql
        ? "ALTER TABLE `api_scheduled_status` DROP COLUMN `attempts`"
        : 'ALTER TABLE "api_scheduled_status" DROP COLUMN "attempts"',
    );
  }
}

/** The data part of the migration (exported for its test): rows left by earlier versions. */
export async function settleEarlierRows(q: QueryRunner): Promise<void> {
  const mysql = dialectOf(q) === "mysql";
  const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
  await q.query(
    `UPDATE ${quote("api_scheduled_status")} SET ${quote("state")} = 'failed', ${quote("outcome")} = ?, ${quote("finished_at")} = ? WHERE ${quote("state")} = 'publishing' AND ${quote("claim_id")} IS NULL`,
    [
      LEFT_BY_EARLIER_VERSION,
      mysql ? new Date() : new Date().toISOString().replace("T", " ").replace("Z", ""),
    ],
  );
  const pending = (await q.query(
    `SELECT ${["id", "person_id", "account_id", "params"].map(quote).join(", ")} FROM ${quote("api_scheduled_status")} WHERE ${quote("state")} = 'scheduled'`,
  )) as { id: number | string; person_id: string; account_id: string; params: string }[];
  for (const row of pending) {
    let mediaIds: unknown;
    try {
      mediaIds = (JSON.parse(row.params) as { mediaIds?: unknown }).mediaIds;
    } catch {
      continue;
    }
    if (!Array.isArray(mediaIds)) continue;
    for (const id of mediaIds.filter((m): m is string => typeof m === "string").slice(0, 4))
      await q.query(
        `UPDATE ${quote("media_attachment")} SET ${quote("scheduled_status_id")} = ? WHERE ${quote("id")} = ? AND ${quote("person_id")} = ? AND ${quote("account_id")} = ? AND ${quote("post_id")} IS NULL AND ${quote("draft_id")} IS NULL AND ${quote("scheduled_status_id")} IS NULL`,
        [row.id, id, row.person_id, row.account_id],
      );
  }
}
