/**
 * A shared account's inbox in the staff app: readable by roles with view-inbox, answerable by
 * roles with reply (a drafter's answer waits for approval), refused to everyone else.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { DraftSchema } from "../../src/federation/drafts.ts";
import { type ActorRow, iriHash, InboundSchema, PostSchema } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const who = { name: "test" };

describe(`a shared account's inbox on ${TEST_DB}`, () => {
  let s: TestServer;
  let support: ActorRow;
  const people: Record<string, string> = {};
  const dm = "http://127.0.0.1:9/notes/candidate-question";

  before(async () => {
    s = await startTestServer();
    for (const u of ["ana", "dave", "olga", "nico"])
      people[u] = String((await s.services.scim.createUser({ userName: `${u}@corp.example` }, who)).id);
    await s.services.scim.createGroup({ displayName: "Support", members: [{ value: people.ana }] }, who);
    const created = await s.services.accounts.createShared("support", "Support", "test");
    assert.ok(created.ok);
    support = created.actor;
    await waitFor(
      async () => ((await s.services.accounts.byId(support.id))?.keysReadyAt ? true : undefined),
      {
        timeoutMs: 30_000,
        what: "@support's keys",
      },
    );
    const grant = async (subject: string, role: string) => {
      const sub = await s.services.authz.resolveSubject(subject);
      assert.ok(!("error" in sub));
      assert.ok((await s.services.authz.grant(sub, role, support, "test")).ok);
    };
    await grant("Support", "publisher");
    await grant("user:dave@corp.example", "drafter");
    await grant("user:olga@corp.example", "analyst");
    await s.services.db.run((em) =>
      em.getRepository(InboundSchema).insert({
        id: randomUUID(),
        actorId: support.id,
        objectHash: iriHash(dm),
        objectIri: dm,
        remoteActorIri: "http://127.0.0.1:9/users/candidate",
        kind: "direct",
        contentHtml: "<p>Is the <b>recruiter</b> who wrote me real?</p>",
        inReplyToPostId: null,
        url: null,
        publishedAt: new Date(),
        receivedAt: new Date(),
        updatedAt: null,
        deletedAt: null,
        raw: null,
      }),
    );
  });
  after(() => s.close());

  async function signIn(user: string): Promise<{ cookie: string; csrf: string }> {
    const link = await s.services.sessions.createLoginLink(people[user], "test");
    const res = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
    const auth = await s.services.sessions.resolve(cookie.split("=")[1]);
    assert.ok(auth);
    return { cookie, csrf: auth.csrf };
  }

  const inbox = (cookie: string) =>
    fetch(`${s.url}/app/inbox?account=${support.id}`, { headers: { cookie }, redirect: "manual" });

  const reply = (session: { cookie: string; csrf: string }, text: string) =>
    fetch(`${s.url}/app/posts`, {
      method: "POST",
      headers: { cookie: session.cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        csrf: session.csrf,
        as: support.id,
        inReplyTo: dm,
        visibility: "direct",
        text,
      }),
      redirect: "manual",
    });

  test("a publisher reads the direct message (as text) and answers it as @support", async () => {
    const ana = await signIn("ana");
    const page = await inbox(ana.cookie);
    assert.equal(page.status, 200);
    const body = await page.text();
    assert.ok(body.includes("Is the recruiter who wrote me real?"), "remote HTML shown as text");
    assert.ok(!body.includes("<b>recruiter</b>"), "never the remote markup");
    assert.ok(body.includes(`name="inReplyTo" value="${dm}"`), "a reply form");
    const res = await reply(ana, "Yes: Alex is on our team. Check @alex on /verify.");
    assert.equal(res.status, 303);
    const post = await s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneBy({ actorId: support.id, inReplyToIri: dm }),
    );
    assert.equal(post?.visibility, "direct");
    assert.equal(post?.authorPersonId, people.ana);
  });

  test("a drafter's answer waits for approval; an analyst reads but cannot answer; others get 403", async () => {
    const dave = await signIn("dave");
    assert.equal((await inbox(dave.cookie)).status, 200);
    const drafted = await reply(dave, "Let me check with the team.");
    assert.equal(drafted.status, 303);
    assert.match(drafted.headers.get("location") ?? "", /drafted=/);
    const draft = await s.services.db.run((em) =>
      em.getRepository(DraftSchema).findOneBy({ text: "Let me check with the team." }),
    );
    assert.equal(draft?.inReplyToIri, dm);
    assert.equal(draft?.status, "pending");

    const olga = await signIn("olga");
    const page = await inbox(olga.cookie);
    assert.equal(page.status, 200);
    assert.ok(!(await page.text()).includes('name="inReplyTo"'), "no reply form for an analyst");
    assert.equal((await reply(olga, "Analysts do not speak.")).status, 403);

    const nico = await signIn("nico");
    assert.equal((await inbox(nico.cookie)).status, 403);
    assert.equal((await reply(nico, "Nor does anyone else.")).status, 403);
  });

  test("a refused reply comes back still answering the message, with the text typed; sent again it is a reply", async () => {
    const ana = await signIn("ana");
    const long = `Thanks for asking. ${"x".repeat(5000)}`;
    const refused = await reply(ana, long);
    assert.equal(refused.status, 422);
    const html = await refused.text();
    const form = /<form method="post" action="\/app\/posts"[^]*?<\/form>/.exec(html)?.[0] ?? "";
    const hidden = Object.fromEntries(
      [...form.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    assert.equal(hidden.inReplyTo, dm, "the form still answers the message");
    assert.match(form, new RegExp(`Replying to\\s*<a href="${dm}"`));
    assert.ok(form.includes(`>\n${long}</textarea>`), "the text typed is kept");
    assert.match(form, /<option\s+value="direct"\s+selected/);
    assert.match(form, /<p class="error" id="text-error">/);
    assert.equal(
      await s.services.db.run((em) =>
        em.getRepository(PostSchema).countBy({ inReplyToIri: dm, actorId: support.id }),
      ),
      1,
      "nothing was sent",
    );
    // Sent again from that form, shortened: a reply to the same message, as the same account.
    const resent = await fetch(`${s.url}/app/posts`, {
      method: "POST",
      headers: { cookie: ana.cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        ...hidden,
        as: support.id,
        visibility: "direct",
        text: "Thanks for asking.",
      }),
      redirect: "manual",
    });
    assert.equal(resent.status, 303);
    const post = await s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneBy({ actorId: support.id, contentText: "Thanks for asking." }),
    );
    assert.equal(post?.inReplyToIri, dm);
  });

  test("remote links are http(s) only, and staff pages forbid every script (CSP)", async () => {
    await s.services.db.run((em) =>
      em.getRepository(InboundSchema).insert({
        id: randomUUID(),
        actorId: support.id,
        objectHash: iriHash("http://127.0.0.1:9/notes/evil"),
        objectIri: "http://127.0.0.1:9/notes/evil",
        remoteActorIri: "javascript:alert(2)",
        kind: "mention",
        contentHtml: "<p>click me</p>",
        inReplyToPostId: null,
        url: "javascript:alert(1)",
        publishedAt: new Date(),
        receivedAt: new Date(),
        updatedAt: null,
        deletedAt: null,
        raw: null,
      }),
    );
    const ana = await signIn("ana");
    const page = await inbox(ana.cookie);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /script-src/, "no script source at all");
    const body = await page.text();
    assert.ok(body.includes("click me"));
    assert.ok(!body.includes('href="javascript:'), "never a javascript: link");
  });

  test("with signPosts on, @support's posts are signed publicly with who wrote them", async () => {
    const ana = await signIn("ana");
    const send = async (text: string) => {
      const res = await fetch(`${s.url}/app/posts`, {
        method: "POST",
        headers: { cookie: ana.cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf: ana.csrf, as: support.id, text, visibility: "public" }),
        redirect: "manual",
      });
      assert.equal(res.status, 303);
      return s.services.db.run((em) => em.getRepository(PostSchema).findOneBy({ contentText: text }));
    };
    assert.ok(!(await send("Unsigned hello"))?.contentHtml.includes("—"));
    await s.services.accounts.configure(support.id, { signPosts: true }, "test");
    const signed = await send("Signed hello");
    assert.ok(signed?.contentHtml.endsWith("<p>— ana@corp.example, Support</p>"), signed?.contentHtml);
  });

  test("/api/me lists the accounts a person acts for, with the actions on each", async () => {
    const ana = await signIn("ana");
    const me = (await (await fetch(`${s.url}/api/me`, { headers: { cookie: ana.cookie } })).json()) as {
      accounts: { handle: string; kind: string; actions: string[] }[];
    };
    const shared = me.accounts.find((a) => a.kind === "shared");
    assert.match(shared?.handle ?? "", /^@support@/);
    assert.deepEqual(shared?.actions, ["delete", "draft", "post", "reply", "view-inbox"]);
  });
});
