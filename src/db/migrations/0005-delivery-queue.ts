import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { autoId, dialectOf, document } from "../columns.ts";

/**
 * One delivery queue for both dialects, with leases (at-least-once; docs/decisions/0001). Pending
 * messages of the previous queue tables are carried over, then those tables are dropped.
 */
export class DeliveryQueue1763700000005 implements MigrationInterface {
  name = "DeliveryQueue1763700000005";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    const big = dialect === "mysql" ? "bigint" : "integer";
    await q.createTable(
      new Table({
        name: "delivery_queue",
        columns: [
          autoId("id", dialect),
          // Fedify's queue messages carry the sender's private key: this table is secret.
          document("message", dialect, false),
          { name: "deliver_after", type: big },
          { name: "ordering_key", type: "varchar", length: "255", isNullable: true },
          { name: "lease_until", type: big, isNullable: true },
          { name: "lease_owner", type: "varchar", length: "36", isNullable: true },
        ],
        indices: [
          { name: "idx_delivery_queue_due", columnNames: ["deliver_after"] },
          { name: "idx_delivery_queue_ordering", columnNames: ["ordering_key", "id"] },
        ],
      }),
    );
    if (dialect === "sqlite") {
      await q.query(`INSERT INTO delivery_queue (message, deliver_after, ordering_key)
        SELECT message, deliver_after, ordering_key FROM fedify_mq ORDER BY id`);
    } else {
      await q.query(`INSERT INTO delivery_queue (message, deliver_after, ordering_key)
        SELECT CAST(message AS CHAR), FLOOR(UNIX_TIMESTAMP(deliver_after) * 1000), LEFT(ordering_key, 255)
        FROM fedify_mq ORDER BY deliver_after`);
    }
    await q.dropTable("fedify_mq");
  }

  async down(q: QueryRunner): Promise<void> {
    // The previous tables are recreated empty by re-running 0001's shape is not attempted here:
    // roll back by restoring a backup taken before upgrading.
    await q.dropTable("delivery_queue", true);
  }
}
