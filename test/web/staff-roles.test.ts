/**
 * The staff app as each role sees it (issue 14): a drafter's button says "Submit for approval"
 * and the confirmation says the draft awaits approval; approvers are told on their home how many
 * drafts wait, per account, with approve and reject; everyone who may act for an account sees its
 * published posts; a refused form comes back with the input kept and the problem beside its field;
 * the header names the signed-in person and signs out with a CSRF-protected POST.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ActorRow } from "../../src/federation/entities.ts";
import { DraftSchema } from "../../src/federation/drafts.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

const who = { name: "test" };
const PEOPLE = { amy: "Amy Approver", dan: "Dan Drafter", pat: "Pat Publisher", emma: "Emma Employee" };
type Name = keyof typeof PEOPLE;

describe(`the staff app by role on ${TEST_DB}`, () => {
  let s: TestServer;
  let recruiting: ActorRow;
  const ids = {} as Record<Name, string>;
  const sessions = {} as Record<Name, { cookie: string; csrf: string }>;

  before(async () => {
    s = await startTestServer();
    const svc = s.services;
    for (const [u, displayName] of Object.entries(PEOPLE))
      ids[u as Name] = String(
        (await svc.scim.createUser({ userName: `${u}@corp.example`, displayName }, who)).id,
      );
    const created = await svc.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(created.ok);
    recruiting = created.actor;
    await waitFor(
      async () => {
        for (const h of [...Object.keys(PEOPLE), "recruiting"])
          if (!(await svc.accounts.byHandle(h))?.keysReadyAt) return undefined;
        return true;
      },
      { timeoutMs: 60_000, what: "everyone's account keys" },
    );
    for (const [u, role] of [
      ["amy", "admin"],
      ["dan", "drafter"],
      ["pat", "publisher"],
    ] as const) {
      const sub = await svc.authz.resolveSubject(`user:${u}@corp.example`);
      assert.ok(!("error" in sub));
      assert.ok((await svc.authz.grant(sub, role, recruiting, "test")).ok);
    }
    for (const u of Object.keys(PEOPLE) as Name[]) sessions[u] = await signInByLink(s, ids[u]);
  });
  after(() => s.close());

  const get = (u: Name, path: string) =>
    fetch(`${s.url}${path}`, { headers: { cookie: sessions[u].cookie }, redirect: "manual" });
  const page = async (u: Name, path: string) => {
    const res = await get(u, path);
    assert.equal(res.status, 200, `${u} ${path}`);
    return res.text();
  };
  const post = (u: Name, path: string, fields: Record<string, string>, csrf = sessions[u].csrf) =>
    fetch(`${s.url}${path}`, {
      method: "POST",
      headers: { cookie: sessions[u].cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, ...fields }),
      redirect: "manual",
    });
  const compose = (u: Name, as: string, text: string, visibility = "public") =>
    post(u, "/app/posts", { as, text, visibility });
  /** The compose form's submit button text. */
  const button = (body: string) =>
    /<form method="post" action="\/app\/posts"[^>]*>[\s\S]*?<button type="submit">\s*([^<]*?)\s*<\/button>/.exec(
      body,
    )?.[1];
  const pendingDrafts = () =>
    s.services.db.run((em) =>
      em.getRepository(DraftSchema).find({ where: { accountId: recruiting.id, status: "pending" } }),
    );

  test("everyone who acts for @recruiting sees its published posts, the drafter included", async () => {
    const sent = await compose("pat", recruiting.id, "We are hiring in Lisbon");
    assert.equal(sent.status, 303);
    for (const u of ["dan", "pat", "amy"] as const) {
      const body = await page(u, `/app?account=${recruiting.id}`);
      assert.ok(body.includes("<div>We are hiring in Lisbon</div>"), `${u} sees the post`);
      assert.ok(!body.includes("Nothing yet."), `${u} is not told "nothing yet"`);
      assert.match(body, /sent by Pat Publisher/);
    }
    assert.equal((await get("emma", `/app?account=${recruiting.id}`)).status, 403, "not those who do not");
  });

  test("a drafter's button says Submit for approval; the confirmation says the draft awaits approval", async () => {
    const shared = await page("dan", `/app?account=${recruiting.id}`);
    assert.equal(button(shared), "Submit for approval");
    const own = await page("dan", "/app");
    assert.equal(button(own), "Post", "as himself he posts");
    assert.match(own, /<p class="hint" id="as-hint">/, "and the select says which accounts need approval");
    assert.equal(button(await page("pat", `/app?account=${recruiting.id}`)), "Post", "a publisher posts");

    const res = await compose("dan", recruiting.id, "Open day on Friday");
    assert.equal(res.status, 303);
    const location = res.headers.get("location") ?? "";
    assert.match(location, /^\/app\?account=[0-9a-f-]{36}&drafted=[0-9a-f-]{36}$/);
    const after = await page("dan", location);
    assert.match(
      after,
      /<p class="notice notice-success" role="status">Submitted for approval\. Your draft awaits approval/,
    );
    const home = await page("dan", "/app");
    assert.match(home, /<h2>Your drafts<\/h2>[\s\S]*Open day on Friday[\s\S]*Awaiting approval/);
  });

  test("approvers are told on their home that drafts wait, per account, with approve and reject", async () => {
    const [draft] = await pendingDrafts();
    assert.ok(draft);
    const home = await page("amy", "/app");
    assert.match(home, /<a href="#waiting"\s*>1 draft waits for your approval<\/a\s*>/);
    assert.match(home, /<h2 id="waiting">Drafts waiting for your approval<\/h2>/);
    assert.match(home, /@recruiting:\s*1 draft\s*waiting/);
    assert.ok(home.includes(`action="/app/drafts/${draft.id}/decide"`), "the decision form");
    assert.match(home, /value="approve"[\s\S]*value="reject"/);
    for (const u of ["dan", "pat", "emma"] as const) {
      const other = await page(u, "/app");
      assert.ok(!other.includes("for your approval"), `${u} approves nothing`);
      assert.ok(!other.includes(`action="/app/drafts/${draft.id}/decide"`), `${u} gets no decision form`);
    }
  });

  test("a rejection is confirmed, its comment reaches the author, and a second decision is shown, not a bare error", async () => {
    const [draft] = await pendingDrafts();
    const res = await post("amy", `/app/drafts/${draft.id}/decide`, {
      verdict: "reject",
      comment: "Add the date",
    });
    assert.equal(res.status, 303);
    const after = await page("amy", res.headers.get("location") ?? "");
    assert.match(
      after,
      /<p class="notice notice-success" role="status">Rejected; the author sees your comment/,
    );
    const dan = await page("dan", "/app");
    assert.match(dan, /Rejected<\/span>[\s\S]*Comment: Add the date/);

    const again = await post("amy", `/app/drafts/${draft.id}/decide`, { verdict: "approve", comment: "" });
    assert.equal(again.status, 409);
    assert.match(again.headers.get("content-type") ?? "", /^text\/html/);
    const body = await again.text();
    assert.match(
      body,
      /<p class="notice notice-error" role="alert">Not approved: This draft was already rejected\.<\/p>/,
    );
    assert.match(body, /<h1>@recruiting<\/h1>/, "on the account's page");
    assert.equal(
      (await post("dan", `/app/drafts/${draft.id}/decide`, { verdict: "approve" })).status,
      403,
      "a drafter may not decide (Casbin)",
    );
  });

  test("a refused post comes back with its input and the problem beside the field", async () => {
    const empty = await compose("dan", recruiting.id, "   ", "followers");
    assert.equal(empty.status, 422);
    const body = await empty.text();
    assert.match(body, /<textarea[^>]*aria-invalid="true" aria-describedby="text-error"/);
    assert.ok(body.includes('<p class="error" id="text-error">A draft needs some text.</p>'));
    assert.match(body, new RegExp(`<option\\s+value="${recruiting.id}"\\s+selected`), "the account kept");
    assert.match(body, /<option\s+value="followers"\s+selected/, "the visibility kept");
    assert.equal(button(body), "Submit for approval");

    const bad = await compose("pat", recruiting.id, "Kept <text> & all", "everyone");
    assert.equal(bad.status, 422, "not a bare 400");
    const badBody = await bad.text();
    assert.ok(badBody.includes('<p class="error" id="visibility-error">Choose who can see the post.</p>'));
    assert.match(
      badBody,
      /<textarea[^>]*>\n?Kept &lt;text&gt; &amp; all<\/textarea>/,
      "the text kept, escaped",
    );
    assert.equal((await pendingDrafts()).length, 0, "nothing was drafted");
  });

  test("a too-long bio comes back in the form with the problem under it", async () => {
    const bio = "x".repeat(501);
    const res = await post("emma", "/app/profile", { summary: bio, manualApproval: "1" });
    assert.equal(res.status, 422);
    const body = await res.text();
    assert.ok(body.includes('<p class="error" id="summary-error">The bio is limited to 500 characters.</p>'));
    assert.match(body, new RegExp(`<textarea[^>]*aria-invalid="true"[^>]*>\\n?${bio}</textarea>`));
    assert.match(body, /name="manualApproval" value="1" checked/, "the box kept");
    assert.notEqual((await s.services.accounts.byHandle("emma"))?.summary, bio);
  });

  test("every staff page names the signed-in person and signs out with a CSRF-protected POST", async () => {
    for (const path of ["/app", "/app/inbox", "/app/profile", `/app?account=${recruiting.id}`]) {
      const body = await page("dan", path);
      assert.match(body, /Signed in as <strong>Dan Drafter<\/strong>/, path);
      assert.ok(
        body.includes(`<form class="signout" method="post" action="/logout">`) &&
          body.includes(`<input type="hidden" name="csrf" value="${sessions.dan.csrf}" />`),
        `${path}: the sign-out form with the token`,
      );
    }
    const { cookie, csrf } = await signInByLink(s, ids.emma);
    const out = (csrf: string) =>
      fetch(`${s.url}/logout`, {
        method: "POST",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf }),
        redirect: "manual",
      });
    assert.equal((await out("forged")).status, 403, "no sign-out without the token");
    assert.equal((await fetch(`${s.url}/app`, { headers: { cookie }, redirect: "manual" })).status, 200);
    assert.equal((await out(csrf)).status, 302);
    assert.equal(
      (await fetch(`${s.url}/app`, { headers: { cookie }, redirect: "manual" })).headers.get("location"),
      "/login?next=%2Fapp",
      "the session has ended",
    );
  });
});
