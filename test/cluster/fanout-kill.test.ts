/**
 * A 1,000-follower fan-out with `kill -9` of the delivering worker mid-way (issue 13): every
 * shared inbox receives the post, none twice beyond what at-least-once delivery allows.
 *
 * Parts: A (this process, `herald web`) serves the shared account's actor document — the key the
 * receiver checks signatures against — and takes the post; one `herald worker` child delivers.
 * A loopback receiver in this process plays 200 remote servers' shared inboxes: 1,000 follower
 * actors (documents served), five per shared inbox, each with a personal inbox too. With
 * `preferSharedInbox` (posting.ts) the post goes once to each of the 200 shared inboxes and to no
 * personal inbox. Every delivery's HTTP signature is verified with Fedify's verifyRequest against
 * Herald's published key (fetched from A), and the signer must be the account that posted.
 *
 * When the receiver has counted 30% of the shared inboxes it SIGKILLs the worker from inside the
 * next new inbox's delivery and drops that delivery (uncounted, its connection cut: lost with the
 * worker), and a second worker is started. That inbox gets the post only if the dead worker's
 * lease runs out and the message is delivered again.
 *
 * The exact bound on duplicates, from src/federation/queue.ts and Fedify's fan-out:
 * - The post is one `fanout` message; handling it enqueues one `outbox` message per inbox in one
 *   transaction (enqueueMany), then the fanout message is acknowledged (deleted). If it were
 *   still queued at the kill, a replay would enqueue every inbox again — so the test checks that
 *   it was gone.
 * - An outbox message is one POST to one inbox (Fedify knocks a second time only after a 4xx;
 *   the receiver answers 2xx to every valid delivery). A worker acknowledges a message by deleting
 *   it after the POST; each of its HERALD_QUEUE_WORKERS loops holds at most one lease at a time.
 * - So only messages the killed worker held leased and unacknowledged can be delivered twice:
 *   the rows with a lease owner still in the queue right after the kill (no other worker ran
 *   yet). Inboxes that got the post twice ⊆ those rows' inboxes; their number ≤ the workers.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { verifyRequestDetailed } from "@fedify/fedify";
import { getDocumentLoader } from "@fedify/vocab-runtime";
import { FollowerSchema, iriHash } from "../../src/federation/entities.ts";
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

const FOLLOWERS = 1000;
const SHARED_INBOXES = 200;
const WORKERS = 4;
const KILL_AT = Math.round(SHARED_INBOXES * 0.3);
/** The receiver answers each delivery after this long: a real server's work, and it keeps the
 * worker's loops busy so that the kill finds deliveries in flight. */
const ANSWER_AFTER_MS = 20;

interface Receiver {
  readonly origin: string;
  /** Verified deliveries of a Create to each shared inbox path: the activity ids, in order. */
  readonly perInbox: Map<string, string[]>;
  /** Verified deliveries of anything else, or to a personal inbox. */
  readonly other: string[];
  /** Refused deliveries (signature missing or invalid, wrong signer), with why. */
  readonly refused: string[];
  /**
   * Asked before a verified Create to a shared inbox is counted: "drop" leaves it uncounted and
   * unanswered (its connection cut), as a delivery that never arrived.
   */
  beforeCount: ((path: string) => "drop" | undefined) | undefined;
  signer: string | undefined;
  close(): Promise<void>;
}

/** 1,000 follower actors on 200 shared inboxes: paths /users/<n>, /users/<n>/inbox, /shared/<s>. */
async function startReceiver(): Promise<Receiver> {
  const loader = getDocumentLoader({ allowPrivateAddress: true });
  // Keys kept as a real server keeps them (Mastodon caches them); failures are not kept.
  const keys = new Map<string, unknown>();
  const keyCache = {
    async get(id: URL) {
      return keys.get(id.href) as never;
    },
    async set(id: URL, key: unknown) {
      if (key) keys.set(id.href, key);
    },
  };
  const receiver: Receiver = {
    origin: "",
    perInbox: new Map(),
    other: [],
    refused: [],
    beforeCount: undefined,
    signer: undefined,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const answer = (res: ServerResponse, status: number, body?: string) => {
    if (res.destroyed) return;
    if (body) res.setHeader("content-type", "application/activity+json");
    res.writeHead(status).end(body);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const path = req.url ?? "/";
    if (req.method === "GET") {
      const n = Number(/^\/users\/(\d+)$/.exec(path)?.[1] ?? Number.NaN);
      if (!(n >= 0 && n < FOLLOWERS)) return answer(res, 404);
      return answer(res, 200, JSON.stringify(followerDocument(receiver.origin, n)));
    }
    if (req.method !== "POST") return answer(res, 405);
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
    const request = new Request(`${receiver.origin}${path}`, {
      method: "POST",
      headers,
      body: new Uint8Array(body),
    });
    const result = await verifyRequestDetailed(request, {
      documentLoader: loader,
      contextLoader: loader,
      keyCache,
    });
    let activity: { id?: string; type?: string; actor?: string } = {};
    try {
      activity = JSON.parse(body.toString("utf8")) as typeof activity;
    } catch {
      // Not JSON: refused below.
    }
    const owner = result.verified ? result.key.ownerId?.href : undefined;
    const problem = !result.verified
      ? `signature: ${result.reason.type}`
      : owner !== receiver.signer
        ? `signed by ${owner}, not the posting account`
        : activity.actor !== owner
          ? `activity's actor ${activity.actor} is not its signer ${owner}`
          : undefined;
    if (problem) {
      receiver.refused.push(`${path}: ${problem}`);
      return answer(res, 401);
    }
    if (/^\/shared\/\d+$/.test(path) && activity.type === "Create") {
      if (receiver.beforeCount?.(path) === "drop") {
        res.destroy();
        return;
      }
      receiver.perInbox.set(path, [...(receiver.perInbox.get(path) ?? []), String(activity.id)]);
    } else {
      receiver.other.push(`${path}: ${activity.type} ${activity.id}`);
    }
    setTimeout(() => answer(res, 202), ANSWER_AFTER_MS);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    // A killed sender leaves its sockets half-done: nothing to answer then.
    req.on("error", () => undefined);
    res.on("error", () => undefined);
    req.on("end", () => {
      handle(req, res, Buffer.concat(chunks)).catch((error) => {
        receiver.refused.push(`${req.url}: ${String(error)}`);
        answer(res, 500);
      });
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (receiver as { origin: string }).origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}

/** Follower n: its actor document, with a personal inbox and its server's shared inbox. */
function followerDocument(origin: string, n: number) {
  return {
    "@context": "https://www.w3.org/ns/activitystreams",
    id: `${origin}/users/${n}`,
    type: "Person",
    preferredUsername: `follower${n}`,
    inbox: `${origin}/users/${n}/inbox`,
    endpoints: { sharedInbox: `${origin}/shared/${n % SHARED_INBOXES}` },
  };
}

describe(
  "a fan-out survives kill -9 of the delivering worker",
  { skip: TEST_DB !== "mysql" && "MySQL only: workers are separate processes (HERALD_TEST_DB=mysql)" },
  () => {
    let fresh: TestDatabaseUrl;
    let a: RunningServer;
    let receiver: Receiver;
    const workers: ServerProcess[] = [];
    let workerEnv: Record<string, string>;

    before(async () => {
      receiver = await startReceiver();
      fresh = await freshDatabaseUrl();
      const port = await freePort();
      const origin = `http://127.0.0.1:${port}`;
      workerEnv = {
        DATABASE_URL: fresh.url,
        HERALD_DATA_DIR: fresh.dir,
        HERALD_ORIGIN: origin,
        HERALD_QUEUE_WORKERS: String(WORKERS),
        // Short, so the killed worker's leased messages come back soon.
        HERALD_QUEUE_LEASE_MS: "2000",
        HERALD_QUEUE_POLL_MS: "100",
        HERALD_LEASE_MS: "2000",
      };
      a = await startServer(testConfig(fresh.url, fresh.dir, { ...workerEnv, PORT: String(port) }), "web");
    });
    after(async () => {
      for (const w of workers) w.child.kill("SIGKILL");
      await Promise.all(workers.map((w) => w.exited));
      await a?.shutdown("test");
      await receiver?.close();
      await fresh?.cleanup();
    });

    test(`${FOLLOWERS} followers on ${SHARED_INBOXES} shared inboxes: each gets the post, duplicates only from the killed worker's leases`, async (t) => {
      const created = await a.services.accounts.createShared("recruiting", "Recruiting", "test");
      assert.ok(created.ok, JSON.stringify(created));
      const actorId = created.actor.id;
      const actorUri = new URL(`/ap/actors/${actorId}`, a.services.config.origin).href;
      receiver.signer = actorUri;
      await a.services.db.run((em) =>
        em.getRepository(FollowerSchema).insert(
          Array.from({ length: FOLLOWERS }, (_, n) => {
            const doc = followerDocument(receiver.origin, n);
            return {
              actorId,
              followerHash: iriHash(doc.id),
              followerIri: doc.id,
              inboxIri: doc.inbox,
              sharedInboxIri: doc.endpoints.sharedInbox,
              followIri: null,
              status: "accepted" as const,
              createdAt: new Date(),
            };
          }),
        ),
      );

      workers.push(
        await startServerProcess(workerEnv, await freePort(), fresh.dir, { role: "worker", ready: true }),
      );
      const first = workers[0];
      let killedAt: number | undefined;
      let inboxesAtKill = 0;
      let lost: string | undefined;
      receiver.beforeCount = (path) => {
        if (killedAt === undefined && receiver.perInbox.size >= KILL_AT && !receiver.perInbox.has(path)) {
          // From inside a delivery, which is then lost: the worker dies with it in flight, and
          // only the dead worker's lease running out brings it to this inbox again.
          first.child.kill("SIGKILL");
          killedAt = performance.now();
          inboxesAtKill = receiver.perInbox.size;
          lost = path;
          return "drop";
        }
        return undefined;
      };

      const posted = await a.services.posting.post({
        actorId,
        text: "We are hiring: every follower hears of it, whatever happens to the worker.",
        author: { personId: null, label: "test" },
      });
      assert.ok(posted.ok, JSON.stringify(posted));
      const createId = `${posted.id.href}#create`;
      const postedAt = performance.now();

      await first.exited;
      assert.ok(killedAt !== undefined, "the worker was killed by the receiver");
      assert.ok(inboxesAtKill < SHARED_INBOXES, "killed mid-way");
      assert.ok(lost && !receiver.perInbox.has(lost), "the delivery the worker died in was lost");
      // What the dead worker left in the queue (no other worker has run yet).
      const rows = await a.services.db.query<{ message: string; lease_owner: string | null }>(
        "SELECT message, lease_owner FROM delivery_queue",
      );
      const parsed = rows.map((r) => ({
        leased: r.lease_owner !== null,
        ...(JSON.parse(r.message) as { type: string; inbox?: string; activityId?: string }),
      }));
      assert.equal(
        parsed.filter((m) => m.type === "fanout").length,
        0,
        "the fan-out itself was acknowledged",
      );
      const leasedInboxes = new Set(parsed.filter((m) => m.leased).map((m) => new URL(m.inbox!).pathname));
      assert.ok(leasedInboxes.size <= WORKERS, `at most one lease per worker loop: ${leasedInboxes.size}`);
      const queuedAtKill = rows.length;

      workers.push(
        await startServerProcess(workerEnv, await freePort(), fresh.dir, { role: "worker", ready: true }),
      );
      await waitFor(() => (receiver.perInbox.size === SHARED_INBOXES ? true : undefined), {
        what: `every shared inbox to have the post (have ${receiver.perInbox.size})`,
        timeoutMs: 60_000,
      });
      const completedMs = performance.now() - postedAt;
      // Nothing left that could deliver again: the queue is empty.
      await waitFor(
        async () =>
          Number(
            (await a.services.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue"))[0].n,
          ) === 0
            ? true
            : undefined,
        { what: "the queue to drain", timeoutMs: 30_000 },
      );

      const counts = [...receiver.perInbox.values()].map((ids) => ids.length);
      const total = counts.reduce((s, n) => s + n, 0);
      const twice = [...receiver.perInbox].filter(([, ids]) => ids.length > 1).map(([p]) => p);
      t.diagnostic(
        `${total} deliveries to ${SHARED_INBOXES} shared inboxes (${FOLLOWERS} followers) in ${Math.round(completedMs)} ms; ` +
          `killed at ${inboxesAtKill} inboxes, ${Math.round(killedAt - postedAt)} ms after the post, losing the delivery to ${lost}; ` +
          `${queuedAtKill} messages queued at the kill, ${leasedInboxes.size} of them leased by the dead worker; ` +
          `${twice.length} inboxes got it twice: ${twice.join(" ") || "none"}`,
      );
      assert.deepEqual(receiver.refused, [], "every delivery's signature verified, signed by the account");
      assert.deepEqual(receiver.other, [], "nothing else delivered, nothing to a personal inbox");
      assert.equal(receiver.perInbox.size, SHARED_INBOXES, "every shared inbox received the post");
      assert.deepEqual(
        new Set([...receiver.perInbox.values()].flat()),
        new Set([createId]),
        "the one post's Create, by its id",
      );
      assert.ok(
        counts.every((n) => n <= 2),
        "none more than twice",
      );
      for (const p of twice)
        assert.ok(leasedInboxes.has(p), `${p} got it twice but was not leased at the kill`);
      assert.ok(leasedInboxes.has(lost), "the lost delivery was still leased by the dead worker");
      assert.equal(
        receiver.perInbox.get(lost)?.length,
        1,
        "the lost delivery arrived once, after the lease ran out",
      );
      assert.equal(total, SHARED_INBOXES + twice.length);
    });
  },
);
