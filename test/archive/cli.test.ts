/**
 * `herald archive hold create|release|list`: legal holds from the command line, each change
 * audited with the operator's name; holds that name nothing, and bad days, are refused. And
 * `herald domain block|unblock` is archived as the organization's act.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArchiveRecordSchema } from "../../src/archive/entities.ts";
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
    const migrated = await runCli(["migrate"], env);
    assert.equal(migrated.code, 0, migrated.stderr);
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
    const released = await runCli(["archive", "hold", "release", id], env);
    assert.equal(released.code, 0, released.stderr);
    assert.equal((await runCli(["archive", "hold", "release", id], env)).code, 1);
    assert.ok(!(await runCli(["archive", "hold", "list"], env)).stdout.includes(id));
    assert.ok((await runCli(["archive", "hold", "list", "--all"], env)).stdout.includes(id));

    // The organization's own blocks of whole servers are archived too.
    for (const args of [
      ["domain", "block", "spam.example", "--reason", "spam"],
      ["domain", "unblock", "spam.example"],
    ]) {
      const r = await runCli(args, env);
      assert.equal(r.code, 0, r.stderr);
    }

    const db = await createDatabase(parseConfig(env).database, { entities });
    try {
      const audit = (
        await db.run((em) => em.getRepository(AuditEventSchema).find({ order: { id: "ASC" } }))
      ).filter((a) => a.action.startsWith("archive."));
      assert.deepEqual(
        audit.map((a) => [a.action, a.targetId, a.actor.startsWith("cli:")]),
        [
          ["archive.hold.create", id, true],
          ["archive.hold.release", id, true],
        ],
      );
      const records = await db.run((em) =>
        em.getRepository(ArchiveRecordSchema).find({ order: { id: "ASC" } }),
      );
      assert.deepEqual(
        records.map((r) => [r.kind, r.actorLabel?.startsWith("cli:"), JSON.parse(r.content)]),
        [
          ["block.domain", true, { domain: "spam.example", reason: "spam" }],
          ["unblock.domain", true, { domain: "spam.example", reason: null }],
        ],
      );
    } finally {
      await db.close();
    }
  } finally {
    await fresh.cleanup();
  }
});
