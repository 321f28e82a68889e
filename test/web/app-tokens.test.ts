/**
 * The apps people authorized (src/web/app-tokens.ts): in the staff app a person lists their own
 * client-API tokens (app, account acted as, scopes, created, last used) and revokes one; on
 * /admin/app-tokens an org admin (Casbin manage-people) lists everyone's and revokes any. Forms
 * need the session's CSRF token and the confirmation box; each revocation is audited with who did
 * it; the revoked token fails on its very next API call (masto 8), the others keep working.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRestAPIClient, MastoHttpError } from "masto";
import { appTokenCreate } from "../../src/api/cli.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { browserAvailable, launchBrowser, layoutProblems } from "../helpers/browser.ts";
import { LAYOUT_ON_SQLITE_ONLY, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type SignedIn, signInByLink } from "../helpers/sign-in.ts";

const scimActor = { name: "scim-token:test" };

describe(`app token pages on ${TEST_DB}`, () => {
  let s: TestServer;
  const ids: Record<string, string> = {};
  const sessions: Record<string, SignedIn> = {};
  /** Token values by `<who>:<app>`. */
  const tokens: Record<string, string> = {};

  const client = (key: string) => createRestAPIClient({ url: s.url, accessToken: tokens[key] });
  const get = (who: string, path: string) =>
    fetch(`${s.url}${path}`, { headers: { cookie: sessions[who].cookie }, redirect: "manual" });
  const post = (who: string, path: string, form: Record<string, string>) =>
    fetch(`${s.url}${path}`, {
      method: "POST",
      headers: { cookie: sessions[who].cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form),
      redirect: "manual",
    });
  /** The live token's id for the app `app` of person `who` (the page names it in its form). */
  async function tokenId(who: string, app: string): Promise<string> {
    const live = await s.services.oauth.list({ personId: ids[who] });
    const found = live.find((e) => e.app?.name === app);
    assert.ok(found, `${who} holds a ${app} token`);
    return found.token.id;
  }
  const revokeAudits = (id: string) =>
    s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).findBy({ action: "api-token.revoke", targetId: id }),
    );
  async function refused401(p: Promise<unknown>) {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof MastoHttpError, String(e));
      assert.equal(e.statusCode, 401);
      return true;
    });
  }
  /** The table's rows as their cells' text, whitespace collapsed. */
  function rows(page: string): string[][] {
    const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(page)?.[1] ?? "";
    return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
      [...r[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) =>
        c[1]
          .replace(/<form[\s\S]*<\/form>/, "form")
          .replace(/<[^>]+>/g, " ")
          .replace(/\s+/g, " ")
          .trim(),
      ),
    );
  }

  before(async () => {
    s = await startTestServer();
    for (const [u, name] of [
      ["jane", "Jane Doe"],
      ["pete", "Pete Post"],
      ["ada", "Ada Admin"],
      ["anna", "Anna Analyst"],
    ])
      ids[u] = String(
        (await s.services.scim.createUser({ userName: `${u}@corp.example`, displayName: name }, scimActor))
          .id,
      );
    await s.services.scim.createGroup(
      { displayName: "Recruiting", members: [{ value: ids.jane }] },
      scimActor,
    );
    const recruiting = await s.services.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(recruiting.ok);
    const group = await s.services.authz.resolveSubject("Recruiting");
    const ada = await s.services.authz.resolveSubject("user:ada@corp.example");
    const anna = await s.services.authz.resolveSubject("user:anna@corp.example");
    assert.ok(!("error" in group) && !("error" in ada) && !("error" in anna));
    assert.ok((await s.services.authz.grant(group, "publisher", recruiting.actor, "test")).ok);
    assert.ok((await s.services.authz.grant(ada, "org-admin", "org", "test")).ok);
    assert.ok((await s.services.authz.grant(anna, "analyst", recruiting.actor, "test")).ok);
    for (const u of ["jane", "pete"])
      await waitFor(async () => (await s.services.accounts.byHandle(u))?.keysReadyAt ?? undefined, {
        timeoutMs: 60_000,
        what: `${u}'s keys`,
      });
    for (const [who, account, app, scopes] of [
      ["jane", "recruiting", "Ivory", "read write"],
      ["jane", "jane", "Buffer", "read write follow"],
      ["pete", "pete", "Tusky", "read"],
    ]) {
      const r = await appTokenCreate(s.services, {
        userName: `${who}@corp.example`,
        account,
        scopes,
        app,
        by: "test",
      });
      assert.ok(r.ok, r.ok ? "" : r.message);
      tokens[`${who}:${app}`] = r.token;
    }
    for (const u of ["jane", "pete", "ada", "anna"]) sessions[u] = await signInByLink(s, ids[u]);
  });
  after(() => s?.close());

  test("a person sees only her own apps: app, account acted as, scopes, created, last used", async () => {
    await client("jane:Ivory").v1.accounts.verifyCredentials();
    const res = await get("jane", "/app/tokens");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const page = await res.text();
    assert.match(page, /<a href="\/app\/tokens" aria-current="page">Apps<\/a>/);
    const listed = rows(page);
    assert.equal(listed.length, 2, "Jane's two tokens, not Pete's");
    const byApp = Object.fromEntries(listed.map((r) => [r[0], r]));
    assert.deepEqual(Object.keys(byApp).sort(), ["Buffer", "Ivory"]);
    assert.equal(byApp.Ivory[1], "@recruiting@127.0.0.1:3999");
    assert.equal(byApp.Ivory[2], "read write");
    assert.match(byApp.Ivory[3], /^\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC \(just now\)$/);
    assert.match(byApp.Ivory[4], / UTC /, "used: when");
    assert.equal(byApp.Buffer[1], "@jane@127.0.0.1:3999");
    assert.equal(byApp.Buffer[2], "read write follow");
    assert.equal(byApp.Buffer[4], "never");
    assert.equal(byApp.Ivory[5], "form");
    assert.doesNotMatch(page, /Tusky/);
    assert.doesNotMatch(page, new RegExp(tokens["jane:Ivory"]), "never the token itself");
  });

  test("revoking one: CSRF, the confirmation box, audited, and its next call fails", async () => {
    const id = await tokenId("jane", "Ivory");
    const path = `/app/tokens/${id}/revoke`;
    assert.equal((await post("jane", path, { confirm: "yes" })).status, 403, "no CSRF token");
    assert.equal((await post("jane", path, { csrf: "forged", confirm: "yes" })).status, 403);
    const unconfirmed = await post("jane", path, { csrf: sessions.jane.csrf });
    assert.equal(unconfirmed.status, 400);
    const again = await unconfirmed.text();
    assert.match(again, /<p class="error" id="confirm-[^"]+">Tick the box to confirm\.<\/p>/);
    assert.match(again, /aria-invalid="true"/);
    await client("jane:Ivory").v1.accounts.verifyCredentials();
    assert.equal((await revokeAudits(id)).length, 0);

    const done = await post("jane", path, { csrf: sessions.jane.csrf, confirm: "yes" });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get("location"), "/app/tokens?revoked=1");
    await refused401(client("jane:Ivory").v1.accounts.verifyCredentials());
    assert.equal(
      (await client("jane:Buffer").v1.accounts.verifyCredentials()).acct,
      "jane",
      "the other works",
    );
    const audits = await revokeAudits(id);
    assert.equal(audits.length, 1);
    assert.equal(audits[0].actor, `person:${ids.jane}`);
    const listed = await (await get("jane", "/app/tokens?revoked=1")).text();
    assert.match(
      listed,
      /<p class="notice notice-success" role="status">Revoked: the app&#39;s next call is refused\.<\/p>/,
    );
    assert.deepEqual(
      rows(listed).map((r) => r[0]),
      ["Buffer"],
    );
    assert.equal((await post("jane", path, { csrf: sessions.jane.csrf, confirm: "yes" })).status, 404);
  });

  test("a person cannot revoke someone else's token", async () => {
    const petes = await tokenId("pete", "Tusky");
    const res = await post("jane", `/app/tokens/${petes}/revoke`, {
      csrf: sessions.jane.csrf,
      confirm: "yes",
    });
    assert.equal(res.status, 404);
    assert.match(await res.text(), /No such live app token of yours/);
    assert.equal((await client("pete:Tusky").v1.accounts.verifyCredentials()).acct, "pete");
    assert.equal((await revokeAudits(petes)).length, 0);
  });

  test("the admin page: org admins list every token and revoke any; others get 403", async () => {
    for (const who of ["jane", "anna"]) {
      const res = await get(who, "/admin/app-tokens");
      assert.equal(res.status, 403, who);
      assert.match(await res.text(), /App tokens needs the manage-people permission/);
    }
    const page = await (await get("ada", "/admin/app-tokens")).text();
    assert.match(page, /<a href="\/admin\/app-tokens" aria-current="page">App tokens<\/a>/);
    const listed = rows(page).map((r) => r.slice(0, 4));
    assert.deepEqual(
      listed.sort((x, y) => x[0].localeCompare(y[0])),
      [
        ["Buffer", "Jane Doe (jane@corp.example)", "@jane@127.0.0.1:3999", "read write follow"],
        ["Tusky", "Pete Post (pete@corp.example)", "@pete@127.0.0.1:3999", "read"],
      ],
    );
    const petes = await tokenId("pete", "Tusky");
    const path = `/admin/app-tokens/${petes}/revoke`;
    assert.equal((await post("anna", path, { csrf: sessions.anna.csrf, confirm: "yes" })).status, 403);
    assert.equal((await post("ada", path, { csrf: sessions.ada.csrf })).status, 400, "not confirmed");
    assert.equal((await client("pete:Tusky").v1.accounts.verifyCredentials()).acct, "pete");
    const done = await post("ada", path, { csrf: sessions.ada.csrf, confirm: "yes" });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get("location"), "/admin/app-tokens?revoked=1");
    await refused401(client("pete:Tusky").v1.accounts.verifyCredentials());
    const audits = await revokeAudits(petes);
    assert.equal(audits.length, 1);
    assert.equal(audits[0].actor, `person:${ids.ada}`);
    assert.deepEqual(
      rows(await (await get("ada", "/admin/app-tokens")).text()).map((r) => r[0]),
      ["Buffer"],
    );
  });

  test(
    "both pages in Chromium at 390 and 1280 px: no overflow, axe WCAG 2.1 A/AA clean",
    { skip: LAYOUT_ON_SQLITE_ONLY || (!browserAvailable && "no Chromium") },
    async () => {
      const { browser, close } = await launchBrowser();
      try {
        const problems: string[] = [];
        for (const [who, path] of [
          ["jane", "/app/tokens"],
          ["ada", "/admin/app-tokens"],
        ])
          for (const width of [390, 1280]) {
            const context = await browser.newContext({ viewport: { width, height: 900 } });
            await context.addCookies([{ name: sessions[who].name, value: sessions[who].value, url: s.url }]);
            const page = await context.newPage();
            const res = await page.goto(`${s.url}${path}`);
            assert.equal(res?.status(), 200);
            problems.push(...(await layoutProblems(page, `${path} at ${width}`)));
            await context.close();
          }
        assert.deepEqual(problems, []);
      } finally {
        await close();
      }
    },
  );
});
