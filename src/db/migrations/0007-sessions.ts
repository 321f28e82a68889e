import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, timestamp } from "../columns.ts";

/** Server-side sessions (valid across processes) and one-time sign-in links (DESIGN rule 8). */
export class Sessions1763700000007 implements MigrationInterface {
  name = "Sessions1763700000007";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    await q.createTable(
      new Table({
        name: "session",
        columns: [
          // SHA-256 of the cookie value: a database leak yields no usable session.
          { name: "id_hash", type: "varchar", length: "64", isPrimary: true },
          { name: "person_id", type: "varchar", length: "36" },
          { name: "method", type: "varchar", length: "32" },
          { name: "saml_name_id", type: "varchar", length: "512", isNullable: true },
          { name: "saml_session_index", type: "varchar", length: "255", isNullable: true },
          { name: "user_agent", type: "varchar", length: "512", isNullable: true },
          { name: "ip", type: "varchar", length: "64", isNullable: true },
          timestamp("created_at", dialect),
          timestamp("last_seen_at", dialect),
          timestamp("expires_at", dialect),
        ],
        indices: [{ name: "idx_session_person", columnNames: ["person_id"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "login_link",
        columns: [
          { name: "token_hash", type: "varchar", length: "64", isPrimary: true },
          { name: "person_id", type: "varchar", length: "36" },
          { name: "created_by", type: "varchar", length: "255" },
          timestamp("created_at", dialect),
          timestamp("expires_at", dialect),
          timestamp("used_at", dialect, true),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("login_link", true);
    await q.dropTable("session", true);
  }
}
