import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { KvStore } from "@fedify/fedify";
import { testMessageQueue } from "@fedify/testing";
import { Temporal } from "@js-temporal/polyfill";
import { createStores } from "../../src/federation/federation.ts";
import { mariadbCompatibleSql } from "../../src/federation/mysql-store.ts";
import { SqlMessageQueue } from "../../src/federation/queue.ts";
import { FIXTURES, migratedDatabase, TEST_DB, type TestDb, waitFor } from "../helpers/env.ts";

const queueConfig = { queue: { pollIntervalMs: 100, workers: 2, leaseMs: 30_000 } };

describe(`Fedify stores on ${TEST_DB}`, () => {
  let t: TestDb;
  let kv: KvStore;
  before(async () => {
    t = await migratedDatabase();
    kv = createStores(queueConfig, t.db).kv;
  });
  after(async () => {
    await t.close();
  });

  test("MessageQueue passes @fedify/testing's testMessageQueue (with ordering keys)", async () => {
    await testMessageQueue(
      () => createStores(queueConfig, t.db).queue,
      async ({ controller }) => {
        controller.abort();
      },
      { testOrderingKey: true },
    );
  });

  test("KvStore: set, get, overwrite, delete", async () => {
    assert.equal(await kv.get(["a", "missing"]), undefined);
    await kv.set(["a", "b"], { n: 1, s: "x", nested: [1, { y: true }] });
    assert.deepEqual(await kv.get(["a", "b"]), { n: 1, s: "x", nested: [1, { y: true }] });
    await kv.set(["a", "b"], "plain string");
    assert.equal(await kv.get(["a", "b"]), "plain string");
    await kv.set(["a", "n"], 42);
    assert.equal(await kv.get(["a", "n"]), 42);
    await kv.delete(["a", "b"]);
    assert.equal(await kv.get(["a", "b"]), undefined);
  });

  test("KvStore: values expire after their TTL", async () => {
    await kv.set(["ttl"], "soon gone", {
      ttl: Temporal.Duration.from({
        milliseconds: 1200,
      }) as unknown as globalThis.Temporal.Duration,
    });
    assert.equal(await kv.get(["ttl"]), "soon gone");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await kv.get(["ttl"]), undefined);
  });

  test("KvStore: compare-and-swap succeeds only on the expected value", async () => {
    assert.ok(kv.cas);
    assert.equal(await kv.cas(["cas"], undefined, { v: 1 }), true);
    assert.equal(await kv.cas(["cas"], undefined, { v: 2 }), false);
    assert.equal(await kv.cas(["cas"], { v: 1 }, { v: 2 }), true);
    assert.deepEqual(await kv.get(["cas"]), { v: 2 });
    assert.equal(await kv.cas(["cas"], { v: 2 }, undefined), true);
    assert.equal(await kv.get(["cas"]), undefined);
  });

  test("KvStore: list by prefix matches whole key segments only", async () => {
    await kv.set(["p", "x"], 1);
    await kv.set(["p", "y", "z"], 2);
    await kv.set(["pq", "x"], 3);
    await kv.set(["p%_"], 4);
    const keys = [];
    for await (const e of kv.list(["p"])) keys.push(e.key);
    assert.deepEqual(keys, [
      ["p", "x"],
      ["p", "y", "z"],
    ]);
    const all = [];
    for await (const e of kv.list()) all.push(e.key);
    assert.ok(all.length >= 4);
  });
});

describe("MariaDB compatibility of @fedify/mysql's SQL", () => {
  test("CAST(? AS JSON) becomes a plain placeholder; nothing else changes", () => {
    const cases: [string, string][] = [
      ["VALUES (?, CAST(? AS JSON), NULL)", "VALUES (?, ?, NULL)"],
      [
        "VALUES (?, cast( ?  as json ),\n DATE_ADD(NOW(6), INTERVAL ? SECOND))",
        "VALUES (?, ?,\n DATE_ADD(NOW(6), INTERVAL ? SECOND))",
      ],
      ["SELECT `value` FROM t WHERE `key` = ?", "SELECT `value` FROM t WHERE `key` = ?"],
    ];
    for (const [input, expected] of cases) assert.equal(mariadbCompatibleSql(input), expected);
  });
});

describe(`SqlMessageQueue is at-least-once on ${TEST_DB}`, () => {
  test("a message whose worker process was killed is handed to another worker when its lease runs out", async () => {
    const t = await migratedDatabase();
    try {
      await new SqlMessageQueue(t.db).enqueue({ deliver: "to everyone" });
      // A real process takes the message, reports it, and hangs in the handler until killed.
      const child = spawn(process.execPath, [path.join(FIXTURES, "scripts/hanging-worker.ts"), t.url], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      const exited = once(child, "exit");
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      await waitFor(() => out.includes("handling"), {
        what: "the child worker to take the message",
      });
      const leased = await t.db.query<{ n: number }>(
        "SELECT COUNT(*) AS n FROM delivery_queue WHERE lease_owner IS NOT NULL",
      );
      assert.equal(Number(leased[0].n), 1, "the message is leased, not deleted, while handled");
      child.kill("SIGKILL");
      await exited;

      const survivor = new SqlMessageQueue(t.db, { pollIntervalMs: 50, workers: 1 });
      const got: unknown[] = [];
      const stop = new AbortController();
      const listening = survivor.listen((m) => void got.push(m), { signal: stop.signal });
      await waitFor(() => got.length > 0, { what: "redelivery after the lease expired" });
      assert.deepEqual(got, [{ deliver: "to everyone" }]);
      stop.abort();
      await listening;
      const [row] = await t.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue");
      assert.equal(Number(row.n), 0, "the redelivered message is acknowledged");
    } finally {
      await t.close();
    }
  });

  test("a slow handler keeps its lease: the message is not handed out twice", async () => {
    const t = await migratedDatabase();
    try {
      const a = new SqlMessageQueue(t.db, { pollIntervalMs: 50, workers: 1, leaseMs: 600 });
      const b = new SqlMessageQueue(t.db, { pollIntervalMs: 50, workers: 1, leaseMs: 600 });
      const seen: string[] = [];
      const stop = new AbortController();
      const slow = (who: string) => async () => {
        seen.push(who);
        await new Promise((r) => setTimeout(r, 2400)); // four lease periods
      };
      const la = a.listen(slow("a"), { signal: stop.signal });
      const lb = b.listen(slow("b"), { signal: stop.signal });
      await a.enqueue("once");
      await waitFor(() => seen.length > 0, { what: "a worker to start" });
      await new Promise((r) => setTimeout(r, 2800));
      stop.abort();
      await Promise.all([la, lb]);
      assert.equal(seen.length, 1, `handled by ${seen.join(", ")}`);
    } finally {
      await t.close();
    }
  });

  test("stopping a listener waits for the handler in flight and acknowledges its message (graceful drain)", async () => {
    const t = await migratedDatabase();
    try {
      const q = new SqlMessageQueue(t.db, { pollIntervalMs: 50, workers: 1 });
      const stop = new AbortController();
      let finished = false;
      let started = false;
      const listening = q.listen(
        async () => {
          started = true;
          await new Promise((r) => setTimeout(r, 400));
          finished = true;
        },
        { signal: stop.signal },
      );
      await q.enqueue("in flight at shutdown");
      await waitFor(() => started, { what: "the handler to start" });
      stop.abort();
      await listening;
      assert.equal(finished, true, "listen() resolved before the handler finished");
      const [row] = await t.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue");
      assert.equal(Number(row.n), 0);
    } finally {
      await t.close();
    }
  });
});
