import type { MigrationInterface, QueryRunner } from "typeorm";
import { dialectOf } from "../columns.ts";

/** Every column that takes ids from the one client-API counter (decision 0015; 0030's two). */
const NUMBERED: [table: string, column: string][] = [
  ["post", "api_id"],
  ["inbound_message", "api_id"],
  ["follower", "api_id"],
  ["reaction", "api_id"],
  ["api_outbound_reaction", "api_id"],
  ["inbound_boost", "api_id"],
  ["inbound_boost", "object_api_id"],
];

/**
 * Boosts kept before migration 0028 have no id of their own, so they were not shown as the
 * wrapper statuses they are on Mastodon. Each gets one now, where it belongs in time: ids are
 * `max(last + 1, ms × 1024)` (src/api/ids.ts), so the 1,024 values of a boost's millisecond are
 * free unless something else was numbered in that very millisecond; the first free one above
 * `ms × 1024` is taken, checked against every numbered table (the unique indexes are per
 * table). The counter is then raised past every id handed out, so no later row can take one.
 * A boost whose millisecond has no free value (1,024 rows numbered in it) keeps none, as before.
 */
export class OldBoostIds1763700000031 implements MigrationInterface {
  name = "OldBoostIds1763700000031";

  async up(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    const rows = (await q.query(
      `SELECT ${["account_id", "object_hash", "kind", "created_at"].map(quote).join(", ")} FROM ${quote("api_outbound_reaction")} WHERE ${quote("kind")} = 'announce' AND ${quote("api_id")} IS NULL`,
    )) as { account_id: string; object_hash: string; kind: string; created_at: unknown }[];
    if (rows.length === 0) return;
    const ordered = rows
      .map((r) => ({ ...r, ms: millis(r.created_at) }))
      .sort((a, b) => a.ms - b.ms || a.object_hash.localeCompare(b.object_hash));
    const given = new Set<number>();
    let highest = 0;
    for (const r of ordered) {
      const floor = r.ms * 1024;
      const used = new Set<number>(given);
      for (const [table, column] of NUMBERED) {
        const found = (await q.query(
          `SELECT ${quote(column)} AS v FROM ${quote(table)} WHERE ${quote(column)} BETWEEN ? AND ?`,
          [floor, floor + 1023],
        )) as { v: number | string }[];
        for (const f of found) used.add(Number(f.v));
      }
      let id = floor + 1;
      while (id <= floor + 1023 && used.has(id)) id++;
      if (id > floor + 1023 || r.ms <= 0) continue;
      await q.query(
        `UPDATE ${quote("api_outbound_reaction")} SET ${quote("api_id")} = ? WHERE ${quote("account_id")} = ? AND ${quote("object_hash")} = ? AND ${quote("kind")} = ?`,
        [id, r.account_id, r.object_hash, r.kind],
      );
      given.add(id);
      highest = Math.max(highest, id);
    }
    if (highest > 0)
      await q.query(
        `UPDATE ${quote("api_sequence")} SET ${quote("value")} = ${mysql ? "GREATEST" : "max"}(${quote("value")}, ?) WHERE ${quote("name")} = 'id'`,
        [highest],
      );
  }

  async down(): Promise<void> {
    // The ids stay: 0028's down drops the column they live in.
  }
}

/** A datetime column as read back raw: a Date (mysql2) or "YYYY-MM-DD HH:MM:SS.SSS" UTC (SQLite). */
function millis(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  const s = String(v);
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s.replace(" ", "T")}Z`);
  return Number.isFinite(t) ? t : 0;
}
