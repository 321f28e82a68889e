/**
 * Followers hear of every change exactly once (src/federation/bridge.ts: one change, one
 * activity). A second real server on loopback follows a person's account and a shared account
 * with signed Follows, as Mastodon would, and records every delivery; after each change the test
 * waits until the change is fully handled (the bridge's cursor at the newest event, the delivery
 * queue empty) and counts what arrived during it by type and object.
 *
 * Before the bridge, one SCIM deactivation sent two Updates (person.updated, then
 * person.deactivated, each announced; the first still said `suspended: false`).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DomainEventSchema, EventCursorSchema } from "../../src/identity/events.ts";
import { type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Delivery = FakeRemote["deliveries"][number];

/** The id of an activity's object, embedded or named. */
const objectId = (a: Delivery["activity"]): unknown =>
  typeof a.object === "object" && a.object !== null ? (a.object as { id?: unknown }).id : a.object;

describe(`one activity per change reaches a follower (${TEST_DB})`, () => {
  let s: TestServer;
  let remote: FakeRemote;
  let origin: string;
  let token: string;
  let personId: string;
  let personActor: string;
  let sharedActor: string;

  /** Waits until every change so far is handled and delivered; returns what arrived meanwhile. */
  async function settled(from: number): Promise<Delivery[]> {
    await waitFor(
      async () => {
        const [newest, cursor, queued] = await Promise.all([
          s.services.db.run((em) => em.getRepository(DomainEventSchema).maximum("id")),
          s.services.db.run((em) =>
            em.getRepository(EventCursorSchema).findOneBy({ consumer: "federation.accounts" }),
          ),
          s.services.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue"),
        ]);
        return (cursor?.lastId ?? 0) >= (newest ?? 0) && Number(queued[0].n) === 0 ? true : undefined;
      },
      { what: "the change announced and delivered", timeoutMs: 10_000 },
    );
    return remote.deliveries.slice(from);
  }

  /** How many of `got` are of this type about this object. */
  const count = (got: Delivery[], type: string, object: string) =>
    got.filter((d) => d.activity.type === type && objectId(d.activity) === object).length;

  async function scim(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${origin}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    // The origin is the port it listens on: a signature covers the host the sender addressed.
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    remote = await startFakeRemote(["watcher"]);
    const created = await s.services.tokens.create("announce", "test");
    assert.ok(created.ok);
    token = created.token;
    const res = await scim("POST", "/Users", {
      schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
      userName: "leaver@corp.example",
      displayName: "Lee Leaver",
      title: "Engineer",
    });
    assert.equal(res.status, 201);
    personId = String(((await res.json()) as { id: string }).id);
    const actor = await waitFor(
      async () => {
        const row = await s.services.accounts.byPerson(personId);
        return row?.keysReadyAt ? row : undefined;
      },
      { what: "the person's actor with keys", timeoutMs: 30_000 },
    );
    personActor = `${origin}/ap/actors/${actor.id}`;
    const shared = await s.services.accounts.createShared("careers", "Careers", "test");
    assert.ok(shared.ok);
    sharedActor = `${origin}/ap/actors/${shared.actor.id}`;
  });
  after(async () => {
    await remote?.close();
    await s?.close();
  });

  test("a Follow of each account: one Accept each", async () => {
    const from = remote.deliveries.length;
    const watcher = remote.actor("watcher");
    for (const [n, target] of [personActor, sharedActor].entries()) {
      const res = await remote.signedPost(
        `${target}/inbox`,
        {
          "@context": "https://www.w3.org/ns/activitystreams",
          id: `${watcher.id.href}#follows/${n}`,
          type: "Follow",
          actor: watcher.id.href,
          object: target,
        },
        watcher,
      );
      assert.equal(res.status, 202);
    }
    const got = await settled(from);
    assert.equal(got.length, 2);
    assert.equal(
      got.filter((d) => d.activity.type === "Accept" && d.activity.actor === personActor).length,
      1,
    );
    assert.equal(
      got.filter((d) => d.activity.type === "Accept" && d.activity.actor === sharedActor).length,
      1,
    );
  });

  test("a profile change (SCIM PATCH of displayName and title): one Update", async () => {
    const from = remote.deliveries.length;
    const res = await scim("PATCH", `/Users/${personId}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [
        { op: "replace", path: "displayName", value: "Lee Renamed" },
        { op: "replace", path: "title", value: "Staff Engineer" },
      ],
    });
    assert.equal(res.status, 200);
    const got = await settled(from);
    assert.equal(got.length, 1);
    assert.equal(count(got, "Update", personActor), 1);
    assert.equal((got[0].activity.object as { name?: string }).name, "Lee Renamed");
  });

  test("a deactivation: one Update, saying suspended", async () => {
    const from = remote.deliveries.length;
    const res = await scim("PATCH", `/Users/${personId}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "replace", path: "active", value: false }],
    });
    assert.equal(res.status, 200);
    const got = await settled(from);
    assert.equal(got.length, 1);
    assert.equal(count(got, "Update", personActor), 1);
    assert.equal((got[0].activity.object as { suspended?: boolean }).suspended, true);
  });

  test("a reactivation: one Update, no longer suspended", async () => {
    const from = remote.deliveries.length;
    const res = await scim("PATCH", `/Users/${personId}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "replace", path: "active", value: true }],
    });
    assert.equal(res.status, 200);
    const got = await settled(from);
    assert.equal(got.length, 1);
    assert.equal(count(got, "Update", personActor), 1);
    assert.equal((got[0].activity.object as { suspended?: boolean }).suspended, false);
  });

  test("an operator's configure of a shared account: one Update", async () => {
    const from = remote.deliveries.length;
    const updated = await s.services.accounts.configure("careers", { summary: "Jobs at Corp." }, "cli:test");
    assert.ok(updated);
    const got = await settled(from);
    assert.equal(got.length, 1);
    assert.equal(count(got, "Update", sharedActor), 1);
  });

  test("an operator's rename of a shared account: one Move", async () => {
    const from = remote.deliveries.length;
    const renamed = await s.services.posting.rename("careers", "jobs", "cli:test");
    assert.ok(renamed.ok, renamed.message);
    const got = await settled(from);
    assert.equal(got.length, 1);
    assert.equal(count(got, "Move", sharedActor), 1);
    const to = await s.services.accounts.byHandle("jobs");
    assert.equal(got[0].activity.target, `${origin}/ap/actors/${to!.id}`);
  });

  test("a deletion of an active person: one Delete, and no Update", async () => {
    const from = remote.deliveries.length;
    const res = await scim("DELETE", `/Users/${personId}`);
    assert.equal(res.status, 204);
    const got = await settled(from);
    assert.equal(got.length, 1);
    assert.equal(count(got, "Delete", personActor), 1);
  });
});
