/**
 * A MySQL/MariaDB database Herald cannot use, met by `npm start` (node src/main.ts) and by the
 * CLI as real processes: a database that does not exist, a user the server refuses, a server that
 * is not there. Each gets one message that says what to do, no stack trace, and a non-zero exit
 * (before: "herald: unexpected error: Error: Unknown database …" and mysql2's stack).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { freePort, MYSQL_URL, TEST_DB, testEnv } from "../helpers/env.ts";
import { runCli, runNode, type RunResult } from "../helpers/process.ts";
import { ROOT } from "../helpers/env.ts";

const cwd = mkdtempSync(path.join(tmpdir(), "herald-unavailable-"));
after(() => rmSync(cwd, { recursive: true, force: true }));

function withDatabase(change: (u: URL) => void): string {
  const u = new URL(MYSQL_URL);
  change(u);
  return u.toString();
}

async function both(url: string): Promise<{ start: RunResult; cli: RunResult }> {
  const env = testEnv({ DATABASE_URL: url, HERALD_DATA_DIR: path.join(cwd, "data") });
  const [start, cli] = await Promise.all([
    runNode(path.join(ROOT, "src/main.ts"), [], { ...env, PORT: String(await freePort()) }, cwd),
    runCli(["migrate"], env, cwd),
  ]);
  return { start, cli };
}

function assertActionable(r: RunResult, prefix: string, expect: RegExp): void {
  assert.notEqual(r.code, 0, r.stderr);
  const line = r.stderr.split("\n").find((l) => l.startsWith(prefix));
  assert.ok(line, `no line starting with "${prefix}" in:\n${r.stderr}`);
  assert.match(r.stderr, expect);
  // No stack trace, and no "unexpected error".
  assert.doesNotMatch(r.stderr, /^\s+at /m);
  assert.doesNotMatch(r.stderr, /unexpected error|failed to start/i);
}

describe("a database Herald cannot use: one actionable message, no stack trace", () => {
  test(
    "the database named in DATABASE_URL does not exist (MariaDB)",
    { skip: TEST_DB !== "mysql" && "needs MySQL/MariaDB (HERALD_TEST_DB=mysql)" },
    async () => {
      const name = `herald_missing_${randomBytes(4).toString("hex")}`;
      const { start, cli } = await both(withDatabase((u) => (u.pathname = `/${name}`)));
      const expect = new RegExp(`The database "${name}" does not exist[^]*CREATE DATABASE \`${name}\``);
      assertActionable(start, "Herald did not start: ", expect);
      assert.equal(start.code, 69);
      assertActionable(cli, "herald: ", expect);
      assert.equal(cli.code, 1);
    },
  );

  test(
    "the server refuses the user (MariaDB); the password is never printed",
    { skip: TEST_DB !== "mysql" && "needs MySQL/MariaDB (HERALD_TEST_DB=mysql)" },
    async () => {
      const { start, cli } = await both(
        withDatabase((u) => {
          u.username = "herald_nobody";
          u.password = "s3cret-pw";
        }),
      );
      for (const [r, prefix] of [
        [start, "Herald did not start: "],
        [cli, "herald: "],
      ] as const) {
        assertActionable(r, prefix, /refused user "herald_nobody".*check the user name and password/);
        assert.doesNotMatch(r.stderr, /s3cret-pw/);
      }
    },
  );

  test("nothing listens at the host and port in DATABASE_URL", async () => {
    const port = await freePort();
    const { start, cli } = await both(`mysql://root@127.0.0.1:${port}/herald`);
    const expect = new RegExp(
      `Cannot reach the MySQL/MariaDB server at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`,
    );
    assertActionable(start, "Herald did not start: ", expect);
    assertActionable(cli, "herald: ", expect);
  });
});
