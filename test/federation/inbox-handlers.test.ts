/**
 * The fast tier for inbox listeners (src/federation/inbox.ts): each listener is called with an
 * inbox context from @fedify/testing, as Hollo tests its own (fedify-dev/hollo,
 * src/federation/inbox.test.ts), on a real database. No HTTP, no signatures (inbox-auth.test.ts
 * covers those): what a listener stores and sends. The document loader serves only the documents
 * a case lists and fails on any other URL, so a listener that fetches what it should not fails
 * the case; what the listener sends is counted exactly, by type and recipient.
 */
import assert from "node:assert/strict";
import { createDirectory } from "../../src/identity/directory.ts";
import { after, before, describe, test } from "node:test";
import type { Context, Federation } from "@fedify/fedify";
import { createFederation, createInboxContext } from "@fedify/testing";
import { type Activity, Block, Delete, Follow, Move, Undo } from "@fedify/vocab";
import { type DocumentLoader, preloadedContexts } from "@fedify/vocab-runtime";
import { type Accounts, createAccounts } from "../../src/federation/accounts.ts";
import type { FederationContextData } from "../../src/federation/context.ts";
import {
  ActorSchema,
  FollowerEventSchema,
  FollowerSchema,
  FollowingSchema,
  iriHash,
} from "../../src/federation/entities.ts";
import { removeFollowersOnDomain } from "../../src/federation/follower-history.ts";
import { accountInsights } from "../../src/federation/insights.ts";
import { createHeraldFederation } from "../../src/federation/federation.ts";
import { createArchive } from "../../src/archive/records.ts";
import { inboxListeners } from "../../src/federation/inbox.ts";
import { createKeyStore } from "../../src/federation/keys.ts";
import { followerCurve } from "../../src/web/insights.ts";
import { migratedDatabase, TEST_DB, type TestDb, testConfig } from "../helpers/env.ts";

const REMOTE = "https://remote.example";
const BLOCKED = "https://blocked.example";
const AS = "https://www.w3.org/ns/activitystreams";
const DATA: FederationContextData = { requestId: "test" };

/** A remote actor document, as a Mastodon server would serve it. */
function person(id: string, extra: Record<string, unknown> = {}) {
  return {
    "@context": [AS, "https://w3id.org/security/v1"],
    id,
    type: "Person",
    preferredUsername: id.split("/").at(-1),
    inbox: `${id}/inbox`,
    ...extra,
  };
}

/**
 * Serves `documents` and the contexts Fedify carries with it; any other URL is a failure of the
 * case (recorded, and thrown as an error no listener treats as the sender's fault).
 */
function strictLoader(documents: Record<string, unknown>, unexpected: string[]): DocumentLoader {
  return async (url) => {
    if (Object.hasOwn(preloadedContexts, url))
      return { contextUrl: null, document: preloadedContexts[url], documentUrl: url };
    if (Object.hasOwn(documents, url))
      return { contextUrl: null, document: documents[url], documentUrl: url };
    unexpected.push(url);
    throw new Error(`the test did not expect a fetch of ${url}`);
  };
}

describe(`inbox listeners with @fedify/testing (${TEST_DB})`, () => {
  let t: TestDb;
  let accounts: Accounts;
  let on: ReturnType<typeof inboxListeners>;
  let routes: Context<FederationContextData>;
  let origin: URL;

  before(async () => {
    t = await migratedDatabase();
    const config = testConfig(t.url, t.dir);
    origin = new URL(config.origin.origin);
    const keys = createKeyStore(t.db);
    const directory = createDirectory(t.db);
    accounts = createAccounts({ db: t.db, config, keys, directory });
    // Herald's own routes, so ids are parsed and made as the server parses and makes them.
    const archive = createArchive();
    routes = createHeraldFederation(config, t.db, { accounts, keys, directory, archive }).createContext(
      origin,
      DATA,
    );
    on = inboxListeners({
      db: t.db,
      accounts,
      archive,
      blockedDomains: async () => new Set([new URL(BLOCKED).hostname]),
    });
  });
  after(async () => {
    await t?.close();
  });

  /** A fresh mock federation and an inbox context on it that loads only `documents`. */
  function harness(documents: Record<string, unknown> = {}) {
    const mock = createFederation<FederationContextData>({ contextData: DATA, origin: origin.origin });
    const outbox = mock.createContext(origin, DATA);
    const unexpected: string[] = [];
    const loader = strictLoader(documents, unexpected);
    const ctx = createInboxContext<FederationContextData>({
      url: origin,
      data: DATA,
      federation: mock as unknown as Federation<FederationContextData>,
      documentLoader: loader,
      contextLoader: loader,
      // @fedify/testing 2.3.6's own no-op tracer never runs the traced function (its
      // startActiveSpan returns undefined), so vocabulary lookups such as getActor() answered
      // null without loading anything: OpenTelemetry's no-op tracer, as the real contexts use.
      tracerProvider: routes.tracerProvider,
      getActorUri: (id) => routes.getActorUri(id),
      getObjectUri: ((cls, values) => routes.getObjectUri(cls, values)) as typeof routes.getObjectUri,
      parseUri: (uri) => routes.parseUri(uri),
      sendActivity: outbox.sendActivity.bind(outbox) as typeof routes.sendActivity,
    });
    /** What was sent, as [type, recipient ids] per activity. */
    const sent = () =>
      outbox.getSentActivities().map(({ activity, recipients }) => ({
        activity: activity as Activity,
        to: [recipients]
          .flat()
          .map((r: { id?: URL | null }) => r.id?.href)
          .join(" "),
      }));
    return { ctx, sent, unexpected, mock };
  }

  async function shared(handle: string, settings: { manualApproval?: boolean } = {}) {
    const r = await accounts.createShared(handle, handle, "test");
    assert.ok(r.ok);
    if (settings.manualApproval) await accounts.configure(r.actor.id, settings, "test");
    return r.actor;
  }

  const followersOf = (actorId: string) =>
    t.db.run((em) => em.getRepository(FollowerSchema).findBy({ actorId }));

  test("Follow of a live account → one Accept, to the follower; the follower is stored", async () => {
    const ours = await shared("news");
    const alice = `${REMOTE}/users/alice`;
    const h = harness({ [alice]: person(alice) });
    const follow = new Follow({
      id: new URL(`${alice}#follows/1`),
      actor: new URL(alice),
      object: routes.getActorUri(ours.id),
    });
    await on.follow(h.ctx, follow);
    const sent = h.sent();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].activity.constructor.name, "Accept");
    assert.equal(sent[0].to, alice);
    assert.equal(h.mock.sentActivities.length, 1);
    const rows = await followersOf(ours.id);
    assert.deepEqual(
      rows.map((r) => [r.followerIri, r.status]),
      [[alice, "accepted"]],
    );
    assert.deepEqual(h.unexpected, []);
  });

  test("Follow of a suspended account → one Reject; nothing stored", async () => {
    const ours = await shared("closed");
    await t.db.run((em) =>
      em.getRepository(ActorSchema).update({ id: ours.id }, { suspendedAt: new Date() }),
    );
    const bob = `${REMOTE}/users/bob`;
    const h = harness({ [bob]: person(bob) });
    await on.follow(
      h.ctx,
      new Follow({
        id: new URL(`${bob}#follows/1`),
        actor: new URL(bob),
        object: routes.getActorUri(ours.id),
      }),
    );
    const sent = h.sent();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].activity.constructor.name, "Reject");
    assert.equal(sent[0].to, bob);
    assert.equal((await followersOf(ours.id)).length, 0);
    assert.deepEqual(h.unexpected, []);
  });

  test("Follow of an account that approves followers by hand → nothing sent; pending", async () => {
    const ours = await shared("careful", { manualApproval: true });
    const carol = `${REMOTE}/users/carol`;
    const h = harness({ [carol]: person(carol) });
    await on.follow(
      h.ctx,
      new Follow({
        id: new URL(`${carol}#follows/1`),
        actor: new URL(carol),
        object: routes.getActorUri(ours.id),
      }),
    );
    assert.equal(h.sent().length, 0);
    assert.deepEqual(
      (await followersOf(ours.id)).map((r) => r.status),
      ["pending"],
    );
    assert.deepEqual(h.unexpected, []);
  });

  test("Follow from a blocked domain → nothing fetched, sent or stored", async () => {
    const ours = await shared("guarded");
    const mallory = `${BLOCKED}/users/mallory`;
    const h = harness();
    await on.follow(
      h.ctx,
      new Follow({
        id: new URL(`${mallory}#follows/1`),
        actor: new URL(mallory),
        object: routes.getActorUri(ours.id),
      }),
    );
    assert.equal(h.sent().length, 0);
    assert.equal((await followersOf(ours.id)).length, 0);
    assert.deepEqual(h.unexpected, []);
  });

  test("Undo of a Follow → the follower is gone; nothing sent", async () => {
    const ours = await shared("undone");
    const dave = `${REMOTE}/users/dave`;
    const follow = new Follow({
      id: new URL(`${dave}#follows/1`),
      actor: new URL(dave),
      object: routes.getActorUri(ours.id),
    });
    await on.follow(harness({ [dave]: person(dave) }).ctx, follow);
    assert.equal((await followersOf(ours.id)).length, 1);
    const h = harness();
    await on.undo(h.ctx, new Undo({ id: new URL(`${dave}#undo/1`), actor: new URL(dave), object: follow }));
    assert.equal(h.sent().length, 0);
    assert.equal((await followersOf(ours.id)).length, 0);
    assert.deepEqual(h.unexpected, []);
  });

  /** Our account `ours` follows `target` (accepted). */
  async function following(oursId: string, target: string) {
    await t.db.run((em) =>
      em.getRepository(FollowingSchema).insert({
        actorId: oursId,
        targetHash: iriHash(target),
        targetIri: target,
        targetInboxIri: `${target}/inbox`,
        followId: crypto.randomUUID(),
        status: "accepted",
        createdAt: new Date(),
      }),
    );
  }
  const followingOf = (actorId: string) =>
    t.db.run((em) => em.getRepository(FollowingSchema).findBy({ actorId }));

  test("Move of an account we follow, to one that names it an alias → one Follow of the new account", async () => {
    const ours = await shared("mover");
    const old = `${REMOTE}/users/erin`;
    const next = `${REMOTE}/users/erin2`;
    await following(ours.id, old);
    const h = harness({ [next]: person(next, { alsoKnownAs: [old] }) });
    await on.move(
      h.ctx,
      new Move({
        id: new URL(`${old}#moves/1`),
        actor: new URL(old),
        object: new URL(old),
        target: new URL(next),
      }),
    );
    const sent = h.sent();
    assert.equal(sent.length, 1);
    assert.ok(sent[0].activity instanceof Follow);
    assert.equal(sent[0].to, next);
    assert.equal(sent[0].activity.actorId?.href, routes.getActorUri(ours.id).href);
    const rows = await followingOf(ours.id);
    assert.deepEqual(
      rows.map((r) => [r.targetIri, r.status]),
      [[next, "pending"]],
    );
    // The Follow's id is the one an Accept will be matched by.
    assert.equal(
      sent[0].activity.id?.href,
      `${routes.getActorUri(ours.id).href}#follows/${rows[0].followId}`,
    );
    assert.deepEqual(h.unexpected, []);
  });

  test("Move to an account that does not name the old one → nothing sent; the follow stays", async () => {
    const ours = await shared("stayer");
    const old = `${REMOTE}/users/frank`;
    const impostor = `${REMOTE}/users/impostor`;
    await following(ours.id, old);
    const h = harness({ [impostor]: person(impostor) });
    await on.move(
      h.ctx,
      new Move({
        id: new URL(`${old}#moves/1`),
        actor: new URL(old),
        object: new URL(old),
        target: new URL(impostor),
      }),
    );
    assert.equal(h.sent().length, 0);
    assert.deepEqual(
      (await followingOf(ours.id)).map((r) => [r.targetIri, r.status]),
      [[old, "accepted"]],
    );
    assert.deepEqual(h.unexpected, []);
  });

  test("Move of an account nobody here follows → nothing fetched or sent", async () => {
    const stranger = `${REMOTE}/users/stranger`;
    const h = harness();
    await on.move(
      h.ctx,
      new Move({
        id: new URL(`${stranger}#moves/1`),
        actor: new URL(stranger),
        object: new URL(stranger),
        target: new URL(`${REMOTE}/users/elsewhere`),
      }),
    );
    assert.equal(h.sent().length, 0);
    assert.deepEqual(h.unexpected, []);
  });
  test("followers over time: follows minus Undo, Block, an actor's Delete and a domain block, day by day", async () => {
    const ours = await shared("history");
    const day = (n: number) => {
      const d = new Date();
      d.setUTCHours(1, 0, 0, 0);
      return new Date(d.getTime() - n * 86_400_000);
    };
    /** Moves the history's record of `iri` (of `kind`) to `at`, as if it happened then. */
    const backdate = (iri: string, kind: "follow" | "unfollow", at: Date) =>
      t.db.run((em) =>
        em
          .getRepository(FollowerEventSchema)
          .update({ actorId: ours.id, followerHash: iriHash(iri), kind }, { at }),
      );
    const iri = (who: string, host = REMOTE) => `${host}/users/${who}`;
    const follow = async (actor: string) => {
      const f = new Follow({
        id: new URL(`${actor}#follows/1`),
        actor: new URL(actor),
        object: routes.getActorUri(ours.id),
      });
      await on.follow(harness({ [actor]: person(actor) }).ctx, f);
      return f;
    };
    const other = "https://other.example";
    const follows = new Map<string, Follow>();
    for (const who of [iri("alice"), iri("bob"), iri("carol"), iri("dave", other), iri("erin", other)]) {
      follows.set(who, await follow(who));
      await backdate(who, "follow", day(4));
    }
    const h = harness();
    await on.undo(
      h.ctx,
      new Undo({
        id: new URL(`${iri("alice")}#undo/1`),
        actor: new URL(iri("alice")),
        object: follows.get(iri("alice")),
      }),
    );
    await backdate(iri("alice"), "unfollow", day(3));
    await on.block(
      h.ctx,
      new Block({
        id: new URL(`${iri("bob")}#block/1`),
        actor: new URL(iri("bob")),
        object: routes.getActorUri(ours.id),
      }),
    );
    await backdate(iri("bob"), "unfollow", day(2));
    await on.delete(
      h.ctx,
      new Delete({
        id: new URL(`${iri("carol")}#delete`),
        actor: new URL(iri("carol")),
        object: new URL(iri("carol")),
      }),
    );
    await backdate(iri("carol"), "unfollow", day(2));
    // The operator blocks other.example (herald domain block): both its followers leave today.
    assert.equal(await t.db.transaction((em) => removeFollowersOnDomain(em, "other.example")), 2);
    await follow(iri("frank"));
    assert.deepEqual(h.unexpected, []);

    const days = [5, 4, 3, 2, 1, 0].map((n) => day(n).toISOString().slice(0, 10));
    const i = await accountInsights(t.db, ours.id, { since: new Date(`${days[0]}T00:00:00.000Z`) });
    assert.equal(i.followers, 1);
    assert.equal(i.followersBefore, 0);
    assert.deepEqual(Object.fromEntries(i.newFollowers), { [days[1]]: 5, [days[5]]: 1 });
    assert.deepEqual(Object.fromEntries(i.lostFollowers), { [days[2]]: 1, [days[3]]: 2, [days[5]]: 2 });
    assert.deepEqual(followerCurve(i, days), [0, 5, 4, 2, 2, 1]);
    assert.deepEqual(
      (await followersOf(ours.id)).map((r) => r.followerIri),
      [iri("frank")],
    );
    // A window that starts after the first follows carries them in followersBefore: 5 − 1 = 4.
    const later = await accountInsights(t.db, ours.id, { since: new Date(`${days[3]}T00:00:00.000Z`) });
    assert.equal(later.followersBefore, 4);
    assert.deepEqual(followerCurve(later, days.slice(3)), [2, 2, 1]);
  });
});
