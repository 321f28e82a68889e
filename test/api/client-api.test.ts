/**
 * The Mastodon client API through an independent client (masto 8) against a real Herald on
 * loopback: an app registers, a person signs in (one-time link) and authorizes it with PKCE on the
 * consent page, choosing which account it acts as; the code is exchanged once; the token posts as
 * her own account and as @recruiting; a drafter's post becomes a draft; Idempotency-Key, Link
 * pagination and revocation; every call re-decided (group removal, revoked grant, deactivation);
 * the OAuth errors of a wrong verifier, redirect_uri, a reused or expired code.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createOAuthAPIClient, createRestAPIClient, type mastodon, MastoHttpError } from "masto";
import { appTokenCreate } from "../../src/api/cli.ts";
import { ApiCodeSchema } from "../../src/api/entities.ts";
import { ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { DraftSchema } from "../../src/federation/drafts.ts";
import { type ActorRow, PostSchema } from "../../src/federation/entities.ts";
import type { PatchOperation } from "../../src/scim/patch.ts";
import { TEST_DB, testEnv, waitFor } from "../helpers/env.ts";
import { runCli } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const scimActor = { name: "scim-token:test" };
const REDIRECT = "http://127.0.0.1:9/callback";

interface App {
  clientId: string;
  clientSecret: string;
}

describe(`the Mastodon client API through masto on ${TEST_DB}`, () => {
  let s: TestServer;
  let recruiting: ActorRow;
  let app: App;
  let groupId: string;
  const ids: Record<string, string> = {};

  const oauthClient = () => createOAuthAPIClient({ url: s.url });
  const rest = (accessToken: string) => createRestAPIClient({ url: s.url, accessToken });

  async function signIn(who: string): Promise<string> {
    const link = await s.services.sessions.createLoginLink(ids[who], "test");
    const res = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
    assert.equal(res.status, 302);
    return (res.headers.get("set-cookie") ?? "").split(";")[0];
  }

  const pkce = () => {
    const verifier = randomBytes(32).toString("base64url");
    return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
  };

  function authorizeUrl(a: App, challenge?: string, redirectUri = REDIRECT, scope = "read write") {
    const u = new URL("/oauth/authorize", s.url);
    u.searchParams.set("response_type", "code");
    u.searchParams.set("client_id", a.clientId);
    u.searchParams.set("redirect_uri", redirectUri);
    u.searchParams.set("scope", scope);
    u.searchParams.set("state", "xyz");
    if (challenge) {
      u.searchParams.set("code_challenge", challenge);
      u.searchParams.set("code_challenge_method", "S256");
    }
    return u;
  }

  /** The consent page, then the person's choice: the code from the redirect (or the oob page). */
  async function consent(
    who: string,
    a: App,
    opts: { account?: string; challenge?: string; redirectUri?: string } = {},
  ): Promise<{ code: string; page: string }> {
    const url = authorizeUrl(a, opts.challenge, opts.redirectUri);
    const anonymous = await fetch(url, { redirect: "manual" });
    assert.equal(anonymous.status, 302, "no session: sent to sign in");
    assert.equal(
      anonymous.headers.get("location"),
      `/login?next=${encodeURIComponent(url.pathname + url.search)}`,
    );
    const cookie = await signIn(who);
    const page = await fetch(url, { headers: { cookie }, redirect: "manual" });
    assert.equal(page.status, 200);
    const body = await page.text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)?.[1];
    assert.ok(csrf);
    const form = new URLSearchParams();
    for (const m of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
      form.set(m[1], m[2].replace(/&amp;/g, "&"));
    form.set("account", opts.account ?? ids[`${who}:actor`]);
    form.set("decision", "approve");
    const res = await fetch(`${s.url}/oauth/authorize`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: form,
      redirect: "manual",
    });
    if ((opts.redirectUri ?? REDIRECT) === "urn:ietf:wg:oauth:2.0:oob") {
      assert.equal(res.status, 200);
      const shown = await res.text();
      const code = /<code id="code">([^<]+)<\/code>/.exec(shown)?.[1];
      assert.ok(code);
      return { code, page: body };
    }
    assert.equal(res.status, 302, await res.clone().text());
    const back = new URL(res.headers.get("location") ?? "");
    assert.equal(back.origin + back.pathname, REDIRECT);
    assert.equal(back.searchParams.get("state"), "xyz");
    return { code: back.searchParams.get("code") ?? "", page: body };
  }

  function exchange(a: App, code: string, verifier?: string, redirectUri = REDIRECT) {
    return oauthClient().token.create({
      grantType: "authorization_code",
      clientId: a.clientId,
      clientSecret: a.clientSecret,
      redirectUri,
      code,
      ...(verifier ? { codeVerifier: verifier } : {}),
    } as mastodon.oauth.CreateTokenParams);
  }

  async function tokenFor(who: string, account?: string): Promise<string> {
    const { verifier, challenge } = pkce();
    const { code } = await consent(who, app, { account, challenge });
    return (await exchange(app, code, verifier)).accessToken;
  }

  async function refused(p: Promise<unknown>, status: number, error?: string | RegExp) {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof MastoHttpError, String(e));
      assert.equal(e.statusCode, status, e.message);
      if (error)
        assert.match(
          String((e.additionalProperties as { error?: string } | undefined)?.error ?? e.message),
          error instanceof RegExp ? error : new RegExp(error),
        );
      return true;
    });
  }

  const members = (op: "add" | "remove", who: string): PatchOperation[] => [
    { op, path: "members", value: [{ value: ids[who] }] },
  ];

  before(async () => {
    s = await startTestServer();
    for (const who of ["jane", "dora", "pete"])
      ids[who] = String(
        (await s.services.scim.createUser({ userName: `${who}@corp.example`, displayName: who }, scimActor))
          .id,
      );
    groupId = String(
      (
        await s.services.scim.createGroup(
          { displayName: "Recruiting", members: [{ value: ids.jane }] },
          scimActor,
        )
      ).id,
    );
    await s.services.scim.createGroup(
      { displayName: "Recruiting Drafters", members: [{ value: ids.dora }] },
      scimActor,
    );
    const created = await s.services.accounts.createShared("recruiting", "Recruiting at Corp", "test");
    assert.ok(created.ok);
    recruiting = created.actor;
    for (const [sub, role] of [
      ["Recruiting", "publisher"],
      ["Recruiting Drafters", "drafter"],
      ["user:pete@corp.example", "publisher"],
    ]) {
      const subject = await s.services.authz.resolveSubject(sub);
      assert.ok(!("error" in subject));
      assert.ok((await s.services.authz.grant(subject, role, recruiting, "test")).ok);
    }
    for (const handle of ["jane", "dora", "pete", "recruiting"]) {
      const actor = await waitFor(
        async () => {
          const a = await s.services.accounts.byHandle(handle);
          return a?.keysReadyAt ? a : undefined;
        },
        { timeoutMs: 60_000, what: `${handle}'s keys` },
      );
      ids[`${handle}:actor`] = actor.id;
    }
    const registered = await rest("").v1.apps.create({
      clientName: "Masto test",
      redirectUris: `${REDIRECT}\nurn:ietf:wg:oauth:2.0:oob`,
      scopes: "read write",
      website: "https://example.com",
    });
    assert.ok(registered.clientId && registered.clientSecret);
    app = { clientId: registered.clientId, clientSecret: registered.clientSecret };
  });

  after(async () => {
    await s?.close();
  });

  test("metadata (RFC 8414) and app registration", async () => {
    const meta = await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json();
    assert.equal(meta.authorization_endpoint, "http://127.0.0.1:3999/oauth/authorize");
    assert.equal(meta.token_endpoint, "http://127.0.0.1:3999/oauth/token");
    assert.equal(meta.revocation_endpoint, "http://127.0.0.1:3999/oauth/revoke");
    assert.deepEqual(meta.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(meta.grant_types_supported, ["authorization_code", "client_credentials"]);
    for (const bad of ["javascript:alert(1)", "/relative", "https://x.example/cb#frag"]) {
      const r = await fetch(`${s.url}/api/v1/apps`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ client_name: "Bad", redirect_uris: bad }),
      });
      assert.equal(r.status, 422, bad);
      assert.match((await r.json()).error, /^Validation failed: redirect_uris/);
    }
    const unknownScope = await fetch(`${s.url}/api/v1/apps`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_name: "X", redirect_uris: REDIRECT, scopes: "read admin:write" }),
    });
    assert.equal(unknownScope.status, 422);
    const tooBig = await fetch(`${s.url}/api/v1/apps`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: "x".repeat(100_000), redirect_uris: REDIRECT }),
    });
    assert.equal(tooBig.status, 413);
    assert.ok((await tooBig.json()).error);
  });

  test("client credentials: app-level calls such as instance, not a person's", async () => {
    const t = await oauthClient().token.create({
      grantType: "client_credentials",
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      redirectUri: REDIRECT,
      scope: "read",
    });
    const client = rest(t.accessToken);
    const v1 = await client.v1.instance.fetch();
    assert.equal(v1.uri, "127.0.0.1:3999");
    const v2 = await client.v2.instance.fetch();
    assert.equal(v2.domain, "127.0.0.1:3999");
    assert.equal(v2.configuration.statuses.maxCharacters, 5000);
    await refused(client.v1.accounts.verifyCredentials(), 422, "requires an authenticated user");
    await refused(
      oauthClient().token.create({
        grantType: "client_credentials",
        clientId: app.clientId,
        clientSecret: "wrong",
        redirectUri: REDIRECT,
      }),
      401,
    );
  });

  test("PKCE through a real session: verify_credentials, post, get, idempotency, pagination, delete, revoke", async () => {
    const { verifier, challenge } = pkce();
    const { code, page } = await consent("jane", app, { challenge });
    assert.match(page, /@jane@127\.0\.0\.1:3999 \(you\)/);
    assert.match(page, /@recruiting@127\.0\.0\.1:3999/, "the shared account she may act for is offered");
    const token = await exchange(app, code, verifier);
    assert.equal(token.tokenType, "Bearer");
    assert.equal(token.scope, "read write");
    const client = rest(token.accessToken);
    const me = await client.v1.accounts.verifyCredentials();
    assert.equal(me.id, ids["jane:actor"]);
    assert.equal(me.acct, "jane");

    const posted = await client.v1.statuses.create({
      status: "Hello from an app #hiring",
      visibility: "public",
    });
    assert.equal(typeof posted.id, "string");
    assert.equal(posted.account.id, ids["jane:actor"]);
    assert.deepEqual(
      posted.tags.map((t) => t.name),
      ["hiring"],
    );
    assert.equal((await client.v1.statuses.$select(posted.id).fetch()).content, posted.content);

    const key = randomBytes(8).toString("hex");
    const once = await client.v1.statuses.create(
      { status: "Only once, whatever the network does" },
      { requestInit: { headers: { "Idempotency-Key": key } } },
    );
    const again = await client.v1.statuses.create(
      { status: "Only once, whatever the network does" },
      { requestInit: { headers: { "Idempotency-Key": key } } },
    );
    assert.equal(again.id, once.id, "the same key gives the same status");

    for (const n of [1, 2, 3]) await client.v1.statuses.create({ status: `Numbered ${n}` });
    const first = await fetch(`${s.url}/api/v1/timelines/home?limit=2`, {
      headers: { authorization: `Bearer ${token.accessToken}` },
    });
    const page1 = (await first.json()) as { id: string; content: string }[];
    assert.deepEqual(
      page1.map((x) => x.content),
      ["<p>Numbered 3</p>", "<p>Numbered 2</p>"],
    );
    const link = first.headers.get("link") ?? "";
    assert.match(link, new RegExp(`max_id=${page1[1].id}&?[^>]*>; rel="next"`));
    assert.match(link, new RegExp(`min_id=${page1[0].id}[^>]*>; rel="prev"`));
    // masto follows the Link header by itself.
    const seen: string[] = [];
    for await (const batch of client.v1.timelines.home.list({ limit: 2 }))
      seen.push(...batch.map((x) => x.id));
    assert.equal(seen.length, 5, "one post, one idempotent post, three numbered");
    assert.equal(new Set(seen).size, 5);
    const newer = await client.v1.timelines.home.list({ minId: page1[1].id, limit: 5 });
    assert.deepEqual(
      newer.map((x) => x.id),
      [page1[0].id],
    );
    const own = await client.v1.accounts.$select(ids["jane:actor"]).statuses.list({ limit: 40 });
    assert.equal(own.length, 5);
    const pub = await rest("").v1.timelines.public.list({ limit: 40 });
    assert.ok(pub.some((x) => x.id === posted.id));
    const found = await client.v1.accounts.lookup({ acct: "jane" });
    assert.equal(found.id, ids["jane:actor"]);
    for (const empty of [
      client.v1.customEmojis.list(),
      client.v1.filters.list(),
      client.v1.lists.list(),
      client.v1.announcements.list(),
      client.v1.trends.tags.list(),
    ])
      assert.deepEqual(await empty, []);
    assert.deepEqual(await client.v1.markers.fetch({ timeline: ["home"] }), {});
    assert.equal((await client.v1.preferences.fetch())["posting:default:visibility"], "public");

    const deleted = await client.v1.statuses.$select(posted.id).remove();
    assert.equal(deleted.id, posted.id);
    await refused(client.v1.statuses.$select(posted.id).fetch(), 404, "Record not found");

    await oauthClient().revoke({
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      token: token.accessToken,
    });
    await refused(client.v1.accounts.verifyCredentials(), 401, /access token is invalid/);
  });

  test("acting as @recruiting: the post names the person, the app and the token", async () => {
    const token = await tokenFor("jane", recruiting.id);
    const client = rest(token);
    assert.equal((await client.v1.accounts.verifyCredentials()).acct, "recruiting");
    const posted = await client.v1.statuses.create({ status: "We are hiring engineers" });
    assert.equal(posted.account.acct, "recruiting");
    const tokenRow = (await s.services.oauth.list({ personId: ids.jane })).find(
      (t) => t.token.accountId === recruiting.id,
    );
    assert.ok(tokenRow);
    // The API id is the sortable one; audit and archive name the post's UUID.
    const row = await s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneByOrFail({ apiId: Number(posted.id) }),
    );
    const [audit] = await s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).findBy({ action: "post.create", targetId: row.id }),
    );
    const detail = JSON.parse(audit.detail ?? "{}");
    assert.equal(audit.actor, `person:${ids.jane}`);
    assert.equal(detail.via, "api");
    assert.equal(detail.app, "Masto test");
    assert.equal(detail.tokenId, tokenRow.token.id);
    const [record] = await s.services.db.run((em) =>
      em.getRepository(ArchiveRecordSchema).findBy({ kind: "post.create", subjectId: row.id }),
    );
    assert.equal(record.personId, ids.jane);
    assert.equal(record.app, "Masto test");
    assert.equal(record.tokenId, tokenRow.token.id);
  });

  test("a drafter's post becomes a draft awaiting approval (202, pending marker)", async () => {
    const { verifier, challenge } = pkce();
    const { code, page } = await consent("dora", app, { account: recruiting.id, challenge });
    assert.match(page, /@recruiting@127\.0\.0\.1:3999 — posts wait for approval/);
    const token = (await exchange(app, code, verifier)).accessToken;
    const res = await fetch(`${s.url}/api/v1/statuses`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ status: "Career fair on Friday!", visibility: "public" }),
    });
    assert.equal(res.status, 202);
    const body = await res.json();
    assert.deepEqual(body.herald, { pending_approval: true, draft_id: body.id });
    assert.equal(body.account.acct, "recruiting");
    assert.equal(body.visibility, "public");
    const draft = await s.services.db.run((em) => em.getRepository(DraftSchema).findOneBy({ id: body.id }));
    assert.equal(draft?.status, "pending");
    assert.equal(draft?.authorPersonId, ids.dora);
    // masto takes it as a status.
    const viaMasto = await rest(token).v1.statuses.create({ status: "Second draft" });
    assert.equal(typeof viaMasto.id, "string");
    assert.equal((await s.services.drafts.pending(recruiting.id)).length, 2);
    await refused(rest(token).v1.statuses.$select(body.id).fetch(), 404);
  });

  test("every call is re-decided: group removal, revoked grant, deactivation", async () => {
    const jane = rest(await tokenFor("jane", recruiting.id));
    const pete = rest(await tokenFor("pete", recruiting.id));
    const doraHeld = (await s.services.oauth.list({ personId: ids.dora })).length;
    const dora = rest(await tokenFor("dora"));
    // Dora drafts for @recruiting too: a second token, acting as the shared account.
    const doraForRecruiting = rest(await tokenFor("dora", recruiting.id));
    for (const c of [jane, pete, dora, doraForRecruiting]) await c.v1.accounts.verifyCredentials();

    await s.services.scim.patchGroup(groupId, members("remove", "jane"), scimActor);
    await refused(jane.v1.accounts.verifyCredentials(), 403, /may no longer act for @recruiting/);
    await refused(jane.v1.statuses.create({ status: "after leaving the group" }), 403);
    await s.services.scim.patchGroup(groupId, members("add", "jane"), scimActor);
    await jane.v1.accounts.verifyCredentials();

    const subject = await s.services.authz.resolveSubject("user:pete@corp.example");
    assert.ok(!("error" in subject));
    assert.ok(await s.services.authz.revoke(subject, "publisher", recruiting, "test"));
    await refused(Promise.resolve(pete.v1.timelines.home.list()), 403);

    const doraTokens = (await s.services.oauth.list({ personId: ids.dora })).length;
    assert.equal(doraTokens, doraHeld + 2, "her own account's and @recruiting's");
    await s.services.scim.patchUser(ids.dora, [{ op: "replace", path: "active", value: false }], scimActor);
    // All of them fail on their next call, her own account's and the shared account's alike
    // (refused as a former employee's, or already revoked by the deactivation's event).
    for (const c of [dora, doraForRecruiting]) {
      await refused(c.v1.accounts.verifyCredentials(), 401);
      await refused(c.v1.statuses.create({ status: "after leaving the company" }), 401);
    }
    await s.services.events.drain();
    assert.equal((await s.services.oauth.list({ personId: ids.dora })).length, 0, "her tokens are revoked");
  });

  test("OAuth errors: wrong verifier, wrong redirect_uri, reused and expired codes", async () => {
    const p1 = pkce();
    const c1 = await consent("jane", app, { challenge: p1.challenge });
    await refused(exchange(app, c1.code, pkce().verifier), 400, "invalid_grant");
    const c2 = await consent("jane", app, { challenge: p1.challenge });
    await refused(exchange(app, c2.code, p1.verifier, "http://127.0.0.1:9/other"), 400, "invalid_grant");
    const c3 = await consent("jane", app, { challenge: p1.challenge });
    await refused(exchange(app, c3.code), 400, "invalid_grant");

    const c4 = await consent("jane", app, { challenge: p1.challenge });
    const first = await exchange(app, c4.code, p1.verifier);
    await rest(first.accessToken).v1.accounts.verifyCredentials();
    await refused(exchange(app, c4.code, p1.verifier), 400, "invalid_grant");
    // A code presented twice revokes the token it was exchanged for (RFC 6749 §4.1.2).
    await refused(rest(first.accessToken).v1.accounts.verifyCredentials(), 401, /access token is invalid/);

    const c5 = await consent("jane", app, { challenge: p1.challenge });
    await s.services.db.run((em) =>
      em
        .getRepository(ApiCodeSchema)
        .createQueryBuilder()
        .update()
        .set({ expiresAt: new Date(Date.now() - 1000) })
        .where("used_at IS NULL")
        .execute(),
    );
    await refused(exchange(app, c5.code, p1.verifier), 400, "invalid_grant");

    const raw = await fetch(`${s.url}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "password",
        client_id: app.clientId,
        client_secret: app.clientSecret,
      }),
    });
    assert.equal(raw.status, 400);
    assert.equal((await raw.json()).error, "unsupported_grant_type");
    const plain = await fetch(
      authorizeUrl(app).href.replace("code_challenge", "x") +
        "&code_challenge=abc&code_challenge_method=plain",
      {
        redirect: "manual",
      },
    );
    assert.equal(plain.status, 302);
    assert.equal(new URL(plain.headers.get("location") ?? "").searchParams.get("error"), "invalid_request");
    const wrongRedirect = await fetch(authorizeUrl(app, undefined, "https://evil.example/cb"), {
      redirect: "manual",
    });
    assert.equal(wrongRedirect.status, 400, "an unregistered redirect_uri is never redirected to");
  });

  test("the consent form needs the session's CSRF token and an account the person acts for", async () => {
    const cookie = await signIn("pete");
    const url = authorizeUrl(app);
    const body = await (await fetch(url, { headers: { cookie } })).text();
    assert.doesNotMatch(body, /@jane@/, "only accounts she acts for are offered");
    const form = new URLSearchParams();
    for (const m of body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
      form.set(m[1], m[2].replace(/&amp;/g, "&"));
    form.set("decision", "approve");
    const post = (f: URLSearchParams) =>
      fetch(`${s.url}/oauth/authorize`, {
        method: "POST",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: f,
        redirect: "manual",
      });
    const forged = new URLSearchParams(form);
    forged.set("csrf", "forged");
    forged.set("account", ids["pete:actor"]);
    assert.equal((await post(forged)).status, 403, "a forged CSRF token");
    const foreign = new URLSearchParams(form);
    foreign.set("account", ids["jane:actor"]);
    assert.equal((await post(foreign)).status, 403, "someone else's account");
    const denied = new URLSearchParams(form);
    denied.set("account", ids["pete:actor"]);
    denied.set("decision", "deny");
    const res = await post(denied);
    assert.equal(res.status, 302);
    assert.equal(new URL(res.headers.get("location") ?? "").searchParams.get("error"), "access_denied");
  });

  test("urn:ietf:wg:oauth:2.0:oob shows the code", async () => {
    const { code } = await consent("jane", app, { redirectUri: "urn:ietf:wg:oauth:2.0:oob" });
    const t = await exchange(app, code, undefined, "urn:ietf:wg:oauth:2.0:oob");
    assert.equal((await rest(t.accessToken).v1.accounts.verifyCredentials()).acct, "jane");
  });

  test("herald app-token create prints a token on its last line", async () => {
    const { config } = s.services;
    const env = testEnv({
      DATABASE_URL: config.database.url,
      HERALD_DATA_DIR: config.dataDir,
      HERALD_ORIGIN: "http://127.0.0.1:3999",
    });
    const r = await runCli(
      [
        "app-token",
        "create",
        "jane@corp.example",
        "--account",
        "recruiting",
        "--scopes",
        "read write",
        "--app",
        "Scheduler",
      ],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim().split("\n").at(-1) ?? "";
    const client = rest(token);
    assert.equal((await client.v1.accounts.verifyCredentials()).acct, "recruiting");
    const denied = await runCli(["app-token", "create", "dora@corp.example", "--account", "recruiting"], env);
    assert.equal(denied.code, 1, "a deactivated person gets no token");
    // Without --scopes: "read write", as the usage says.
    const plain = await appTokenCreate(s.services, {
      userName: "jane@corp.example",
      account: "jane",
      by: "test",
    });
    assert.ok(plain.ok, plain.ok ? "" : plain.message);
    const [latest] = await s.services.oauth.list({ personId: ids.jane });
    assert.equal(latest.token.scopes, "read write");
    assert.equal((await rest(plain.token).v1.accounts.verifyCredentials()).acct, "jane");
  });
});
