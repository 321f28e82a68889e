import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, document, timestamp } from "../columns.ts";

/**
 * Boosts by remote accounts that Herald accounts follow, of posts that are not Herald's: Mastodon
 * shows each in the follower's home timeline as the booster's status wrapping the post. One row
 * per (our account, Announce), with the boosted post as fetched from its own server (never as the
 * booster embedded it) and two ids from the api counter: the wrapper's and the post's.
 */
export class ReceivedBoosts1763700000030 implements MigrationInterface {
  name = "ReceivedBoosts1763700000030";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    const hash = (name: string) => ({ name, type: "varchar", length: "64" });
    const iri = (name: string, nullable = false) => ({
      name,
      type: "varchar",
      length: "2048",
      isNullable: nullable,
    });
    const id = (name: string) => ({
      name,
      type: dialect === "mysql" ? "bigint" : "integer",
      isNullable: true,
    });
    await q.createTable(
      new Table({
        name: "inbound_boost",
        columns: [
          { name: "actor_id", type: "varchar", length: "36", isPrimary: true },
          { ...hash("activity_hash"), isPrimary: true },
          iri("activity_iri"),
          iri("booster_iri"),
          hash("object_hash"),
          iri("object_iri"),
          iri("author_iri"),
          document("content_html", dialect),
          iri("url", true),
          timestamp("published_at", dialect, true),
          document("raw", dialect),
          document("media", dialect),
          timestamp("received_at", dialect),
          id("api_id"),
          id("object_api_id"),
        ],
        uniques: [{ name: "uq_inbound_boost_api_id", columnNames: ["api_id"] }],
        indices: [
          { name: "idx_inbound_boost_actor_api", columnNames: ["actor_id", "api_id"] },
          { name: "idx_inbound_boost_object", columnNames: ["object_hash"] },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("inbound_boost", true);
  }
}
