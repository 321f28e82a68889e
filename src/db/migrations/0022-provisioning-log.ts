import { type MigrationInterface, type QueryRunner, Table, TableIndex } from "typeorm";
import { autoId, dialectOf, timestamp } from "../columns.ts";

/**
 * The SCIM request log behind the provisioning health page (src/scim/request-log.ts): requests
 * counted per token, UTC hour and status class (one row per combination, however many requests),
 * and the last failed requests with their request ids. Both are bounded: the worker prunes rows
 * older than 30 days. The chart of creates, updates and deactivations per day reads the domain
 * events by time: an index on domain_event(occurred_at).
 */
export class ProvisioningLog1763700000022 implements MigrationInterface {
  name = "ProvisioningLog1763700000022";

  async up(q: QueryRunner): Promise<void> {
    const d = dialectOf(q);
    await q.createTable(
      new Table({
        name: "scim_request_stat",
        columns: [
          { name: "token_id", type: "varchar", length: "36", isPrimary: true },
          { ...timestamp("hour", d), isPrimary: true },
          { name: "status_class", type: "varchar", length: "3", isPrimary: true },
          { name: "count", type: "int" },
        ],
        indices: [{ name: "idx_scim_request_stat_hour", columnNames: ["hour"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "scim_request_error",
        columns: [
          autoId("id", d),
          { name: "token_id", type: "varchar", length: "36" },
          timestamp("at", d),
          { name: "method", type: "varchar", length: "10" },
          { name: "path", type: "varchar", length: "255" },
          { name: "status", type: "int" },
          { name: "request_id", type: "varchar", length: "64" },
          { name: "message", type: "varchar", length: "500" },
        ],
        indices: [
          { name: "idx_scim_request_error_token", columnNames: ["token_id", "at"] },
          { name: "idx_scim_request_error_at", columnNames: ["at"] },
        ],
      }),
    );
    await q.createIndex(
      "domain_event",
      new TableIndex({ name: "idx_domain_event_occurred", columnNames: ["occurred_at"] }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex("domain_event", "idx_domain_event_occurred");
    for (const t of ["scim_request_error", "scim_request_stat"]) await q.dropTable(t, true);
  }
}
