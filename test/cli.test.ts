import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createDatabase } from "../src/db/database.ts";
import { createTokenService } from "../src/scim/tokens.ts";
import { entities } from "../src/services.ts";
import { freshDatabaseUrl, TEST_DB, type TestDatabaseUrl, testConfig, testEnv } from "./helpers/env.ts";
import { runCli } from "./helpers/process.ts";

describe(`herald CLI on ${TEST_DB}`, () => {
  let fresh: TestDatabaseUrl;
  let env: Record<string, string | undefined>;
  before(async () => {
    fresh = await freshDatabaseUrl();
    env = testEnv({
      DATABASE_URL: fresh.url,
      HERALD_DATA_DIR: fresh.dir,
      HERALD_ORIGIN: "https://social.corp.example",
    });
  });
  after(async () => {
    await fresh.cleanup();
  });

  test("--help and help <command> describe the commands; no database needed", async () => {
    const r = await runCli(["--help"], { DATABASE_URL: "mysql://nobody@127.0.0.1:1/none" });
    assert.equal(r.code, 0);
    for (const c of ["migrate", "token create <name>", "token list", "token revoke <name>"])
      assert.ok(r.stdout.includes(c), c);
    const t = await runCli(["help", "token"], {});
    assert.equal(t.code, 0);
    assert.match(t.stdout, /printed once, as the last line/);
  });

  test("commands other than migrate refuse an unmigrated database and say what to run", async () => {
    const r = await runCli(["token", "list"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /pending migrations: run `npx herald migrate` first/);
  });

  test("migrate applies the migrations, then reports up to date", async () => {
    const first = await runCli(["migrate"], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied Foundation1763700000001/);
    const second = await runCli(["migrate"], env);
    assert.equal(second.code, 0);
    assert.equal(second.stdout.trim(), "Database is up to date.");
  });

  test("token create prints the token as its last stdout line, and it verifies against the database", async () => {
    const r = await runCli(["token", "create", "okta-prod"], env);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    const token = lines.at(-1)!;
    assert.match(token, /^hrld_[A-Za-z0-9_-]{43}$/);
    assert.ok(lines.some((l) => l === "SCIM base URL: https://social.corp.example/scim/v2"));
    assert.ok(!r.stderr.includes(token), "token leaked to stderr");
    const db = await createDatabase(testConfig(fresh.url, fresh.dir).database, { entities });
    try {
      assert.equal((await createTokenService(db).verify(token))?.name, "okta-prod");
    } finally {
      await db.close();
    }
  });

  test("token list shows names and hints, never tokens; revoke is immediate", async () => {
    const created = await runCli(["token", "create", "entra"], env);
    const token = created.stdout.trim().split("\n").at(-1)!;
    const list = await runCli(["token", "list"], env);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^NAME\tHINT\tCREATED\tLAST USED\tREVOKED$/m);
    assert.match(list.stdout, /^entra\thrld_\S{4}…\t\d{4}-\d\d-\d\dT\S+Z\t-\t-$/m);
    assert.ok(!list.stdout.includes(token));
    const revoke = await runCli(["token", "revoke", "entra"], env);
    assert.equal(revoke.code, 0);
    const again = await runCli(["token", "revoke", "entra"], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already revoked/);
    const listed = await runCli(["token", "list"], env);
    assert.match(listed.stdout, /^entra\t.*\t\d{4}-\d\d-\d\dT\S+Z$/m);
  });

  test("bad input: duplicate names, invalid names, unknown commands and options", async () => {
    const dup = await runCli(["token", "create", "okta-prod"], env);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists.*okta-prod-2/);
    const invalid = await runCli(["token", "create", "bad name!"], env);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /Invalid token name/);
    const unknown = await runCli(["frobnicate"], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown command "frobnicate"/);
    const opt = await runCli(["token", "list", "--verbose"], env);
    assert.equal(opt.code, 2);
    const missing = await runCli(["token", "create"], env);
    assert.equal(missing.code, 2);
  });

  test("a broken configuration is reported plainly, exit 1", async () => {
    const r = await runCli(["token", "list"], { DATABASE_URL: "postgres://x/y" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /DATABASE_URL must start with sqlite:/);
  });
});
