import type { MigrationInterface, QueryRunner } from "typeorm";
import { dialectOf } from "../columns.ts";

/**
 * An audit record's detail holds a SCIM resource before and after a change: up to twice the SCIM
 * body limit (1 MiB by default). MySQL's TEXT stops at 64 KiB, so a large but valid write (a
 * user with thousands of addresses, a big extension) failed with "Data too long" and a 500;
 * MEDIUMTEXT holds 16 MiB, as the resource documents themselves do. SQLite's TEXT has no such
 * limit: nothing to do there.
 */
export class AuditDetailSize1763700000013 implements MigrationInterface {
  name = "AuditDetailSize1763700000013";

  async up(q: QueryRunner): Promise<void> {
    if (dialectOf(q) === "mysql") await q.query("ALTER TABLE `audit_event` MODIFY `detail` MEDIUMTEXT NULL");
  }

  async down(q: QueryRunner): Promise<void> {
    if (dialectOf(q) === "mysql") await q.query("ALTER TABLE `audit_event` MODIFY `detail` TEXT NULL");
  }
}
