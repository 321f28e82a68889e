/**
 * Two Herald instances (two organisations, two ports, two databases) talking ActivityPub through
 * the real HTTP stack on loopback: follow, accept, post, reply into a shared account's inbox,
 * unfollow — with signatures verified both ways, and forged requests refused.
 */
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { IsNull } from "typeorm";
import { Announce, isActor, Like } from "@fedify/vocab";
import {
  FollowerSchema,
  FollowingSchema,
  InboundSchema,
  ReactionSchema,
} from "../../src/federation/entities.ts";
import { startServer } from "../../src/server.ts";
import { freePort, freshDatabaseUrl, TEST_DB, testConfig, waitFor } from "../helpers/env.ts";
import { type Instance, startInstance } from "../helpers/instance.ts";

/** The fields and key shapes Mastodon and other servers rely on in an actor document. */
function lintActor(
  actor: Record<string, unknown> & { publicKey: Record<string, string>; assertionMethod: unknown },
) {
  for (const field of [
    "id",
    "type",
    "preferredUsername",
    "inbox",
    "outbox",
    "followers",
    "following",
    "url",
    "name",
  ]) {
    assert.ok(typeof actor[field] === "string" && actor[field] !== "", `actor.${field}`);
  }
  for (const field of ["inbox", "outbox", "followers", "following"]) {
    assert.ok(String(actor[field]).startsWith(String(actor.id)), `${field} lives under the actor id`);
  }
  assert.equal(actor.publicKey.owner, actor.id);
  assert.ok(actor.publicKey.id.startsWith(`${actor.id}#`));
  const key = createPublicKey(actor.publicKey.publicKeyPem);
  assert.equal(key.asymmetricKeyType, "rsa");
  assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
  const multikeys = [actor.assertionMethod].flat() as Record<string, string>[];
  assert.deepEqual(
    multikeys.map((m) => m.type),
    ["Multikey", "Multikey"],
  );
  for (const m of multikeys) assert.equal(m.controller, actor.id);
  // Ed25519 multikeys are multibase base58btc with the 0xed01 prefix: "z6Mk…".
  assert.ok(
    multikeys.some((m) => m.publicKeyMultibase.startsWith("z6Mk")),
    "an Ed25519 multikey",
  );
}

describe(`two Herald instances federating on loopback (${TEST_DB})`, () => {
  let a: Instance;
  let b: Instance;
  let recruitingId: string;
  let newsId: string;
  before(async () => {
    a = await startInstance("Alpha Corp");
    b = await startInstance("Beta Corp");
    const r = await a.s.services.accounts.createShared("recruiting", "Alpha Recruiting", "test");
    const n = await b.s.services.accounts.createShared("news", "Beta News", "test");
    assert.ok(r.ok && n.ok);
    recruitingId = r.actor.id;
    newsId = n.actor.id;
  });
  after(async () => {
    for (const i of [a, b]) {
      await i.s.shutdown("test");
      await i.fresh.cleanup();
    }
  });

  test("WebFinger and the actor document on the handle domain", async () => {
    const host = new URL(a.origin).host;
    const wf = await (
      await fetch(`${a.origin}/.well-known/webfinger?resource=acct:recruiting@${host}`)
    ).json();
    const self = wf.links.find((l: { rel: string }) => l.rel === "self");
    assert.equal(self.href, `${a.origin}/ap/actors/${recruitingId}`);
    const actor = await (await fetch(self.href, { headers: { accept: "application/activity+json" } })).json();
    assert.equal(actor.type, "Organization");
    assert.equal(actor.preferredUsername, "recruiting");
    assert.equal(actor.name, "Alpha Recruiting");
    assert.equal(actor.inbox, `${a.origin}/ap/actors/${recruitingId}/inbox`);
    assert.equal(actor.endpoints.sharedInbox, `${a.origin}/ap/inbox`);
    assert.match(actor.publicKey.publicKeyPem, /BEGIN PUBLIC KEY/);
    assert.equal(actor.assertionMethod.length, 2);
    assert.equal(actor.url, `${a.origin}/@recruiting`);
    lintActor(actor);
    const hostMeta = await fetch(`${a.origin}/.well-known/host-meta`);
    assert.equal(hostMeta.headers.get("access-control-allow-origin"), "*");
    assert.match(
      await hostMeta.text(),
      new RegExp(`template="${a.origin}/\\.well-known/webfinger\\?resource=\\{uri\\}"`),
    );
    // A browser gets the profile page.
    const html = await fetch(self.href, { headers: { accept: "text/html" } });
    assert.equal(html.status, 200);
    assert.match(await html.text(), /@recruiting@127\.0\.0\.1/);
  });

  test("an unsigned or forged POST to an inbox is refused with 401", async () => {
    const res = await fetch(`${a.origin}/ap/actors/${recruitingId}/inbox`, {
      method: "POST",
      headers: { "content-type": "application/activity+json" },
      body: JSON.stringify({
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${b.origin}/forged/1`,
        type: "Follow",
        actor: `${b.origin}/ap/actors/${newsId}`,
        object: `${a.origin}/ap/actors/${recruitingId}`,
      }),
    });
    assert.equal(res.status, 401);
    const followers = await a.s.services.db.run((em) =>
      em.getRepository(FollowerSchema).countBy({ actorId: recruitingId }),
    );
    assert.equal(followers, 0);
  });

  test("follow → accept → post → reply lands in the shared account's inbox → unfollow", async () => {
    const followed = await b.s.services.posting.follow(newsId, `${a.origin}/ap/actors/${recruitingId}`);
    assert.ok(followed.ok, followed.message);
    await waitFor(
      async () =>
        (await b.s.services.db.run((em) => em.getRepository(FollowingSchema).findOneBy({ actorId: newsId })))
          ?.status === "accepted",
      { what: "B's follow to be accepted by A" },
    );
    const follower = await a.s.services.db.run((em) =>
      em.getRepository(FollowerSchema).findOneBy({ actorId: recruitingId }),
    );
    assert.equal(follower?.followerIri, `${b.origin}/ap/actors/${newsId}`);
    assert.equal(follower?.status, "accepted");

    const posted = await a.s.services.posting.post({
      actorId: recruitingId,
      text: "We are hiring engineers! #hiring",
      author: { personId: null, label: "cli:test" },
    });
    assert.ok(posted.ok, posted.ok ? "" : posted.message);
    const received = await waitFor(
      async () =>
        (await b.s.services.db.run((em) =>
          em.getRepository(InboundSchema).findOneBy({ actorId: newsId, kind: "post" }),
        )) ?? undefined,
      { what: "A's post in B" },
    );
    assert.equal(received.objectIri, posted.id.href);
    assert.match(received.contentHtml ?? "", /We are hiring engineers!/);
    assert.match(received.contentHtml ?? "", /href="[^"]*\/tags\/hiring"/);

    // An edit reaches the follower as Update(Note).
    const edited = await a.s.services.posting.edit(
      posted.post.id,
      "We are hiring engineers and designers! #hiring",
      "cli:test",
    );
    assert.ok(edited.ok);
    await waitFor(
      async () =>
        /designers/.test(
          (await b.s.services.db.run((em) => em.getRepository(InboundSchema).findOneBy({ id: received.id })))
            ?.contentHtml ?? "",
        ) || undefined,
      { what: "the Update(Note) to reach B" },
    );

    // B likes and boosts A's post: A counts both, once each.
    const bctx = b.s.services.federation.createContext(new URL(b.origin), { requestId: "test" });
    const recruiter = await bctx.lookupObject(`${a.origin}/ap/actors/${recruitingId}`);
    assert.ok(recruiter && isActor(recruiter));
    for (const [Kind, n] of [
      [Like, 1],
      [Like, 2],
      [Announce, 1],
    ] as const) {
      await bctx.sendActivity(
        { identifier: newsId },
        recruiter,
        new Kind({
          id: new URL(`${b.origin}/test/${Kind.name}/${n}`),
          actor: bctx.getActorUri(newsId),
          object: posted.id,
        }),
      );
    }
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(ReactionSchema).countBy({ postId: posted.post.id }),
        )) === 2 || undefined,
      { what: "the Like and the Announce to be counted" },
    );

    const reply = await b.s.services.posting.post({
      actorId: newsId,
      text: "Congratulations on growing!",
      author: { personId: null, label: "cli:test" },
      inReplyTo: posted.id.href,
    });
    assert.ok(reply.ok);
    const inbox = await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em
            .getRepository(InboundSchema)
            .findOneBy({ actorId: recruitingId, kind: "reply", deletedAt: IsNull() }),
        )) ?? undefined,
      { what: "B's reply in A's recruiting inbox" },
    );
    assert.equal(inbox.inReplyToPostId, posted.post.id);
    assert.equal(inbox.remoteActorIri, `${b.origin}/ap/actors/${newsId}`);
    assert.match(inbox.contentHtml ?? "", /Congratulations/);

    // The reply's author deletes it: A honours the Delete.
    assert.equal(await b.s.services.posting.remove(reply.post.id, "cli:test"), true);
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) => em.getRepository(InboundSchema).findOneBy({ id: inbox.id })))
          ?.deletedAt
          ? true
          : undefined,
      { what: "the Delete to reach A" },
    );

    const unfollowed = await b.s.services.posting.unfollow(newsId, `${a.origin}/ap/actors/${recruitingId}`);
    assert.ok(unfollowed.ok, unfollowed.message);
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(FollowerSchema).countBy({ actorId: recruitingId }),
        )) === 0 || undefined,
      { what: "the Undo(Follow) to reach A" },
    );
  });

  test("manual approval: the follow waits until an operator approves it; a rejection removes it", async () => {
    const pr = await a.s.services.accounts.createShared("pr", "Alpha PR", "test");
    assert.ok(pr.ok);
    const configured = await a.s.services.accounts.configure("pr", { manualApproval: true }, "cli:test");
    assert.equal(configured?.manualApproval, true);
    const doc = await (
      await fetch(`${a.origin}/ap/actors/${pr.actor.id}`, {
        headers: { accept: "application/activity+json" },
      })
    ).json();
    assert.equal(doc.manuallyApprovesFollowers, true);
    const following = async () =>
      b.s.services.db.run((em) =>
        em.getRepository(FollowingSchema).findOneBy({ actorId: newsId, targetIri: doc.id }),
      );
    const follower = async () =>
      a.s.services.db.run((em) => em.getRepository(FollowerSchema).findOneBy({ actorId: pr.actor.id }));

    assert.ok((await b.s.services.posting.follow(newsId, doc.id)).ok);
    await waitFor(async () => ((await follower())?.status === "pending" ? true : undefined), {
      what: "a pending request at A",
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await following())?.status, "pending", "no Accept before approval");
    const approved = await a.s.services.posting.decideFollower(
      pr.actor.id,
      `${b.origin}/ap/actors/${newsId}`,
      true,
      "cli:test",
    );
    assert.ok(approved.ok, approved.message);
    await waitFor(async () => ((await following())?.status === "accepted" ? true : undefined), {
      what: "the approval to reach B",
    });

    // Again, rejected this time.
    assert.ok((await b.s.services.posting.unfollow(newsId, doc.id)).ok);
    await waitFor(async () => ((await follower()) === null ? true : undefined), { what: "the unfollow" });
    assert.ok((await b.s.services.posting.follow(newsId, doc.id)).ok);
    await waitFor(async () => ((await follower())?.status === "pending" ? true : undefined), {
      what: "a second request",
    });
    const rejected = await a.s.services.posting.decideFollower(
      pr.actor.id,
      `${b.origin}/ap/actors/${newsId}`,
      false,
      "cli:test",
    );
    assert.ok(rejected.ok);
    await waitFor(async () => ((await following()) === null ? true : undefined), {
      what: "the Reject to reach B",
    });
    assert.equal(await follower(), null);
  });

  test("rename: Move to a new handle; the follower re-follows the successor; the old handle stays", async () => {
    const old = await a.s.services.accounts.createShared("support", "Alpha Support", "test");
    assert.ok(old.ok);
    const oldUri = `${a.origin}/ap/actors/${old.actor.id}`;
    assert.ok((await b.s.services.posting.follow(newsId, oldUri)).ok);
    await waitFor(
      async () =>
        (
          await b.s.services.db.run((em) =>
            em.getRepository(FollowingSchema).findOneBy({ actorId: newsId, targetIri: oldUri }),
          )
        )?.status === "accepted" || undefined,
      { what: "the follow of the old account" },
    );
    const moved = await a.s.services.posting.rename("support", "helpdesk", "cli:test");
    assert.ok(moved.ok, moved.message);
    const host = new URL(a.origin).host;
    const wf = async (h: string) =>
      (await (await fetch(`${a.origin}/.well-known/webfinger?resource=acct:${h}@${host}`)).json()).links.find(
        (l: { rel: string }) => l.rel === "self",
      ).href as string;
    const newUri = await wf("helpdesk");
    assert.notEqual(newUri, oldUri);
    assert.equal(await wf("support"), oldUri, "the old handle still resolves, to the moved actor");
    const oldDoc = await (await fetch(oldUri, { headers: { accept: "application/activity+json" } })).json();
    assert.equal(oldDoc.movedTo, newUri);
    const newDoc = await (await fetch(newUri, { headers: { accept: "application/activity+json" } })).json();
    assert.deepEqual([newDoc.alsoKnownAs].flat(), [oldUri]);
    await waitFor(
      async () =>
        (
          await b.s.services.db.run((em) =>
            em.getRepository(FollowingSchema).findOneBy({ actorId: newsId, targetIri: newUri }),
          )
        )?.status === "accepted" || undefined,
      { what: "B to follow the successor after the Move" },
    );
    const refused = await a.s.services.posting.post({
      actorId: "support",
      text: "x",
      author: { personId: null, label: "t" },
    });
    assert.ok(!refused.ok && /moved to @helpdesk/.test(refused.message));
    const taken = await a.s.services.accounts.createShared("support", "Impostor", "test");
    assert.ok(!taken.ok && taken.reason === "taken");
  });

  test("a direct message lands in the addressed account's inbox as direct, and is not public", async () => {
    // (@user@host mentions resolve through WebFinger, which is https-only: on this plain-http
    // loopback the recipient is named by its actor URL instead.)
    const sent = await b.s.services.posting.post({
      actorId: newsId,
      text: "Is the internship still open?",
      author: { personId: null, label: "cli:test" },
      visibility: "direct",
      to: [`${a.origin}/ap/actors/${recruitingId}`],
    });
    assert.ok(sent.ok, sent.ok ? "" : sent.message);
    const mentions = JSON.parse(sent.post.mentions ?? "[]");
    assert.deepEqual(
      mentions.map((m: { href: string }) => m.href),
      [`${a.origin}/ap/actors/${recruitingId}`],
    );
    const got = await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(InboundSchema).findOneBy({ actorId: recruitingId, objectIri: sent.id.href }),
        )) ?? undefined,
      { what: "the direct message at A" },
    );
    assert.equal(got.kind, "direct");
    // Not in the public outbox, and not dereferenceable by anyone.
    assert.equal((await fetch(sent.id, { headers: { accept: "application/activity+json" } })).status, 404);
  });

  test("a note is dereferenceable at its id (JSON) and renders HTML for browsers", async () => {
    const posted = await a.s.services.posting.post({
      actorId: "recruiting",
      text: "Open house on Friday",
      author: { personId: null, label: "cli:test" },
      language: "en",
    });
    assert.ok(posted.ok, posted.ok ? "" : posted.message);
    const note = await (await fetch(posted.id, { headers: { accept: "application/activity+json" } })).json();
    assert.equal(note.type, "Note");
    assert.equal(note.attributedTo, `${a.origin}/ap/actors/${recruitingId}`);
    assert.equal(note.to, "as:Public");
    assert.match(note.contentMap.en, /Open house on Friday/);
    const page = await fetch(posted.id, { headers: { accept: "text/html" } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Open house on Friday/);
    const outbox = await (
      await fetch(`${a.origin}/ap/actors/${recruitingId}/outbox`, {
        headers: { accept: "application/activity+json" },
      })
    ).json();
    assert.ok(outbox.totalItems >= 2);
  });
});

describe(`the federation blocklist (${TEST_DB})`, () => {
  test("nothing is accepted from a blocked domain (HERALD_BLOCKED_DOMAINS), and it gets nothing", async () => {
    // A blocks "localhost"; B runs on http://localhost:<port>, so B's activities come from there.
    const aDb = await freshDatabaseUrl();
    const bDb = await freshDatabaseUrl();
    const aPort = await freePort();
    const bPort = await freePort();
    const a2 = await startServer(
      testConfig(aDb.url, aDb.dir, {
        PORT: String(aPort),
        HERALD_ORIGIN: `http://127.0.0.1:${aPort}`,
        HERALD_BLOCKED_DOMAINS: "localhost",
      }),
    );
    const b2 = await startServer(
      testConfig(bDb.url, bDb.dir, {
        PORT: String(bPort),
        HERALD_ORIGIN: `http://localhost:${bPort}`,
        HERALD_LISTEN_HOST: "127.0.0.1",
      }),
    );
    try {
      const r = await a2.services.accounts.createShared("recruiting", "R", "test");
      const n = await b2.services.accounts.createShared("news", "N", "test");
      assert.ok(r.ok && n.ok);
      assert.ok(
        (await b2.services.posting.follow(n.actor.id, `http://127.0.0.1:${aPort}/ap/actors/${r.actor.id}`))
          .ok,
      );
      await new Promise((res) => setTimeout(res, 2000));
      const followers = await a2.services.db.run((em) =>
        em.getRepository(FollowerSchema).countBy({ actorId: r.actor.id }),
      );
      assert.equal(followers, 0, "the Follow from the blocked domain was ignored");
    } finally {
      await a2.shutdown("test");
      await b2.shutdown("test");
      await aDb.cleanup();
      await bDb.cleanup();
    }
  });
});
