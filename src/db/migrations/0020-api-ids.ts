import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { addNullableColumns, dialectOf, document, timestamp } from "../columns.ts";

/**
 * The client API, slice 2 (decision 0015): sortable numeric ids, notifications, markers and
 * scheduled statuses.
 *
 * Mastodon clients sort and paginate by id (`max_id`, `since_id`, `min_id` compare numbers in
 * strings), so posts, inbound messages, followers and reactions get an `api_id`: milliseconds
 * since the epoch times 1024 plus a sequence, drawn from one counter (`api_sequence`) so that ids
 * of all four tables are unique together (a notification's id is its source row's). Below 2^53,
 * JavaScript numbers hold them exactly (until the year 2248). Existing rows are numbered here
 * from their own times; the counter continues after the largest. The UUIDs stay: ActivityPub
 * URLs keep using them.
 */
export class ApiIds1763700000020 implements MigrationInterface {
  name = "ApiIds1763700000020";

  async up(q: QueryRunner): Promise<void> {
    const d = dialectOf(q);
    const bigint = { sqliteType: "integer", mysqlType: "bigint" };
    for (const table of ["post", "inbound_message", "follower", "reaction"])
      await addNullableColumns(q, table, [{ name: "api_id", ...bigint }]);
    // Who liked or boosted (until now only its hash was kept): notifications name them.
    await addNullableColumns(q, "reaction", [
      { name: "remote_actor_iri", sqliteType: "varchar(2048)", mysqlType: "varchar(2048)" },
    ]);

    // Number the existing rows in time order, one counter across the four tables.
    const sources = [
      { table: "post", time: "published_at", keys: ["id"] },
      { table: "inbound_message", time: "received_at", keys: ["id"] },
      { table: "follower", time: "created_at", keys: ["actor_id", "follower_hash"] },
      { table: "reaction", time: "created_at", keys: ["post_id", "kind", "remote_actor_hash"] },
    ];
    const quote = (n: string) => (d === "mysql" ? `\`${n}\`` : `"${n}"`);
    const rows: { table: string; keys: string[]; values: unknown[]; ms: number }[] = [];
    for (const s of sources) {
      const found = (await q.query(
        `SELECT ${[...s.keys, s.time].map(quote).join(", ")} FROM ${quote(s.table)}`,
      )) as Record<string, unknown>[];
      for (const r of found)
        rows.push({ table: s.table, keys: s.keys, values: s.keys.map((k) => r[k]), ms: millis(r[s.time]) });
    }
    rows.sort((a, b) => a.ms - b.ms || String(a.values[0]).localeCompare(String(b.values[0])));
    let last = 0;
    for (const r of rows) {
      last = Math.max(last + 1, r.ms * 1024);
      await q.query(
        `UPDATE ${quote(r.table)} SET ${quote("api_id")} = ? WHERE ${r.keys.map((k) => `${quote(k)} = ?`).join(" AND ")}`,
        [last, ...r.values],
      );
    }
    await q.createTable(
      new Table({
        name: "api_sequence",
        columns: [
          { name: "name", type: "varchar", length: "32", isPrimary: true },
          { name: "value", type: "bigint" },
        ],
      }),
    );
    await q.query(
      `INSERT INTO ${quote("api_sequence")} (${quote("name")}, ${quote("value")}) VALUES (?, ?)`,
      ["id", last],
    );
    const unique = async (table: string, name: string, columns: string[], isUnique = true) =>
      q.query(
        `CREATE ${isUnique ? "UNIQUE " : ""}INDEX ${quote(name)} ON ${quote(table)} (${columns.map(quote).join(", ")})`,
      );
    await unique("post", "uq_post_api_id", ["api_id"]);
    await unique("post", "idx_post_actor_api", ["actor_id", "api_id"], false);
    await unique("inbound_message", "uq_inbound_api_id", ["api_id"]);
    await unique("inbound_message", "idx_inbound_actor_api", ["actor_id", "api_id"], false);
    await unique("follower", "uq_follower_api_id", ["api_id"]);
    await unique("reaction", "uq_reaction_api_id", ["api_id"]);

    const id = (name: string, nullable = false) => ({
      name,
      type: "varchar",
      length: "36",
      isNullable: nullable,
    });
    // Remote accounts as the API shows them (numeric ids from the same counter), refreshed from
    // their actor documents.
    await q.createTable(
      new Table({
        name: "api_remote_account",
        columns: [
          { name: "id", type: "bigint", isPrimary: true },
          { name: "iri_hash", type: "varchar", length: "64" },
          { name: "iri", type: "varchar", length: "2048" },
          { name: "username", type: "varchar", length: "255" },
          { name: "acct", type: "varchar", length: "512" },
          { name: "display_name", type: "varchar", length: "255" },
          { name: "url", type: "varchar", length: "2048", isNullable: true },
          { name: "avatar", type: "varchar", length: "2048", isNullable: true },
          document("note", d),
          timestamp("fetched_at", d),
        ],
        uniques: [{ name: "uq_api_remote_account_iri", columnNames: ["iri_hash"] }],
        indices: [{ name: "idx_api_remote_account_acct", columnNames: ["acct"] }],
      }),
    );
    // Markers (GET/POST /api/v1/markers): per person and the account their token acts as.
    await q.createTable(
      new Table({
        name: "api_marker",
        columns: [
          { ...id("person_id"), isPrimary: true },
          { ...id("account_id"), isPrimary: true },
          { name: "timeline", type: "varchar", length: "16", isPrimary: true },
          { name: "last_read_id", type: "varchar", length: "32" },
          { name: "version", type: "integer" },
          timestamp("updated_at", d),
        ],
      }),
    );
    // Dismissed notifications and "clear all" (a notification at or below `up_to` is gone).
    await q.createTable(
      new Table({
        name: "api_notification_dismissal",
        columns: [
          { ...id("person_id"), isPrimary: true },
          { ...id("account_id"), isPrimary: true },
          { name: "notification_id", type: "bigint", isPrimary: true },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "api_notification_clear",
        columns: [
          { ...id("person_id"), isPrimary: true },
          { ...id("account_id"), isPrimary: true },
          { name: "up_to", type: "bigint" },
          timestamp("cleared_at", d),
        ],
      }),
    );
    // Our accounts' favourites and boosts of remote posts (to show them and to undo them).
    await q.createTable(
      new Table({
        name: "api_outbound_reaction",
        columns: [
          { ...id("account_id"), isPrimary: true },
          { name: "object_hash", type: "varchar", length: "64", isPrimary: true },
          { name: "kind", type: "varchar", length: "16", isPrimary: true },
          { name: "object_iri", type: "varchar", length: "2048" },
          id("activity_id"),
          id("person_id", true),
          timestamp("created_at", d),
        ],
      }),
    );
    // Scheduled statuses: published by the worker (once per cluster) at scheduled_at.
    await q.createTable(
      new Table({
        name: "api_scheduled_status",
        columns: [
          { name: "id", type: "bigint", isPrimary: true },
          id("person_id"),
          id("account_id"),
          id("token_id", true),
          { name: "app", type: "varchar", length: "255", isNullable: true },
          document("params", d, false),
          timestamp("scheduled_at", d),
          { name: "state", type: "varchar", length: "16" },
          timestamp("created_at", d),
          { name: "claimed_by", type: "varchar", length: "200", isNullable: true },
          timestamp("claimed_at", d, true),
          id("post_id", true),
          id("draft_id", true),
          { name: "outcome", type: "varchar", length: "1000", isNullable: true },
          timestamp("finished_at", d, true),
        ],
        indices: [
          { name: "idx_api_scheduled_due", columnNames: ["state", "scheduled_at"] },
          { name: "idx_api_scheduled_owner", columnNames: ["person_id", "account_id"] },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      "api_scheduled_status",
      "api_outbound_reaction",
      "api_notification_clear",
      "api_notification_dismissal",
      "api_marker",
      "api_remote_account",
      "api_sequence",
    ])
      await q.dropTable(t, true);
  }
}

/** A datetime column as read back raw: a Date (mysql2) or "YYYY-MM-DD HH:MM:SS.SSS" UTC (SQLite). */
function millis(v: unknown): number {
  if (v instanceof Date) return v.getTime();
  const s = String(v);
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : `${s.replace(" ", "T")}Z`);
  return Number.isFinite(t) ? t : 0;
}
