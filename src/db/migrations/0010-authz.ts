import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, timestamp } from "../columns.ts";

/** Authority over shared accounts: grants, the policy version every process watches, drafts. */
export class Authz1763700000010 implements MigrationInterface {
  name = "Authz1763700000010";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    await q.createTable(
      new Table({
        name: "authz_grant",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "subject_kind", type: "varchar", length: "8" },
          { name: "subject_id", type: "varchar", length: "36" },
          { name: "subject_label", type: "varchar", length: "255" },
          { name: "role", type: "varchar", length: "32" },
          { name: "account_id", type: "varchar", length: "36" },
          { name: "created_by", type: "varchar", length: "255" },
          timestamp("created_at", dialect),
        ],
        uniques: [{ name: "uq_grant", columnNames: ["subject_kind", "subject_id", "role", "account_id"] }],
        indices: [
          { name: "idx_grant_account", columnNames: ["account_id"] },
          { name: "idx_grant_subject", columnNames: ["subject_id"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "authz_state",
        columns: [
          { name: "id", type: "int", isPrimary: true },
          { name: "version", type: "int" },
        ],
      }),
    );
    await q.query("INSERT INTO authz_state (id, version) VALUES (1, 0)");
    await q.createTable(
      new Table({
        name: "draft",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "account_id", type: "varchar", length: "36" },
          { name: "author_person_id", type: "varchar", length: "36" },
          { name: "text", type: "text" },
          { name: "visibility", type: "varchar", length: "16" },
          { name: "in_reply_to_iri", type: "varchar", length: "2048", isNullable: true },
          { name: "status", type: "varchar", length: "16" },
          timestamp("created_at", dialect),
          { name: "decided_by", type: "varchar", length: "255", isNullable: true },
          timestamp("decided_at", dialect, true),
          { name: "comment", type: "text", isNullable: true },
          { name: "post_id", type: "varchar", length: "36", isNullable: true },
        ],
        indices: [{ name: "idx_draft_account_status", columnNames: ["account_id", "status"] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("draft", true);
    await q.dropTable("authz_state", true);
    await q.dropTable("authz_grant", true);
  }
}
