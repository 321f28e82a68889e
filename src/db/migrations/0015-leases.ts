import { type MigrationInterface, type QueryRunner, Table } from "typeorm";

/**
 * Leases (src/db/leases.ts): which process of a deployment runs the once-per-cluster work (the
 * federation bridge, ending sessions), and on SQLite which process is the one server. Times are
 * milliseconds since the epoch as the holder's clock saw them (hosts of one deployment keep their
 * clocks in sync, as anything with TLS and SAML already needs).
 */
export class Leases1763700000015 implements MigrationInterface {
  name = "Leases1763700000015";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "lease",
        columns: [
          { name: "name", type: "varchar", length: "100", isPrimary: true },
          { name: "holder", type: "varchar", length: "200" },
          { name: "expires_at", type: "bigint" },
          { name: "acquired_at", type: "bigint" },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("lease", true);
  }
}
