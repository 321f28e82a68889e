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
 *   claim check, and may have posted already: taking it over could post twice, so the worker
 *   never takes over a claim without an id, and such a row ends here: `published` (or `drafted`)
 *   if the audit log holds the post (or draft) made for it, else `failed`, saying it may or may
 *   not have been posted; each audited.
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
  const now = () => (mysql ? new Date() : new Date().toISOString().replace("T", " ").replace("Z", ""));
  const leftPublishing = (await q.query(
    `SELECT ${quote("id")} FROM ${quote("api_scheduled_status")} WHERE ${quote("state")} = 'publishing' AND ${quote("claim_id")} IS NULL`,
  )) as { id: number | string }[];
  for (const { id } of leftPublishing) {
    // Earlier versions wrote the post (or draft) and its audit record in one transaction, the
    // record naming the scheduled status (src/api/publish.ts pressedSend): if it is there, the
    // status was published (or filed) and only its own row was never updated.
    const [made] = (await q.query(
      `SELECT ${quote("id")}, ${quote("action")}, ${quote("target_id")} FROM ${quote("audit_event")} WHERE ${quote("action")} IN ('post.create', 'draft.create') AND ${quote("detail")} LIKE ? ORDER BY ${quote("id")} LIMIT 1`,
      [`%"scheduledStatusId":"${String(id)}"%`],
    )) as { id: number | string; action: string; target_id: string }[];
    const [state, column, outcome] = !made
      ? (["failed", null, LEFT_BY_EARLIER_VERSION] as const)
      : made.action === "post.create"
        ? (["published", "post_id", null] as const)
        : (["drafted", "draft_id", null] as const);
    // Conditional: an old process still running (a rolling upgrade) may finish the row meanwhile.
    const changed = (await q.query(
      `UPDATE ${quote("api_scheduled_status")} SET ${quote("state")} = ?, ${quote("outcome")} = ?, ${quote("finished_at")} = ?${column ? `, ${quote(column)} = ?` : ""} WHERE ${quote("id")} = ? AND ${quote("state")} = 'publishing' AND ${quote("claim_id")} IS NULL`,
      [state, outcome, now(), ...(made && column ? [made.target_id] : []), id],
      true,
    )) as { affected?: number };
    if (changed.affected !== 1) continue;
    await q.query(
      `INSERT INTO ${quote("audit_event")} (${["at", "actor", "action", "target_type", "target_id", "detail"].map(quote).join(", ")}) VALUES (?, 'system', ?, 'scheduled_status', ?, ?)`,
      [
        now(),
        `api.scheduled.${state}`,
        String(id),
        JSON.stringify({
          reason: "left-by-earlier-version",
          migration: "0029",
          ...(made ? { evidence: { auditId: String(made.id), [made.action]: made.target_id } } : {}),
        }),
      ],
    );
  }
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
