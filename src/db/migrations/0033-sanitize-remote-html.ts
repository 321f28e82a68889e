import type { MigrationInterface, QueryRunner } from "typeorm";
import { sanitizeRemoteHtml } from "../../federation/sanitize.ts";
import { dialectOf } from "../columns.ts";

/** Rows read at a time, in primary-key order. */
const BATCH = 500;

/** The tables holding HTML received from other servers, by primary key, and their HTML column. */
const HTML: { table: string; key: string[]; column: string }[] = [
  { table: "inbound_message", key: ["id"], column: "content_html" },
  { table: "inbound_boost", key: ["actor_id", "activity_hash"], column: "content_html" },
  { table: "api_remote_account", key: ["id"], column: "note" },
];

/**
 * HTML received from other servers was kept as sent until remote HTML was cleaned on receipt
 * (src/federation/sanitize.ts): received posts' and boosted posts' content and remote accounts'
 * bios. Each kept row is cleaned now the same way, a batch at a time by primary key; a row is
 * written only when cleaning changes it, and only if it still holds what was read (an edit
 * received meanwhile, by a process of the earlier version during a rolling upgrade, is not
 * overwritten with the older words). Remote accounts' avatars that are not http(s) URLs go too
 * (profile links already were web links only); the account is looked up again within a day.
 * The archive keeps what was received, as it was.
 */
export class SanitizeRemoteHtml1763700000033 implements MigrationInterface {
  name = "SanitizeRemoteHtml1763700000033";

  async up(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    for (const { table, key, column } of HTML) {
      const keys = key.map(quote).join(", ");
      // Row-value comparison, (a, b) > (?, ?): SQLite ≥ 3.15 and MariaDB/MySQL both have it.
      const after = `(${keys}) > (${key.map(() => "?").join(", ")})`;
      const match = key.map((k) => `${quote(k)} = ?`).join(" AND ");
      let last: unknown[] | null = null;
      for (;;) {
        const rows = (await q.query(
          `SELECT ${keys}, ${quote(column)} AS html FROM ${quote(table)}${last ? ` WHERE ${after}` : ""} ORDER BY ${keys} LIMIT ${BATCH}`,
          last ?? [],
        )) as Record<string, unknown>[];
        for (const r of rows) {
          if (typeof r.html !== "string") continue;
          const clean = sanitizeRemoteHtml(r.html);
          if (clean === r.html) continue;
          await q.query(
            `UPDATE ${quote(table)} SET ${quote(column)} = ? WHERE ${match} AND ${quote(column)} = ?`,
            [clean, ...key.map((k) => r[k]), r.html],
          );
        }
        if (rows.length < BATCH) break;
        last = key.map((k) => rows[rows.length - 1][k]);
      }
    }
    await q.query(
      `UPDATE ${quote("api_remote_account")} SET ${quote("avatar")} = NULL WHERE ${quote("avatar")} IS NOT NULL AND LOWER(${quote("avatar")}) NOT LIKE 'http://%' AND LOWER(${quote("avatar")}) NOT LIKE 'https://%'`,
    );
    await q.query(
      `UPDATE ${quote("api_remote_account")} SET ${quote("url")} = NULL WHERE ${quote("url")} IS NOT NULL AND LOWER(${quote("url")}) NOT LIKE 'http://%' AND LOWER(${quote("url")}) NOT LIKE 'https://%'`,
    );
    // Pages cached by running processes (src/api/feed.ts) hold the HTML as it was: raw SQL raises
    // no version, so the global one is raised here.
    await q.query(
      `UPDATE ${quote("api_sequence")} SET ${quote("value")} = ${quote("value")} + 1 WHERE ${quote("name")} = 'feed'`,
    );
  }

  async down(): Promise<void> {
    // What was removed is not kept anywhere but the archive: nothing to put back.
  }
}
