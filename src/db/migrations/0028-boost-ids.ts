import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/**
 * A boost made through the client API is a status of its own on Mastodon (the wrapper whose
 * `reblog` is the boosted post): it needs a sortable id from the same counter as posts and
 * inbound messages (decision 0015), so it interleaves with them on the booster's timelines and
 * pages by `max_id`. Rows kept before this have none and are not shown as wrappers.
 */
export class BoostIds1763700000028 implements MigrationInterface {
  name = "BoostIds1763700000028";

  async up(q: QueryRunner): Promise<void> {
    const quote = (s: string) => (dialectOf(q) === "mysql" ? `\`${s}\`` : `"${s}"`);
    await addNullableColumns(q, "api_outbound_reaction", [
      { name: "api_id", sqliteType: "integer", mysqlType: "bigint" },
    ]);
    await q.query(
      `CREATE UNIQUE INDEX ${quote("uq_outbound_reaction_api_id")} ON ${quote("api_outbound_reaction")} (${quote("api_id")})`,
    );
    await q.query(
      `CREATE INDEX ${quote("idx_outbound_reaction_account_api")} ON ${quote("api_outbound_reaction")} (${quote("account_id")}, ${quote("kind")}, ${quote("api_id")})`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    const quote = (s: string) => (mysql ? `\`${s}\`` : `"${s}"`);
    for (const name of ["idx_outbound_reaction_account_api", "uq_outbound_reaction_api_id"])
      await q.query(
        mysql
          ? `DROP INDEX ${quote(name)} ON ${quote("api_outbound_reaction")}`
          : `DROP INDEX ${quote(name)}`,
      );
    await q.query(`ALTER TABLE ${quote("api_outbound_reaction")} DROP COLUMN ${quote("api_id")}`);
  }
}
