/**
 * Pictures beyond a plain post, between two Heralds on loopback (Alpha and Beta):
 *
 * - Beta's @news posts an image; Alpha's @recruiting follows it and keeps the image as metadata
 *   only (remote URL, alt text, blurhash, size: never fetched), shown as a MediaAttachment
 *   (remote_url) in Alpha's API and counted by `only_media`.
 * - Dora, who may only draft for Alpha's @recruiting, replies to it through the client API with two
 *   images: 202 pending, the draft holds them (not swept while it waits), Jane sees them with
 *   their alt text on the approval page and approves; the reply carries them as Documents to
 *   Beta, whose staff inbox, statuses, notifications and context show them. The archive lists the
 *   images (file hash, alt text) in the draft's and the approval's records.
 * - A rejected (or discarded) draft's image is swept at once.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { In } from "typeorm";
import { appTokenCreate } from "../../src/api/cli.ts";
import { ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { DraftSchema } from "../../src/federation/drafts.ts";
import { FollowingSchema, InboundSchema, PostSchema } from "../../src/federation/entities.ts";
import { remoteMedia } from "../../src/federation/remote-media.ts";
import { attachedMedia, MediaSchema } from "../../src/media/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { type Instance, startInstance } from "../helpers/instance.ts";
import type { TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

const scim = { name: "scim-token:test" };
const DAY = 24 * 3600_000;

const png = (background: string, width = 900, height = 600) =>
  sharp({ create: { width, height, channels: 3, background } })
    .png()
    .toBuffer();

/** An API call with a bearer token, its JSON answer. */
async function api(i: Instance, token: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${i.origin}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & unknown[] };
}

async function upload(i: Instance, token: string, image: Buffer, description: string): Promise<string> {
  const form = new FormData();
  form.set("file", new Blob([new Uint8Array(image)], { type: "image/png" }), "image.png");
  form.set("description", description);
  const r = await api(i, token, "/api/v2/media", { method: "POST", body: form });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return String(r.body.id);
}

const postJson = (body: Record<string, unknown>): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

const archived = async (i: Instance, kind: string, subjectId: string) => {
  const row = await i.s.services.db.run((em) =>
    em.getRepository(ArchiveRecordSchema).findOneBy({ kind, subjectId }),
  );
  assert.ok(row, `the archive's ${kind} record`);
  return JSON.parse(row.content) as { media?: unknown };
};

describe(`a drafter's images and a remote post's images between two Heralds (${TEST_DB})`, () => {
  let a: Instance;
  let b: Instance;
  const ids: Record<string, string> = {};
  let recruitingId: string;
  let newsId: string;
  let doraToken: string;
  let bobToken: string;
  let janeToken: string;
  /** Beta's post with an image, as Alpha's API numbers it. */
  let betaStatusAtA: string;

  before(async () => {
    a = await startInstance("Alpha Corp");
    b = await startInstance("Beta Corp");
    for (const [i, who] of [
      [a, "jane"],
      [a, "dora"],
      [b, "bob"],
    ] as const)
      ids[who] = String(
        (await i.s.services.scim.createUser({ userName: `${who}@corp.example`, displayName: who }, scim)).id,
      );
    const r = await a.s.services.accounts.createShared("recruiting", "Alpha Recruiting", "test");
    const n = await b.s.services.accounts.createShared("news", "Beta News", "test");
    assert.ok(r.ok && n.ok);
    recruitingId = r.actor.id;
    newsId = n.actor.id;
    const grant = async (i: Instance, who: string, role: string, account: typeof r.actor) => {
      const subject = await i.s.services.authz.resolveSubject(`user:${who}@corp.example`);
      assert.ok(!("error" in subject));
      assert.ok((await i.s.services.authz.grant(subject, role, account, "test")).ok);
    };
    await grant(a, "jane", "admin", r.actor);
    await grant(a, "dora", "drafter", r.actor);
    await grant(b, "bob", "admin", n.actor);
    for (const [i, handle] of [
      [a, "recruiting"],
      [b, "news"],
    ] as const)
      await waitFor(async () => (await i.s.services.accounts.byHandle(handle))?.keysReadyAt ?? undefined, {
        timeoutMs: 60_000,
        what: `@${handle}'s keys`,
      });
    const token = async (i: Instance, who: string, account: string) => {
      const t = await appTokenCreate(i.s.services, {
        userName: `${who}@corp.example`,
        account,
        scopes: "read write",
        by: "test",
      });
      assert.ok(t.ok, t.ok ? "" : t.message);
      return t.token;
    };
    doraToken = await token(a, "dora", "recruiting");
    janeToken = await token(a, "jane", "recruiting");
    bobToken = await token(b, "bob", "news");
    // Each follows the other.
    assert.ok((await a.s.services.posting.follow(recruitingId, `${b.origin}/ap/actors/${newsId}`)).ok);
    assert.ok((await b.s.services.posting.follow(newsId, `${a.origin}/ap/actors/${recruitingId}`)).ok);
    for (const [i, actorId] of [
      [a, recruitingId],
      [b, newsId],
    ] as const)
      await waitFor(
        async () =>
          (await i.s.services.db.run((em) => em.getRepository(FollowingSchema).findOneBy({ actorId })))
            ?.status === "accepted" || undefined,
        { what: "the follow to be accepted" },
      );
  });
  after(async () => {
    for (const i of [a, b]) {
      await i?.s.shutdown("test");
      await i?.fresh.cleanup();
    }
  });

  test("Beta's image reaches Alpha as metadata: remote URL, alt text, blurhash, size", async () => {
    const image = await upload(b, bobToken, await png("#1a5fb4", 1200, 800), "Beta's booth at the fair");
    const posted = await api(
      b,
      bobToken,
      "/api/v1/statuses",
      postJson({ status: "Our stand", media_ids: [image] }),
    );
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    const plain = await api(b, bobToken, "/api/v1/statuses", postJson({ status: "No picture today" }));
    assert.equal(plain.status, 200);
    const row = await b.s.services.db.run((em) =>
      em.getRepository(MediaSchema).findOneByOrFail({ id: image }),
    );

    const received = await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em
            .getRepository(InboundSchema)
            .findOneBy({ actorId: recruitingId, objectIri: String(posted.body.uri) }),
        )) ?? undefined,
      { what: "Beta's post at Alpha" },
    );
    await waitFor(
      async () =>
        (await a.s.services.db.run((em) =>
          em
            .getRepository(InboundSchema)
            .existsBy({ actorId: recruitingId, objectIri: String(plain.body.uri) }),
        )) || undefined,
      { what: "Beta's plain post at Alpha" },
    );
    assert.equal(received.kind, "post");
    assert.deepEqual(remoteMedia(received), [
      {
        url: `${b.origin}/media/${image}/original.png`,
        mediaType: "image/png",
        description: "Beta's booth at the fair",
        blurhash: row.blurhash,
        width: 1200,
        height: 800,
      },
    ]);

    // Alpha's API: the home timeline shows it as a MediaAttachment pointing at Beta.
    const home = await api(a, janeToken, "/api/v1/timelines/home");
    const status = (
      home.body as { uri: string; id: string; media_attachments: Record<string, unknown>[] }[]
    ).find((x) => x.uri === posted.body.uri);
    assert.ok(status);
    betaStatusAtA = status.id;
    assert.equal(status.media_attachments.length, 1);
    const [m] = status.media_attachments;
    assert.equal(m.type, "image");
    assert.equal(m.url, `${b.origin}/media/${image}/original.png`);
    assert.equal(m.remote_url, `${b.origin}/media/${image}/original.png`);
    assert.equal(m.description, "Beta's booth at the fair");
    assert.equal(m.blurhash, row.blurhash);
    assert.deepEqual(m.meta, { original: { width: 1200, height: 800, size: "1200x800", aspect: 1.5 } });
    const one = await api(a, janeToken, `/api/v1/statuses/${betaStatusAtA}`);
    assert.equal((one.body.media_attachments as unknown[]).length, 1);
  });

  test("a drafter's reply with two images waits with them, is approved, and reaches Beta with them", async () => {
    const first = await upload(a, doraToken, await png("#26a269"), "Our recruiters, waving");
    const second = await upload(a, doraToken, await png("#e5a50a", 600, 900), "The office kitchen");
    const made = await api(
      a,
      doraToken,
      "/api/v1/statuses",
      postJson({
        status: "We are at the fair too!",
        in_reply_to_id: betaStatusAtA,
        media_ids: [first, second],
      }),
    );
    assert.equal(made.status, 202, JSON.stringify(made.body));
    assert.deepEqual((made.body.herald as { pending_approval: boolean }).pending_approval, true);
    const draftId = String(made.body.id);
    assert.deepEqual(
      (made.body.media_attachments as { id: string; description: string }[]).map((m) => [
        m.id,
        m.description,
      ]),
      [
        [first, "Our recruiters, waving"],
        [second, "The office kitchen"],
      ],
    );
    const held = await a.s.services.db.run((em) =>
      em.getRepository(MediaSchema).findBy({ id: In([first, second]) }),
    );
    assert.deepEqual(
      held.map((m) => [m.draftId, m.postId]),
      [
        [draftId, null],
        [draftId, null],
      ],
    );
    // Held by a waiting draft: not swept, even two days on; nor attachable by another post.
    assert.equal(await a.s.services.media.sweep(Date.now() + 2 * DAY), 0);
    assert.equal((await fetch(`${a.origin}/media/${first}/small.png`)).status, 200);
    const janeTakes = await api(
      a,
      janeToken,
      "/api/v1/statuses",
      postJson({ status: "Mine", media_ids: [first] }),
    );
    assert.equal(janeTakes.status, 422);

    const sha = Object.fromEntries(held.map((m) => [m.id, m.sha256]));
    const mediaRecord = [
      { id: first, sha256: sha[first], format: "png", description: "Our recruiters, waving" },
      { id: second, sha256: sha[second], format: "png", description: "The office kitchen" },
    ];
    assert.deepEqual((await archived(a, "draft.create", draftId)).media, mediaRecord);

    // The approval page shows the images with their alt text, in order.
    const jane = await signInByLink({ ...a.s, close: async () => undefined } as TestServer, ids.jane);
    const queue = await (
      await fetch(`${a.origin}/app?account=${recruitingId}`, { headers: { cookie: jane.cookie } })
    ).text();
    const shown = [...queue.matchAll(/<img\s+src="\/media\/([0-9a-f-]+)\/small\.png"\s+alt="([^"]*)"/g)].map(
      (m) => [m[1], m[2]],
    );
    assert.deepEqual(shown, [
      [first, "Our recruiters, waving"],
      [second, "The office kitchen"],
    ]);
    assert.ok(queue.includes(`action="/app/drafts/${draftId}/decide"`));

    const decided = await fetch(`${a.origin}/app/drafts/${draftId}/decide`, {
      method: "POST",
      headers: { cookie: jane.cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf: jane.csrf, verdict: "approve", comment: "Nice" }),
      redirect: "manual",
    });
    assert.equal(decided.status, 303, await decided.clone().text());
    const draft = await a.s.services.db.run((em) =>
      em.getRepository(DraftSchema).findOneByOrFail({ id: draftId }),
    );
    assert.equal(draft.status, "approved");
    const post = await a.s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneByOrFail({ id: draft.postId! }),
    );
    assert.deepEqual(
      attachedMedia(post).map((m) => [m.id, m.description]),
      [
        [first, "Our recruiters, waving"],
        [second, "The office kitchen"],
      ],
    );
    const attached = await a.s.services.db.run((em) =>
      em.getRepository(MediaSchema).findBy({ id: In([first, second]) }),
    );
    assert.deepEqual(
      attached.map((m) => [m.draftId, m.postId]),
      [
        [null, post.id],
        [null, post.id],
      ],
    );
    assert.deepEqual((await archived(a, "draft.approve", draftId)).media, mediaRecord);

    // Beta: a reply to @news, its two images as Alpha's Documents described them.
    const inbound = await waitFor(
      async () =>
        (await b.s.services.db.run((em) =>
          em.getRepository(InboundSchema).findOneBy({ actorId: newsId, kind: "reply" }),
        )) ?? undefined,
      { what: "the approved reply at Beta" },
    );
    const blurhash = Object.fromEntries(held.map((m) => [m.id, m.blurhash]));
    assert.deepEqual(remoteMedia(inbound), [
      {
        url: `${a.origin}/media/${first}/original.png`,
        mediaType: "image/png",
        description: "Our recruiters, waving",
        blurhash: blurhash[first],
        width: 900,
        height: 600,
      },
      {
        url: `${a.origin}/media/${second}/original.png`,
        mediaType: "image/png",
        description: "The office kitchen",
        blurhash: blurhash[second],
        width: 600,
        height: 900,
      },
    ]);
    // The staff inbox: each image from Alpha, with its alt text.
    const bob = await signInByLink({ ...b.s, close: async () => undefined } as TestServer, ids.bob);
    const inbox = await (
      await fetch(`${b.origin}/app/inbox?account=${newsId}`, { headers: { cookie: bob.cookie } })
    ).text();
    const imgs = [...inbox.matchAll(/<img\s+src="([^"]+)"\s+alt="([^"]*)"/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(imgs, [
      [`${a.origin}/media/${first}/original.png`, "Our recruiters, waving"],
      [`${a.origin}/media/${second}/original.png`, "The office kitchen"],
    ]);
    // The client API: notifications, the status, its thread.
    const urls = (s: { media_attachments: { remote_url: string; description: string }[] }) =>
      s.media_attachments.map((m) => [m.remote_url, m.description]);
    const expected = [
      [`${a.origin}/media/${first}/original.png`, "Our recruiters, waving"],
      [`${a.origin}/media/${second}/original.png`, "The office kitchen"],
    ];
    const notes = await api(b, bobToken, "/api/v1/notifications?types[]=mention");
    assert.equal(notes.body.length, 1);
    const status = (
      notes.body[0] as { status: Parameters<typeof urls>[0] & { id: string; in_reply_to_id: string } }
    ).status;
    assert.deepEqual(urls(status), expected);
    assert.deepEqual(urls((await api(b, bobToken, `/api/v1/statuses/${status.id}`)).body as never), expected);
    const context = await api(b, bobToken, `/api/v1/statuses/${status.in_reply_to_id}/context`);
    const descendants = (context.body as unknown as { descendants: Parameters<typeof urls>[0][] })
      .descendants;
    assert.equal(descendants.length, 1);
    assert.deepEqual(urls(descendants[0]), expected);
  });

  test("a rejected draft's image is swept at once", async () => {
    const image = await upload(a, doraToken, await png("#c01c28", 300, 200), "A blurry photo");
    const made = await api(
      a,
      doraToken,
      "/api/v1/statuses",
      postJson({ status: "Maybe this one", media_ids: [image] }),
    );
    assert.equal(made.status, 202);
    const draftId = String(made.body.id);
    assert.equal(await a.s.services.media.sweep(), 0, "held while it waits");
    const r = await a.s.services.drafts.decide(
      draftId,
      (await a.s.services.directory.personById(ids.jane))!,
      "reject",
      "Too blurry",
    );
    assert.ok(r.ok);
    const sha = (
      await a.s.services.db.run((em) => em.getRepository(MediaSchema).findOneByOrFail({ id: image }))
    ).sha256;
    assert.deepEqual((await archived(a, "draft.reject", draftId)).media, [
      { id: image, sha256: sha, format: "png", description: "A blurry photo" },
    ]);
    assert.equal(await a.s.services.media.sweep(), 1);
    assert.equal(await a.s.services.db.run((em) => em.getRepository(MediaSchema).countBy({ id: image })), 0);
    assert.equal((await fetch(`${a.origin}/media/${image}/small.png`)).status, 404);
  });

  test("a discarded draft's image is swept at once too", async () => {
    const image = await upload(a, doraToken, await png("#26a269", 300, 200), "Never to be posted");
    const made = await api(
      a,
      doraToken,
      "/api/v1/statuses",
      postJson({ status: "Gone", media_ids: [image] }),
    );
    assert.equal(made.status, 202);
    assert.equal(await a.s.services.media.sweep(), 0, "held while it waits");
    // Discarded as erasure discards a person's waiting drafts (src/identity/erase.ts).
    await a.s.services.db.run((em) =>
      em.getRepository(DraftSchema).update({ id: String(made.body.id) }, { status: "discarded" }),
    );
    assert.equal(await a.s.services.media.sweep(), 1);
    assert.equal(await a.s.services.db.run((em) => em.getRepository(MediaSchema).countBy({ id: image })), 0);
  });

  test("only_media: exactly the statuses with attachments", async () => {
    // Alpha's @recruiting: its own posts (the approved reply with images; one without) and what it
    // received from Beta (the post with an image; the plain one).
    const plain = await api(a, janeToken, "/api/v1/statuses", postJson({ status: "Text only" }));
    assert.equal(plain.status, 200);
    const count = async (path: string) => ((await api(a, janeToken, path)).body as unknown[]).length;
    assert.equal(await count("/api/v1/timelines/home"), 4);
    assert.equal(await count("/api/v1/timelines/home?only_media=true"), 2);
    assert.equal(await count(`/api/v1/accounts/${recruitingId}/statuses`), 2);
    assert.equal(await count(`/api/v1/accounts/${recruitingId}/statuses?only_media=true`), 1);
    assert.equal(await count("/api/v1/timelines/public"), 2);
    assert.equal(await count("/api/v1/timelines/public?only_media=true"), 1);
    const withImages = (await api(a, janeToken, "/api/v1/timelines/public?only_media=true")).body[0] as {
      media_attachments: unknown[];
    };
    assert.equal(withImages.media_attachments.length, 2);
  });

  test("a renamed account's waiting draft keeps its image, and approval publishes it", async () => {
    const created = await a.s.services.accounts.createShared("careers", "Alpha Careers", "test");
    assert.ok(created.ok);
    for (const [who, role] of [
      ["jane", "admin"],
      ["dora", "drafter"],
    ]) {
      const subject = await a.s.services.authz.resolveSubject(`user:${who}@corp.example`);
      assert.ok(!("error" in subject));
      assert.ok((await a.s.services.authz.grant(subject, role, created.actor, "test")).ok);
    }
    const t = await appTokenCreate(a.s.services, {
      userName: "dora@corp.example",
      account: "careers",
      scopes: "read write",
      by: "test",
    });
    assert.ok(t.ok, t.ok ? "" : t.message);
    const image = await upload(a, t.token, await png("#613583", 500, 500), "Our careers fair poster");
    const made = await api(
      a,
      t.token,
      "/api/v1/statuses",
      postJson({ status: "See you there", media_ids: [image] }),
    );
    assert.equal(made.status, 202);
    const renamed = await a.s.services.posting.rename("careers", "jobs", "cli:test");
    assert.ok(renamed.ok, renamed.message);
    const jobs = await waitFor(
      async () => {
        const actor = await a.s.services.accounts.byHandle("jobs");
        return actor?.keysReadyAt ? actor : undefined;
      },
      { timeoutMs: 60_000, what: "@jobs's keys" },
    );
    const r = await a.s.services.drafts.decide(
      String(made.body.id),
      (await a.s.services.directory.personById(ids.jane))!,
      "approve",
      "",
    );
    assert.ok(r.ok, r.ok ? "" : r.message);
    const post = await a.s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneByOrFail({ id: r.draft.postId! }),
    );
    assert.equal(post.actorId, jobs.id);
    assert.deepEqual(
      attachedMedia(post).map((m) => [m.id, m.description]),
      [[image, "Our careers fair poster"]],
    );
  });
});
