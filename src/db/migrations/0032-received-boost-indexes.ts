import { createHash } from "node:crypto";
import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/**
 * Received boosts (0030) are looked up without scanning the table: by the boosted post's status
 * id (every `GET /statuses/:id` of an id that is no post of ours), by the Announce (an Undo), by
 * booster and by author (an account's deletion). Booster and author are IRIs of up to 2,048
 * characters, which MySQL cannot index whole, so each gets its SHA-256 beside it, as every other
 * IRI Herald looks up (iriHash in src/federation/entities.ts).
 *
 * A booster boosts a post once, as on Mastodon (one reblog per account and status): a new
 * Announce of a post it already boosted is the same boost. The unique (account, booster, post)
 * says so, and bounds what one followed account can make Herald keep. Rows it already holds twice
 * keep the earliest. Rows stored without the hashes by a process of an earlier version during a
 * rolling upgrade are still found by their IRIs (src/federation/received-boosts.ts).
 */
export class ReceivedBoostIndexes1763700000032 implements MigrationInterface {
  name = "ReceivedBoostIndexes1763700000032";

  async up(q: QueryRunner): Promise<void> {
    const quote = (s: string) => (dialectOf(q) === "mysql" ? `\`${s}\`` : `"${s}"`);
    const table = quote("inbound_boost");
    await addNullableColumns(q, "inbound_boost", [
      { name: "booster_hash", sqliteType: "varchar(64)", mysqlType: "varchar(64)" },
      { name: "author_hash", sqliteType: "varchar(64)", mysqlType: "varchar(64)" },
    ]);
    const rows = (await q.query(
      `SELECT ${["actor_id", "activity_hash", "booster_iri", "author_iri", "object_hash", "api_id"].map(quote).join(", ")} FROM ${table}`,
    )) as {
      actor_id: string;
      activity_hash: string;
      booster_iri: string;
      author_iri: string;
      object_hash: string;
      api_id: number | string | null;
    }[];
    const order = (r: (typeof rows)[number]) => (r.api_id === null ? Infinity : Number(r.api_id));
    const seen = new Set<string>();
    for (const r of rows.sort(
      (a, b) => order(a) - order(b) || a.activity_hash.localeCompare(b.activity_hash),
    )) {
      const key = `${r.actor_id} ${r.booster_iri} ${r.object_hash}`;
      const where = `WHERE ${quote("actor_id")} = ? AND ${quote("activity_hash")} = ?`;
      if (seen.has(key)) {
        await q.query(`DELETE FROM ${table} ${where}`, [r.actor_id, r.activity_hash]);
        continue;
      }
      seen.add(key);
      await q.query(
        `UPDATE ${table} SET ${quote("booster_hash")} = ?, ${quote("author_hash")} = ? ${where}`,
        [sha256(r.booster_iri), sha256(r.author_iri), r.actor_id, r.activity_hash],
      );
    }
    const index = (name: string, columns: string[], unique = false) =>
      q.query(
        `CREATE ${unique ? "UNIQUE " : ""}INDEX ${quote(name)} ON ${table} (${columns.map(quote).join(", ")})`,
      );
    await index("uq_inbound_boost_object_api_id", ["object_api_id"], true);
    await index("uq_inbound_boost_reblog", ["actor_id", "booster_hash", "object_hash"], true);
    await index("idx_inbound_boost_activity", ["activity_hash"]);
    await index("idx_inbound_boost_booster", ["booster_hash"]);
    // A booster's newest boosts for one account (only so many are kept).
    await index("idx_inbound_boost_actor_booster_api", ["actor_id", "booster_hash", "api_id"]);
    await index("idx_inbound_boost_author", ["author_hash"]);
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    for (const name of [
      "idx_inbound_boost_author",
      "idx_inbound_boost_actor_booster_api",
      "idx_inbound_boost_booster",
      "idx_inbound_boost_activity",
      "uq_inbound_boost_reblog",
      "uq_inbound_boost_object_api_id",
    ])
      await q.query(
        mysql ? `DROP INDEX ${quote(name)} ON ${quote("inbound_boost")}` : `DROP INDEX ${quote(name)}`,
      );
    for (const column of ["author_hash", "booster_hash"])
      await q.query(`ALTER TABLE ${quote("inbound_boost")} DROP COLUMN ${quote(column)}`);
  }
}

/** iriHash (src/federation/entities.ts) as of this migration: a migration never changes. */
function sha256(iri: string): string {
  return createHash("sha256").update(iri).digest("hex");
}
