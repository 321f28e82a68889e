/**
 * `herald archive hold create|release|list`: legal holds from the command line, each change
 * audited with the operator's name; holds that name nothing, and bad days, are refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { freshDatabaseUrl, TEST_DB, testEnv } from "../helpers/env.ts";
import { runCli } from "../helpers/process.ts";
import { createDatabase } from "../../src/db/database.ts";
import { parseConfig } from "../../src/config.ts";
import { entities } from "../../src/services.ts";

test(`herald archive hold create, list, release, audited (${TEST_DB})`, async () => {
  const fresh = await freshDatabaseUrl();
  const env = testEnv({ DATABASE_URL: fresh.url, HERALD_DATA_DIR: fresh.dir });
  try {
    assert.equal((await runCli(["migrate"], env)).code, 0);
    const refused = await runCli(["archive", "hold", "create", "--name", "Everything"], env);
    assert.deepEqual(
      [refused.code, refused.stderr.trim()],
      [1, "herald: A hold needs a person, an account or a period (or several)."],
    );
    assert.equal(
      (await runCli(["archive", "hold", "create", "--name", "X", "--from", "2025-13-01"], env)).code,
      2,
    );
    const created = await runCli(
      [
        "archive",
        "hold",
        "create",
        "--name",
        "SEC inquiry 2026-14",
        "--from",
        "2026-01-01",
        "--to",
        "2026-03-31",
      ],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim().split("\n").at(-1)!;
    assert.match(id, /^[0-9a-f-]{36}$/);
    const listed = await runCli(["archive", "hold", "list"], env);
    const row = listed.stdout
      .split("\n")
      .find((l) => l.startsWith(id))
      ?.split("\t");
    assert.deepEqual(row?.slice(1, 6), [
      "SEC inquiry 2026-14",
      "-",
      "-",
      "2026-01-01T00:00:00Z",
      "2026-03-31T23:59:59Z",
    ]);
    assert.equal((await runCli(["archive", "hold", "release", id], env)).code, 0);
    assert.equal((await runCli(["archive", "hold", "release", id], env)).code, 1);
    assert.ok(!(await runCli(["archive", "hold", "list"], env)).stdout.includes(id));
    assert.ok((await runCli(["archive", "hold", "list", "--all"], env)).stdout.includes(id));

    const db = await createDatabase(parseConfig(env).database, { entities });
    try {
      const audit = await db.run((em) => em.getRepository(AuditEventSchema).find({ order: { id: "ASC" } }));
      assert.deepEqual(
        audit.map((a) => [a.action, a.targetId, a.actor.startsWith("cli:")]),
        [
          ["archive.hold.create", id, true],
          ["archive.hold.release", id, true],
        ],
      );
    } finally {
      await db.close();
    }
  } finally {
    await fresh.cleanup();
  }
});
