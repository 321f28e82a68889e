/**
 * kill -9 under write load: the server and two writer processes share the database; all are
 * killed mid-write. The database must open, pass its integrity check, migrate cleanly, contain
 * no torn transaction, and serve again.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { test } from "node:test";
import BetterSqlite3 from "better-sqlite3";
import { createDatabase } from "../src/db/database.ts";
import { createTokenService } from "../src/scim/tokens.ts";
import { entities } from "../src/services.ts";
import { FIXTURES, freePort, freshDatabaseUrl, TEST_DB, testConfig, waitFor } from "./helpers/env.ts";
import { startServerProcess } from "./helpers/process.ts";

test(`kill -9 of the server and writers under write load leaves a sound ${TEST_DB} database`, async (t) => {
  const fresh = await freshDatabaseUrl();
  try {
    const port = await freePort();
    const env = { DATABASE_URL: fresh.url, HERALD_DATA_DIR: fresh.dir, HERALD_QUEUE_POLL_MS: "20" };
    const server = await startServerProcess(env, port, fresh.dir);

    const writers = ["w1", "w2"].map((name) => {
      const child = spawn(process.execPath, [path.join(FIXTURES, "scripts/write-load.ts"), fresh.url, name], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        err += d;
      });
      return { child, exited: once(child, "exit"), out: () => out, err: () => err };
    });
    await waitFor(() => writers.every((w) => w.out().includes("writing")), {
      what: `writers to start (${writers.map((w) => w.err()).join(" ")})`,
    });
    // Let them write, hitting the server meanwhile, then kill everything at once.
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    for (const w of writers) assert.equal(w.child.exitCode, null, `writer died early: ${w.err()}`);
    server.child.kill("SIGKILL");
    for (const w of writers) w.child.kill("SIGKILL");
    await Promise.all([server.exited, ...writers.map((w) => w.exited)]);

    if (TEST_DB === "sqlite") {
      const file = fresh.url.slice("sqlite:".length);
      const raw = new BetterSqlite3(file);
      assert.equal((raw.pragma("integrity_check") as { integrity_check: string }[])[0].integrity_check, "ok");
      raw.close();
    }
    const db = await createDatabase(testConfig(fresh.url, fresh.dir).database, { entities });
    try {
      assert.equal(await db.pendingMigrations(), false);
      assert.deepEqual(await db.migrate(), []);
      const counts = await db.query<{ action: string; n: number }>(
        "SELECT action, COUNT(*) AS n FROM audit_event WHERE actor = 'load' GROUP BY action ORDER BY action",
      );
      const a = Number(counts.find((c) => c.action === "load.a")?.n ?? 0);
      const b = Number(counts.find((c) => c.action === "load.b")?.n ?? 0);
      assert.ok(a > 20, `expected real write load before the kill, got ${a} transactions`);
      assert.equal(a, b, "every committed transaction has both of its rows");
      t.diagnostic(`${a} transactions committed by two writers before the kill`);
      const torn = await db.query(
        "SELECT target_id FROM audit_event WHERE actor = 'load' GROUP BY target_id HAVING COUNT(*) <> 2",
      );
      assert.deepEqual(torn, []);
    } finally {
      await db.close();
    }

    // And it serves again.
    const again = await startServerProcess(env, port, fresh.dir);
    again.child.kill("SIGTERM");
    assert.equal(await again.exited, 0);
  } finally {
    await fresh.cleanup();
  }
});

test(`SCIM on ${TEST_DB}: every 201 answered before a kill -9 is in the database, with its event and audit row`, async (t) => {
  const fresh = await freshDatabaseUrl();
  try {
    const port = await freePort();
    const env = { DATABASE_URL: fresh.url, HERALD_DATA_DIR: fresh.dir };
    const server = await startServerProcess(env, port, fresh.dir);
    const db0 = await createDatabase(testConfig(fresh.url, fresh.dir).database, { entities });
    const created = await createTokenService(db0).create("crash", "test");
    await db0.close();
    assert.ok(created.ok);
    const acknowledged: string[] = [];
    let stop = false;
    const client = async (n: number) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        try {
          const res = await fetch(`${server.url}/scim/v2/Users`, {
            method: "POST",
            headers: { authorization: `Bearer ${created.token}`, "content-type": "application/scim+json" },
            body: JSON.stringify({ userName: `crash-${n}-${i}@corp.example` }),
          });
          if (res.status === 201) acknowledged.push((await res.json()).id);
        } catch {
          return; // the server is gone
        }
      }
    };
    const clients = [0, 1, 2, 3].map(client);
    await waitFor(() => acknowledged.length >= 50, { what: "50 acknowledged creates" });
    server.child.kill("SIGKILL");
    stop = true;
    await Promise.all(clients);
    await server.exited;

    const db = await createDatabase(testConfig(fresh.url, fresh.dir).database, { entities });
    try {
      const ids = new Set((await db.query<{ id: string }>("SELECT id FROM person")).map((r) => r.id));
      const provisioned = new Set(
        (
          await db.query<{ subject_id: string }>(
            "SELECT subject_id FROM domain_event WHERE type = 'person.provisioned'",
          )
        ).map((r) => r.subject_id),
      );
      const audited = new Set(
        (
          await db.query<{ target_id: string }>(
            "SELECT target_id FROM audit_event WHERE action = 'scim.user.create'",
          )
        ).map((r) => r.target_id),
      );
      for (const id of acknowledged) {
        assert.ok(ids.has(id), `acknowledged user ${id} lost`);
        assert.ok(provisioned.has(id), `event for ${id} lost`);
        assert.ok(audited.has(id), `audit row for ${id} lost`);
      }
      // Nothing half-written either: every person has its event.
      assert.equal(provisioned.size, ids.size);
      t.diagnostic(`${acknowledged.length} creates acknowledged before the kill; ${ids.size} committed`);
    } finally {
      await db.close();
    }
  } finally {
    await fresh.cleanup();
  }
});
