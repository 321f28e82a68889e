import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { autoId, dialectOf, document, timestamp } from "../columns.ts";

/**
 * The archive (src/archive/): hash-chained records of everything the organization's accounts say
 * and hear, one chain per UTC day with a signed digest once the day is over, purge checkpoints
 * and legal holds. IRIs are not indexed (lookups go by account, person and time).
 */
export class Archive1763700000017 implements MigrationInterface {
  name = "Archive1763700000017";

  async up(q: QueryRunner): Promise<void> {
    const d = dialectOf(q);
    const iri = (name: string) => ({ name, type: "varchar", length: "2048", isNullable: true });
    await q.createTable(
      new Table({
        name: "archive_record",
        columns: [
          autoId("id", d),
          { name: "chain", type: "varchar", length: "10" },
          { name: "seq", type: "integer" },
          timestamp("recorded_at", d),
          { name: "kind", type: "varchar", length: "40" },
          { name: "direction", type: "varchar", length: "10" },
          { name: "account_id", type: "varchar", length: "36", isNullable: true },
          { name: "account_handle", type: "varchar", length: "255", isNullable: true },
          { name: "person_id", type: "varchar", length: "36", isNullable: true },
          { name: "actor_label", type: "varchar", length: "255", isNullable: true },
          { name: "approver_id", type: "varchar", length: "36", isNullable: true },
          { name: "app", type: "varchar", length: "255", isNullable: true },
          { name: "token_id", type: "varchar", length: "64", isNullable: true },
          iri("remote_actor"),
          iri("object_iri"),
          iri("in_reply_to"),
          { name: "subject_id", type: "varchar", length: "64", isNullable: true },
          document("content", d, false),
          { name: "prev_hash", type: "varchar", length: "64" },
          { name: "hash", type: "varchar", length: "64" },
        ],
        uniques: [{ name: "uq_archive_chain_seq", columnNames: ["chain", "seq"] }],
        indices: [
          { name: "idx_archive_recorded", columnNames: ["recorded_at"] },
          { name: "idx_archive_account", columnNames: ["account_id", "recorded_at"] },
          { name: "idx_archive_person", columnNames: ["person_id", "recorded_at"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "archive_chain",
        columns: [
          { name: "chain", type: "varchar", length: "10", isPrimary: true },
          { name: "seq", type: "integer" },
          { name: "head_hash", type: "varchar", length: "64" },
          timestamp("opened_at", d),
          timestamp("sealed_at", d, true),
          { name: "digest", type: "text", isNullable: true },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "archive_purge",
        columns: [
          autoId("id", d),
          { name: "chain", type: "varchar", length: "10" },
          { name: "from_seq", type: "integer" },
          { name: "to_seq", type: "integer" },
          { name: "last_hash", type: "varchar", length: "64" },
          timestamp("purged_at", d),
          { name: "signature", type: "text" },
        ],
        indices: [{ name: "idx_archive_purge_chain", columnNames: ["chain", "from_seq"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "archive_hold",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "name", type: "varchar", length: "200" },
          { name: "person_id", type: "varchar", length: "36", isNullable: true },
          { name: "account_id", type: "varchar", length: "36", isNullable: true },
          timestamp("from_at", d, true),
          timestamp("to_at", d, true),
          { name: "created_by", type: "varchar", length: "255" },
          timestamp("created_at", d),
          { name: "released_by", type: "varchar", length: "255", isNullable: true },
          timestamp("released_at", d, true),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ["archive_hold", "archive_purge", "archive_chain", "archive_record"])
      await q.dropTable(t, true);
  }
}
