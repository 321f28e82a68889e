/**
 * Fedify's KvStore on MySQL/MariaDB with `@fedify/mysql`, sharing TypeORM's mysql2 pool.
 *
 * `@fedify/mysql` 2.3.6 writes JSON with `CAST(? AS JSON)`, which MariaDB rejects (its JSON type
 * is LONGTEXT with a validity check), so every KV write — and therefore every signed inbound
 * POST — fails there. The pool wrapper below rewrites that fragment to a plain `?`, which MySQL 8
 * also accepts for a JSON column (it parses the string). RUNTIME.md.
 */
import { MysqlKvStore } from "@fedify/mysql";
import type { Database } from "../db/database.ts";

type QueryFn = <T = unknown>(sql: string, values?: unknown) => Promise<[T, unknown]>;

interface PromiseConnection {
  query: QueryFn;
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  release(): void;
}

interface PromisePool {
  query: QueryFn;
  getConnection(): Promise<PromiseConnection>;
}

const CAST_JSON = /CAST\(\s*\?\s+AS\s+JSON\s*\)/gi;

export function mariadbCompatibleSql(sql: string): string {
  return sql.replace(CAST_JSON, "?");
}

/** Wraps a mysql2 promise pool so that `@fedify/mysql`'s SQL runs on MariaDB too. */
export function mariadbCompatiblePool(pool: PromisePool): PromisePool {
  return {
    query: (sql, values) => pool.query(mariadbCompatibleSql(sql), values),
    async getConnection() {
      const conn = await pool.getConnection();
      return {
        query: (sql, values) => conn.query(mariadbCompatibleSql(sql), values),
        beginTransaction: () => conn.beginTransaction(),
        commit: () => conn.commit(),
        rollback: () => conn.rollback(),
        release: () => conn.release(),
      };
    },
  };
}

function promisePoolOf(db: Database): PromisePool {
  if (db.dialect !== "mysql") throw new TypeError("the @fedify/mysql stores need a MySQL database");
  // TypeORM's MysqlDriver keeps a callback-style mysql2 pool; .promise() wraps the same pool.
  const driver = db.dataSource.driver as unknown as { pool: { promise(): PromisePool } };
  return driver.pool.promise();
}

export function createMysqlKvStore(db: Database): MysqlKvStore {
  // The table comes from Herald's migrations (initialized: true): no DDL at request time.
  return new MysqlKvStore(mariadbCompatiblePool(promisePoolOf(db)), { initialized: true });
}
