import type { MigrationInterface, QueryRunner } from "typeorm";
import { dialectOf } from "../columns.ts";

/**
 * Rate limits shared by every process of a MySQL/MariaDB deployment (src/http/rate-limit.ts,
 * HERALD_RATE_LIMIT_STORE=database): one row per limiter and key, the points spent in the current
 * window and when it ends (milliseconds since the epoch). rate-limiter-flexible's RateLimiterMySQL
 * reads and writes it with `INSERT … VALUES (key, points, expire)`, so the columns keep its names
 * and order; it is created here, not by the library at run time (Herald's user needs no DDL
 * rights after migrating). InnoDB: the library's upsert and read run in one transaction that
 * holds the row, which is what makes the count exact across processes. Keys compare exactly.
 * SQLite serves one process, whose limits stay in memory: nothing to create there.
 */
export class RateLimit1763700000016 implements MigrationInterface {
  name = "RateLimit1763700000016";

  async up(q: QueryRunner): Promise<void> {
    if (dialectOf(q) !== "mysql") return;
    await q.query(`CREATE TABLE \`rate_limit\` (
        \`key\` varchar(255) NOT NULL,
        \`points\` int NOT NULL DEFAULT 0,
        \`expire\` bigint unsigned NULL,
        PRIMARY KEY (\`key\`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(q: QueryRunner): Promise<void> {
    if (dialectOf(q) === "mysql") await q.query("DROP TABLE IF EXISTS `rate_limit`");
  }
}
