import { type MigrationInterface, type QueryRunner, Table, TableIndex } from "typeorm";
import { dialectOf, timestamp } from "../columns.ts";

/**
 * SAML state shared by every process: the requests Herald sent and still expects an answer to
 * (InResponseTo is spent once), and the IDs of assertions already accepted (replay cache).
 */
export class Saml1763700000009 implements MigrationInterface {
  name = "Saml1763700000009";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    await q.createTable(
      new Table({
        name: "saml_request",
        columns: [
          { name: "id", type: "varchar", length: "128", isPrimary: true },
          { name: "kind", type: "varchar", length: "16" },
          { name: "relay_state", type: "varchar", length: "1024", isNullable: true },
          timestamp("created_at", dialect),
          timestamp("expires_at", dialect),
        ],
        indices: [{ name: "idx_saml_request_expires", columnNames: ["expires_at"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "saml_replay",
        columns: [
          // SHA-256 of issuer + assertion ID: IDs are only unique per issuer.
          { name: "id_hash", type: "varchar", length: "64", isPrimary: true },
          timestamp("expires_at", dialect),
        ],
        indices: [{ name: "idx_saml_replay_expires", columnNames: ["expires_at"] }],
      }),
    );
    // IdP-initiated logout finds sessions by NameID.
    await q.createIndex(
      "session",
      new TableIndex({ name: "idx_session_saml_name_id", columnNames: ["saml_name_id"] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex("session", "idx_session_saml_name_id");
    await q.dropTable("saml_replay", true);
    await q.dropTable("saml_request", true);
  }
}
