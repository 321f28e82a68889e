/**
 * A Herald server with Jane's personal account (and a client API token for it), and a real
 * ActivityPub server on loopback (test/helpers/fake-remote.ts) whose actors Jane may follow and
 * whose signed deliveries reach Herald's shared inbox: what a test of received posts needs.
 */
import assert from "node:assert/strict";
import { FollowingSchema, iriHash } from "../../src/federation/entities.ts";
import { apiToken } from "./api-token.ts";
import { freePort, waitFor } from "./env.ts";
import { type FakeActor, type FakeRemote, startFakeRemote } from "./fake-remote.ts";
import { startTestServer, type TestServer } from "./server.ts";

const AS = "https://www.w3.org/ns/activitystreams";

export interface FollowerOfRemote {
  readonly s: TestServer;
  readonly remote: FakeRemote;
  readonly origin: string;
  readonly janeId: string;
  readonly janeIri: string;
  readonly token: string;
  /** Jane follows `actor` (accepted, as if its server had answered). */
  follow(actor: FakeActor): Promise<void>;
  /** `activity`, given a fresh id on the remote server unless it has one, signed as `as`. */
  deliver(as: FakeActor, activity: Record<string, unknown>): Promise<string>;
  /** Waits until every delivery and inbound activity has been handled (the queue is empty). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function startFollowerOfRemote(
  actors: string[],
  env: Record<string, string> = {},
): Promise<FollowerOfRemote> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const s = await startTestServer({ ...env, PORT: String(port), HERALD_ORIGIN: origin });
  const remote = await startFakeRemote(actors);
  const personId = String(
    (await s.services.scim.createUser({ userName: "jane@corp.example" }, { name: "scim-token:test" })).id,
  );
  const jane = await waitFor(
    async () => {
      const row = await s.services.accounts.byPerson(personId);
      return row?.keysReadyAt ? row : undefined;
    },
    { what: "Jane's account", timeoutMs: 60_000 },
  );
  const token = await apiToken(s, personId, jane.id, { app: "Phone", scopes: ["read", "write"] });
  let n = 0;
  return {
    s,
    remote,
    origin,
    janeId: jane.id,
    janeIri: `${origin}/ap/actors/${jane.id}`,
    token,
    async follow(actor) {
      await s.services.db.run((em) =>
        em.getRepository(FollowingSchema).insert({
          actorId: jane.id,
          targetHash: iriHash(actor.id),
          targetIri: actor.id.href,
          targetInboxIri: actor.inbox.href,
          followId: `f${++n}`,
          status: "accepted",
          createdAt: new Date(),
        }),
      );
    },
    async deliver(as, activity) {
      const id = (activity.id as string | undefined) ?? `${remote.origin}/activities/${++n}`;
      const res = await remote.signedPost(`${origin}/ap/inbox`, { "@context": AS, ...activity, id }, as);
      assert.equal(res.status, 202, await res.text());
      return id;
    },
    async settled() {
      await waitFor(
        async () => {
          const [row] = await s.services.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue");
          return Number(row.n) === 0 || undefined;
        },
        { what: "the queue to drain" },
      );
    },
    async close() {
      await remote.close();
      await s.close();
    },
  };
}
