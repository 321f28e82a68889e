import { createHash } from "node:crypto";
import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/** Rows read at a time. */
const BATCH = 500;

const INDEXES: [name: string, columns: string[], unique: boolean][] = [
  ["uq_inbound_boost_object_api_id", ["object_api_id"], true],
  ["uq_inbound_boost_reblog", ["actor_id", "booster_hash", "object_hash"], true],
  ["idx_inbound_boost_activity", ["activity_hash"], false],
  ["idx_inbound_boost_booster", ["booster_hash"], false],
  // A booster's newest boosts for one account (only so many are kept).
  ["idx_inbound_boost_actor_booster_api", ["actor_id", "booster_hash", "api_id"], false],
  ["idx_inbound_boost_author", ["author_hash"], false],
];

/**
 * Received boosts (0030) are looked up without scanning the table: by the boosted post's status
 * id (every `GET /statuses/:id` of an id that is no post of ours), by the Announce (an Undo), by
 * booster and by author (an account's deletion). Booster and author are IRIs of up to 2,048
 * characters, which MySQL cannot index whole, so each gets its SHA-256 beside it, as every other
 * IRI Herald looks up (iriHash in src/federation/entities.ts).
 *
 * A booster boosts a post once, as on Mastodon (one reblog per account and status): a new
 * Announce of a post it already boosted is the same boost. The unique (account, booster, post)
 * says so, and bounds what one followed account can make Herald keep. Of rows already held
 * twice, the earliest is kept. Rows are read in batches, and a run cut short is finished by the
 * next. Rows stored without the hashes by a process of an earlier version during a
 * rolling upgrade are still found by their IRIs (src/federation/received-boosts.ts).
 *
 * A boost its booster undoes (or that its newer boosts push out) while the account here has
 * favourited or boosted the post stays, marked `undone_at`: it is off the home timeline, but the
 * post keeps its id, so the account can still see and undo what it did.
 */
export class ReceivedBoostIndexes1763700000032 implements MigrationInterface {
  name = "ReceivedBoostIndexes1763700000032";

  async up(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    const table = quote("inbound_boost");
    const col = (names: string[]) => names.map(quote).join(", ");
    // Each step is skipped when done, so a run cut short (MySQL commits each ALTER and CREATE
    // INDEX as it goes) is finished by the next.
    const missing = [];
    for (const name of ["booster_hash", "author_hash"])
      if (!(await q.hasColumn("inbound_boost", name)))
        missing.push({ name, sqliteType: "varchar(64)", mysqlType: "varchar(64)" });
    if (!(await q.hasColumn("inbound_boost", "undone_at")))
      missing.push({ name: "undone_at", sqliteType: "datetime", mysqlType: "datetime(3)" });
    if (missing.length > 0) await addNullableColumns(q, "inbound_boost", missing);
    // The indexes first: each batch below finds the rows still without hashes, and each row's
    // repeat, through them (no NULL hash can break the unique one).
    for (const [name, columns, unique] of INDEXES) {
      const [exists] = (await q.query(
        mysql
          ? `SELECT 1 AS found FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = 'inbound_boost' AND index_name = ?`
          : `SELECT 1 AS found FROM sqlite_master WHERE type = 'index' AND name = ?`,
        [name],
      )) as unknown[];
      if (!exists)
        await q.query(`CREATE ${unique ? "UNIQUE " : ""}INDEX ${quote(name)} ON ${table} (${col(columns)})`);
    }
    // A batch at a time, oldest boost first, until no row is without its hashes: each row gets
    // them, or goes if its account already holds that booster's boost of that post.
    for (;;) {
      const rows = (await q.query(
        `SELECT ${col(["actor_id", "activity_hash", "booster_iri", "author_iri", "object_hash"])} FROM ${table} WHERE ${quote("booster_hash")} IS NULL ORDER BY ${col(["api_id", "actor_id", "activity_hash"])} LIMIT ${BATCH}`,
      )) as {
        actor_id: string;
        activity_hash: string;
        booster_iri: string;
        author_iri: string;
        object_hash: string;
      }[];
      for (const r of rows) {
        const key = `WHERE ${quote("actor_id")} = ? AND ${quote("activity_hash")} = ?`;
        const boosterHash = sha256(r.booster_iri);
        const [held] = (await q.query(
          `SELECT 1 AS held FROM ${table} WHERE ${quote("actor_id")} = ? AND ${quote("booster_hash")} = ? AND ${quote("object_hash")} = ?`,
          [r.actor_id, boosterHash, r.object_hash],
        )) as unknown[];
        if (held) await q.query(`DELETE FROM ${table} ${key}`, [r.actor_id, r.activity_hash]);
        else
          await q.query(
            `UPDATE ${table} SET ${quote("booster_hash")} = ?, ${quote("author_hash")} = ? ${key}`,
            [boosterHash, sha256(r.author_iri), r.actor_id, r.activity_hash],
          );
      }
      if (rows.length < BATCH) break;
    }
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    for (const [name] of [...INDEXES].reverse())
      await q.query(
        mysql ? `DROP INDEX ${quote(name)} ON ${quote("inbound_boost")}` : `DROP INDEX ${quote(name)}`,
      );
    for (const column of ["undone_at", "author_hash", "booster_hash"])
      await q.query(`ALTER TABLE ${quote("inbound_boost")} DROP COLUMN ${quote(column)}`);
  }
}

/** iriHash (src/federation/entities.ts) as of this migration: a migration never changes. */
function sha256(iri: string): string {
  return createHash("sha256").update(iri).digest("hex");
}
