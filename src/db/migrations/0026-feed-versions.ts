import type { MigrationInterface, QueryRunner } from "typeorm";
import { dialectOf } from "../columns.ts";

/**
 * What the client API's home timeline is cached by (decision 0016):
 *
 * - `actor.feed_version`: raised, in the writing transaction, by every insert, update or deletion
 *   that changes what a local account's home timeline shows (its posts, what it received, the
 *   reactions and replies to its posts, its followers, its own favourites and boosts, its
 *   profile). The per-call decision reads it in its one statement.
 * - `api_sequence` row `feed`: raised by writes whose account Herald cannot name (a deletion or an
 *   update by criteria, a remote account's profile): every cached page is then stale at once.
 * - An index on `inbound_message.in_reply_to_post_id`: a page's reply counts look posts up by it
 *   (the table was scanned).
 */
export class FeedVersions1763700000026 implements MigrationInterface {
  name = "FeedVersions1763700000026";

  async up(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    await q.query(
      `ALTER TABLE ${quote("actor")} ADD COLUMN ${quote("feed_version")} ${mysql ? "bigint" : "integer"} NOT NULL DEFAULT 0`,
    );
    await q.query(
      `INSERT INTO ${quote("api_sequence")} (${quote("name")}, ${quote("value")}) VALUES ('feed', 0)`,
    );
    await q.query(
      `CREATE INDEX ${quote("idx_inbound_reply_post")} ON ${quote("inbound_message")} (${quote("in_reply_to_post_id")})`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    await q.query(
      mysql
        ? "DROP INDEX `idx_inbound_reply_post` ON `inbound_message`"
        : 'DROP INDEX "idx_inbound_reply_post"',
    );
    await q.query(`DELETE FROM ${quote("api_sequence")} WHERE ${quote("name")} = 'feed'`);
    await q.query(`ALTER TABLE ${quote("actor")} DROP COLUMN ${quote("feed_version")}`);
  }
}
