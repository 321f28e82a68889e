/**
 * A boost by a remote account that a Herald account follows, of another server's post, shows in
 * that account's home timeline as Mastodon shows it: the booster's status whose `reblog` is the
 * post (migration 0030, src/federation/received-boosts.ts). The post is fetched from its own
 * server — a copy the booster embeds is not believed — and kept only if it is public or unlisted;
 * a boost by someone no one here follows fetches nothing; the booster's Undo, the author's Delete
 * of the post and the booster's deletion of its account take it away. A booster boosts a post
 * once (its later Announces of the post are the same boost), and only a booster's newest boosts
 * are kept (HERALD_RECEIVED_BOOSTS_PER_BOOSTER, 3 here). Alice and Dave (boosters), Carol (the
 * author) and Mallory live on a real server on loopback that signs their deliveries.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { InboundBoostSchema, InboundSchema } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import type { FakeActor, FakeRemote } from "../helpers/fake-remote.ts";
import { type FollowerOfRemote, startFollowerOfRemote } from "../helpers/follower-of-remote.ts";

type Json = Record<string, unknown>;
const AS = "https://www.w3.org/ns/activitystreams";
const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";

describe(`received boosts in the home timeline (${TEST_DB})`, () => {
  let t: FollowerOfRemote;
  let remote: FakeRemote;
  let alice: FakeActor;
  let carol: FakeActor;
  let mallory: FakeActor;
  let dave: FakeActor;

  before(async () => {
    t = await startFollowerOfRemote(["alice", "carol", "mallory", "dave"], {
      HERALD_RECEIVED_BOOSTS_PER_BOOSTER: "3",
    });
    remote = t.remote;
    [alice, carol, mallory, dave] = ["alice", "carol", "mallory", "dave"].map((x) => remote.actor(x));
    // Jane follows Alice and Dave; no one here follows Carol or Mallory.
    await t.follow(alice);
    await t.follow(dave);
  });

  after(async () => {
    await t?.close();
  });

  /** Carol's note as her server serves it. */
  function carolWrites(name: string, addressing: Json = { to: [PUBLIC] }): string {
    const id = `${remote.origin}/notes/${name}`;
    remote.put(`/notes/${name}`, {
      "@context": AS,
      id,
      type: "Note",
      attributedTo: carol.id.href,
      content: `<p>Carol's ${name}</p>`,
      published: "2026-12-05T09:00:00Z",
      ...addressing,
    });
    return id;
  }

  const announce = (as: FakeActor, object: unknown, id?: string) =>
    t.deliver(as, { ...(id ? { id } : {}), type: "Announce", actor: as.id.href, to: [PUBLIC], object });

  const kept = () => t.s.services.db.run((em) => em.getRepository(InboundBoostSchema).find());

  async function home(): Promise<Json[]> {
    const res = await fetch(`${t.origin}/api/v1/timelines/home?limit=40`, {
      headers: { authorization: `Bearer ${t.token}` },
    });
    assert.equal(res.status, 200);
    return (await res.json()) as Json[];
  }

  /** Jane's call to /api/v1/statuses/`path`. */
  const api = async (method: string, path: string) => {
    const res = await fetch(`${t.origin}/api/v1/statuses/${path}`, {
      method,
      headers: { authorization: `Bearer ${t.token}` },
    });
    return { status: res.status, body: (await res.json()) as Json };
  };

  test("Alice's boost of Carol's post: a wrapper in Jane's home, the post as Carol's server serves it", async () => {
    const own = await fetch(`${t.origin}/api/v1/statuses`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.token}`, "content-type": "application/json" },
      body: JSON.stringify({ status: "Jane's own" }),
    });
    assert.equal(own.status, 200);
    const ownId = String(((await own.json()) as Json).id);

    const note = carolWrites("first", {
      to: [PUBLIC],
      attachment: [
        {
          type: "Document",
          mediaType: "image/png",
          url: `${remote.origin}/media/chart.png`,
          name: "A chart",
        },
      ],
    });
    // Alice embeds a copy with other words: not believed, the note is fetched.
    const boost = await announce(alice, {
      id: note,
      type: "Note",
      attributedTo: carol.id.href,
      to: [PUBLIC],
      content: "<p>words Carol never wrote</p>",
    });
    await waitFor(async () => ((await kept()).length === 1 ? true : undefined), { what: "the boost kept" });
    // The same delivery again: still one.
    await announce(alice, note, boost);
    await t.settled();
    assert.equal((await kept()).length, 1);

    const list = await home();
    assert.equal(list.length, 2);
    const [wrapper, mine] = list;
    assert.equal(mine.id, ownId);
    assert.equal(wrapper.uri, boost);
    assert.equal(wrapper.content, "");
    assert.equal((wrapper.account as Json).uri, alice.id.href);
    const inner = wrapper.reblog as Json;
    assert.equal(inner.uri, note);
    assert.equal(inner.content, "<p>Carol's first</p>");
    assert.equal(inner.visibility, "public");
    assert.equal((inner.account as Json).uri, carol.id.href);
    const media = inner.media_attachments as Json[];
    assert.equal(media.length, 1);
    assert.equal(media[0].url, `${remote.origin}/media/chart.png`);
    assert.equal(media[0].description, "A chart");
    assert.notEqual(inner.id, wrapper.id);
    assert.ok(BigInt(String(wrapper.id)) > BigInt(ownId), "the boost is newer than Jane's post");
  });

  test("the boosted post is Jane's to open, favourite and boost: Carol's server gets the Like and Announce", async () => {
    const [wrapper] = await home();
    const inner = wrapper.reblog as Json;
    const id = String(inner.id);
    const opened = await api("GET", id);
    assert.equal(opened.status, 200);
    assert.equal(opened.body.uri, inner.uri);
    assert.equal(opened.body.content, "<p>Carol's first</p>");

    const faved = await api("POST", `${id}/favourite`);
    assert.equal(faved.status, 200, JSON.stringify(faved.body));
    assert.equal(faved.body.favourited, true);
    const boosted = await api("POST", `${id}/reblog`);
    assert.equal(boosted.status, 200, JSON.stringify(boosted.body));
    assert.equal((boosted.body.reblog as Json).id, id);
    assert.equal((boosted.body.account as Json).id, t.janeId);
    await t.settled();
    const atCarol = () =>
      remote.deliveries
        .filter((d) => d.path === carol.inbox.pathname)
        .map((d) => `${String(d.activity.type)} ${String(d.activity.object)}`);
    await waitFor(async () => (atCarol().length >= 2 ? true : undefined), { what: "the Like and Announce" });
    assert.deepEqual(atCarol().sort(), [`Announce ${inner.uri}`, `Like ${inner.uri}`]);
    // Jane's boost above Alice's, both showing the post favourited by her.
    const list = await home();
    assert.equal(list.length, 3);
    const [jane, alices, own] = list;
    assert.equal((jane.account as Json).id, t.janeId);
    assert.equal((jane.reblog as Json).id, id);
    assert.equal((jane.reblog as Json).favourited, true);
    assert.equal((alices.account as Json).uri, alice.id.href);
    assert.equal((alices.reblog as Json).favourited, true);
    assert.equal(own.reblog, null);

    // Undone, as it was: the next tests count Alice's boosts in Jane's home.
    assert.equal((await api("POST", `${id}/unreblog`)).status, 200);
    assert.equal((await api("POST", `${id}/unfavourite`)).status, 200);
    assert.equal((await home()).length, 2);
  });

  test("not kept: a boost by someone no one here follows (nothing fetched), of a followers-only post", async () => {
    const before = (await kept()).length;
    const unfollowed = carolWrites("second");
    await announce(mallory, unfollowed);
    const privatePost = carolWrites("third", { to: [`${carol.id.href}/followers`] });
    await announce(alice, privatePost);
    await t.settled();
    await waitFor(async () => (remote.requests.includes("/notes/third") ? true : undefined), {
      what: "the followers-only note fetched",
    });
    assert.equal((await kept()).length, before);
    assert.equal(
      remote.requests.filter((r) => r === "/notes/second").length,
      0,
      "Mallory's boost made Herald fetch",
    );
    assert.equal((await home()).length, 2);
  });

  test("not kept: a boost whose id is not on its booster's server (it could take a real boost's place)", async () => {
    const before = (await kept()).length;
    const post = carolWrites("elsewhere");
    await announce(alice, post, "https://elsewhere.example/announces/1");
    await t.settled();
    assert.equal((await kept()).length, before);
    assert.equal(
      remote.requests.filter((r) => r === "/notes/elsewhere").length,
      0,
      "a boost under another server's id made Herald fetch",
    );
  });

  test("Alice's Undo and Carol's Delete take boosts away; Mallory's Undo of Alice's does not", async () => {
    const [first] = await kept();
    const second = carolWrites("fourth");
    const boost2 = await announce(alice, second);
    await waitFor(async () => ((await kept()).length === 2 ? true : undefined), { what: "the second boost" });
    assert.equal((await home()).length, 3);

    const embedded = {
      id: first.activityIri,
      type: "Announce",
      actor: alice.id.href,
      object: first.objectIri,
    };
    await t.deliver(mallory, { type: "Undo", actor: mallory.id.href, object: embedded });
    await t.settled();
    assert.equal((await kept()).length, 2);

    await t.deliver(alice, { type: "Undo", actor: alice.id.href, object: embedded });
    await waitFor(async () => ((await kept()).length === 1 ? true : undefined), { what: "the Undo" });
    assert.equal((await kept())[0].activityIri, boost2);

    await t.deliver(carol, { type: "Delete", actor: carol.id.href, object: second });
    await waitFor(async () => ((await kept()).length === 0 ? true : undefined), { what: "the Delete" });
    assert.equal((await home()).length, 1);

    // Alice's account is deleted: her boosts go with it.
    await announce(alice, carolWrites("fifth"));
    await waitFor(async () => ((await kept()).length === 1 ? true : undefined), { what: "the third boost" });
    await t.deliver(alice, { type: "Delete", actor: alice.id.href, object: alice.id.href });
    await waitFor(async () => ((await kept()).length === 0 ? true : undefined), { what: "Alice's Delete" });
    const left = await home();
    assert.equal(left.length, 1);
    assert.equal(left[0].reblog, null);
  });

  const fetches = (name: string) => remote.requests.filter((r) => r === `/notes/${name}`).length;

  test("a booster boosts a post once; boosts of it by two accounts within minutes cost one fetch", async () => {
    assert.equal((await kept()).length, 0);
    const note = carolWrites("sixth");
    const first = await announce(alice, note);
    await waitFor(async () => ((await kept()).length === 1 ? true : undefined), { what: "Alice's boost" });
    // Alice's server announces it again under a new id: the same boost.
    await announce(alice, note);
    await t.settled();
    assert.deepEqual(
      (await kept()).map((r) => r.activityIri),
      [first],
    );
    // Dave boosts it too: his own wrapper, from the copy fetched for Alice's (the loader's cache).
    const daves = await announce(dave, note);
    await waitFor(async () => ((await kept()).length === 2 ? true : undefined), { what: "Dave's boost" });
    assert.equal(fetches("sixth"), 1);
    const list = await home();
    assert.equal(list.length, 3);
    assert.deepEqual(
      list.slice(0, 2).map((w) => [w.uri, (w.reblog as Json).content]),
      [
        [daves, "<p>Carol's sixth</p>"],
        [first, "<p>Carol's sixth</p>"],
      ],
    );
  });

  test("only a booster's 3 newest boosts are kept: older ones leave the home timeline", async () => {
    // Alice's boosts of b3 and b4 are her fourth and fifth: each makes room.
    for (const name of ["b1", "b2", "b3", "b4"]) {
      await announce(alice, carolWrites(name));
      await waitFor(
        async () => (await kept()).some((r) => r.objectIri.endsWith(`/notes/${name}`)) || undefined,
        { what: `Alice's boost of ${name}` },
      );
    }
    const rows = await kept();
    const by = (a: FakeActor) =>
      rows
        .filter((r) => r.boosterIri === a.id.href)
        .map((r) => r.objectIri.split("/").at(-1))
        .sort();
    assert.deepEqual(by(alice), ["b2", "b3", "b4"]);
    assert.deepEqual(by(dave), ["sixth"]);
    const list = await home();
    assert.equal(list.length, 5);
    assert.deepEqual(
      list.slice(0, 4).map((w) =>
        String((w.reblog as Json).uri)
          .split("/")
          .at(-1),
      ),
      ["b4", "b3", "b2", "sixth"],
    );
  });

  test("a Delete or Undo that matches nothing here leaves every cached home as it is; Alice's Undo moves Jane's only", async () => {
    const versions = async () => {
      const [g] = await t.s.services.db.query<{ v: number | string }>(
        "SELECT value AS v FROM api_sequence WHERE name = 'feed'",
      );
      const [j] = await t.s.services.db.query<{ v: number | string }>(
        "SELECT feed_version AS v FROM actor WHERE id = ?",
        [t.janeId],
      );
      return { global: Number(g.v), jane: Number(j.v) };
    };
    await t.settled();
    const before = await versions();
    await t.deliver(carol, {
      type: "Delete",
      actor: carol.id.href,
      object: `${remote.origin}/notes/never-seen`,
    });
    await t.deliver(alice, {
      type: "Undo",
      actor: alice.id.href,
      object: { id: `${remote.origin}/announces/never-sent`, type: "Announce", actor: alice.id.href },
    });
    await t.settled();
    assert.deepEqual(await versions(), before);

    const [b4] = (await kept()).filter((r) => r.objectIri.endsWith("/notes/b4"));
    await t.deliver(alice, {
      type: "Undo",
      actor: alice.id.href,
      object: { id: b4.activityIri, type: "Announce", actor: alice.id.href },
    });
    await waitFor(async () => ((await kept()).length === 3 ? true : undefined), { what: "the Undo of b4" });
    assert.deepEqual(await versions(), { global: before.global, jane: before.jane + 1 });
  });

  test("longer than 2,048 characters: a post's link is dropped (the post kept), a post or boost id refused before any fetch", async () => {
    const long = (c: string) => c.repeat(2100);
    const linked = `${remote.origin}/notes/long-link`;
    remote.put("/notes/long-link", {
      "@context": AS,
      id: linked,
      type: "Note",
      attributedTo: carol.id.href,
      content: "<p>A long link</p>",
      url: `${remote.origin}/p/${long("x")}`,
      to: [PUBLIC],
    });
    await announce(alice, linked);
    await waitFor(async () => (await kept()).find((r) => r.objectIri === linked), { what: "the boost kept" });
    assert.equal((await kept()).find((r) => r.objectIri === linked)!.url, null);
    await announce(alice, `${remote.origin}/notes/${long("y")}`);
    await t.settled();
    assert.equal(remote.requests.filter((r) => r.startsWith("/notes/yyy")).length, 0);
    assert.equal((await kept()).filter((r) => r.objectIri.includes("yyy")).length, 0);

    // Alice's own posts (Jane follows her): the long link gives way to the post's id; a long id is refused.
    const received = () =>
      t.s.services.db.run((em) => em.getRepository(InboundSchema).findBy({ remoteActorIri: alice.id.href }));
    const before = (await received()).length;
    const note = (id: string, url?: string) => ({
      type: "Create",
      actor: alice.id.href,
      to: [PUBLIC],
      object: {
        id,
        type: "Note",
        attributedTo: alice.id.href,
        content: "<p>Hi</p>",
        to: [PUBLIC],
        ...(url ? { url } : {}),
      },
    });
    const own = `${remote.origin}/notes/alice-long-link`;
    await t.deliver(alice, note(own, `${remote.origin}/p/${long("z")}`));
    await t.deliver(alice, note(`${remote.origin}/notes/${long("w")}`));
    await t.settled();
    const rows = await received();
    assert.equal(rows.length, before + 1);
    assert.deepEqual(
      rows.filter((r) => r.objectIri === own).map((r) => r.url),
      [own],
    );
  });

  test("Jane's favourite and boost of a post she saw only boosted outlive Alice's Undo; Alice's new boost shows it again under the same id", async () => {
    const post = carolWrites("kept-for-jane");
    const rowsOf = async () => (await kept()).filter((r) => r.objectIri === post);
    const first = await announce(alice, post);
    const [row] = await waitFor(async () => ((await rowsOf()).length === 1 ? rowsOf() : undefined), {
      what: "Alice's boost",
    });
    const id = String(row.objectApiId);
    assert.equal((await api("POST", `${id}/favourite`)).status, 200);
    assert.equal((await api("POST", `${id}/reblog`)).status, 200);
    const wrappersOf = async () =>
      (await home())
        .filter((w) => (w.reblog as Json | null)?.uri === post)
        .map((w) => (w.account as Json).uri);

    await t.deliver(alice, {
      type: "Undo",
      actor: alice.id.href,
      object: { id: first, type: "Announce", actor: alice.id.href },
    });
    await waitFor(async () => ((await rowsOf())[0]?.undoneAt ? true : undefined), { what: "the Undo" });
    assert.deepEqual(await wrappersOf(), [t.janeIri]);
    const seen = await api("GET", id);
    assert.equal(seen.status, 200);
    assert.deepEqual([seen.body.favourited, seen.body.reblogged], [true, true]);

    const again = await announce(alice, post);
    await waitFor(async () => ((await rowsOf())[0]?.activityIri === again ? true : undefined), {
      what: "Alice's new boost",
    });
    const rows = await rowsOf();
    assert.deepEqual(
      rows.map((r) => [String(r.objectApiId), r.undoneAt]),
      [[id, null]],
    );
    assert.deepEqual(await wrappersOf(), [alice.id.href, t.janeIri]);

    // Alice undoes it again; Jane's boost keeps it, then her unreblog lets it go.
    assert.equal((await api("POST", `${id}/unfavourite`)).status, 200);
    await t.deliver(alice, {
      type: "Undo",
      actor: alice.id.href,
      object: { id: again, type: "Announce", actor: alice.id.href },
    });
    await waitFor(async () => ((await rowsOf())[0]?.undoneAt ? true : undefined), {
      what: "the second Undo",
    });
    assert.equal((await api("POST", `${id}/unreblog`)).status, 200);
    assert.equal((await rowsOf()).length, 0);
    assert.equal((await api("GET", id)).status, 404);

    // A third boost, and Carol's Delete of the post: gone.
    await announce(alice, post);
    await waitFor(async () => ((await rowsOf()).length === 1 ? true : undefined), {
      what: "the third boost",
    });
    await t.deliver(carol, { type: "Delete", actor: carol.id.href, object: post });
    await waitFor(async () => ((await rowsOf()).length === 0 ? true : undefined), { what: "Carol's Delete" });
  });
});
