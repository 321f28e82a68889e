import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, timestamp } from "../columns.ts";

/** Impersonation reports from the public verification page, for the security team. */
export class Reports1763700000008 implements MigrationInterface {
  name = "Reports1763700000008";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    await q.createTable(
      new Table({
        name: "impersonation_report",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "reported", type: "varchar", length: "2048" },
          { name: "details", type: "text" },
          { name: "contact", type: "varchar", length: "320", isNullable: true },
          // A keyed hash of the reporter's address: enough to spot floods, not to identify people.
          { name: "source_hash", type: "varchar", length: "64" },
          timestamp("created_at", dialect),
        ],
        indices: [{ name: "idx_report_created", columnNames: ["created_at"] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("impersonation_report", true);
  }
}
