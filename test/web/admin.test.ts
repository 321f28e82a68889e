/**
 * The admin pages: only organization admins (and, reading, compliance officers) get in; forms need
 * the session's CSRF token; shared accounts, grants, the audit log (with filters) and the
 * impersonation reports work end to end.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

const who = { name: "test" };

describe(`admin pages on ${TEST_DB}`, () => {
  let s: TestServer;
  const ids: Record<string, string> = {};
  const sessions: Record<string, { cookie: string; csrf: string }> = {};

  before(async () => {
    s = await startTestServer();
    for (const u of ["ada", "cole", "nina"])
      ids[u] = String((await s.services.scim.createUser({ userName: `${u}@corp.example` }, who)).id);
    await s.services.scim.createGroup({ displayName: "Recruiting", members: [{ value: ids.nina }] }, who);
    const grant = async (subject: string, role: string) => {
      const sub = await s.services.authz.resolveSubject(subject);
      assert.ok(!("error" in sub));
      assert.ok((await s.services.authz.grant(sub, role, "org", "test")).ok);
    };
    await grant("user:ada@corp.example", "org-admin");
    await grant("user:cole@corp.example", "compliance-officer");
    for (const u of ["ada", "cole", "nina"]) sessions[u] = await signInByLink(s, ids[u]);
  });
  after(() => s.close());

  const get = (u: string, path: string) =>
    fetch(`${s.url}${path}`, { headers: { cookie: sessions[u].cookie }, redirect: "manual" });
  const post = (u: string, path: string, fields: Record<string, string>, csrf = sessions[u].csrf) =>
    fetch(`${s.url}${path}`, {
      method: "POST",
      headers: { cookie: sessions[u].cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, ...fields }),
      redirect: "manual",
    });

  test("who gets in: org admins everywhere, compliance officers to read, others 403; no session → sign in", async () => {
    assert.equal(
      (await fetch(`${s.url}/admin`, { redirect: "manual" })).headers.get("location"),
      "/login?next=%2Fadmin",
    );
    assert.equal((await get("nina", "/admin")).status, 403);
    for (const path of ["/admin/accounts", "/admin/audit", "/admin/reports", "/admin/grants"])
      assert.equal((await get("nina", path)).status, 403, path);
    for (const path of ["/admin", "/admin/accounts", "/admin/grants", "/admin/audit", "/admin/reports"])
      assert.equal((await get("ada", path)).status, 200, path);
    assert.equal((await get("cole", "/admin/audit")).status, 200);
    assert.equal((await get("cole", "/admin/reports")).status, 200);
    assert.equal((await get("cole", "/admin/accounts")).status, 403, "compliance reads, it does not manage");
    assert.equal((await post("cole", "/admin/accounts", { handle: "pr", name: "PR" })).status, 403);
    // The compliance officer's home links the archive (view-archive on org); the page opens.
    const home = await (await get("cole", "/admin")).text();
    assert.match(home, /<a href="\/admin\/archive">Archive \(search and export\)<\/a>/);
    assert.equal((await get("cole", "/admin/archive")).status, 200);
  });

  test("an admin creates a shared account and grants a group a role on it; revoking works", async () => {
    assert.equal(
      (await post("ada", "/admin/accounts", { handle: "careers", name: "Careers" }, "forged")).status,
      403,
    );
    const created = await post("ada", "/admin/accounts", { handle: "careers", name: "Careers at Corp" });
    assert.equal(created.status, 303);
    const careers = await s.services.accounts.byHandle("careers");
    assert.equal(careers?.displayName, "Careers at Corp");
    assert.equal((await post("ada", "/admin/accounts", { handle: "careers", name: "Again" })).status, 400);
    await waitFor(
      async () => ((await s.services.accounts.byHandle("careers"))?.keysReadyAt ? true : undefined),
      {
        timeoutMs: 30_000,
      },
    );
    const edited = await post("ada", `/admin/accounts/${careers!.id}`, {
      name: "Careers",
      summary: "Jobs at Corp",
      signPosts: "1",
    });
    assert.equal(edited.status, 303);
    assert.equal((await s.services.accounts.byId(careers!.id))?.signPosts, true);

    const granted = await post("ada", "/admin/grants", {
      subject: "Recruiting",
      role: "publisher",
      account: careers!.id,
    });
    assert.equal(granted.status, 303);
    assert.equal((await s.services.authz.decide(ids.nina, "post", careers!)).allow, true);
    assert.equal(
      (await post("ada", "/admin/grants", { subject: "Nobody", role: "publisher", account: careers!.id }))
        .status,
      400,
    );
    const page = await (await get("ada", `/admin/grants?account=${careers!.id}`)).text();
    const grantId = /action="\/admin\/grants\/([0-9a-f-]{36})\/revoke"/.exec(page)?.[1];
    assert.ok(grantId, "a revoke button");
    assert.equal(
      (await post("nina", `/admin/grants/${grantId}/revoke`, {})).status,
      403,
      "a publisher cannot revoke",
    );
    assert.equal((await post("ada", `/admin/grants/${grantId}/revoke`, {})).status, 303);
    assert.equal((await s.services.authz.decide(ids.nina, "post", careers!)).allow, false);
  });

  test("the audit log filters by action and actor; reports are listed", async () => {
    const body = await (await get("cole", "/admin/audit?action=grant.add")).text();
    assert.ok(body.includes("grant.add"));
    assert.ok(body.includes("<code>grant.add</code>"));
    assert.ok(!body.includes("<code>session.create</code>"), "only the filtered action");
    assert.equal((await get("cole", "/admin/audit?from=yesterday")).status, 400);
    await s.services.reports.submit({
      reported: "@fake-recruiter@elsewhere.example",
      details: "Asked me to pay for a <laptop>",
      source: "198.51.100.7",
    });
    const reports = await (await get("cole", "/admin/reports")).text();
    assert.ok(reports.includes("@fake-recruiter@elsewhere.example"));
    assert.ok(reports.includes("Asked me to pay for a &lt;laptop&gt;"), "escaped");
  });
  const tables = (body: string) => ({
    tables: (body.match(/<table\b/g) ?? []).length,
    wrapped: (
      body.match(/<div class="table-wrap" role="region" aria-label="[^"]+" tabindex="0">\s*<table\b/g) ?? []
    ).length,
  });

  test("the audit log names people and accounts, shows the time and the detail as key: value, keeps its filters", async () => {
    const body = await (await get("ada", "/admin/audit?action=grant.add")).text();
    // ada granted Recruiting publisher on @careers (the test above).
    assert.ok(!body.includes(`person:${ids.ada}`), "no person:<uuid> for people to read");
    assert.match(
      body,
      /<td class="words"><a href="\/admin\/audit\?actor=person%3A[0-9a-f-]{36}">ada@corp\.example<\/a><\/td>/,
    );
    assert.match(body, />@careers<\/a>/, "the target by handle");
    assert.match(body, /<time datetime="\d{4}-\d{2}-\d{2}T[\d:.]+Z">/, "the time via timeTag");
    assert.match(body, /<div><strong>role<\/strong>: publisher<\/div>/, "the detail as key: value");
    assert.ok(!body.includes("{&quot;"), "no raw JSON");
    assert.match(body, /id="f-action"\s+name="action"\s+value="grant.add"/, "the filter kept");
    // Who by userName, and about an account by @handle.
    const byName = await (await get("ada", "/admin/audit?actor=ada%40corp.example&target=%40careers")).text();
    assert.match(byName, /<code>account\.shared\.create<\/code>/);
    assert.ok(!byName.includes("<code>session.create</code>"), "only what ada did to @careers");
    assert.match(byName, /id="f-actor"\s+name="actor"\s+value="ada@corp.example"/);
    assert.deepEqual(tables(body), { tables: 1, wrapped: 1 });
  });

  test("a refused audit filter comes back with the fields kept and the problem beside the field", async () => {
    const res = await get("cole", "/admin/audit?from=yesterday&action=grant.add&actor=nobody%40corp.example");
    assert.equal(res.status, 400);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const body = await res.text();
    assert.match(body, /id="f-from"\s+name="from"\s+value="yesterday"\s+aria-invalid="true"/);
    assert.ok(body.includes('<p class="error" id="f-from-error">A date as YYYY-MM-DD.</p>'));
    assert.ok(body.includes('<p class="error" id="f-actor-error">No person with the userName or handle'));
    assert.match(body, /id="f-action"\s+name="action"\s+value="grant.add"/);
  });

  test("admin forms: errors inline with the input kept, confirmations after each change", async () => {
    const dup = await post("ada", "/admin/accounts", { handle: "careers", name: "Careers again" });
    assert.equal(dup.status, 400);
    const dupBody = await dup.text();
    assert.match(dupBody, /id="handle"\s+name="handle"\s+value="careers"[^>]*aria-invalid="true"/);
    assert.match(dupBody, /<p class="error" id="handle-error">The handle @careers is already issued/);
    assert.match(dupBody, /id="name"\s+name="name"\s+value="Careers again"/, "the other field kept");
    const noName = await post("ada", "/admin/accounts", { handle: "press", name: " " });
    assert.equal(noName.status, 400);
    assert.match(
      await noName.text(),
      /<p class="error" id="name-error">The display name needs 1–100 characters/,
    );

    const created = await post("ada", "/admin/accounts", { handle: "press", name: "Press office" });
    assert.equal(created.status, 303);
    const location = created.headers.get("location") ?? "";
    assert.match(location, /^\/admin\/accounts\/[0-9a-f-]{36}\?created=1$/);
    assert.match(await (await get("ada", location)).text(), /role="status">Created @press\./);
    const press = await s.services.accounts.byHandle("press");
    assert.ok(press);
    const blank = await post("ada", `/admin/accounts/${press.id}`, {
      name: "",
      summary: "Kept bio",
      signPosts: "1",
    });
    assert.equal(blank.status, 400);
    const blankBody = await blank.text();
    assert.match(blankBody, /id="summary"\s+name="summary"\s+value="Kept bio"/);
    assert.match(blankBody, /name="signPosts" value="1" checked/);
    assert.equal((await s.services.accounts.byId(press.id))?.displayName, "Press office", "unchanged");
    assert.match(
      await (await get("ada", `/admin/accounts/${press.id}?saved=1`)).text(),
      /role="status">Saved; followers/,
    );

    const refused = await post("ada", "/admin/grants", {
      subject: "Nobody",
      role: "drafter",
      account: press.id,
    });
    assert.equal(refused.status, 400);
    const refusedBody = await refused.text();
    assert.match(refusedBody, /id="subject"\s+name="subject"\s+value="Nobody"[^>]*aria-invalid="true"/);
    assert.match(refusedBody, /<p class="error" id="subject-error">no group named Nobody/);
    assert.match(refusedBody, /<option value="drafter" selected>/, "the role kept");
    assert.match(refusedBody, new RegExp(`<option value="${press.id}" selected>`), "the account kept");
    const granted = await post("ada", "/admin/grants", {
      subject: "Recruiting",
      role: "drafter",
      account: press.id,
    });
    assert.equal(granted.status, 303);
    const grantsPage = await (await get("ada", granted.headers.get("location") ?? "")).text();
    assert.match(grantsPage, /role="status">Granted: it counts from the next request/);
    assert.match(grantsPage, /<td>ada@corp\.example<\/td>/, "granted by, by name");
    assert.ok(!grantsPage.includes(`person:${ids.ada}`));
    const grantId = new RegExp(
      `action="/admin/grants/([0-9a-f-]{36})/revoke"[\\s\\S]*?drafter of Recruiting on @press`,
    ).exec(grantsPage)?.[1];
    assert.ok(grantId);
    const revoked = await post("ada", `/admin/grants/${grantId}/revoke`, {});
    assert.equal(revoked.headers.get("location"), "/admin/grants?revoked=1");
    assert.match(await (await get("ada", "/admin/grants?revoked=1")).text(), /role="status">Revoked/);
    for (const path of ["/admin/accounts", "/admin/grants"]) {
      const t = tables(await (await get("ada", path)).text());
      assert.equal(t.wrapped, t.tables, `${path}: every table in a .table-wrap`);
    }
  });

  test("the reports page says what is kept and shows it: the contact as given, the address only as a keyed hash", async () => {
    await s.services.reports.submit({
      reported: "@fake-hr@elsewhere.example",
      details: "Offered a job for a fee",
      contact: "worried@example.net",
      source: "203.0.113.9",
    });
    const stored = (await s.services.reports.list(10)).find(
      (r) => r.reported === "@fake-hr@elsewhere.example",
    );
    assert.ok(stored);
    const body = await (await get("cole", "/admin/reports")).text();
    assert.ok(!body.includes("203.0.113.9"), "the address is not kept, so not shown");
    assert.ok(body.includes(`<code>${stored.sourceHash.slice(0, 12)}</code>`), "its keyed hash is");
    assert.ok(body.includes("<td>worried@example.net</td>"), "the contact as given");
    assert.match(body, /The contact address is what the sender chose to give, kept and shown as given/);
    assert.ok(!/addresses are kept only as a keyed\s+hash/.test(body), "no claim the page contradicts");
    assert.deepEqual(tables(body), { tables: 1, wrapped: 1 });
  });

  test("every admin page names the signed-in person with a sign-out form carrying the token", async () => {
    for (const path of ["/admin", "/admin/accounts", "/admin/grants", "/admin/audit", "/admin/reports"]) {
      const body = await (await get("ada", path)).text();
      assert.match(body, /Signed in as <strong>ada@corp\.example<\/strong>/, path);
      assert.ok(body.includes(`<input type="hidden" name="csrf" value="${sessions.ada.csrf}" />`), path);
      assert.ok(body.includes('<form class="signout" method="post" action="/logout">'), path);
    }
  });
});
