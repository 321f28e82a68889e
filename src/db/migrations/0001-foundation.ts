import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { autoId, dialectOf, timestamp } from "../columns.ts";

/**
 * Infrastructure: settings, SCIM bearer tokens (hashed), the append-only audit log, and the
 * tables behind Fedify's KvStore and MessageQueue.
 */
export class Foundation1763700000001 implements MigrationInterface {
  name = "Foundation1763700000001";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    await q.createTable(
      new Table({
        name: "herald_setting",
        columns: [
          { name: "name", type: "varchar", length: "100", isPrimary: true },
          { name: "value", type: "text", isNullable: false },
          timestamp("updated_at", dialect),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "scim_token",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "name", type: "varchar", length: "100", isUnique: true },
          // SHA-256 of the token, hex. Tokens carry 256 random bits, so a fast hash is enough.
          { name: "token_hash", type: "varchar", length: "64", isUnique: true },
          { name: "token_hint", type: "varchar", length: "16" },
          timestamp("created_at", dialect),
          { name: "created_by", type: "varchar", length: "255" },
          timestamp("last_used_at", dialect, true),
          timestamp("revoked_at", dialect, true),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "audit_event",
        columns: [
          autoId("id", dialect),
          timestamp("at", dialect),
          { name: "actor", type: "varchar", length: "255" },
          { name: "action", type: "varchar", length: "100" },
          { name: "target_type", type: "varchar", length: "50", isNullable: true },
          { name: "target_id", type: "varchar", length: "255", isNullable: true },
          { name: "detail", type: "text", isNullable: true },
          { name: "request_id", type: "varchar", length: "64", isNullable: true },
        ],
        indices: [
          { name: "idx_audit_event_at", columnNames: ["at"] },
          { name: "idx_audit_event_action", columnNames: ["action", "at"] },
          { name: "idx_audit_event_target", columnNames: ["target_type", "target_id"] },
        ],
      }),
    );

    if (dialect === "sqlite") {
      await q.query(`CREATE TABLE "fedify_kv" (
        "key" TEXT NOT NULL PRIMARY KEY,
        "value" TEXT NOT NULL,
        "expires_at" INTEGER NULL
      )`);
      await q.query(`CREATE INDEX "idx_fedify_kv_expires" ON "fedify_kv" ("expires_at")`);
      // Messages stay in the table while a worker holds a lease on them, so a crash mid-delivery
      // hands them to the next worker (at-least-once).
      await q.query(`CREATE TABLE "fedify_mq" (
        "id" INTEGER PRIMARY KEY AUTOINCREMENT,
        "message" TEXT NOT NULL,
        "deliver_after" INTEGER NOT NULL,
        "ordering_key" TEXT NULL,
        "lease_until" INTEGER NULL,
        "lease_owner" TEXT NULL
      )`);
      await q.query(`CREATE INDEX "idx_fedify_mq_deliver_after" ON "fedify_mq" ("deliver_after")`);
      await q.query(`CREATE INDEX "idx_fedify_mq_ordering" ON "fedify_mq" ("ordering_key", "id")`);
    } else {
      // The shapes @fedify/mysql creates itself (it is then told the tables exist).
      await q.query(`CREATE TABLE \`fedify_kv\` (
        \`key\` VARCHAR(768) NOT NULL,
        \`value\` JSON NOT NULL,
        \`expires\` DATETIME(6) NULL DEFAULT NULL,
        PRIMARY KEY (\`key\`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
      await q.query("CREATE INDEX `idx_fedify_kv_expires` ON `fedify_kv` (`expires`)");
      await q.query(`CREATE TABLE \`fedify_mq\` (
        \`id\` CHAR(36) NOT NULL,
        \`message\` JSON NOT NULL,
        \`deliver_after\` DATETIME(6) NOT NULL DEFAULT NOW(6),
        \`ordering_key\` TEXT NULL DEFAULT NULL,
        PRIMARY KEY (\`id\`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
      await q.query("CREATE INDEX `idx_fedify_mq_deliver_after` ON `fedify_mq` (`deliver_after`)");
      await q.query(
        "CREATE INDEX `idx_fedify_mq_ok_da` ON `fedify_mq` (`ordering_key`(766), `deliver_after`)",
      );
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ["fedify_mq", "fedify_kv", "audit_event", "scim_token", "herald_setting"]) {
      await q.dropTable(t, true);
    }
  }
}
