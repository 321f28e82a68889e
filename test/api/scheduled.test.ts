/**
 * Scheduled statuses, against a real Herald driven by masto: a claim left by a crashed worker is
 * taken over once it is CLAIM_TIMEOUT_MS old and published exactly once; a worker that wakes up
 * after its claim was taken over publishes nothing; `media_ids` are checked as for a post, held
 * (not swept, not attachable elsewhere) until the status is published (the post carries them),
 * filed as a draft (the draft holds them), cancelled (let go) or refused (swept at once).
 *
 * The server's own worker looks at the real clock: every row here is due, or claimed, an hour or
 * more ahead, so only the workers this test drives (with their own `now`) publish them.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRestAPIClient, type mastodon, MastoHttpError } from "masto";
import sharp from "sharp";
import { createApiAuth } from "../../src/api/auth.ts";
import { createPublisher, type Publisher } from "../../src/api/publish.ts";
import { ScheduledSchema } from "../../src/api/records.ts";
import {
  CLAIM_TIMEOUT_MS,
  createScheduledWorker,
  MAX_ATTEMPTS,
  RETRY_AFTER_MS,
} from "../../src/api/scheduled.ts";
import { scheduledStatusWorker } from "../../src/api/slice2.ts";
import { appTokenCreate } from "../../src/api/cli.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import {
  LEFT_BY_EARLIER_VERSION,
  settleEarlierRows,
} from "../../src/db/migrations/0029-scheduled-attempts.ts";
import { DraftSchema } from "../../src/federation/draft-entities.ts";
import { PostSchema } from "../../src/federation/entities.ts";
import { attachedMedia, MediaSchema } from "../../src/media/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const scimActor = { name: "scim-token:test" };
const HOUR = 3_600_000;

const png = async () =>
  new Blob([
    new Uint8Array(
      await sharp({ create: { width: 80, height: 40, channels: 3, background: { r: 200, g: 90, b: 20 } } })
        .png()
        .toBuffer(),
    ),
  ]);

async function refused(p: Promise<unknown>, status: number, error: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MastoHttpError, String(e));
    assert.equal(e.statusCode, status, e.message);
    assert.match(e.message, error);
    return true;
  });
}

describe(`scheduled statuses: taking over a crashed claim, and their images, on ${TEST_DB}`, () => {
  let s: TestServer;
  const ids: Record<string, string> = {};
  const client: Record<string, mastodon.rest.Client> = {};
  const tokens: Record<string, string> = {};

  /** A worker of this server's database that publishes through `publisher`. */
  const workerWith = (publisher: Publisher, holder: string, clock?: () => number) =>
    createScheduledWorker({
      db: s.services.db,
      auth: createApiAuth({
        oauth: s.services.oauth,
        directory: s.services.directory,
        accounts: s.services.accounts,
        authz: s.services.authz,
      }),
      oauth: s.services.oauth,
      publisher,
      media: s.services.media,
      holder,
      held: () => true,
      clock,
    });
  const rowOf = (id: string) =>
    s.services.db.run((em) => em.getRepository(ScheduledSchema).findOneByOrFail({ id: Number(id) }));
  const postsSaying = (text: string) =>
    s.services.db.run((em) => em.getRepository(PostSchema).findBy({ contentText: text }));
  const mediaRow = (id: string) => s.services.db.run((em) => em.getRepository(MediaSchema).findOneBy({ id }));
  /** Schedules `text` at `at` (ms) through the API; the ScheduledStatus as answered. */
  const schedule = async (who: string, text: string, at: number, mediaIds?: string[]) =>
    (await client[who].v1.statuses.create({
      status: text,
      scheduledAt: new Date(at).toISOString(),
      ...(mediaIds ? { mediaIds } : {}),
    })) as unknown as mastodon.v1.ScheduledStatus;

  before(async () => {
    s = await startTestServer();
    for (const who of ["jane", "pete", "dora"])
      ids[who] = String(
        (await s.services.scim.createUser({ userName: `${who}@corp.example`, displayName: who }, scimActor))
          .id,
      );
    const pr = await s.services.accounts.createShared("pr", "Corp PR", "test");
    assert.ok(pr.ok);
    const subject = await s.services.authz.resolveSubject("user:dora@corp.example");
    assert.ok(!("error" in subject));
    assert.ok((await s.services.authz.grant(subject, "drafter", pr.actor, "test")).ok);
    for (const handle of ["jane", "pete", "dora", "pr"])
      await waitFor(async () => (await s.services.accounts.byHandle(handle))?.keysReadyAt ?? undefined, {
        timeoutMs: 60_000,
        what: `@${handle}'s keys`,
      });
    for (const [who, account] of [
      ["jane", "jane"],
      ["pete", "pete"],
      ["dora", "pr"],
    ]) {
      const r = await appTokenCreate(s.services, {
        userName: `${who}@corp.example`,
        account,
        scopes: "read write",
        by: "test",
      });
      assert.ok(r.ok, r.ok ? "" : r.message);
      tokens[who] = r.token;
      client[who] = createRestAPIClient({ url: s.url, accessToken: r.token });
    }
  });
  after(async () => {
    await s?.close();
  });

  test("a claim left by a crashed worker is taken over after CLAIM_TIMEOUT_MS, and published once", async () => {
    const at = Date.now() + HOUR;
    const scheduled = await schedule("jane", "Published after a crash", at);
    // A worker claimed it at its time and died before publishing.
    await s.services.db.run((em) =>
      em.getRepository(ScheduledSchema).update(
        { id: Number(scheduled.id) },
        {
          state: "publishing",
          claimedBy: "crashed-worker",
          claimedAt: new Date(at),
          claimId: "00000000-0000-4000-8000-000000000000",
        },
      ),
    );
    const rescuer = scheduledStatusWorker(s.services, "rescuer", () => true);
    assert.deepEqual(await rescuer.publishDue(new Date(at + CLAIM_TIMEOUT_MS - 60_000)), []);
    assert.equal((await rowOf(scheduled.id)).claimedBy, "crashed-worker", "a young claim is left alone");
    assert.equal((await postsSaying("Published after a crash")).length, 0);

    assert.deepEqual(await rescuer.publishDue(new Date(at + CLAIM_TIMEOUT_MS + 1000)), [scheduled.id]);
    const posts = await postsSaying("Published after a crash");
    assert.equal(posts.length, 1);
    const row = await rowOf(scheduled.id);
    assert.deepEqual([row.state, row.claimedBy, row.postId], ["published", "rescuer", posts[0].id]);
    const audit = await s.services.db.run((em) =>
      em
        .getRepository(AuditEventSchema)
        .findBy({ action: "api.scheduled.reclaimed", targetId: scheduled.id }),
    );
    assert.equal(audit.length, 1);
    assert.equal((JSON.parse(audit[0].detail ?? "{}") as { from: string }).from, "crashed-worker");

    // Later rounds find nothing more to do.
    assert.deepEqual(await rescuer.publishDue(new Date(at + 3 * CLAIM_TIMEOUT_MS)), []);
    assert.equal((await postsSaying("Published after a crash")).length, 1);
  });

  test("a worker that wakes up after its claim was taken over publishes nothing", async () => {
    const at = Date.now() + 2 * HOUR;
    const scheduled = await schedule("jane", "Only one of us publishes this", at);
    // The slow worker stops between its claim and its post, until released.
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = createPublisher({ posting: s.services.posting, drafts: s.services.drafts });
    const slowPublisher: Publisher = {
      ...real,
      async publish(...args) {
        entered();
        await gate;
        return real.publish(...args);
      },
    };
    const slow = workerWith(slowPublisher, "slow");
    const slowRound = slow.publishDue(new Date(at));
    await inside;
    const fast = scheduledStatusWorker(s.services, "fast", () => true);
    assert.deepEqual(await fast.publishDue(new Date(at + CLAIM_TIMEOUT_MS + 1000)), [scheduled.id]);
    release();
    assert.deepEqual(await slowRound, [], "the slow worker's post was not committed");

    const posts = await postsSaying("Only one of us publishes this");
    assert.equal(posts.length, 1);
    const row = await rowOf(scheduled.id);
    assert.deepEqual([row.state, row.claimedBy, row.postId], ["published", "fast", posts[0].id]);
    const created = await s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).countBy({ action: "post.create", targetId: posts[0].id }),
    );
    assert.equal(created, 1);
  });

  test("an Idempotency-Key makes one scheduled status of a repeated request", async () => {
    const send = () =>
      fetch(`${s.url}/api/v1/statuses`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${tokens.jane}`,
          "content-type": "application/json",
          "idempotency-key": "schedule-once-7",
        },
        body: JSON.stringify({
          status: "Scheduled once",
          scheduled_at: new Date(Date.now() + 7 * HOUR).toISOString(),
        }),
      });
    const first = await send();
    const again = await send();
    assert.deepEqual([first.status, again.status], [200, 200]);
    const [a, b] = (await Promise.all([first.json(), again.json()])) as { id: string }[];
    assert.equal(b.id, a.id);
    const rows = await s.services.db.run((em) =>
      em
        .getRepository(ScheduledSchema)
        .createQueryBuilder("s")
        .where("s.params LIKE :text", { text: '%"Scheduled once"%' })
        .getCount(),
    );
    assert.equal(rows, 1);
  });

  test("media_ids: held while it waits, carried by the post it becomes", async () => {
    const m = await client.jane.v2.media.create({ file: await png(), description: "A banner for later" });
    const at = Date.now() + 3 * HOUR;
    const scheduled = await schedule("jane", "With a picture", at, [m.id]);
    assert.deepEqual(scheduled.params.mediaIds, [m.id]);
    assert.deepEqual(
      scheduled.mediaAttachments.map((x) => [x.id, x.description]),
      [[m.id, "A banner for later"]],
    );
    const fetched = await client.jane.v1.scheduledStatuses.$select(scheduled.id).fetch();
    assert.deepEqual(
      fetched.mediaAttachments.map((x) => x.id),
      [m.id],
    );
    const listed = await client.jane.v1.scheduledStatuses.list();
    assert.deepEqual(
      listed.find((x) => x.id === scheduled.id)?.mediaAttachments.map((x) => x.id),
      [m.id],
    );
    // Held: not attachable by a post now or another scheduled status, not swept after a day.
    await refused(
      client.jane.v1.statuses.create({ status: "Stealing it", mediaIds: [m.id] }),
      422,
      /not an unattached upload of yours/,
    );
    await refused(
      schedule("jane", "Stealing it later", at, [m.id]),
      422,
      /not an unattached upload of yours/,
    );
    assert.equal(await s.services.media.sweep(Date.now() + 25 * HOUR), 0);
    assert.equal((await mediaRow(m.id))?.scheduledStatusId?.toString(), scheduled.id);
    // Its alt text may still be fixed before it goes out (as on Mastodon).
    await client.jane.v1.media.$select(m.id).update({ description: "Our banner: we are hiring" });
    assert.equal((await client.jane.v1.media.$select(m.id).fetch()).description, "Our banner: we are hiring");
    assert.deepEqual(
      (await client.jane.v1.scheduledStatuses.$select(scheduled.id).fetch()).mediaAttachments.map(
        (x) => x.description,
      ),
      ["Our banner: we are hiring"],
    );

    const worker = scheduledStatusWorker(s.services, "media-worker", () => true);
    assert.deepEqual(await worker.publishDue(new Date(at)), [scheduled.id]);
    const [post] = await postsSaying("With a picture");
    assert.deepEqual(
      attachedMedia(post).map((x) => [x.id, x.description]),
      [[m.id, "Our banner: we are hiring"]],
    );
    const row = await mediaRow(m.id);
    assert.deepEqual([row?.postId, row?.scheduledStatusId, row?.draftId], [post.id, null, null]);
    const status = await client.jane.v1.statuses.$select(String(post.apiId)).fetch();
    assert.deepEqual(
      status.mediaAttachments.map((x) => [x.id, x.description]),
      [[m.id, "Our banner: we are hiring"]],
    );
    // Posted: part of the post now, no longer changed on its own.
    await refused(client.jane.v1.media.$select(m.id).update({ description: "Later edit" }), 404, /not found/);
  });

  test("media_ids: a cancelled one lets its images go; a refused one's are swept at once", async () => {
    const m = await client.jane.v2.media.create({ file: await png() });
    const cancelled = await schedule("jane", "Cancelled", Date.now() + 4 * HOUR, [m.id]);
    await client.jane.v1.scheduledStatuses.$select(cancelled.id).remove();
    assert.equal((await mediaRow(m.id))?.scheduledStatusId, null);
    const now = await client.jane.v1.statuses.create({ status: "Posted now instead", mediaIds: [m.id] });
    assert.deepEqual(
      now.mediaAttachments.map((x) => x.id),
      [m.id],
    );

    // Pete leaves before it is due: refused, and what it held goes with the next sweep.
    const p = await client.pete.v2.media.create({ file: await png() });
    const at = Date.now() + 5 * HOUR;
    const doomed = await schedule("pete", "Never published", at, [p.id]);
    await s.services.scim.patchUser(ids.pete, [{ op: "replace", path: "active", value: false }], scimActor);
    const worker = scheduledStatusWorker(s.services, "refusing-worker", () => true);
    assert.deepEqual(await worker.publishDue(new Date(at)), [doomed.id]);
    assert.equal((await rowOf(doomed.id)).state, "refused");
    assert.equal(await s.services.media.sweep(Date.now()), 1);
    assert.equal(await mediaRow(p.id), null);
    assert.equal((await fetch(`${s.url}/media/${p.id}/original.png`)).status, 404);
  });

  test("media_ids: a drafter's scheduled status becomes a draft that holds its images", async () => {
    const m = await client.dora.v2.media.create({ file: await png(), description: "Team photo" });
    const at = Date.now() + 6 * HOUR;
    const scheduled = await schedule("dora", "For approval, with a photo", at, [m.id]);
    const worker = scheduledStatusWorker(s.services, "draft-worker", () => true);
    assert.deepEqual(await worker.publishDue(new Date(at)), [scheduled.id]);
    const row = await rowOf(scheduled.id);
    assert.equal(row.state, "drafted");
    const draft = await s.services.db.run((em) =>
      em.getRepository(DraftSchema).findOneByOrFail({ id: row.draftId! }),
    );
    assert.deepEqual(
      attachedMedia(draft).map((x) => [x.id, x.description]),
      [[m.id, "Team photo"]],
    );
    const media = await mediaRow(m.id);
    assert.deepEqual([media?.draftId, media?.scheduledStatusId, media?.postId], [draft.id, null, null]);
    assert.equal((await postsSaying("For approval, with a photo")).length, 0);
  });

  /** Migration 0029's data step, run now on the test database. */
  async function settle() {
    const runner = s.services.db.dataSource.createQueryRunner();
    try {
      await settleEarlierRows(runner);
    } finally {
      await runner.release();
    }
  }

  /** A worker whose publishing never finishes (its process hangs or dies mid-post). */
  const hangingWorker = (holder: string) =>
    workerWith(
      {
        ...createPublisher({ posting: s.services.posting, drafts: s.services.drafts }),
        publish: () => new Promise(() => undefined),
      },
      holder,
    );
  /** Publishes what earlier tests left due before `at`, so a round at `at` meets only this test's rows. */
  const drain = (at: number) =>
    scheduledStatusWorker(s.services, "drain", () => true).publishDue(new Date(at - 1));
  /**
   * As a version before 0027 left things: `unheld` is held by no status (it named it all the
   * same), and `row` names `foreign` (someone else's upload; no API lets it: a hand-edited row).
   */
  const asBefore0027 = (unheld: string, row: string, foreign: string) =>
    s.services.db.run(async (em) => {
      await em.getRepository(MediaSchema).update({ id: unheld }, { scheduledStatusId: null });
      const r = await em.getRepository(ScheduledSchema).findOneByOrFail({ id: Number(row) });
      await em
        .getRepository(ScheduledSchema)
        .update({ id: r.id }, { params: JSON.stringify({ ...JSON.parse(r.params), mediaIds: [foreign] }) });
    });
  const audits = (action: string, id: string) =>
    s.services.db.run((em) => em.getRepository(AuditEventSchema).findBy({ action, targetId: id }));

  test("a claim without an id (an earlier version's, which may have posted) is never taken over; migration 0029 ends it failed, or published or drafted if the audit log holds what it made", async () => {
    const at = Date.now() + 7 * HOUR;
    await drain(at);
    const scheduled = await schedule("jane", "Claimed by an earlier version", at);
    const posted = await schedule("jane", "Posted by an earlier version", at);
    const drafted = await schedule("dora", "Drafted by an earlier version", at);
    // The earlier version published as the worker does, with no claim check, then died before
    // updating its rows: the post (or draft) and its audit record naming the status are there.
    const auth = createApiAuth({
      oauth: s.services.oauth,
      directory: s.services.directory,
      accounts: s.services.accounts,
      authz: s.services.authz,
    });
    const old = createPublisher({ posting: s.services.posting, drafts: s.services.drafts });
    const made: Record<string, string> = {};
    for (const [r, text] of [
      [posted, "Posted by an earlier version"],
      [drafted, "Drafted by an earlier version"],
    ] as const) {
      const row = await rowOf(r.id);
      const st = await auth.standing(row);
      assert.ok(!("reason" in st));
      const p = await old.publish(
        { ...st, app: { id: null, name: row.app }, tokenId: row.tokenId },
        { text, visibility: "public" },
        { scheduledStatusId: r.id },
      );
      made[r.id] = p.kind === "post" ? p.post.id : p.kind === "draft" ? p.draftId : assert.fail(p.message);
    }
    for (const r of [scheduled, posted, drafted])
      await s.services.db.run((em) =>
        em
          .getRepository(ScheduledSchema)
          .update(
            { id: Number(r.id) },
            { state: "publishing", claimedBy: "old-version", claimedAt: new Date(at), claimId: null },
          ),
      );
    const worker = scheduledStatusWorker(s.services, "new-version", () => true);
    assert.deepEqual(await worker.publishDue(new Date(at + 3 * CLAIM_TIMEOUT_MS)), []);
    assert.equal((await postsSaying("Claimed by an earlier version")).length, 0);
    assert.equal((await postsSaying("Posted by an earlier version")).length, 1);
    for (const r of [scheduled, posted, drafted]) {
      const row = await rowOf(r.id);
      assert.deepEqual([row.state, row.claimedBy], ["publishing", "old-version"]);
      assert.equal((await audits("api.scheduled.reclaimed", r.id)).length, 0);
    }

    await settle();
    const row = await rowOf(scheduled.id);
    assert.deepEqual([row.state, row.outcome], ["failed", LEFT_BY_EARLIER_VERSION]);
    assert.ok(row.finishedAt);
    const p = await rowOf(posted.id);
    assert.deepEqual([p.state, p.postId, p.outcome], ["published", made[posted.id], null]);
    const d = await rowOf(drafted.id);
    assert.deepEqual([d.state, d.draftId, d.outcome], ["drafted", made[drafted.id], null]);
    for (const [r, state] of [
      [scheduled, "failed"],
      [posted, "published"],
      [drafted, "drafted"],
    ] as const) {
      const a = await audits(`api.scheduled.${state}`, r.id);
      assert.equal(a.length, 1, `${r.id} ${state}`);
      assert.equal((JSON.parse(a[0].detail ?? "{}") as { reason: string }).reason, "left-by-earlier-version");
    }
    assert.deepEqual(await worker.publishDue(new Date(at + 6 * CLAIM_TIMEOUT_MS)), []);
    assert.equal((await postsSaying("Claimed by an earlier version")).length, 0);
    assert.equal((await postsSaying("Posted by an earlier version")).length, 1);
  });

  test("images of a status scheduled before 0027 (not held) are held by migration 0029, and published with it", async () => {
    const at = Date.now() + 8 * HOUR;
    await drain(at);
    const m = await client.jane.v2.media.create({ file: await png(), description: "Held late" });
    const scheduled = await schedule("jane", "Scheduled before images were held", at, [m.id]);
    // Another row naming Dora's upload (no API lets it; a hand-edited row): never held for Jane's.
    const p = await client.dora.v2.media.create({ file: await png() });
    const other = await schedule("jane", "Names someone else's image", at + HOUR);
    await asBefore0027(m.id, other.id, p.id);
    assert.equal((await mediaRow(m.id))?.scheduledStatusId, null);

    await settle();
    assert.equal((await mediaRow(m.id))?.scheduledStatusId?.toString(), scheduled.id);
    assert.equal((await mediaRow(p.id))?.scheduledStatusId, null, "Dora's upload is not Jane's to hold");
    await client.jane.v1.scheduledStatuses.$select(other.id).remove();

    const worker = scheduledStatusWorker(s.services, "late-hold-worker", () => true);
    assert.deepEqual(await worker.publishDue(new Date(at)), [scheduled.id]);
    const posts = await postsSaying("Scheduled before images were held");
    assert.equal(posts.length, 1);
    assert.deepEqual(
      attachedMedia(posts[0]).map((x) => [x.id, x.description]),
      [[m.id, "Held late"]],
    );
    assert.equal((await rowOf(scheduled.id)).attempts, 1);
  });

  test(`a claim left behind ${MAX_ATTEMPTS} times (the worker dies publishing it each time) ends failed, audited, its image swept`, async () => {
    const at = Date.now() + 10 * HOUR;
    await drain(at);
    const m = await client.jane.v2.media.create({ file: await png() });
    const scheduled = await schedule("jane", "Crashes the worker every time", at, [m.id]);
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const holder = `dying-worker-${i}`;
      void hangingWorker(holder).publishDue(new Date(at + i * (CLAIM_TIMEOUT_MS + 1000)));
      await waitFor(async () => ((await rowOf(scheduled.id)).claimedBy === holder ? true : undefined), {
        what: `${holder}'s claim`,
      });
      assert.equal((await rowOf(scheduled.id)).attempts, i + 1);
    }
    const worker = scheduledStatusWorker(s.services, "last-worker", () => true);
    assert.deepEqual(await worker.publishDue(new Date(at + MAX_ATTEMPTS * (CLAIM_TIMEOUT_MS + 1000))), []);
    const row = await rowOf(scheduled.id);
    assert.deepEqual(
      [row.state, row.attempts, row.claimedBy],
      ["failed", MAX_ATTEMPTS, `dying-worker-${MAX_ATTEMPTS - 1}`],
    );
    assert.match(row.outcome ?? "", /3 attempts to publish it never finished/);
    assert.equal((await postsSaying("Crashes the worker every time")).length, 0);
    assert.equal((await audits("api.scheduled.reclaimed", scheduled.id)).length, MAX_ATTEMPTS - 1);
    const failed = await audits("api.scheduled.failed", scheduled.id);
    assert.equal(failed.length, 1);
    assert.equal((JSON.parse(failed[0].detail ?? "{}") as { attempts: number }).attempts, MAX_ATTEMPTS);
    // Nothing more is tried, and what it held goes with the next sweep.
    assert.deepEqual(await worker.publishDue(new Date(at + 10 * CLAIM_TIMEOUT_MS)), []);
    assert.equal(await s.services.media.sweep(Date.now()), 1);
    assert.equal(await mediaRow(m.id), null);
  });

  test(`a status whose publishing throws every time is claimed exactly ${MAX_ATTEMPTS} times, ${RETRY_AFTER_MS / 60_000} minutes apart, then ends failed, audited, its image swept`, async () => {
    const at = Date.now() + 11 * HOUR;
    await drain(at);
    const m = await client.jane.v2.media.create({ file: await png() });
    const scheduled = await schedule("jane", "Throws every time", at, [m.id]);
    let calls = 0;
    const throwing = workerWith(
      {
        ...createPublisher({ posting: s.services.posting, drafts: s.services.drafts }),
        publish: () => {
          calls++;
          return Promise.reject(new Error("simulated bug in publishing"));
        },
      },
      "throwing-worker",
    );
    // Each round twice: at once, and again a second later (before RETRY_AFTER_MS: not tried).
    const states: string[] = [];
    const tried: number[] = [];
    for (let round = 0; round < MAX_ATTEMPTS + 2; round++) {
      for (const later of [0, 1000]) {
        await throwing.publishDue(new Date(at + round * (RETRY_AFTER_MS + 1000) + later));
        tried.push(calls);
      }
      states.push((await rowOf(scheduled.id)).state);
    }
    assert.equal(calls, MAX_ATTEMPTS);
    assert.deepEqual(tried, [1, 1, 2, 2, 3, 3, 3, 3, 3, 3]);
    assert.deepEqual(states, ["scheduled", "scheduled", "failed", "failed", "failed"]);
    const row = await rowOf(scheduled.id);
    assert.equal(row.attempts, MAX_ATTEMPTS);
    assert.match(row.outcome ?? "", /publishing it failed 3 times/);
    assert.doesNotMatch(row.outcome ?? "", /simulated bug/, "the error is for the audit log, not the person");
    assert.equal((await postsSaying("Throws every time")).length, 0);
    const failed = await audits("api.scheduled.failed", scheduled.id);
    assert.equal(failed.length, 1);
    const detail = JSON.parse(failed[0].detail ?? "{}") as { attempts: number; error: string };
    assert.deepEqual([detail.attempts, detail.error], [MAX_ATTEMPTS, "Error: simulated bug in publishing"]);
    assert.equal(await s.services.media.sweep(Date.now()), 1);
    assert.equal(await mediaRow(m.id), null);
  });

  test("a claim's time is when it is taken: a row claimed 9 minutes into a long round is not taken over 1.5 minutes later", async () => {
    const at = Date.now() + 12 * HOUR;
    await drain(at);
    await schedule("jane", "First of a long round", at);
    const second = await schedule("jane", "Second of a long round", at + 1000);
    const start = at + 1000;
    let clock = start;
    let reachedSecond!: () => void;
    const atSecond = new Promise<void>((resolve) => (reachedSecond = resolve));
    const real = createPublisher({ posting: s.services.posting, drafts: s.services.drafts });
    const long = workerWith(
      {
        ...real,
        publish: (...args) => {
          if (args[2]?.scheduledStatusId === second.id) {
            reachedSecond();
            return new Promise(() => undefined);
          }
          clock += 9 * 60_000; // the first one takes nine minutes
          return real.publish(...args);
        },
      },
      "long-round",
      () => clock,
    );
    void long.publishDue(new Date(start));
    await atSecond;
    const claimed = await rowOf(second.id);
    assert.deepEqual([claimed.claimedBy, claimed.claimedAt?.getTime()], ["long-round", start + 9 * 60_000]);
    assert.equal((await postsSaying("First of a long round")).length, 1);

    const rescuer = scheduledStatusWorker(s.services, "long-round-rescuer", () => true);
    assert.deepEqual(await rescuer.publishDue(new Date(start + CLAIM_TIMEOUT_MS + 90_000)), []);
    assert.equal((await rowOf(second.id)).claimedBy, "long-round");
    assert.equal((await postsSaying("Second of a long round")).length, 0);
    // Once its own claim is CLAIM_TIMEOUT_MS old, it is taken over and published once.
    assert.deepEqual(await rescuer.publishDue(new Date(start + 9 * 60_000 + CLAIM_TIMEOUT_MS)), [second.id]);
    assert.equal((await postsSaying("Second of a long round")).length, 1);
  });

  test("images a status names but does not hold (scheduled by an old process after migration 0029) are held at publish and posted; someone else's are not", async () => {
    const at = Date.now() + 13 * HOUR;
    await drain(at);
    const m = await client.jane.v2.media.create({ file: await png(), description: "Held at publish" });
    const scheduled = await schedule("jane", "Scheduled by an old process", at, [m.id]);
    const p = await client.dora.v2.media.create({ file: await png() });
    const other = await schedule("jane", "Names Dora's image", at);
    await asBefore0027(m.id, other.id, p.id);
    assert.equal((await mediaRow(m.id))?.scheduledStatusId, null);

    const worker = scheduledStatusWorker(s.services, "hold-at-publish", () => true);
    assert.deepEqual((await worker.publishDue(new Date(at))).sort(), [scheduled.id, other.id].sort());
    const posts = await postsSaying("Scheduled by an old process");
    assert.equal(posts.length, 1);
    assert.deepEqual(
      attachedMedia(posts[0]).map((x) => [x.id, x.description]),
      [[m.id, "Held at publish"]],
    );
    assert.equal((await rowOf(scheduled.id)).state, "published");
    assert.equal((await rowOf(other.id)).state, "refused");
    assert.equal((await postsSaying("Names Dora's image")).length, 0);
    const dora = await mediaRow(p.id);
    assert.deepEqual(
      [dora?.scheduledStatusId, dora?.postId],
      [null, null],
      "Dora's upload is not Jane's to hold",
    );
  });

  test("a row read before another worker claimed, failed and released it is not claimed from that read", async () => {
    const at = Date.now() + 14 * HOUR;
    await drain(at);
    const first = await schedule("jane", "First of a slow round", at);
    const second = await schedule("jane", "Second, failed meanwhile", at + 1000);
    const real = createPublisher({ posting: s.services.posting, drafts: s.services.drafts });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reachedFirst!: () => void;
    const atFirst = new Promise<void>((resolve) => (reachedFirst = resolve));
    let slowCalls = 0;
    // Reads both, then waits inside the first.
    const slow = workerWith(
      {
        ...real,
        publish: async (...args) => {
          if (args[2]?.scheduledStatusId === first.id) {
            reachedFirst();
            await released;
          } else slowCalls++;
          return real.publish(...args);
        },
      },
      "slow-round",
    );
    const round = slow.publishDue(new Date(at + 2000));
    await atFirst;
    const throwing = workerWith(
      { ...real, publish: () => Promise.reject(new Error("simulated outage")) },
      "failing-worker",
    );
    await throwing.publishDue(new Date(at + 2000));
    assert.deepEqual([(await rowOf(second.id)).state, (await rowOf(second.id)).attempts], ["scheduled", 1]);
    release();
    assert.deepEqual(await round, [first.id]);
    const row = await rowOf(second.id);
    assert.deepEqual([row.state, row.attempts, row.claimedBy], ["scheduled", 1, "failing-worker"]);
    assert.equal(slowCalls, 0);
    assert.equal((await postsSaying("Second, failed meanwhile")).length, 0);
  });
});
