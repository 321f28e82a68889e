/**
 * The database: a TypeORM data source (better-sqlite3 by default, mysql2 in production) behind a
 * small interface that makes SQLite safe to share.
 *
 * TypeORM's SQLite drivers use ONE connection and ONE query runner for the whole process, so two
 * concurrent `dataSource.transaction()` calls would interleave their statements on one
 * connection (the second becomes a SAVEPOINT inside the first). Herald therefore serialises all
 * SQLite work through an in-process mutex (`run`/`transaction`), and makes every SQLite
 * transaction `BEGIN IMMEDIATE` so that a second process (the CLI, a second server) waits on the
 * busy timeout instead of failing with SQLITE_BUSY on a read-to-write upgrade. MySQL has a real
 * pool: there `run`/`transaction` go straight to TypeORM.
 */
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { DataSource, type EntityManager, type EntitySchema } from "typeorm";
import type { DatabaseConfig } from "../config.ts";
import type { Dialect } from "./columns.ts";
import { migrations } from "./migrations/index.ts";

export type { Dialect };

export interface Database {
  readonly dialect: Dialect;
  /** For infrastructure only (migrations, Fedify stores); features use `run`/`transaction`. */
  readonly dataSource: DataSource;
  /** Runs `fn` in one transaction; retried on SQLite lock contention across processes. */
  transaction<T>(fn: (em: EntityManager) => Promise<T>): Promise<T>;
  /** Runs `fn` without an explicit transaction (reads, single statements). */
  run<T>(fn: (em: EntityManager) => Promise<T>): Promise<T>;
  /** Raw SQL with `?` placeholders (both dialects). */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * Raw SQL, each row an array of its columns in select order, values as the driver reads them
   * (before TypeORM's hydration: `rawColumns` in src/db/raw.ts reads them as entities). For hot paths: a row with dozens
   * of columns costs a driver several times more as an object than as an array.
   */
  rows(
    sql: string,
    params?: readonly unknown[],
    options?: { readonly timeoutMs?: number },
  ): Promise<unknown[][]>;
  /**
   * SQLite: a value that changes with every commit to the database, by this process or any other
   * (the CLI, a second server): the wal-index header in the `-shm` file, read directly. Equal
   * stamps mean nothing was committed in between: what was read then still holds. Undefined on
   * MySQL (no such counter) and when the file cannot be read (an in-memory database).
   */
  changeStamp(): Promise<string | undefined>;
  /** Applies pending migrations; returns the names of those applied. */
  migrate(): Promise<string[]>;
  pendingMigrations(): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A minimal promise mutex: callers run one at a time, in arrival order. */
export function createMutex() {
  let tail: Promise<unknown> = Promise.resolve();
  return function lock<T>(fn: () => Promise<T>): Promise<T> {
    const result = tail.then(fn, fn);
    tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  };
}

export interface CreateDatabaseOptions {
  readonly entities?: readonly EntitySchema[];
  /** Log every SQL statement (debugging). */
  readonly logging?: boolean;
}

export async function createDatabase(
  config: DatabaseConfig,
  options: CreateDatabaseOptions = {},
): Promise<Database> {
  const entities = [...(options.entities ?? [])];
  if (config.kind === "sqlite") {
    if (config.path !== ":memory:") mkdirSync(path.dirname(config.path), { recursive: true });
    const dataSource = new DataSource({
      type: "better-sqlite3",
      database: config.path,
      entities,
      migrations,
      migrationsRun: false,
      synchronize: false,
      logging: options.logging ?? false,
      timeout: 10_000,
      enableWAL: true,
      prepareDatabase(db: {
        pragma(s: string): unknown;
        function(name: string, o: { deterministic: boolean }, fn: (text: string) => string): unknown;
      }) {
        db.pragma("busy_timeout = 10000");
        // MySQL's SHA2(…, 256) for SQLite: the archive's append hashes a record in SQL (records.ts).
        db.function("herald_sha256", { deterministic: true }, (text) =>
          createHash("sha256").update(text, "utf8").digest("hex"),
        );
        // WAL + NORMAL is durable across process crashes (only an OS crash may lose the last
        // transactions); the database always opens consistent.
        db.pragma("synchronous = NORMAL");
      },
    });
    await dataSource.initialize();
    const runner = dataSource.driver.createQueryRunner("master");
    const originalQuery = runner.query.bind(runner) as (sql: string, ...rest: unknown[]) => Promise<unknown>;
    // TypeORM opens SQLite transactions as deferred; take the write lock up front instead.
    runner.query = ((sql: string, ...rest: unknown[]) =>
      originalQuery(
        sql === "BEGIN TRANSACTION" ? "BEGIN IMMEDIATE TRANSACTION" : sql,
        ...rest,
      )) as typeof runner.query;
    return wrap(
      dataSource,
      "sqlite",
      createMutex(),
      config.path === ":memory:" ? undefined : `${config.path}-shm`,
    );
  }

  const dataSource = new DataSource({
    type: "mysql",
    url: config.url,
    entities,
    migrations,
    migrationsRun: false,
    synchronize: false,
    logging: options.logging ?? false,
    charset: "utf8mb4_unicode_ci",
    timezone: "Z",
    poolSize: 10,
    supportBigNumbers: true,
    bigNumberStrings: false,
    dateStrings: false,
  });
  try {
    await dataSource.initialize();
  } catch (err) {
    throw unavailable(config.url, err) ?? err;
  }
  return wrap(dataSource, "mysql", undefined);
}

/**
 * The MySQL/MariaDB server named in DATABASE_URL could not be used, for a reason the operator can
 * fix (no such database, refused credentials, nothing listening): `npm start` and the CLI print
 * the message alone, without a stack trace, and exit non-zero.
 */
export class DatabaseUnavailable extends Error {}

/** Turns a connection failure into what to do about it; undefined for anything else. */
export function unavailable(url: string, err: unknown): DatabaseUnavailable | undefined {
  const e = err as { code?: string; errno?: number; message?: string };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  // Never the password: only host, port, user and database are named.
  const host = u.hostname || "localhost";
  const port = u.port || "3306";
  const server = `the MySQL/MariaDB server at ${host}:${port}`;
  const user = decodeURIComponent(u.username) || "(none)";
  const name = decodeURIComponent(u.pathname.replace(/^\//, ""));
  switch (e.code) {
    case "ER_BAD_DB_ERROR":
      return new DatabaseUnavailable(
        `The database "${name}" does not exist on ${server} (DATABASE_URL). Create it, then start again — Herald creates its tables itself:\n` +
          `  mysql -h ${host} -P ${port} -u ${user} -p -e 'CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'`,
      );
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_DBACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
      return new DatabaseUnavailable(
        `${server[0].toUpperCase()}${server.slice(1)} refused user "${user}" for database "${name}" (${e.code}): check the user name and password in DATABASE_URL, and that the user may use the database (GRANT ALL PRIVILEGES ON \`${name}\`.* TO '${user}'@'…').`,
      );
    case "ECONNREFUSED":
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ECONNRESET":
      return new DatabaseUnavailable(
        `Cannot reach ${server} (${e.code}): is the server running, and are the host and port in DATABASE_URL right?`,
      );
    default:
      return undefined;
  }
}

/** The parts of better-sqlite3 and mysql2 that `rows` uses. */
interface SqliteStatement {
  raw(on: boolean): SqliteStatement;
  all(...params: unknown[]): unknown[];
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
}
interface MysqlPool {
  execute(
    options: { sql: string; values: unknown[]; rowsAsArray: boolean; timeout?: number },
    cb: (err: Error | null, rows: unknown) => void,
  ): void;
}

const WAL_INDEX_HEADER_BYTES = 48;

const BUSY = /SQLITE_BUSY|SQLITE_LOCKED|database is locked/;
const DEADLOCK = /ER_LOCK_DEADLOCK|Deadlock found/;

function wrap(
  dataSource: DataSource,
  dialect: Dialect,
  lock: ReturnType<typeof createMutex> | undefined,
  /** SQLite in WAL mode: its wal-index file (`changeStamp`). */
  shmPath?: string,
): Database {
  const serial = <T>(fn: () => Promise<T>): Promise<T> => (lock ? lock(fn) : fn());
  // `changeStamp`'s file and buffer (SQLite).
  let shm: number | undefined;
  const header = Buffer.alloc(WAL_INDEX_HEADER_BYTES);
  // `rows`' prepared statements (SQLite): a handful of fixed hot-path statements.
  const statements = new Map<string, SqliteStatement>();
  const db: Database = {
    dialect,
    dataSource,
    async transaction(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await serial(() => dataSource.transaction((em) => fn(em)));
        } catch (err) {
          // SQLite: another process held the write lock past the busy timeout. MySQL: InnoDB chose
          // this transaction as a deadlock victim and rolled it back. Both are safe to run again.
          const retryable = dialect === "sqlite" ? BUSY.test(String(err)) : DEADLOCK.test(String(err));
          if (!retryable || attempt >= 5) throw err;
          await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 30));
        }
      }
    },
    run(fn) {
      return serial(() => fn(dataSource.manager));
    },
    query(sql, params = []) {
      return serial(() => dataSource.query(sql, [...params]));
    },
    rows(sql, params = [], options = {}) {
      // Logged as TypeORM logs its own statements (SQL logging, and tests that count statements).
      dataSource.logger.logQuery(sql, [...params]);
      if (dialect === "sqlite")
        return serial(async () => {
          let stmt = statements.get(sql);
          if (!stmt) {
            const conn = (dataSource.driver as unknown as { databaseConnection: SqliteConnection })
              .databaseConnection;
            stmt = conn.prepare(sql).raw(true);
            statements.set(sql, stmt);
          }
          return stmt.all(...params) as unknown[][];
        });
      const pool = (dataSource.driver as unknown as { pool: MysqlPool }).pool;
      // A server-side prepared statement (mysql2 keeps it per connection): MySQL parses and plans
      // a hot statement once, not on every call. `timeoutMs` (MySQL only: SQLite reads a local
      // file): past it mysql2 gives up on the statement, closes its connection, and errs.
      return new Promise((resolve, reject) =>
        pool.execute(
          { sql, values: [...params], rowsAsArray: true, timeout: options.timeoutMs },
          (err, rows) => (err ? reject(err) : resolve(rows as unknown[][])),
        ),
      );
    },
    async changeStamp() {
      if (!shmPath) return undefined;
      try {
        shm ??= openSync(shmPath, "r");
        // The wal-index header (https://sqlite.org/walformat.html §2.1): its first copy, 48 bytes,
        // rewritten by every commit of every connection (the change counter, the last frame, their
        // checksums; a new salt after each WAL reset). Read without SQLite's locks: a torn read
        // only ever differs, and a commit whose header is not written yet is not visible to any
        // reader either. No statement, no read transaction, no mutex.
        if (readSync(shm, header, 0, WAL_INDEX_HEADER_BYTES, 0) !== WAL_INDEX_HEADER_BYTES) return undefined;
        return header.toString("base64");
      } catch {
        return undefined;
      }
    },
    migrate() {
      return serial(async () => {
        if (dialect === "sqlite") {
          const applied = await dataSource.runMigrations({ transaction: "each" });
          return applied.map((m) => m.name);
        }
        // Two processes migrating one MySQL database at once (rolling deploys, server + CLI)
        // would both run the same DDL: a server-wide named lock serialises them.
        const runner = dataSource.createQueryRunner();
        try {
          const [row] = await runner.query("SELECT GET_LOCK('herald_migrations', 120) AS got");
          if (Number(row?.got) !== 1) throw new Error("could not take the migration lock within 120 s");
          const applied = await dataSource.runMigrations({ transaction: "each" });
          return applied.map((m) => m.name);
        } finally {
          await runner.query("SELECT RELEASE_LOCK('herald_migrations')").catch(() => undefined);
          await runner.release();
        }
      });
    },
    pendingMigrations() {
      return serial(() => dataSource.showMigrations());
    },
    async ping() {
      await serial(() => dataSource.query("SELECT 1 AS ok"));
    },
    async close() {
      if (shm !== undefined) closeSync(shm);
      shm = undefined;
      if (dataSource.isInitialized) await serial(() => dataSource.destroy());
    },
  };
  return db;
}
