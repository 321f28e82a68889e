/**
 * kill -9 of the server in the middle of a fan-out, then a restart: every follower inbox still
 * receives the post (at-least-once delivery through the persistent, lease-based queue).
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { createDatabase } from "../../src/db/database.ts";
import { FollowerSchema, iriHash } from "../../src/federation/entities.ts";
import { entities } from "../../src/services.ts";
import { freePort, freshDatabaseUrl, TEST_DB, testConfig, testEnv, waitFor } from "../helpers/env.ts";
import { runCli, startServerProcess } from "../helpers/process.ts";

const INBOXES = 40;

test(`kill -9 during a fan-out to ${INBOXES} inboxes loses no delivery (${TEST_DB})`, async (t) => {
  // A receiving server: records which inbox got which activity, slowly enough to be interrupted.
  const received = new Map<number, Set<string>>();
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const n = Number(/^\/inbox\/(\d+)$/.exec(req.url ?? "")?.[1]);
      setTimeout(() => {
        try {
          const activity = JSON.parse(body) as { id?: string; type?: string };
          if (Number.isInteger(n) && activity.type === "Create" && activity.id) {
            const set = received.get(n) ?? new Set();
            set.add(activity.id);
            received.set(n, set);
          }
        } catch {
          // not JSON: ignore
        }
        res.writeHead(202).end();
      }, 40);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
  const rport = (receiver.address() as AddressInfo).port;

  const fresh = await freshDatabaseUrl();
  const port = await freePort();
  const env = testEnv({
    DATABASE_URL: fresh.url,
    HERALD_DATA_DIR: fresh.dir,
    HERALD_ORIGIN: `http://127.0.0.1:${port}`,
    HERALD_QUEUE_POLL_MS: "100",
    HERALD_QUEUE_WORKERS: "2",
    HERALD_QUEUE_LEASE_MS: "1500",
  });
  let server = await startServerProcess(env, port, fresh.dir);
  try {
    const created = await runCli(["shared-account", "create", "recruiting", "--name", "Recruiting"], env);
    assert.equal(created.code, 0, created.stderr);
    const db = await createDatabase(testConfig(fresh.url, fresh.dir).database, { entities });
    const actorId = (await db.query<{ id: string }>("SELECT id FROM actor WHERE handle = 'recruiting'"))[0]
      .id;
    await db.run((em) =>
      em.getRepository(FollowerSchema).insert(
        Array.from({ length: INBOXES }, (_, n) => {
          const iri = `http://127.0.0.1:${rport}/users/${n}`;
          return {
            actorId,
            followerHash: iriHash(iri),
            followerIri: iri,
            inboxIri: `http://127.0.0.1:${rport}/inbox/${n}`,
            sharedInboxIri: null,
            followIri: null,
            status: "accepted" as const,
            createdAt: new Date(),
          };
        }),
      ),
    );
    await db.close();

    const posted = await runCli(["post", "recruiting", "Delivered to everyone, whatever happens"], env);
    assert.equal(posted.code, 0, posted.stderr);
    const createId = `${posted.stdout.trim().split("\n").at(-1)}#create`;
    const got = () => [...received.values()].filter((s) => s.has(createId)).length;

    await waitFor(() => got() >= 3 || undefined, { what: "the fan-out to start", intervalMs: 5 });
    server.child.kill("SIGKILL");
    await server.exited;
    const beforeRestart = got();
    t.diagnostic(`${beforeRestart} of ${INBOXES} inboxes had the post when the server was killed`);
    assert.ok(beforeRestart < INBOXES, "the kill came too late to test anything");

    server = await startServerProcess(env, port, fresh.dir);
    await waitFor(() => (got() === INBOXES ? true : undefined), {
      what: `all ${INBOXES} inboxes to receive the post after the restart (have ${got()})`,
      timeoutMs: 60_000,
    });
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
    receiver.close();
    await fresh.cleanup();
  }
});
