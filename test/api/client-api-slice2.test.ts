/**
 * The client API's second slice through masto 8 against two real Herald instances on loopback:
 * sortable numeric ids and Link pagination; a second organization follows, likes, boosts and
 * replies, and the first sees it as notifications (types and exclude_types, one by id, dismiss,
 * clear), in the status's context and in relationships and followers; the home timeline holds the
 * followed account's posts; favourite/reblog of a remote post reach its server; an edit federates;
 * markers, search and update_credentials; scheduled statuses (the five-minute rule, list, move,
 * cancel; the worker publishes when due — the clock moved in the row — and refuses for a person
 * removed from the group meanwhile; two workers claiming at once publish once).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRestAPIClient, type mastodon, MastoHttpError } from "masto";
import { IsNull } from "typeorm";
import { OutboundReactionSchema, ScheduledSchema } from "../../src/api/records.ts";
import { scheduledStatusWorker } from "../../src/api/slice2.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { FollowerSchema, InboundSchema, PostSchema, ReactionSchema } from "../../src/federation/entities.ts";
import type { RunningServer } from "../../src/server.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { apiToken } from "../helpers/api-token.ts";
import { type Instance, startInstance } from "../helpers/instance.ts";

const scimActor = { name: "scim-token:test" };

const token = (s: RunningServer, personId: string, accountId: string) =>
  apiToken(s, personId, accountId, { app: "Slice2" });

async function refused(p: Promise<unknown>, status: number, error?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MastoHttpError, String(e));
    assert.equal(e.statusCode, status, e.message);
    if (error) assert.match(e.message, error);
    return true;
  });
}

describe(`the client API, slice 2, through masto on ${TEST_DB}`, () => {
  let a: Instance;
  let b: Instance;
  let recruitingId: string;
  let newsId: string;
  let janeId: string;
  let groupId: string;
  let jane: ReturnType<typeof createRestAPIClient>;
  let janeToken: string;
  const get = (path: string) =>
    fetch(`${a.origin}${path}`, { headers: { authorization: `Bearer ${janeToken}` } });

  before(async () => {
    a = await startInstance("Alpha Corp");
    b = await startInstance("Beta Corp");
    janeId = String(
      (await a.s.services.scim.createUser({ userName: "jane@corp.example", displayName: "Jane" }, scimActor))
        .id,
    );
    groupId = String(
      (
        await a.s.services.scim.createGroup(
          { displayName: "Recruiting", members: [{ value: janeId }] },
          scimActor,
        )
      ).id,
    );
    const r = await a.s.services.accounts.createShared("recruiting", "Alpha Recruiting", "test");
    const n = await b.s.services.accounts.createShared("news", "Beta News", "test");
    assert.ok(r.ok && n.ok);
    recruitingId = r.actor.id;
    newsId = n.actor.id;
    const subject = await a.s.services.authz.resolveSubject("Recruiting");
    assert.ok(!("error" in subject));
    assert.ok((await a.s.services.authz.grant(subject, "admin", r.actor, "test")).ok);
    for (const [i, id] of [
      [a, recruitingId],
      [b, newsId],
    ] as const)
      await waitFor(async () => (await i.s.services.accounts.byId(id))?.keysReadyAt ?? undefined, {
        timeoutMs: 60_000,
        what: "keys",
      });
    janeToken = await token(a.s, janeId, recruitingId);
    jane = createRestAPIClient({ url: a.origin, accessToken: janeToken });
  });

  after(async () => {
    for (const i of [a, b]) {
      await i?.s.shutdown("test");
      await i?.fresh.cleanup();
    }
  });

  test("ids are numeric strings in time order; max_id, since_id, min_id and the Link header", async () => {
    const made: mastodon.v1.Status[] = [];
    for (const n of [1, 2, 3, 4, 5]) made.push(await jane.v1.statuses.create({ status: `Post ${n}` }));
    for (const s of made) assert.match(s.id, /^\d{16}$/);
    const ids = made.map((s) => BigInt(s.id));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], "each id above the one before");
    // The UUID stays in the ActivityPub id.
    const row = await a.s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneByOrFail({ apiId: Number(made[0].id) }),
    );
    assert.equal(made[0].uri, `${a.origin}/ap/posts/${row.id}`);

    const first = await get("/api/v1/timelines/home?limit=2");
    const page1 = (await first.json()) as { id: string }[];
    assert.deepEqual(
      page1.map((s) => s.id),
      [made[4].id, made[3].id],
    );
    assert.equal(
      first.headers.get("link"),
      `<${a.origin}/api/v1/timelines/home?limit=2&max_id=${made[3].id}>; rel="next", <${a.origin}/api/v1/timelines/home?limit=2&min_id=${made[4].id}>; rel="prev"`,
    );
    const older = (await (await get(`/api/v1/timelines/home?limit=2&max_id=${made[3].id}`)).json()) as {
      id: string;
    }[];
    assert.deepEqual(
      older.map((s) => s.id),
      [made[2].id, made[1].id],
    );
    const since = (await (await get(`/api/v1/timelines/home?since_id=${made[2].id}`)).json()) as {
      id: string;
    }[];
    assert.deepEqual(
      since.map((s) => s.id),
      [made[4].id, made[3].id],
    );
    // min_id: the page just above the cursor, newest first.
    const min = (await (await get(`/api/v1/timelines/home?min_id=${made[0].id}&limit=2`)).json()) as {
      id: string;
    }[];
    assert.deepEqual(
      min.map((s) => s.id),
      [made[2].id, made[1].id],
    );
    assert.equal((await jane.v1.statuses.$select(made[2].id).fetch()).content, "<p>Post 3</p>");
    const seen: string[] = [];
    for await (const batch of jane.v1.accounts.$select(recruitingId).statuses.list({ limit: 2 }))
      seen.push(...batch.map((s) => s.id));
    assert.deepEqual(seen, made.map((s) => s.id).reverse());
    assert.equal((await get("/api/v1/timelines/home?max_id=not-an-id")).status, 200);
    assert.deepEqual(await (await get("/api/v1/timelines/home?max_id=not-an-id")).json(), []);
  });

  test("a second server follows, likes, boosts and replies: notifications, context, followers, home", async () => {
    const post = await jane.v1.statuses.create({ status: "We are hiring engineers! #hiring" });
    const postRow = await a.s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneByOrFail({ apiId: Number(post.id) }),
    );
    const recruitingIri = `${a.origin}/ap/actors/${recruitingId}`;
    const newsIri = `${b.origin}/ap/actors/${newsId}`;
    assert.ok((await b.s.services.posting.follow(newsId, recruitingIri)).ok);
    // And @recruiting follows @news back, so that @news's posts reach its home timeline.
    assert.ok((await a.s.services.posting.follow(recruitingId, newsIri)).ok);
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(FollowerSchema).existsBy({ actorId: recruitingId, status: "accepted" }),
        )) || undefined,
      { what: "the follow at A" },
    );
    const bctx = b.s.services.federation.createContext(new URL(b.origin), { requestId: "test" });
    const { Like, Announce } = await import("@fedify/vocab");
    const recruiter = await bctx.lookupObject(recruitingIri);
    assert.ok(recruiter);
    const noteIri = new URL(`${a.origin}/ap/posts/${postRow.id}`);
    await bctx.sendActivity(
      { identifier: newsId },
      recruiter as never,
      new Like({ id: new URL(`${b.origin}/test/like/1`), actor: bctx.getActorUri(newsId), object: noteIri }),
    );
    // One after the other, so that their ids (and the notifications' order) are known.
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(ReactionSchema).countBy({ postId: postRow.id }),
        )) === 1 || undefined,
      { what: "the like at A" },
    );
    await bctx.sendActivity(
      { identifier: newsId },
      recruiter as never,
      new Announce({
        id: new URL(`${b.origin}/test/announce/1`),
        actor: bctx.getActorUri(newsId),
        object: noteIri,
      }),
    );
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(ReactionSchema).countBy({ postId: postRow.id }),
        )) === 2 || undefined,
      { what: "the boost at A" },
    );
    const reply = await b.s.services.posting.post({
      actorId: newsId,
      text: "Congratulations on growing!",
      author: { personId: null, label: "cli:test" },
      inReplyTo: noteIri.href,
    });
    assert.ok(reply.ok);
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(ReactionSchema).countBy({ postId: postRow.id }),
        )) === 2 &&
        (await a.s.services.db.run((em) =>
          em
            .getRepository(InboundSchema)
            .existsBy({ actorId: recruitingId, kind: "reply", deletedAt: IsNull() }),
        ))
          ? true
          : undefined,
      { what: "the like, the boost and the reply at A" },
    );
    const newsPost = await b.s.services.posting.post({
      actorId: newsId,
      text: "Beta News: quarterly results",
      author: { personId: null, label: "cli:test" },
    });
    assert.ok(newsPost.ok);
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em.getRepository(InboundSchema).existsBy({ actorId: recruitingId, kind: "post" }),
        )) || undefined,
      { what: "@news's post in @recruiting's inbox" },
    );

    const all = await jane.v1.notifications.list({ limit: 40 });
    assert.deepEqual(
      all.map((n) => n.type),
      ["mention", "reblog", "favourite", "follow"],
    );
    for (const n of all) assert.equal(n.account.acct, `news@${new URL(b.origin).host}`);
    assert.equal(all[0].account.displayName, "Beta News");
    const mention = all[0];
    assert.equal(mention.status?.inReplyToId, post.id);
    assert.match(mention.status?.content ?? "", /Congratulations on growing!/);
    assert.equal(all[1].status?.id, post.id);
    const ids = all.map((n) => BigInt(n.id));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] < ids[i - 1], "newest first");

    const onlyMentions = await jane.v1.notifications.list({ types: ["mention"] });
    assert.deepEqual(
      onlyMentions.map((n) => n.id),
      [mention.id],
    );
    const noReactions = await jane.v1.notifications.list({ excludeTypes: ["favourite", "reblog"] });
    assert.deepEqual(
      noReactions.map((n) => n.type),
      ["mention", "follow"],
    );
    const paged = await get("/api/v1/notifications?limit=2");
    assert.deepEqual(
      ((await paged.json()) as { id: string }[]).map((n) => n.id),
      [all[0].id, all[1].id],
    );
    assert.match(paged.headers.get("link") ?? "", new RegExp(`max_id=${all[1].id}>; rel="next"`));
    assert.equal((await jane.v1.notifications.$select(all[2].id).fetch()).type, "favourite");

    // The status in its context: the reply received is a descendant.
    const context = await jane.v1.statuses.$select(post.id).context.fetch();
    assert.deepEqual(context.ancestors, []);
    assert.deepEqual(
      context.descendants.map((s) => s.id),
      [mention.status?.id],
    );
    const fromReply = await jane.v1.statuses.$select(mention.status!.id).context.fetch();
    assert.deepEqual(
      fromReply.ancestors.map((s) => s.id),
      [post.id],
    );
    const counted = await jane.v1.statuses.$select(post.id).fetch();
    assert.equal(counted.favouritesCount, 1);
    assert.equal(counted.reblogsCount, 1);
    assert.equal(counted.repliesCount, 1);

    const followers = await jane.v1.accounts.$select(recruitingId).followers.list();
    assert.deepEqual(
      followers.map((f) => f.acct),
      [`news@${new URL(b.origin).host}`],
    );
    const [rel] = await jane.v1.accounts.relationships.fetch({ id: [followers[0].id] });
    assert.equal(rel.followedBy, true);
    assert.equal(rel.following, true);

    // Home: @recruiting's own posts and @news's post, by id.
    const home = await jane.v1.timelines.home.list({ limit: 3 });
    assert.equal(home[0].content.includes("quarterly results"), true);
    assert.equal(home[0].account.acct, `news@${new URL(b.origin).host}`);
    assert.equal(home[1].id, post.id);

    // A reply to the remote reply reaches B.
    const answer = await jane.v1.statuses.create({ status: "Thank you!", inReplyToId: mention.status!.id });
    assert.equal(answer.inReplyToId, mention.status!.id);
    await waitFor(
      async () =>
        (await b.s.services.db.run((em) =>
          em.getRepository(InboundSchema).existsBy({ actorId: newsId, kind: "reply" }),
        )) || undefined,
      { what: "the answer at B" },
    );

    // Favourite and boost of the remote reply: Like and Announce reach B; undone, they are gone.
    const faved = await jane.v1.statuses.$select(mention.status!.id).favourite();
    assert.equal(faved.favourited, true);
    const boosted = await jane.v1.statuses.$select(mention.status!.id).reblog();
    assert.equal(boosted.reblogged, true);
    // As on Mastodon: the boost is a status of @recruiting's own wrapping the remote reply, once on
    // its home timeline (by its own id) until it is undone.
    assert.notEqual(boosted.id, mention.status!.id);
    assert.equal(boosted.account.id, post.account.id);
    assert.equal(boosted.reblog?.id, mention.status!.id);
    assert.equal(boosted.reblog?.reblogged, true);
    assert.equal(boosted.reblog?.account.acct, mention.status!.account.acct);
    const boostsHome = async () =>
      (await jane.v1.timelines.home.list({ limit: 40 }))
        .filter((x) => x.reblog?.id === mention.status!.id)
        .map((x) => x.id);
    assert.deepEqual(await boostsHome(), [boosted.id]);
    const replyPostId = reply.ok ? reply.post.id : "";
    const reactionsAtB = () =>
      b.s.services.db.run((em) => em.getRepository(ReactionSchema).countBy({ postId: replyPostId }));
    await waitFor(async () => ((await reactionsAtB()) === 2 ? true : undefined), {
      what: "the Like and the Announce at B",
    });
    assert.equal((await jane.v1.statuses.$select(mention.status!.id).unfavourite()).favourited, false);
    assert.equal((await jane.v1.statuses.$select(mention.status!.id).unreblog()).reblogged, false);
    assert.deepEqual(await boostsHome(), []);
    await waitFor(async () => ((await reactionsAtB()) === 0 ? true : undefined), { what: "the Undos at B" });
    // @recruiting may favourite its own post too (counted; no notification to itself, below).
    const ownFave = await jane.v1.statuses.$select(post.id).favourite();
    assert.equal(ownFave.favourited, true);
    assert.equal(ownFave.favouritesCount, 2);

    // An edit of the answer: a new version, federated as an Update to B, which has it.
    const edited = await jane.v1.statuses.$select(answer.id).update({ status: "Thank you, Beta!" });
    assert.equal(edited.id, answer.id);
    assert.ok(edited.editedAt);
    await waitFor(
      async () =>
        /Thank you, Beta!/.test(
          (
            await b.s.services.db.run((em) =>
              em.getRepository(InboundSchema).findOneBy({ actorId: newsId, kind: "reply" }),
            )
          )?.contentHtml ?? "",
        ) || undefined,
      { what: "the Update at B" },
    );

    // Conversations: none (no direct messages); dismiss one notification; clear the rest.
    assert.deepEqual(await jane.v1.conversations.list(), []);
    await jane.v1.notifications.$select(all[3].id).dismiss();
    assert.deepEqual(
      (await jane.v1.notifications.list()).map((n) => n.type),
      ["mention", "reblog", "favourite"],
    );
    await refused(jane.v1.notifications.$select(all[3].id).fetch(), 404);
    await jane.v1.notifications.clear();
    assert.deepEqual(await jane.v1.notifications.list(), []);

    // A followers-only post of @news, received because @recruiting follows it: it may be
    // favourited, never boosted (a boost would pass it on to @recruiting's followers and the public).
    const privatePost = await b.s.services.posting.post({
      actorId: newsId,
      text: "Beta News, for followers only",
      author: { personId: null, label: "cli:test" },
      visibility: "followers",
    });
    assert.ok(privatePost.ok);
    const received = await waitFor(
      async () =>
        (await jane.v1.timelines.home.list({ limit: 40 })).find((x) => /for followers only/.test(x.content)),
      { what: "@news's followers-only post in @recruiting's home timeline" },
    );
    assert.equal(received.visibility, "private");
    await refused(jane.v1.statuses.$select(received.id).reblog(), 403);
    assert.equal((await jane.v1.statuses.$select(received.id).favourite()).favourited, true);
    const privateAtB = () =>
      b.s.services.db.run((em) =>
        em.getRepository(ReactionSchema).findBy({ postId: privatePost.ok ? privatePost.post.id : "" }),
      );
    await waitFor(async () => ((await privateAtB()).length === 1 ? true : undefined), {
      what: "the Like of the followers-only post at B",
    });
    assert.deepEqual(
      (await privateAtB()).map((r) => r.kind),
      ["like"],
    );
    assert.equal(
      await a.s.services.db.run((em) =>
        em.getRepository(OutboundReactionSchema).countBy({ accountId: recruitingId, kind: "announce" }),
      ),
      0,
    );
  });

  test("markers, search and update_credentials", async () => {
    assert.deepEqual(await jane.v1.markers.fetch({ timeline: ["home"] }), {});
    const saved = await jane.v1.markers.create({ home: { lastReadId: "123456" } });
    assert.equal(saved.home.lastReadId, "123456");
    assert.equal(saved.home.version, 1);
    const again = await jane.v1.markers.create({ home: { lastReadId: "123457" } });
    assert.equal(again.home.version, 2);
    assert.equal((await jane.v1.markers.fetch({ timeline: ["home"] })).home.lastReadId, "123457");

    const local = await jane.v2.search.list({ q: "recr", type: "accounts" });
    assert.deepEqual(
      local.accounts.map((x) => x.acct),
      ["recruiting"],
    );
    const host = new URL(b.origin).host;
    // Known from the previous test (WebFinger itself needs https, which loopback servers lack).
    const remote = await jane.v2.search.list({ q: `@news@${host}`, type: "accounts", resolve: true });
    assert.deepEqual(
      remote.accounts.map((x) => x.acct),
      [`news@${host}`],
    );
    assert.deepEqual(remote.statuses, []);
    const byName = await jane.v2.search.list({ q: "news", type: "accounts" });
    assert.deepEqual(
      byName.accounts.map((x) => x.acct),
      [`news@${host}`],
    );

    const me = await jane.v1.accounts.updateCredentials({ displayName: "Alpha Careers", note: "Join us" });
    assert.equal(me.displayName, "Alpha Careers");
    assert.equal(me.source?.note, "Join us");
    assert.equal((await a.s.services.accounts.byId(recruitingId))?.displayName, "Alpha Careers");
  });

  test("scheduled statuses: five minutes ahead, list, move, cancel; the worker publishes when due", async () => {
    await refused(
      jane.v1.statuses.create({
        status: "too soon",
        scheduledAt: new Date(Date.now() + 60_000).toISOString(),
      }),
      422,
      /at least 5 minutes/,
    );
    const at = new Date(Date.now() + 10 * 60_000);
    const scheduled = (await jane.v1.statuses.create({
      status: "Scheduled hello",
      scheduledAt: at.toISOString(),
    })) as unknown as { id: string; scheduled_at?: string; scheduledAt?: string; params: { text: string } };
    assert.match(scheduled.id, /^\d+$/);
    assert.equal(scheduled.params.text, "Scheduled hello");
    const listed = await jane.v1.scheduledStatuses.list();
    assert.deepEqual(
      listed.map((x) => x.id),
      [scheduled.id],
    );
    const later = new Date(Date.now() + 20 * 60_000);
    const moved = await jane.v1.scheduledStatuses
      .$select(scheduled.id)
      .update({ scheduledAt: later.toISOString() });
    assert.equal(moved.scheduledAt, later.toISOString());
    const cancel = (await jane.v1.statuses.create({
      status: "Never mind",
      scheduledAt: later.toISOString(),
    })) as unknown as { id: string };
    await jane.v1.scheduledStatuses.$select(cancel.id).remove();
    await refused(jane.v1.scheduledStatuses.$select(cancel.id).fetch(), 404);

    // Due now: the clock moved in the row (clients cannot schedule under five minutes).
    const byId = () =>
      a.s.services.db.run((em) =>
        em.getRepository(ScheduledSchema).findOneByOrFail({ id: Number(scheduled.id) }),
      );
    await a.s.services.db.run((em) =>
      em
        .getRepository(ScheduledSchema)
        .update({ id: Number(scheduled.id) }, { scheduledAt: new Date(Date.now() - 1000) }),
    );
    const done = await waitFor(async () => ((await byId()).state === "published" ? byId() : undefined), {
      what: "the worker to publish the scheduled status",
    });
    const published = await a.s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneByOrFail({ id: done.postId! }),
    );
    assert.equal(published.contentText, "Scheduled hello");
    assert.equal(published.authorPersonId, janeId);
    assert.equal(published.actorId, recruitingId);
    assert.deepEqual(await jane.v1.scheduledStatuses.list(), []);

    // Removed from the group before it is due: not published, and why is recorded.
    const refusedOne = (await jane.v1.statuses.create({
      status: "After leaving",
      scheduledAt: later.toISOString(),
    })) as unknown as { id: string };
    await a.s.services.scim.patchGroup(
      groupId,
      [{ op: "remove", path: "members", value: [{ value: janeId }] }],
      scimActor,
    );
    await a.s.services.db.run((em) =>
      em
        .getRepository(ScheduledSchema)
        .update({ id: Number(refusedOne.id) }, { scheduledAt: new Date(Date.now() - 1000) }),
    );
    const r = await waitFor(
      async () => {
        const row = await a.s.services.db.run((em) =>
          em.getRepository(ScheduledSchema).findOneByOrFail({ id: Number(refusedOne.id) }),
        );
        return row.state === "refused" ? row : undefined;
      },
      { what: "the refusal" },
    );
    assert.equal(r.outcome, "jane@corp.example may no longer act for @recruiting");
    assert.equal(r.postId, null);
    const audit = await a.s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).findBy({ action: "api.scheduled.refused", targetId: refusedOne.id }),
    );
    assert.equal(audit.length, 1);
    await a.s.services.scim.patchGroup(
      groupId,
      [{ op: "add", path: "members", value: [{ value: janeId }] }],
      scimActor,
    );
  });

  test("two workers claiming the same due statuses publish each exactly once", async () => {
    const rows = [];
    for (const n of [1, 2, 3, 4])
      rows.push(
        (await jane.v1.statuses.create({
          status: `Race ${n}`,
          scheduledAt: new Date(Date.now() + 3_600_000).toISOString(),
        })) as unknown as { id: string },
      );
    // Stop the server's own worker from taking them: it only looks while it holds the lease,
    // and these workers look at a time the rows are due for them alone.
    const when = new Date(Date.now() + 2 * 3_600_000);
    const w1 = scheduledStatusWorker(a.s.services, "test-1", () => true);
    const w2 = scheduledStatusWorker(a.s.services, "test-2", () => true);
    const [p1, p2] = await Promise.all([w1.publishDue(when), w2.publishDue(when)]);
    assert.equal(p1.length + p2.length, 4, "every row claimed once");
    assert.equal(new Set([...p1, ...p2]).size, 4);
    const posts = await a.s.services.db.run((em) =>
      em
        .getRepository(PostSchema)
        .createQueryBuilder("p")
        .where("p.content_text LIKE :race", { race: "Race %" })
        .getCount(),
    );
    assert.equal(posts, 4);
    for (const r of rows) {
      const row = await a.s.services.db.run((em) =>
        em.getRepository(ScheduledSchema).findOneByOrFail({ id: Number(r.id) }),
      );
      assert.equal(row.state, "published");
      assert.ok(row.claimedBy === "test-1" || row.claimedBy === "test-2");
    }
  });
});
