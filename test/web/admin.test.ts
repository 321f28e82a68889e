/**
 * The admin pages: only organization admins (and, reading, compliance officers) get in; forms need
 * the session's CSRF token; shared accounts, grants, the audit log (with filters) and the
 * impersonation reports work end to end.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

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
    for (const u of ["ada", "cole", "nina"]) {
      const link = await s.services.sessions.createLoginLink(ids[u], "test");
      const res = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
      const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
      const auth = await s.services.sessions.resolve(cookie.split("=")[1]);
      assert.ok(auth);
      sessions[u] = { cookie, csrf: auth.csrf };
    }
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
    assert.ok(!body.includes("<td>session.create</td>"), "only the filtered action");
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
});
