/**
 * A remote party changes only what it owns. Two actors, alice and bob, live on one real server
 * on loopback, so the server's identity cannot tell them apart — only their keys do. Alice, with
 * valid signatures, tries to change everything of bob's that Herald holds: his message in the
 * staff inbox (Update, Delete, a Create re-using its id), his Like, his follow, Herald's follow
 * request to him (Accept, Reject), and to move him; she also tries to put words in his mouth
 * (a Create of a note attributed to him) and to claim a note on another origin. Every row stays
 * exactly as it was, field by field; then bob's own Update, Undo, Accept and Delete work.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  FollowerSchema,
  FollowingSchema,
  InboundSchema,
  ReactionSchema,
} from "../../src/federation/entities.ts";
import { type FakeActor, type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const AS = "https://www.w3.org/ns/activitystreams";
const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";

describe(`remote activities change only what their signer owns (${TEST_DB})`, () => {
  let s: TestServer;
  let remote: FakeRemote;
  let alice: FakeActor;
  let bob: FakeActor;
  let origin: string;
  let newsId: string;
  let news: string;
  let postIri: string;
  let n = 0;
  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    remote = await startFakeRemote(["alice", "bob"]);
    alice = remote.actor("alice");
    bob = remote.actor("bob");
    const shared = await s.services.accounts.createShared("news", "News", "test");
    assert.ok(shared.ok);
    newsId = shared.actor.id;
    news = `${origin}/ap/actors/${newsId}`;
    const posted = await s.services.posting.post({
      actorId: newsId,
      text: "Hello fediverse",
      author: { personId: null, label: "cli:test" },
    });
    assert.ok(posted.ok, posted.ok ? "" : posted.message);
    postIri = posted.id.href;
  });
  after(async () => {
    await remote?.close();
    await s?.close();
  });

  /** Delivers `activity` (given a fresh id on the remote server) to the shared inbox as `as`. */
  async function deliver(as: FakeActor, activity: Record<string, unknown>, status = 202): Promise<void> {
    const res = await remote.signedPost(
      `${origin}/ap/inbox`,
      { "@context": AS, id: `${remote.origin}/activities/${++n}`, ...activity },
      as,
    );
    assert.equal(res.status, status, `${String(activity.type)}: ${await res.text()}`);
  }

  /** Waits until every delivery and every inbound activity has been handled (the queue is empty). */
  async function settled(): Promise<void> {
    await waitFor(
      async () => {
        const [row] = await s.services.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue");
        return Number(row.n) === 0 || undefined;
      },
      { what: "the queue to drain" },
    );
  }

  const snapshot = async () =>
    s.services.db.run(async (em) => ({
      inbound: await em.getRepository(InboundSchema).find({ order: { objectIri: "ASC" } }),
      reactions: await em.getRepository(ReactionSchema).find({ order: { remoteActorHash: "ASC" } }),
      followers: await em.getRepository(FollowerSchema).find({ order: { followerHash: "ASC" } }),
      following: await em.getRepository(FollowingSchema).find({ order: { targetHash: "ASC" } }),
    }));

  test("alice's signed activities leave bob's message, reaction and follows exactly as they were", async () => {
    // Bob's own: a message to @news, a Like of its post, a follow; and @news asks to follow him.
    const note = `${remote.origin}/notes/bob-1`;
    await deliver(bob, {
      type: "Create",
      actor: bob.id.href,
      to: [news],
      cc: [PUBLIC],
      object: {
        id: note,
        type: "Note",
        attributedTo: bob.id.href,
        to: [news],
        cc: [PUBLIC],
        content: "<p>Bob's own words</p>",
        published: "2026-12-04T10:00:00Z",
      },
    });
    const like = `${remote.origin}/likes/bob-1`;
    await deliver(bob, { id: like, type: "Like", actor: bob.id.href, object: postIri });
    const follow = `${remote.origin}/follows/bob-1`;
    await deliver(bob, { id: follow, type: "Follow", actor: bob.id.href, object: news });
    assert.ok((await s.services.posting.follow(newsId, bob.id.href)).ok);
    await settled();
    const before = await snapshot();
    assert.equal(before.inbound.length, 1);
    assert.equal(before.inbound[0].objectIri, note);
    assert.equal(before.inbound[0].remoteActorIri, bob.id.href);
    assert.equal(before.inbound[0].contentHtml, "<p>Bob's own words</p>");
    assert.equal(before.reactions.length, 1);
    assert.equal(before.followers.length, 1);
    assert.equal(before.following.length, 1);
    assert.equal(before.following[0].status, "pending");
    const ourFollow = `${news}#follows/${before.following[0].followId}`;

    // Alice, signing as herself, each time.
    const asAlice = { actor: alice.id.href };
    const spoofs: [Record<string, unknown>, number][] = [
      // The hole this test was written for: her Update of his note, claiming it as hers.
      [
        {
          type: "Update",
          ...asAlice,
          object: { id: note, type: "Note", attributedTo: alice.id.href, content: "<p>Alice's words</p>" },
        },
        202,
      ],
      [
        {
          type: "Update",
          ...asAlice,
          object: { id: note, type: "Note", attributedTo: bob.id.href, content: "<p>Alice's words</p>" },
        },
        202,
      ],
      // Signed by her, in his name: Fedify refuses the mismatch.
      [
        {
          type: "Update",
          actor: bob.id.href,
          object: { id: note, type: "Note", attributedTo: bob.id.href, content: "<p>Alice's words</p>" },
        },
        401,
      ],
      [{ type: "Delete", ...asAlice, object: note }, 202],
      [{ type: "Delete", ...asAlice, object: { id: note, type: "Tombstone" } }, 202],
      // His note's id, re-used in a Create of hers.
      [
        {
          type: "Create",
          ...asAlice,
          to: [news],
          object: { id: note, type: "Note", attributedTo: alice.id.href, to: [news], content: "<p>Mine</p>" },
        },
        202,
      ],
      // Words put in his mouth: a note attributed to him, sent by her.
      [
        {
          type: "Create",
          ...asAlice,
          to: [news],
          object: {
            id: `${remote.origin}/notes/forged-1`,
            type: "Note",
            attributedTo: bob.id.href,
            to: [news],
            content: "<p>Bob never said this</p>",
          },
        },
        202,
      ],
      // A note on another origin (Herald's own), claimed by her: Fedify trusts an embedded object
      // on the activity's origin, so the activity's id is put there too.
      [
        {
          type: "Create",
          id: `${origin}/ap/posts/00000000-0000-4000-8000-000000000001#create`,
          ...asAlice,
          to: [news],
          object: {
            id: `${origin}/ap/posts/00000000-0000-4000-8000-000000000001`,
            type: "Note",
            attributedTo: alice.id.href,
            to: [news],
            content: "<p>On someone else's origin</p>",
          },
        },
        202,
      ],
      [
        {
          type: "Undo",
          ...asAlice,
          object: { id: like, type: "Like", actor: bob.id.href, object: postIri },
        },
        202,
      ],
      [
        {
          type: "Undo",
          ...asAlice,
          object: { id: follow, type: "Follow", actor: bob.id.href, object: news },
        },
        202,
      ],
      [{ type: "Accept", ...asAlice, object: ourFollow }, 202],
      [{ type: "Reject", ...asAlice, object: ourFollow }, 202],
      [{ type: "Block", ...asAlice, object: news }, 202],
      [{ type: "Move", ...asAlice, object: bob.id.href, target: alice.id.href }, 202],
    ];
    for (const [activity, status] of spoofs) await deliver(alice, activity, status);
    await settled();
    const afterSpoofs = await snapshot();
    assert.deepEqual(afterSpoofs, before);

    // Bob's own changes go through.
    await deliver(bob, {
      type: "Update",
      actor: bob.id.href,
      object: { id: note, type: "Note", attributedTo: bob.id.href, content: "<p>Bob's edit</p>" },
    });
    await deliver(bob, {
      type: "Undo",
      actor: bob.id.href,
      object: { id: like, type: "Like", actor: bob.id.href, object: postIri },
    });
    await deliver(bob, { type: "Accept", actor: bob.id.href, object: ourFollow });
    await settled();
    const edited = await snapshot();
    assert.equal(edited.inbound.length, 1);
    const { contentHtml, updatedAt, ...rest } = edited.inbound[0];
    const { contentHtml: was, updatedAt: wasUpdated, ...restBefore } = before.inbound[0];
    assert.equal(was, "<p>Bob's own words</p>");
    assert.equal(wasUpdated, null);
    assert.equal(contentHtml, "<p>Bob's edit</p>");
    assert.ok(updatedAt instanceof Date);
    assert.deepEqual(rest, restBefore);
    assert.equal(edited.reactions.length, 0);
    assert.deepEqual(
      edited.following.map((f) => f.status),
      ["accepted"],
    );
    assert.deepEqual(edited.followers, before.followers);

    await deliver(bob, { type: "Delete", actor: bob.id.href, object: { id: note, type: "Tombstone" } });
    await settled();
    const deleted = (await snapshot()).inbound;
    assert.equal(deleted.length, 1);
    assert.ok(deleted[0].deletedAt instanceof Date);
    assert.equal(deleted[0].contentHtml, null);
  });
});
