/**
 * Erasure of a former employee's record (DESIGN rule 7, src/identity/erase.ts): through
 * `herald person erase` (the real CLI on the server's database) and the person page's action.
 * A current employee is refused with the reason; the erased record keeps only its id, handle and
 * dates; addresses and memberships go; the leftover session and app token end; pending drafts and
 * scheduled statuses are discarded, saying why, and uploads no post carries are deleted; the account loses
 * its name and bio; past events lose the userName; the erasure is audited once without a name,
 * and again is a no-op. Public surfaces (verification JSON and page, profile, actor) answer
 * "former since D" and show nothing of the person.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { In } from "typeorm";
import { ApiTokenSchema } from "../../src/api/entities.ts";
import { type ScheduledRow, ScheduledSchema, type ScheduledState } from "../../src/api/records.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { type DraftRow, DraftSchema, type DraftStatus } from "../../src/federation/drafts.ts";
import { ActorSchema } from "../../src/federation/entities.ts";
import { DomainEventSchema } from "../../src/identity/events.ts";
import { GroupMemberSchema, PersonEmailSchema, PersonSchema } from "../../src/identity/entities.ts";
import { MediaBlobSchema, type MediaRow, MediaSchema, storageKey } from "../../src/media/entities.ts";
import { startServer } from "../../src/server.ts";
import { SessionSchema } from "../../src/sessions/sessions.ts";
import {
  freshDatabaseUrl,
  TEST_DB,
  type TestDatabaseUrl,
  testConfig,
  testEnv,
  waitFor,
} from "../helpers/env.ts";
import { runCli } from "../helpers/process.ts";
import type { TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

const who = { name: "scim-token:test" };

describe(`herald person erase on ${TEST_DB}`, () => {
  let s: TestServer;
  let fresh: TestDatabaseUrl;
  const ids: Record<string, string> = {};
  const signed: Record<string, { cookie: string; csrf: string }> = {};

  before(async () => {
    fresh = await freshDatabaseUrl();
    const running = await startServer(testConfig(fresh.url, fresh.dir));
    s = { ...running, close: () => running.shutdown("test") };
    const create = async (u: string, extra: Record<string, unknown>) =>
      (ids[u] = String(
        (await s.services.scim.createUser({ userName: `${u}@corp.example`, ...extra }, who)).id,
      ));
    await create("ada", { displayName: "Ada Admin" });
    await create("bob", { displayName: "Bob Builder" });
    await create("dave", {
      displayName: "Dave Former",
      name: { givenName: "Dave", familyName: "Former" },
      title: "Recruiter",
      externalId: "ext-dave",
      emails: [
        { value: "dave@corp.example", primary: true },
        { value: "dave.home@mail.example", type: "home" },
      ],
      phoneNumbers: [{ value: "+1 555 0100" }],
      photos: [{ value: "https://photos.corp.example/dave.jpg", type: "photo", primary: true }],
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "Talent" },
    });
    await create("erin", { displayName: "Erin Gone" });
    await s.services.scim.createGroup({ displayName: "Recruiting", members: [{ value: ids.dave }] }, who);
    const sub = await s.services.authz.resolveSubject("user:ada@corp.example");
    assert.ok(!("error" in sub));
    assert.ok((await s.services.authz.grant(sub, "org-admin", "org", "test")).ok);
    // Dave's account, with a bio, before he leaves.
    const actor = await waitFor(
      async () =>
        (await s.services.db.run((em) => em.getRepository(ActorSchema).findOneBy({ personId: ids.dave })))
          ?.keysReadyAt
          ? true
          : undefined,
      { what: "Dave's account and its keys", timeoutMs: 30_000 },
    );
    assert.ok(actor);
    await s.services.db.run((em) =>
      em
        .getRepository(ActorSchema)
        .update({ personId: ids.dave }, { summary: "Dave's bio: hiring in Lisbon" }),
    );
    for (const u of ["dave", "erin"])
      await s.services.scim.patchUser(ids[u], [{ op: "replace", path: "active", value: false }], who);
    await s.services.events.drain();
    for (const u of ["ada", "bob"]) signed[u] = await signInByLink(s, ids[u]);
  });
  after(async () => {
    await s?.close();
    await fresh?.cleanup();
  });

  const cli = (...args: string[]) =>
    runCli(
      args,
      testEnv({
        DATABASE_URL: fresh.url,
        HERALD_DATA_DIR: fresh.dir,
        HERALD_ORIGIN: "http://127.0.0.1:3999",
      }),
    );
  const person = (id: string) =>
    s.services.db.run((em) => em.getRepository(PersonSchema).findOneByOrFail({ id }));
  const erasures = () =>
    s.services.db.run((em) => em.getRepository(AuditEventSchema).findBy({ action: "person.erase" }));
  const domain = () => s.services.config.handleDomain;

  test("the CLI refuses a current employee, names the reason, and changes nothing", async () => {
    const r = await cli("person", "erase", "bob@corp.example");
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /bob@corp\.example is a current employee: only a former employee's record is erased/,
    );
    assert.equal((await person(ids.bob)).displayName, "Bob Builder");
    assert.equal((await erasures()).length, 0);
  });

  test("the CLI erases a former employee: only the handle and 'former since D' remain; leftovers end", async () => {
    const before = await person(ids.dave);
    assert.ok(before.deactivatedAt);
    // Something left over after he left: a session and an app token (deprovisioning ended the first ones).
    await s.services.sessions.create(ids.dave, { method: "test" });
    const app = await s.services.oauth.registerApp({
      name: "Leftover",
      redirectUris: ["urn:ietf:wg:oauth:2.0:oob"],
      scopes: "read",
      website: null,
      by: "test",
    });
    assert.ok(app.ok);
    await s.services.oauth.issueToken({
      appId: app.app.id,
      personId: ids.dave,
      accountId: null,
      scopes: ["read"],
      by: "test",
    });

    // What he left waiting: a pending and an approved draft, a scheduled and a published scheduled
    // status, an upload no post took and one a post carries (and Bob's upload, which stays).
    const account = await s.services.db.run((em) =>
      em.getRepository(ActorSchema).findOneByOrFail({ personId: ids.dave }),
    );
    const draft = (status: DraftStatus): DraftRow => ({
      id: randomUUID(),
      accountId: account.id,
      authorPersonId: ids.dave,
      text: `A ${status} draft`,
      visibility: "public",
      inReplyToIri: null,
      status,
      createdAt: new Date(),
      decidedBy: null,
      decidedAt: null,
      comment: null,
      postId: null,
    });
    const drafts = [draft("pending"), draft("approved")];
    const scheduled = (id: number, state: ScheduledState): ScheduledRow => ({
      id,
      personId: ids.dave,
      accountId: account.id,
      tokenId: null,
      app: null,
      params: JSON.stringify({ text: `A ${state} status`, visibility: "public" }),
      scheduledAt: new Date(Date.now() + 3_600_000),
      state,
      createdAt: new Date(),
      claimedBy: null,
      claimedAt: null,
      postId: null,
      draftId: null,
      outcome: null,
      finishedAt: null,
    });
    await s.services.db.run(async (em) => {
      await em.getRepository(DraftSchema).insert(drafts);
      await em
        .getRepository(ScheduledSchema)
        .insert([scheduled(9_000_001, "scheduled"), scheduled(9_000_002, "published")]);
    });
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#2e86de" } })
      .png()
      .toBuffer();
    const upload = async (personId: string) => {
      const r = await s.services.media.upload({ personId, accountId: account.id, tokenId: null }, png);
      assert.ok(r.ok);
      return r.media;
    };
    const [loose, carried, bobs] = [await upload(ids.dave), await upload(ids.dave), await upload(ids.bob)];
    await s.services.db.run((em) =>
      em.getRepository(MediaSchema).update({ id: carried.id }, { postId: "a-post-of-daves" }),
    );
    /** The upload's row and its stored files, as [row, files]. */
    const kept = async (m: MediaRow) => {
      const keys = [storageKey(m.id, "original", m.format), storageKey(m.id, "small", m.smallFormat)];
      return s.services.db.run(async (em) => [
        await em.getRepository(MediaSchema).countBy({ id: m.id }),
        s.services.config.media.store === "database"
          ? await em.getRepository(MediaBlobSchema).countBy({ key: In(keys) })
          : keys.filter((k) => existsSync(path.join(s.services.config.dataDir, "media", k))).length,
      ]);
    };
    assert.deepEqual(await kept(loose), [1, 2]);

    const r = await cli("person", "erase", "DAVE@corp.example");
    assert.equal(r.code, 0, r.stderr);
    const since = before.deactivatedAt.toISOString().slice(0, 10);
    assert.equal(
      r.stdout.trim(),
      `Erased @dave@${domain()}: only the handle and "former employee since ${since}" remain.`,
    );
    await s.services.events.drain();

    const after = await person(ids.dave);
    assert.equal(after.handle, "dave");
    assert.equal(after.userName, "(erased)");
    assert.equal(after.active, false);
    assert.equal(after.deactivatedAt?.getTime(), before.deactivatedAt.getTime());
    assert.ok(after.deletedAt);
    assert.ok(after.erasedAt);
    for (const field of [
      "displayName",
      "givenName",
      "familyName",
      "email",
      "title",
      "department",
      "externalId",
      "formerExternalId",
      "scimDoc",
    ] as const)
      assert.equal(after[field], null, field);
    const left = await s.services.db.run(async (em) => ({
      emails: await em.getRepository(PersonEmailSchema).countBy({ personId: ids.dave }),
      groups: await em.getRepository(GroupMemberSchema).countBy({ personId: ids.dave }),
      sessions: await em.getRepository(SessionSchema).countBy({ personId: ids.dave }),
      liveTokens: (await em.getRepository(ApiTokenSchema).findBy({ personId: ids.dave })).filter(
        (t) => t.revokedAt === null,
      ).length,
      actor: await em.getRepository(ActorSchema).findOneByOrFail({ personId: ids.dave }),
      events: await em
        .getRepository(DomainEventSchema)
        .findBy({ subjectType: "person", subjectId: ids.dave }),
    }));
    assert.deepEqual(
      { emails: left.emails, groups: left.groups, sessions: left.sessions, liveTokens: left.liveTokens },
      { emails: 0, groups: 0, sessions: 0, liveTokens: 0 },
    );
    assert.equal(left.actor.displayName, "dave");
    assert.equal(left.actor.summary, null);
    assert.ok(left.actor.deletedAt, "the account is a tombstone, as on a SCIM DELETE");
    assert.deepEqual(
      left.events.map((e) => e.type),
      ["person.provisioned", "person.updated", "person.deactivated", "person.deleted", "person.erased"],
    );
    assert.equal(
      left.events.filter((e) => /dave@corp\.example/i.test(e.payload ?? "")).length,
      0,
      "no event keeps the userName",
    );
    // Drafts and scheduled statuses waiting for him are discarded, saying why; the rest stay as they were.
    const waiting = await s.services.db.run(async (em) => ({
      drafts: await em
        .getRepository(DraftSchema)
        .find({ where: { authorPersonId: ids.dave }, order: { text: "ASC" } }),
      scheduled: await em
        .getRepository(ScheduledSchema)
        .find({ where: { personId: ids.dave }, order: { id: "ASC" } }),
    }));
    assert.deepEqual(
      waiting.drafts.map((d) => [d.text, d.status, d.comment]),
      [
        ["A approved draft", "approved", null],
        ["A pending draft", "discarded", "Discarded: the author's record was erased."],
      ],
    );
    assert.ok(waiting.drafts[1].decidedAt);
    assert.deepEqual(
      waiting.scheduled.map((r) => [String(r.id), r.state, r.outcome, r.finishedAt !== null]),
      [
        ["9000001", "discarded", "Discarded: the author's record was erased.", true],
        ["9000002", "published", null, false],
      ],
    );
    // His upload no post took is gone, rows and files; the one a post carries and Bob's stay.
    assert.deepEqual(await kept(loose), [0, 0]);
    assert.deepEqual(await kept(carried), [1, 2]);
    assert.deepEqual(await kept(bobs), [1, 2]);

    const audit = await erasures();
    assert.equal(audit.length, 1);
    assert.equal(audit[0].targetId, ids.dave);
    assert.match(audit[0].actor, /^cli:/);
    assert.deepEqual(JSON.parse(audit[0].detail ?? "{}"), {
      handle: "dave",
      formerSince: before.deactivatedAt.toISOString(),
      groupsLeft: 1,
      draftsDiscarded: 1,
      scheduledDiscarded: 1,
    });

    // Again, by handle: nothing changes, nothing more is audited.
    const again = await cli("person", "erase", "@dave");
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^@dave@\S+ was erased already \(\d{4}-\d{2}-\d{2}\): nothing to do\.$/m);
    assert.equal((await erasures()).length, 1);
    assert.equal((await person(ids.dave)).version, after.version);
    // By the userName it no longer has: refused, pointing at the handle.
    const gone = await cli("person", "erase", "dave@corp.example");
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /an erased record keeps no name: give its handle/);
  });

  test("public surfaces answer 'former since D' and show nothing of the erased person", async () => {
    const since = (await person(ids.dave)).deactivatedAt?.toISOString();
    const handle = `@dave@${domain()}`;
    const v = await fetch(`${s.url}/api/verification?handle=${encodeURIComponent(handle)}`);
    assert.equal(v.status, 200);
    const answer = (await v.json()) as Record<string, unknown>;
    assert.equal(answer.status, "former");
    assert.equal(answer.displayName, null);
    assert.equal(answer.until, since);
    assert.equal(answer.title, undefined);
    const pages = [
      await fetch(`${s.url}/verify/@dave`),
      await fetch(`${s.url}/@dave`),
      await fetch(`${s.url}/ap/actors/${(await s.services.accounts.byHandle("dave"))?.id}`, {
        headers: { accept: "application/activity+json" },
      }),
    ];
    for (const res of pages) {
      const body = await res.text();
      assert.ok(res.status < 500, `${res.url}: ${res.status}`);
      for (const word of ["Dave", "Recruiter", "Talent", "Lisbon", "dave.home", "photos.corp"])
        assert.ok(!body.includes(word), `${res.url} shows ${word}`);
    }
    assert.match(await (await fetch(`${s.url}/verify/@dave`)).text(), /[Ff]ormer/);
    // SCIM no longer finds the record; its userName is free.
    const scim = await s.services.scim.listUsers({
      filter: 'userName eq "dave@corp.example"',
      startIndex: 1,
      count: 10,
    });
    assert.equal(scim.total, 0);
  });

  test("the person page: erase needs manage-people, CSRF and the box; a current employee is refused with the reason", async () => {
    const post = (u: string, id: string, fields: Record<string, string>, csrf = signed[u].csrf) =>
      fetch(`${s.url}/admin/directory/${id}/erase`, {
        method: "POST",
        headers: { cookie: signed[u].cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, ...fields }),
        redirect: "manual",
      });
    const page = async (id: string) =>
      (
        await (
          await fetch(`${s.url}/admin/directory/${id}`, { headers: { cookie: signed.ada.cookie } })
        ).text()
      ).replace(/\s+/g, " ");
    assert.match(await page(ids.erin), /action="\/admin\/directory\/[0-9a-f-]+\/erase"/);
    assert.match(await page(ids.bob), /Erasing a record is for former employees/);
    assert.equal((await post("bob", ids.erin, { confirm: "yes" })).status, 403);
    assert.equal((await post("ada", ids.erin, { confirm: "yes" }, "forged")).status, 403);
    const unconfirmed = await post("ada", ids.erin, {});
    assert.equal(unconfirmed.status, 400);
    assert.match(await unconfirmed.text(), /Tick the box to confirm/);
    const current = await post("ada", ids.bob, { confirm: "yes" });
    assert.equal(current.status, 409);
    assert.match(
      await current.text(),
      /is a current employee: only a former employee&#39;s record is erased/,
    );
    assert.equal((await person(ids.erin)).erasedAt ?? null, null);

    const done = await post("ada", ids.erin, { confirm: "yes" });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get("location"), `/admin/directory/${ids.erin}?erased=1`);
    const erased = await person(ids.erin);
    assert.equal(erased.displayName, null);
    assert.equal(erased.handle, "erin");
    const shown = await page(ids.erin);
    assert.match(shown, /<h1>Erased record @erin<\/h1>/);
    assert.match(shown, /<th scope="row">Handle<\/th> <td class="words">@erin@[^<]+<\/td>/);
    assert.ok(!shown.includes("Erin Gone"), "the page shows no name");
    assert.ok(!shown.includes("erin@corp.example"), "the page shows no address");
    const audit = (await erasures()).filter((a) => a.targetId === ids.erin);
    assert.deepEqual(
      audit.map((a) => a.actor),
      [`person:${ids.ada}`],
    );
    // Posting again is a no-op: the page says it is done, and no second record.
    assert.equal((await post("ada", ids.erin, { confirm: "yes" })).status, 303);
    assert.equal((await erasures()).filter((a) => a.targetId === ids.erin).length, 1);
  });
});
