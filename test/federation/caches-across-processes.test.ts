/**
 * Every process keeps its caches current, whoever made the change (src/identity/events.ts,
 * `process` consumers). Two server processes on one MySQL database (SQLite serves one process:
 * test/server/roles.test.ts): A (in this process) takes a SCIM deactivation; B (a child process,
 * `herald web`, so no federation bridge or other side effects of its own could drop its caches)
 * has served, and cached, the person's actor
 * document and verification answer. B must answer with the change well before its caches would
 * expire on their own (verification answers after 5 s, documents after 10 s): the poll gives up
 * at 4 s, below both, so only invalidation can pass it. Typically it takes one event poll
 * (250 ms); the test reports what it took.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type RunningServer, startServer } from "../../src/server.ts";
import {
  freePort,
  freshDatabaseUrl,
  TEST_DB,
  type TestDatabaseUrl,
  testConfig,
  waitFor,
} from "../helpers/env.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process.ts";

describe(
  `a change made in one process reaches another's caches (${TEST_DB})`,
  { skip: TEST_DB === "sqlite" && "SQLite serves one process" },
  () => {
    let fresh: TestDatabaseUrl;
    let a: RunningServer;
    let b: ServerProcess;
    let origin: string;

    before(async () => {
      fresh = await freshDatabaseUrl();
      const [portA, portB] = [await freePort(), await freePort()];
      origin = `http://127.0.0.1:${portA}`;
      a = await startServer(testConfig(fresh.url, fresh.dir, { PORT: String(portA), HERALD_ORIGIN: origin }));
      // Same database, origin and secrets; only the port differs (RUNTIME.md, two processes).
      b = await startServerProcess(
        {
          DATABASE_URL: fresh.url,
          HERALD_DATA_DIR: fresh.dir,
          HERALD_ORIGIN: origin,
        },
        portB,
        fresh.dir,
        { role: "web", ready: true },
      );
    });
    after(async () => {
      b?.child.kill("SIGTERM");
      await b?.exited;
      await a?.shutdown("test");
      await fresh?.cleanup();
    });

    test("a deactivation through A shows on B's cached actor document and verification answer", async (t) => {
      const token = await a.services.tokens.create("caches", "test");
      assert.ok(token.ok);
      const scim = (method: string, path: string, body: unknown) =>
        fetch(`${origin}/scim/v2${path}`, {
          method,
          headers: { authorization: `Bearer ${token.token}`, "content-type": "application/scim+json" },
          body: JSON.stringify(body),
        });
      const created = await scim("POST", "/Users", {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: "cached@corp.example",
        displayName: "Cass Cached",
      });
      assert.equal(created.status, 201);
      const personId = ((await created.json()) as { id: string }).id;
      const actor = await waitFor(
        async () => {
          const row = await a.services.accounts.byPerson(personId);
          return row?.keysReadyAt ? row : undefined;
        },
        { what: "the person's actor with keys", timeoutMs: 30_000 },
      );
      const handle = `@${actor.handle}@${a.services.config.handleDomain}`;
      const actorDoc = async () => {
        const res = await fetch(`${b.url}/ap/actors/${actor.id}`, {
          headers: { accept: "application/activity+json" },
        });
        assert.equal(res.status, 200);
        return (await res.json()) as { name?: string; suspended?: boolean };
      };
      const verification = async () => {
        const res = await fetch(`${b.url}/api/verification?handle=${encodeURIComponent(handle)}`);
        assert.equal(res.status, 200);
        return ((await res.json()) as { status: string }).status;
      };

      // B serves and caches both (the second answers come from its caches).
      for (let i = 0; i < 2; i++) {
        const doc = await actorDoc();
        assert.equal(doc.name, "Cass Cached");
        assert.equal(doc.suspended, false);
        assert.equal(await verification(), "active");
      }

      const started = performance.now();
      const patched = await scim("PATCH", `/Users/${personId}`, {
        schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        Operations: [{ op: "replace", path: "active", value: false }],
      });
      assert.equal(patched.status, 200);
      const seen = await waitFor(
        async () => {
          const [doc, status] = await Promise.all([actorDoc(), verification()]);
          return doc.suspended === true && status === "former" ? doc : undefined;
        },
        { what: "B's answers to show the deactivation", timeoutMs: 4_000, intervalMs: 50 },
      );
      t.diagnostic(`B answered with the change after ${Math.round(performance.now() - started)} ms`);
      assert.equal(seen.name, undefined);
    });

    test("a deletion through A: B's cached actor document becomes the Tombstone the bridge made", async () => {
      const token = await a.services.tokens.create("caches-delete", "test");
      assert.ok(token.ok);
      const headers = { authorization: `Bearer ${token.token}`, "content-type": "application/scim+json" };
      const created = await fetch(`${origin}/scim/v2/Users`, {
        method: "POST",
        headers,
        body: JSON.stringify({
          schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
          userName: "gone@corp.example",
        }),
      });
      assert.equal(created.status, 201);
      const personId = ((await created.json()) as { id: string }).id;
      const actor = await waitFor(
        async () => {
          const row = await a.services.accounts.byPerson(personId);
          return row?.keysReadyAt ? row : undefined;
        },
        { what: "the person's actor with keys", timeoutMs: 30_000 },
      );
      const doc = () =>
        fetch(`${b.url}/ap/actors/${actor.id}`, { headers: { accept: "application/activity+json" } });
      for (let i = 0; i < 2; i++) assert.equal((await doc()).status, 200, "B serves and caches it");
      // The tombstone is the bridge's change to the actor row, a moment after the directory's. To
      // see that moment, A stops running the bridge (gives its lease up) before the deletion…
      await a.lease!.stop();
      assert.equal(
        (await fetch(`${origin}/scim/v2/Users/${personId}`, { method: "DELETE", headers })).status,
        204,
      );
      // …B drops its copy on the directory's event and caches the former employee's document…
      await waitFor(
        async () => {
          const res = await doc();
          const body = (await res.json()) as { suspended?: boolean };
          return res.status === 200 && body.suspended ? true : undefined;
        },
        { what: "B to cache the former employee's document", timeoutMs: 4_000, intervalMs: 50 },
      );
      // …then a worker takes the lease and runs the bridge: only the bridge's own event tells B to
      // drop that copy before the cache's 10 s lifetime.
      const worker = await startServerProcess(
        { DATABASE_URL: fresh.url, HERALD_DATA_DIR: fresh.dir, HERALD_ORIGIN: origin },
        await freePort(),
        fresh.dir,
        { role: "worker", ready: true },
      );
      try {
        const gone = await waitFor(async () => ((await doc()).status === 410 ? true : undefined), {
          what: "B to serve the Tombstone",
          timeoutMs: 4_000,
          intervalMs: 50,
        });
        assert.equal(gone, true);
      } finally {
        worker.child.kill("SIGTERM");
        await worker.exited;
      }
    });
  },
);
