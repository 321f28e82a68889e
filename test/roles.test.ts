/**
 * Process roles and the cluster lease (src/server.ts, src/db/leases.ts). On SQLite: one server
 * per file, `all` only, and a clean shutdown hands over at once. On MySQL: a `web` process serves
 * HTTP and leaves keys and consumers to a `worker`; of two workers exactly one holds the lease,
 * and killing it (SIGKILL) hands the once-per-cluster consumers to the other.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { CLUSTER_LEASE, type RunningServer, startServer } from "../src/server.ts";
import { createLeases } from "../src/db/leases.ts";
import { ActorSchema } from "../src/federation/entities.ts";
import {
  freePort,
  freshDatabaseUrl,
  ROOT,
  TEST_DB,
  type TestDatabaseUrl,
  testConfig,
  testEnv,
  waitFor,
} from "./helpers/env.ts";
import { runCli, runNode, type ServerProcess, startServerProcess } from "./helpers/process.ts";

describe("SQLite: one server per database file", { skip: TEST_DB !== "sqlite" && "SQLite only" }, () => {
  let fresh: TestDatabaseUrl;
  let a: RunningServer | undefined;
  before(async () => {
    fresh = await freshDatabaseUrl();
    a = await startServer(testConfig(fresh.url, fresh.dir, { HERALD_LEASE_MS: "1000" }));
  });
  after(async () => {
    await a?.shutdown("test");
    await fresh?.cleanup();
  });
  const env = () =>
    testEnv({
      DATABASE_URL: fresh.url,
      HERALD_DATA_DIR: fresh.dir,
      HERALD_ORIGIN: "http://127.0.0.1:3999",
      HERALD_LEASE_MS: "1000",
      PORT: "0",
    });

  test("a second server refuses, naming the one that serves the file", async () => {
    const second = await runNode(path.join(ROOT, "src/main.ts"), [], env());
    assert.equal(second.code, 75, second.stderr);
    assert.match(second.stderr, /Another Herald server \(.+\) is serving this SQLite database/);
    assert.ok(second.stderr.includes(a!.identity), second.stderr);
    assert.doesNotMatch(second.stderr, /\n\s+at /, "no stack trace");
  });

  test("`herald web` and `herald worker` refuse on SQLite, saying what to run instead", async () => {
    for (const role of ["web", "worker"]) {
      const r = await runCli([role], env());
      assert.equal(r.code, 75, r.stderr);
      assert.match(
        r.stderr,
        /SQLite serves one process, so `herald (web|worker)` cannot run on it: run `npm start`/,
      );
    }
  });

  test("after a clean shutdown the next server starts at once (the lease is released)", async () => {
    await a!.shutdown("test");
    const started = performance.now();
    a = await startServer(testConfig(fresh.url, fresh.dir, { HERALD_LEASE_MS: "60000" }));
    // With a 60 s term, only a released lease lets it start now.
    assert.equal(a.lease?.held(), true);
    assert.ok(performance.now() - started < 30_000);
  });
});

describe(
  "MySQL: web and worker processes on one database",
  { skip: TEST_DB !== "mysql" && "MySQL only" },
  () => {
    let fresh: TestDatabaseUrl;
    let web: RunningServer;
    let origin: string;
    const workers: ServerProcess[] = [];
    const env = () => ({
      DATABASE_URL: fresh.url,
      HERALD_DATA_DIR: fresh.dir,
      HERALD_ORIGIN: origin,
      HERALD_LEASE_MS: "2000",
      HERALD_QUEUE_POLL_MS: "100",
    });

    before(async () => {
      fresh = await freshDatabaseUrl();
      const port = await freePort();
      origin = `http://127.0.0.1:${port}`;
      web = await startServer(testConfig(fresh.url, fresh.dir, { ...env(), PORT: String(port) }), "web");
      // Both at once, as a deployment starts them.
      const ports = [await freePort(), await freePort()];
      workers.push(
        ...(await Promise.all(
          ports.map((port) => startServerProcess(env(), port, fresh.dir, { role: "worker", ready: true })),
        )),
      );
    });
    after(async () => {
      for (const w of workers) w.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
      await web?.shutdown("test");
      await fresh?.cleanup();
    });

    const holderPid = async () => {
      const info = await createLeases(web.services.db).info(CLUSTER_LEASE);
      return info && info.expiresAt > Date.now() ? Number(info.holder.split(":").at(-2)) : undefined;
    };

    test("each process says its role on /readyz; a worker serves nothing else", async () => {
      const r = await fetch(`${origin}/readyz`);
      assert.equal(r.status, 200);
      const body = (await r.json()) as { status: string; role: string };
      assert.equal(body.status, "ready");
      assert.equal(body.role, "web");
      for (const w of workers) {
        const ready = (await (await fetch(`${w.url}/readyz`)).json()) as { status: string; role: string };
        assert.equal(ready.status, "ready");
        assert.equal(ready.role, "worker");
        const home = await fetch(`${w.url}/`);
        assert.equal(home.status, 404);
        assert.match(await home.text(), /Herald worker: it serves \/healthz and \/readyz only/);
      }
    });

    test("two workers starting together make one organization actor (the lease holder does)", async () => {
      const orgActors = () =>
        web.services.db.run((em) => em.getRepository(ActorSchema).findBy({ kind: "org" }));
      await waitFor(async () => ((await orgActors()).some((a) => a.keysReadyAt) ? true : undefined), {
        what: "the organization's actor with keys",
        timeoutMs: 30_000,
      });
      // Both workers are up and the holder's reconciliation is done; the other never starts one.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal((await orgActors()).length, 1);
    });

    test("a hire through the web process gets its keys and account from a worker", async () => {
      const token = await web.services.tokens.create("roles", "test");
      assert.ok(token.ok);
      const res = await fetch(`${origin}/scim/v2/Users`, {
        method: "POST",
        headers: { authorization: `Bearer ${token.token}`, "content-type": "application/scim+json" },
        body: JSON.stringify({
          schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
          userName: "wren@corp.example",
        }),
      });
      assert.equal(res.status, 201);
      const wf = await waitFor(
        async () => {
          const r = await fetch(
            `${origin}/.well-known/webfinger?resource=acct:wren@${web.services.config.handleDomain}`,
          );
          return r.status === 200 ? r : undefined;
        },
        { what: "WebFinger for the new hire (keys made by a worker)", timeoutMs: 30_000 },
      );
      assert.equal(wf.status, 200);
    });

    test("of two workers exactly one holds the lease; killed, the other takes over and runs the bridge", async (t) => {
      const first = await waitFor(holderPid, { what: "a lease holder", timeoutMs: 10_000 });
      const pids = workers.map((w) => w.child.pid);
      assert.ok(pids.includes(first), `holder pid ${first} is one of the workers ${pids.join(", ")}`);
      const holder = workers.find((w) => w.child.pid === first)!;
      const other = workers.find((w) => w !== holder)!;
      holder.child.kill("SIGKILL");
      await holder.exited;
      const killedAt = performance.now();
      const next = await waitFor(async () => ((await holderPid()) === other.child.pid ? true : undefined), {
        what: "the other worker to take the lease over",
        timeoutMs: 15_000,
        intervalMs: 50,
      });
      assert.equal(next, true);
      t.diagnostic(`takeover ${Math.round(performance.now() - killedAt)} ms after SIGKILL (term 2000 ms)`);

      // The bridge now runs in the survivor: a deactivation through the web process suspends the actor.
      const person = await web.services.directory.personByUserName("wren@corp.example");
      assert.ok(person);
      const off = await web.services.directory.deactivatePerson(person.id, { name: "test", via: "test" });
      assert.ok(off.ok, JSON.stringify(off));
      const suspended = await waitFor(
        async () => {
          const a = await web.services.accounts.byPerson(person.id);
          return a?.suspendedAt ? a : undefined;
        },
        { what: "the surviving worker's bridge to suspend the actor", timeoutMs: 15_000 },
      );
      assert.ok(suspended.suspendedAt);
    });
  },
);

describe(`readiness and draining (${TEST_DB})`, () => {
  test("/readyz: ready while serving; from SIGTERM on 503 draining, while requests are still answered", async () => {
    const fresh = await freshDatabaseUrl();
    const s = await startServer(testConfig(fresh.url, fresh.dir, { HERALD_DRAIN_DELAY_MS: "1500" }));
    try {
      const ready = await fetch(`${s.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { status: string }).status, "ready");
      const stopping = s.shutdown("test");
      const draining = await fetch(`${s.url}/readyz`);
      assert.equal(draining.status, 503);
      assert.deepEqual(await draining.json(), { status: "draining", role: "all" });
      // Still serving during the drain delay: the balancer has not stopped sending yet.
      assert.equal((await fetch(`${s.url}/verify`)).status, 200);
      await stopping;
      await assert.rejects(fetch(`${s.url}/readyz`), "closed after the drain");
    } finally {
      await s.shutdown("test");
      await fresh.cleanup();
    }
  });
});
