import { type MigrationInterface, type QueryRunner, TableColumn } from "typeorm";

/**
 * Each domain event names the change (the transaction) that appended it. Consumers that act once
 * per change (the federation bridge) grouped events by actor and time, and MySQL's DATETIME keeps
 * whole seconds: two changes one SCIM token made in the same second — a profile update, then a
 * deactivation — read as one. Rows from before this migration keep a null change id and are
 * grouped as before.
 */
export class EventChange1763700000014 implements MigrationInterface {
  name = "EventChange1763700000014";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      "domain_event",
      new TableColumn({ name: "change_id", type: "varchar", length: "36", isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn("domain_event", "change_id");
  }
}
