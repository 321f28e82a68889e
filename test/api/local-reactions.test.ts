/**
 * Favourites and boosts of Herald's own posts through the client API (Mastodon's same-server
 * case, src/api/status-actions.ts): Jane, acting for @recruiting, favourites and boosts her
 * colleague Bob's post. The favourite is counted once however often it is sent, shows as
 * `favourited` to @recruiting only, and gives Bob exactly one `favourite` notification; the boost
 * reaches @recruiting's follower (a real server on loopback that records every delivery) as
 * exactly one Announce, and its undoing as one Undo. Casbin is asked as for a remote post (a
 * drafter may not), a post the caller cannot see stays 404, a direct post is not boosted, a
 * followers-only one only by its own account and to its followers, and every action names the
 * human in the audit.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { PostSchema, ReactionSchema } from "../../src/federation/entities.ts";
import { apiToken } from "../helpers/api-token.ts";
import { type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Delivery = FakeRemote["deliveries"][number];
type Json = Record<string, unknown>;
const scimActor = { name: "scim-token:test" };

describe(`favourites and boosts of Herald's own posts (${TEST_DB})`, () => {
  let s: TestServer;
  let remote: FakeRemote;
  let origin: string;
  let janeId: string;
  let recruitingIri: string;
  const tokens: Record<"jane" | "bob" | "dana", string> = { jane: "", bob: "", dana: "" };

  async function api(who: keyof typeof tokens, method: string, path: string, body?: Json) {
    const res = await fetch(`${origin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${tokens[who]}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Json, link: res.headers.get("link") };
  }
  const act = (who: keyof typeof tokens, id: string, action: string) =>
    api(who, "POST", `/api/v1/statuses/${id}/${action}`);

  const token = (personId: string, accountId: string) =>
    apiToken(s, personId, accountId, { app: "Phone", scopes: ["read", "write"] });

  async function person(userName: string, displayName: string): Promise<string> {
    return String((await s.services.scim.createUser({ userName, displayName }, scimActor)).id);
  }

  async function grant(group: string, members: string[], role: string, account: { id: string }) {
    await s.services.scim.createGroup(
      { displayName: group, members: members.map((value) => ({ value })) },
      scimActor,
    );
    const subject = await s.services.authz.resolveSubject(group);
    assert.ok(!("error" in subject));
    const actor = await s.services.accounts.byId(account.id);
    assert.ok(actor);
    assert.ok((await s.services.authz.grant(subject, role, actor, "test")).ok);
  }

  /** Waits until every delivery queued so far has been made; returns those made since `from`. */
  async function delivered(from: number, until: (got: Delivery[]) => boolean): Promise<Delivery[]> {
    await waitFor(
      async () => {
        const [queued] = await s.services.db.query<{ n: number | string }>(
          "SELECT COUNT(*) AS n FROM delivery_queue",
        );
        return Number(queued.n) === 0 && until(remote.deliveries.slice(from)) ? true : undefined;
      },
      { what: "the deliveries", timeoutMs: 20_000 },
    );
    return remote.deliveries.slice(from);
  }

  /** Bob's notifications of one type. */
  async function bobs(type: string): Promise<Json[]> {
    const res = await api("bob", "GET", `/api/v1/notifications?types[]=${type}`);
    assert.equal(res.status, 200);
    return res.body as unknown as Json[];
  }

  const audited = (action: string, postId: string) =>
    s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).findBy({ action, targetType: "post", targetId: postId }),
    );
  const reactions = (postId: string, kind: "like" | "announce") =>
    s.services.db.run((em) => em.getRepository(ReactionSchema).countBy({ postId, kind }));
  const postRow = (apiId: string) =>
    s.services.db.run((em) => em.getRepository(PostSchema).findOneByOrFail({ apiId: Number(apiId) }));

  async function bobPosts(status: string, visibility = "public"): Promise<string> {
    const res = await api("bob", "POST", "/api/v1/statuses", { status, visibility });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return String(res.body.id);
  }

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    remote = await startFakeRemote(["watcher"]);
    janeId = await person("jane@corp.example", "Jane");
    const bobId = await person("bob@corp.example", "Bob");
    const danaId = await person("dana@corp.example", "Dana");
    const shared = await s.services.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(shared.ok);
    await grant("Recruiting", [janeId], "admin", shared.actor);
    await grant("Recruiting Drafters", [danaId], "drafter", shared.actor);
    const bob = await waitFor(
      async () => {
        const row = await s.services.accounts.byPerson(bobId);
        return row?.keysReadyAt ? row : undefined;
      },
      { what: "Bob's account", timeoutMs: 60_000 },
    );
    await waitFor(async () => (await s.services.accounts.byId(shared.actor.id))?.keysReadyAt ?? undefined, {
      what: "@recruiting's keys",
      timeoutMs: 60_000,
    });
    tokens.jane = await token(janeId, shared.actor.id);
    tokens.dana = await token(danaId, shared.actor.id);
    tokens.bob = await token(bobId, bob.id);
    recruitingIri = `${origin}/ap/actors/${shared.actor.id}`;
    // @recruiting has one follower, on another server.
    const watcher = remote.actor("watcher");
    const from = remote.deliveries.length;
    const res = await remote.signedPost(
      `${recruitingIri}/inbox`,
      {
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${watcher.id.href}#follows/1`,
        type: "Follow",
        actor: watcher.id.href,
        object: recruitingIri,
      },
      watcher,
    );
    assert.equal(res.status, 202);
    await delivered(from, (got) => got.some((d) => d.activity.type === "Accept"));
  });

  after(async () => {
    await remote?.close();
    await s?.close();
  });

  test("a favourite of a colleague's post: counted once, one notification for its author, undone", async () => {
    const id = await bobPosts("Bob's team is hiring");
    const post = await postRow(id);
    const from = remote.deliveries.length;

    // Bob's home timeline, cached from now on (src/api/feed.ts), shows the count as it changes.
    const inBobsHome = async () => {
      const home = await api("bob", "GET", "/api/v1/timelines/home");
      return (home.body as unknown as Json[]).find((x) => x.id === id)?.favourites_count;
    };
    assert.equal(await inBobsHome(), 0);

    const first = await act("jane", id, "favourite");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.id, id);
    assert.equal(first.body.favourited, true);
    assert.equal(first.body.favourites_count, 1);
    const again = await act("jane", id, "favourite");
    assert.equal(again.status, 200);
    assert.equal(again.body.favourited, true);
    assert.equal(again.body.favourites_count, 1, "a second favourite is the same one");
    assert.equal(await reactions(post.id, "like"), 1);

    // Seen by @recruiting: favourited; by Bob: counted, not favourited by him.
    const asJane = await api("jane", "GET", `/api/v1/statuses/${id}`);
    assert.equal(asJane.body.favourited, true);
    assert.equal(asJane.body.favourites_count, 1);
    const asBob = await api("bob", "GET", `/api/v1/statuses/${id}`);
    assert.equal(asBob.body.favourited, false);
    assert.equal(asBob.body.favourites_count, 1);

    assert.equal(await inBobsHome(), 1);
    const notes = await bobs("favourite");
    assert.equal(notes.length, 1);
    assert.equal((notes[0].account as Json).acct, "recruiting");
    assert.equal((notes[0].status as Json).id, id);

    const done = await audited("api.status.favourite", post.id);
    assert.equal(done.length, 1);
    assert.equal(done[0].actor, `person:${janeId}`);
    assert.equal((JSON.parse(done[0].detail ?? "{}") as Json).account, "recruiting");

    const undone = await act("jane", id, "unfavourite");
    assert.equal(undone.status, 200);
    assert.equal(undone.body.favourited, false);
    assert.equal(undone.body.favourites_count, 0);
    assert.equal((await act("jane", id, "unfavourite")).body.favourites_count, 0);
    assert.equal(await reactions(post.id, "like"), 0);
    assert.equal(await inBobsHome(), 0);
    assert.equal((await bobs("favourite")).length, 0);
    assert.equal((await audited("api.status.unfavourite", post.id)).length, 1);

    // A like of our own post stays here: nothing was delivered for it.
    const got = await delivered(from, () => true);
    assert.equal(got.length, 0);
  });

  test("a boost: one Announce to the booster's follower, one reblog notification; unreblog sends one Undo", async () => {
    const id = await bobPosts("Bob's open day is on Friday");
    const post = await postRow(id);
    const noteIri = `${origin}/ap/posts/${post.id}`;
    const from = remote.deliveries.length;

    const first = await act("jane", id, "reblog");
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal((first.body.reblog as Json).reblogged, true);
    assert.equal((first.body.reblog as Json).reblogs_count, 1);
    const again = await act("jane", id, "reblog");
    assert.equal((again.body.reblog as Json).reblogged, true);
    assert.equal((again.body.reblog as Json).reblogs_count, 1);

    const got = await delivered(from, (d) => d.some((x) => x.activity.type === "Announce"));
    assert.equal(got.length, 1);
    assert.equal(got[0].path, "/users/watcher/inbox");
    assert.equal(got[0].activity.type, "Announce");
    assert.equal(got[0].activity.actor, recruitingIri);
    assert.equal(got[0].activity.object, noteIri);

    const notes = await bobs("reblog");
    assert.equal(notes.length, 1);
    assert.equal((notes[0].account as Json).acct, "recruiting");
    assert.equal((await audited("api.status.reblog", post.id)).length, 1);

    const mid = remote.deliveries.length;
    const undone = await act("jane", id, "unreblog");
    assert.equal(undone.body.reblogged, false);
    assert.equal(undone.body.reblogs_count, 0);
    assert.equal((await act("jane", id, "unreblog")).body.reblogs_count, 0);
    const undos = await delivered(mid, (d) => d.some((x) => x.activity.type === "Undo"));
    assert.equal(undos.length, 1);
    const announce = undos[0].activity.object as Json;
    assert.equal(announce.type, "Announce");
    assert.equal(announce.id, got[0].activity.id);
    assert.equal(await reactions(post.id, "announce"), 0);
    assert.equal((await bobs("reblog")).length, 0);
    assert.equal((await audited("api.status.unreblog", post.id)).length, 1);
  });

  test("a boost is a status of its own: the reblog answer, @recruiting's home timeline and statuses, paged; gone after unreblog", async () => {
    const id = await bobPosts("Bob's careers fair stand");
    const wrappersOf = (list: Json) =>
      (list as unknown as Json[]).filter((x) => (x.reblog as Json | null)?.id === id);
    const home = async (query = "") => {
      const res = await api("jane", "GET", `/api/v1/timelines/home${query}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res;
    };
    const accountId = String((await api("jane", "GET", "/api/v1/accounts/verify_credentials")).body.id);
    const statusesOf = async (query = "") => {
      const res = await api("bob", "GET", `/api/v1/accounts/${accountId}/statuses${query}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res;
    };
    // Cached before the boost (src/api/feed.ts): the boost must change the page.
    assert.equal(wrappersOf((await home()).body).length, 0);
    assert.equal(wrappersOf((await home()).body).length, 0);

    const boost = await act("jane", id, "reblog");
    assert.equal(boost.status, 200, JSON.stringify(boost.body));
    const w = boost.body;
    const inner = w.reblog as Json;
    assert.notEqual(w.id, id);
    assert.match(String(w.id), /^[0-9]+$/);
    assert.ok(Number(w.id) > Number(id));
    assert.equal((w.account as Json).acct, "recruiting");
    assert.equal((w.account as Json).id, accountId);
    assert.equal(w.content, "");
    assert.equal(w.visibility, "public");
    assert.equal(w.reblogged, true);
    assert.equal(w.in_reply_to_id, null);
    assert.deepEqual(w.media_attachments, []);
    assert.match(String(w.uri), new RegExp(`^${origin}/`));
    assert.equal(inner.id, id);
    assert.equal((inner.account as Json).acct, "bob");
    assert.equal(inner.reblogged, true);
    assert.equal(inner.reblogs_count, 1);
    assert.equal(inner.reblog, null);
    assert.match(String(inner.content), /careers fair stand/);
    // Sent again: the same boost, the same wrapper.
    assert.equal((await act("jane", id, "reblog")).body.id, w.id);

    // @recruiting posts after the boost: newest first, the post then the boost.
    const later = await api("jane", "POST", "/api/v1/statuses", { status: "Recruiting's own news" });
    assert.equal(later.status, 200);
    const page = await home();
    const list = page.body as unknown as Json[];
    assert.equal(wrappersOf(page.body).length, 1);
    assert.equal(list[0].id, later.body.id);
    // The same wrapper (only @recruiting's counts moved: it has posted since).
    assert.deepEqual({ ...list[1], account: null }, { ...w, account: null });
    // Its id pages: just before the later post, and nothing of it after itself.
    const one = await home(`?limit=1&max_id=${String(later.body.id)}`);
    assert.deepEqual(
      (one.body as unknown as Json[]).map((x) => x.id),
      [w.id],
    );
    assert.match(String(one.link), /max_id=/);
    const older = await home(`?max_id=${String(w.id)}`);
    assert.equal(wrappersOf(older.body).length, 0);
    assert.ok((older.body as unknown as Json[]).every((x) => Number(x.id) < Number(w.id)));
    const newer = await home(`?min_id=${String(w.id)}`);
    assert.deepEqual(
      (newer.body as unknown as Json[]).map((x) => x.id),
      [later.body.id],
    );

    // @recruiting's statuses, as Bob sees them: the same wrapper, once, after the later post.
    const shown = (await statusesOf()).body as unknown as Json[];
    assert.equal(wrappersOf(shown as unknown as Json).length, 1);
    assert.deepEqual(
      shown.slice(0, 2).map((x) => x.id),
      [later.body.id, w.id],
    );
    assert.equal(((shown[1].reblog as Json).account as Json).acct, "bob");
    assert.equal(wrappersOf((await statusesOf("?exclude_reblogs=true")).body).length, 0);

    const undone = await act("jane", id, "unreblog");
    assert.equal(undone.status, 200);
    assert.equal(undone.body.id, id);
    assert.equal(undone.body.reblog, null);
    assert.equal(undone.body.reblogged, false);
    assert.equal(wrappersOf((await home()).body).length, 0);
    assert.equal(wrappersOf((await statusesOf()).body).length, 0);
    assert.equal(((await home()).body as unknown as Json[])[0].id, later.body.id);
  });

  test("refused: a drafter (403), a post the caller cannot see (404), a boost of a direct post (403, as Mastodon)", async () => {
    const id = await bobPosts("Bob's public note");
    const post = await postRow(id);
    for (const action of ["favourite", "reblog"]) {
      const r = await act("dana", id, action);
      assert.equal(r.status, 403);
      assert.match(String(r.body.error), /may not speak as @recruiting/);
    }
    assert.equal(await reactions(post.id, "like"), 0);
    assert.equal(await reactions(post.id, "announce"), 0);

    const hidden = await bobPosts("Only for Bob's followers", "private");
    for (const action of ["favourite", "reblog"])
      assert.equal((await act("jane", hidden, action)).status, 404);
    assert.equal((await act("jane", "999999999", "favourite")).status, 404);

    // A direct post is not boosted, even by its author.
    const direct = await bobPosts("Only for those it names", "direct");
    const own = await act("bob", direct, "reblog");
    assert.equal(own.status, 403);
    assert.match(String(own.body.error), /^This action is not allowed: a followers-only or direct post/);
    assert.equal(await reactions((await postRow(direct)).id, "announce"), 0);
    // Bob may favourite his own post; that is no notification to him.
    const mine = await act("bob", hidden, "favourite");
    assert.equal(mine.status, 200);
    assert.equal(mine.body.favourites_count, 1);
    assert.equal((await bobs("favourite")).length, 0);
  });

  test("@recruiting boosts its own followers-only post: a private wrapper, one Announce to its followers only, hidden from others", async () => {
    const posted = await api("jane", "POST", "/api/v1/statuses", {
      status: "For our followers: the interview guide",
      visibility: "private",
    });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    const id = String(posted.body.id);
    const noteIri = `${origin}/ap/posts/${(await postRow(id)).id}`;
    const from = remote.deliveries.length;
    // Wait for the post's own Create first: only the boost is counted below.
    await delivered(from, (d) => d.some((x) => x.activity.type === "Create"));
    const mark = remote.deliveries.length;

    const boost = await act("jane", id, "reblog");
    assert.equal(boost.status, 200, JSON.stringify(boost.body));
    assert.equal(boost.body.visibility, "private");
    assert.equal((boost.body.reblog as Json).id, id);
    assert.equal((boost.body.reblog as Json).visibility, "private");
    assert.equal((boost.body.reblog as Json).reblogged, true);

    const got = await delivered(mark, (d) => d.some((x) => x.activity.type === "Announce"));
    assert.equal(got.length, 1);
    assert.equal(got[0].path, "/users/watcher/inbox");
    assert.equal(got[0].activity.type, "Announce");
    assert.equal(got[0].activity.object, noteIri);
    assert.deepEqual(got[0].activity.to, `${recruitingIri}/followers`);
    assert.deepEqual(got[0].activity.cc, recruitingIri);

    // @recruiting's statuses: the wrapper for itself, not for Bob (he does not follow it).
    const accountId = String((await api("jane", "GET", "/api/v1/accounts/verify_credentials")).body.id);
    const wrappers = async (who: "jane" | "bob") =>
      ((await api(who, "GET", `/api/v1/accounts/${accountId}/statuses`)).body as unknown as Json[]).filter(
        (x) => (x.reblog as Json | null)?.id === id,
      ).length;
    assert.equal(await wrappers("jane"), 1);
    assert.equal(await wrappers("bob"), 0);

    const mid = remote.deliveries.length;
    assert.equal((await act("jane", id, "unreblog")).status, 200);
    const undos = await delivered(mid, (d) => d.some((x) => x.activity.type === "Undo"));
    assert.equal(undos.length, 1);
    assert.equal((undos[0].activity.object as Json).id, got[0].activity.id);
    assert.equal(await wrappers("jane"), 0);
  });
});
