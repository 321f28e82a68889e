import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, document, timestamp } from "../columns.ts";

/**
 * Presence: actors (people, shared accounts, the organization), their persisted key pairs,
 * followers and follows, posts (with who pressed send), inbound messages (replies, mentions,
 * direct messages, posts of followed accounts), reactions, and the domain blocklist.
 * Remote IRIs are looked up by a SHA-256 column: IRIs are too long to index directly.
 */
export class Federation1763700000004 implements MigrationInterface {
  name = "Federation1763700000004";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    const bool = (name: string, def: boolean) => ({
      name,
      type: "boolean",
      default: dialect === "sqlite" ? (def ? 1 : 0) : def,
    });
    const hash = (name: string) => ({ name, type: "varchar", length: "64" });
    const iri = (name: string, nullable = false) => ({
      name,
      type: "varchar",
      length: "2048",
      isNullable: nullable,
    });

    await q.createTable(
      new Table({
        name: "actor",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "kind", type: "varchar", length: "16" },
          { name: "person_id", type: "varchar", length: "36", isNullable: true, isUnique: true },
          { name: "handle", type: "varchar", length: "64", isUnique: true },
          { name: "display_name", type: "varchar", length: "255" },
          { name: "summary", type: "text", isNullable: true },
          bool("manual_approval", false),
          bool("sign_posts", false),
          timestamp("created_at", dialect),
          timestamp("updated_at", dialect),
          timestamp("keys_ready_at", dialect, true),
          timestamp("suspended_at", dialect, true),
          timestamp("deleted_at", dialect, true),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "actor_key",
        columns: [
          { name: "actor_id", type: "varchar", length: "36", isPrimary: true },
          { name: "algorithm", type: "varchar", length: "32", isPrimary: true },
          // Private keys: treat this table (and the queue's) as secret. DESIGN rule 8.
          document("private_jwk", dialect, false),
          document("public_jwk", dialect, false),
          timestamp("created_at", dialect),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "follower",
        columns: [
          { name: "actor_id", type: "varchar", length: "36", isPrimary: true },
          { ...hash("follower_hash"), isPrimary: true },
          iri("follower_iri"),
          iri("inbox_iri"),
          iri("shared_inbox_iri", true),
          iri("follow_iri", true),
          { name: "status", type: "varchar", length: "16" },
          timestamp("created_at", dialect),
        ],
        indices: [{ name: "idx_follower_actor_status", columnNames: ["actor_id", "status"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "following",
        columns: [
          { name: "actor_id", type: "varchar", length: "36", isPrimary: true },
          { ...hash("target_hash"), isPrimary: true },
          iri("target_iri"),
          iri("target_inbox_iri"),
          { name: "follow_id", type: "varchar", length: "36" },
          { name: "status", type: "varchar", length: "16" },
          timestamp("created_at", dialect),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "post",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "actor_id", type: "varchar", length: "36" },
          // Who pressed send (DESIGN rule 4): a person id, or null for the CLI operator.
          { name: "author_person_id", type: "varchar", length: "36", isNullable: true },
          { name: "author_label", type: "varchar", length: "255" },
          document("content_html", dialect, false),
          { name: "content_text", type: "text" },
          { name: "language", type: "varchar", length: "35", isNullable: true },
          { name: "visibility", type: "varchar", length: "16" },
          iri("in_reply_to_iri", true),
          document("mentions", dialect),
          document("hashtags", dialect),
          timestamp("published_at", dialect),
          timestamp("updated_at", dialect, true),
          timestamp("deleted_at", dialect, true),
        ],
        indices: [{ name: "idx_post_actor_published", columnNames: ["actor_id", "published_at"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "inbound_message",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "actor_id", type: "varchar", length: "36" },
          { ...hash("object_hash") },
          iri("object_iri"),
          iri("remote_actor_iri"),
          { name: "kind", type: "varchar", length: "16" },
          document("content_html", dialect),
          { name: "in_reply_to_post_id", type: "varchar", length: "36", isNullable: true },
          iri("url", true),
          timestamp("published_at", dialect, true),
          timestamp("received_at", dialect),
          timestamp("updated_at", dialect, true),
          timestamp("deleted_at", dialect, true),
          document("raw", dialect),
        ],
        uniques: [{ name: "uq_inbound_actor_object", columnNames: ["actor_id", "object_hash"] }],
        indices: [
          { name: "idx_inbound_actor_received", columnNames: ["actor_id", "received_at"] },
          { name: "idx_inbound_object", columnNames: ["object_hash"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "reaction",
        columns: [
          { name: "post_id", type: "varchar", length: "36", isPrimary: true },
          { name: "kind", type: "varchar", length: "16", isPrimary: true },
          { ...hash("remote_actor_hash"), isPrimary: true },
          hash("activity_hash"),
          timestamp("created_at", dialect),
        ],
        indices: [{ name: "idx_reaction_activity", columnNames: ["activity_hash"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "domain_block",
        columns: [
          { name: "domain", type: "varchar", length: "255", isPrimary: true },
          { name: "reason", type: "varchar", length: "500", isNullable: true },
          { name: "created_by", type: "varchar", length: "255" },
          timestamp("created_at", dialect),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of [
      "domain_block",
      "reaction",
      "inbound_message",
      "post",
      "following",
      "follower",
      "actor_key",
      "actor",
    ]) {
      await q.dropTable(t, true);
    }
  }
}
