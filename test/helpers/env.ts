/**
 * Test environments: a fresh database per call (a temporary SQLite file, or a new MySQL database
 * when HERALD_TEST_DB=mysql), the test-only secrets from test/fixtures, and helpers to build
 * services or a whole server through the composition root.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import { type Config, parseConfig } from "../../src/config.ts";
import { createDatabase, type Database } from "../../src/db/database.ts";
import { setupLogging } from "../../src/logging.ts";
import { entities } from "../../src/services.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURES = path.join(ROOT, "test/fixtures");
const SECRETS = path.join(FIXTURES, "secrets");

export const TEST_DB: "sqlite" | "mysql" = process.env.HERALD_TEST_DB === "mysql" ? "mysql" : "sqlite";

/**
 * For browser tests of page layout (overflow at 390 and 1280 px, axe, links and assets): what they
 * check is the HTML and CSS a handler renders, which no database changes, so they run on SQLite
 * only and the MySQL suite covers the same handlers through its HTTP tests. This keeps `.ci/run`
 * within its 30 minutes. Browser tests whose subject is data (SAML sign-in matching, shared
 * accounts' grants) still run on both.
 */
export const LAYOUT_ON_SQLITE_ONLY: string | false =
  TEST_DB === "mysql" ? "page layout in a browser does not depend on the database: checked on SQLite" : false;
export const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

export interface TestDatabaseUrl {
  readonly url: string;
  readonly dir: string;
  cleanup(): Promise<void>;
}

/** A new, empty database of the configured kind, and a temporary directory beside it. */
export async function freshDatabaseUrl(): Promise<TestDatabaseUrl> {
  const dir = mkdtempSync(path.join(tmpdir(), "herald-test-"));
  if (TEST_DB === "sqlite") {
    return {
      url: `sqlite:${path.join(dir, "herald.sqlite")}`,
      dir,
      async cleanup() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `herald_t_${randomBytes(6).toString("hex")}`;
  const admin = await mysql.createConnection(MYSQL_URL);
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.end();
  }
  const u = new URL(MYSQL_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    dir,
    async cleanup() {
      const c = await mysql.createConnection(MYSQL_URL);
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Environment variables for a test instance (test-only secrets from fixtures). */
export function testEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    NODE_ENV: "test",
    HERALD_SESSION_SECRET_FILE: path.join(SECRETS, "session.txt"),
    HERALD_ORG_SIGNING_KEY_FILE: path.join(SECRETS, "org-ed25519.pem"),
    HERALD_SAML_SP_KEY_FILE: path.join(SECRETS, "saml-sp.key"),
    HERALD_SAML_SP_CERT_FILE: path.join(SECRETS, "saml-sp.crt"),
    HERALD_LOG_LEVEL: process.env.HERALD_TEST_LOG_LEVEL ?? "fatal",
    ...extra,
  };
}

export function testConfig(databaseUrl: string, dataDir: string, extra: Record<string, string> = {}): Config {
  // HERALD_TEST_LOG_LEVEL=debug shows in-process servers' logs while debugging a test.
  if (process.env.HERALD_TEST_LOG_LEVEL)
    void setupLogging({ log: { level: process.env.HERALD_TEST_LOG_LEVEL as "debug", format: "pretty" } });
  return parseConfig(
    testEnv({
      DATABASE_URL: databaseUrl,
      HERALD_DATA_DIR: dataDir,
      PORT: "0",
      HERALD_ORIGIN: "http://127.0.0.1:3999",
      HERALD_QUEUE_POLL_MS: "100",
      ...extra,
    }),
  );
}

export interface TestDb {
  readonly db: Database;
  readonly url: string;
  readonly dir: string;
  close(): Promise<void>;
}

/** A migrated database of the configured kind. */
export async function migratedDatabase(): Promise<TestDb> {
  const fresh = await freshDatabaseUrl();
  const config = testConfig(fresh.url, fresh.dir);
  const db = await createDatabase(config.database, { entities });
  await db.migrate();
  return {
    db,
    url: fresh.url,
    dir: fresh.dir,
    async close() {
      await db.close();
      await fresh.cleanup();
    },
  };
}

/** A free TCP port on loopback (for child processes that need to know their origin up front). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 15_000, intervalMs = 50, what = "condition" } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}
