import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, timestamp } from "../columns.ts";

/**
 * The Mastodon client API and its OAuth 2 (src/api/): apps, authorization codes, access tokens
 * bound to (app, person, account, scopes), idempotency keys of POST /api/v1/statuses. Secrets are
 * stored as SHA-256 hex only.
 */
export class Api1763700000018 implements MigrationInterface {
  name = "Api1763700000018";

  async up(q: QueryRunner): Promise<void> {
    const d = dialectOf(q);
    const id = (name: string, nullable = false) => ({
      name,
      type: "varchar",
      length: "36",
      isNullable: nullable,
    });
    const hash = (name: string) => ({ name, type: "varchar", length: "64" });
    await q.createTable(
      new Table({
        name: "api_app",
        columns: [
          { ...id("id"), isPrimary: true },
          { name: "name", type: "varchar", length: "255" },
          { name: "website", type: "varchar", length: "2048", isNullable: true },
          { name: "redirect_uris", type: "text" },
          { name: "scopes", type: "varchar", length: "1000" },
          { name: "client_id", type: "varchar", length: "64" },
          hash("secret_hash"),
          timestamp("created_at", d),
          { name: "created_by", type: "varchar", length: "255" },
        ],
        uniques: [{ name: "uq_api_app_client", columnNames: ["client_id"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "api_code",
        columns: [
          { ...hash("code_hash"), isPrimary: true },
          id("app_id"),
          id("person_id"),
          id("account_id"),
          { name: "scopes", type: "varchar", length: "1000" },
          { name: "redirect_uri", type: "varchar", length: "2048" },
          { name: "challenge", type: "varchar", length: "128", isNullable: true },
          timestamp("created_at", d),
          timestamp("expires_at", d),
          timestamp("used_at", d, true),
          id("token_id", true),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "api_token",
        columns: [
          { ...id("id"), isPrimary: true },
          hash("token_hash"),
          { name: "token_hint", type: "varchar", length: "16" },
          id("app_id"),
          id("person_id", true),
          id("account_id", true),
          { name: "scopes", type: "varchar", length: "1000" },
          timestamp("created_at", d),
          { name: "created_by", type: "varchar", length: "255" },
          timestamp("last_used_at", d, true),
          timestamp("revoked_at", d, true),
          { name: "revoked_by", type: "varchar", length: "255", isNullable: true },
        ],
        uniques: [{ name: "uq_api_token_hash", columnNames: ["token_hash"] }],
        indices: [
          { name: "idx_api_token_person", columnNames: ["person_id"] },
          { name: "idx_api_token_app", columnNames: ["app_id"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "api_idempotency",
        columns: [
          { ...hash("key_hash"), isPrimary: true },
          timestamp("created_at", d),
          { name: "kind", type: "varchar", length: "10", isNullable: true },
          id("result_id", true),
        ],
        indices: [{ name: "idx_api_idempotency_created", columnNames: ["created_at"] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ["api_idempotency", "api_token", "api_code", "api_app"]) await q.dropTable(t, true);
  }
}
