import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import Database from "better-sqlite3";
import { freePort, freshDatabaseUrl, ROOT, TEST_DB, testEnv } from "./helpers/env.ts";
import { startServerProcess } from "./helpers/process.ts";

describe("npm start (node src/main.ts) as a real process", () => {
  test(
    "a fresh directory: demo organization on the embedded SQLite default, dev secrets generated, clean SIGTERM",
    {
      skip: TEST_DB !== "sqlite" && "the default database is SQLite",
    },
    async () => {
      const cwd = mkdtempSync(path.join(tmpdir(), "herald-start-"));
      const port = await freePort();
      // As on a fresh machine: no DATABASE_URL, no secrets, development mode.
      const env = { NODE_ENV: undefined, PORT: String(port) };
      const s = await startServerProcess(env, port, cwd, { useTestSecrets: false });
      const { stdout } = s.output();
      assert.match(stdout, new RegExp(`Herald is running for Demo Corp: http://localhost:${port}/`));
      assert.match(stdout, /npx herald token create/);
      // Where to sign in and where to verify, not only SCIM.
      assert.match(stdout, new RegExp(`sign in:\\s+http://localhost:${port}/login \\(development IdP`));
      assert.match(stdout, new RegExp(`verify:\\s+http://localhost:${port}/verify `));
      const home = await (await fetch(`${s.url}/`)).text();
      assert.match(home, /Demo directory/);
      assert.match(home, new RegExp(`@jane@localhost:${port}`));
      assert.match(home, /Chris Park.*former employee/s);
      const secrets = JSON.parse(readFileSync(path.join(cwd, "data/dev-secrets.json"), "utf8"));
      assert.match(secrets.samlSpCertPem, /BEGIN CERTIFICATE/);

      s.child.kill("SIGTERM");
      assert.equal(await s.exited, 0);
      assert.match(s.output().stderr, /Stopped\./);

      // A restart keeps the same directory and secrets (no second seed).
      const again = await startServerProcess(env, port, cwd, { useTestSecrets: false });
      again.child.kill("SIGTERM");
      assert.equal(await again.exited, 0);
      assert.ok(!again.output().stderr.includes("Seeded the demo organization"));
      assert.ok(!again.output().stderr.includes("Generated development secrets"));
      assert.deepEqual(JSON.parse(readFileSync(path.join(cwd, "data/dev-secrets.json"), "utf8")), secrets);
      const db = new Database(path.join(cwd, "data/herald.sqlite"), { readonly: true });
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM person").get() as { n: number }).n, 6);
      db.close();
    },
  );

  test(`with DATABASE_URL set (${TEST_DB}) Herald starts with an empty directory`, async () => {
    const fresh = await freshDatabaseUrl();
    try {
      const port = await freePort();
      const s = await startServerProcess(
        { DATABASE_URL: fresh.url, HERALD_DATA_DIR: fresh.dir },
        port,
        fresh.dir,
      );
      const home = await (await fetch(`${s.url}/`)).text();
      assert.ok(!home.includes("Demo directory"));
      s.child.kill("SIGTERM");
      assert.equal(await s.exited, 0);
    } finally {
      await fresh.cleanup();
    }
  });

  test("production without secrets refuses to start, naming each variable (exit 78)", async () => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync(process.execPath, [path.join(ROOT, "src/main.ts")], {
      env: { PATH: process.env.PATH, NODE_ENV: "production" },
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(r.status, 78);
    for (const v of [
      "HERALD_ORIGIN",
      "HERALD_SESSION_SECRET",
      "HERALD_ORG_SIGNING_KEY",
      "HERALD_SAML_SP_KEY",
      "HERALD_SAML_SP_CERT",
    ]) {
      assert.match(r.stderr, new RegExp(`${v} .*required in production`));
    }
  });

  test("HERALD_MIGRATE=false with pending migrations refuses to start and says what to run", async () => {
    const fresh = await freshDatabaseUrl();
    try {
      const { spawnSync } = await import("node:child_process");
      const r = spawnSync(process.execPath, [path.join(ROOT, "src/main.ts")], {
        env: {
          PATH: process.env.PATH,
          ...testEnv(),
          DATABASE_URL: fresh.url,
          HERALD_DATA_DIR: fresh.dir,
          HERALD_MIGRATE: "false",
          PORT: "0",
        },
        encoding: "utf8",
        timeout: 20_000,
      });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /pending migrations and HERALD_MIGRATE=false: run `npx herald migrate` first/);
    } finally {
      await fresh.cleanup();
    }
  });
});
