/**
 * OAuth 2 endpoints as Mastodon serves them (docs.joinmastodon.org/methods/oauth/, /methods/apps/):
 * app registration, the authorization page (authorization code, PKCE S256, or the code shown for
 * `urn:ietf:wg:oauth:2.0:oob`), the token and revocation endpoints and RFC 8414 metadata.
 * Signing in at /oauth/authorize is the staff app's session (SAML SSO or a one-time link): without
 * one the person is sent to /login and back. The consent page says which account the app will act
 * as: the person's own or a shared account Casbin lets them act for now.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { Authz } from "../authz/authz.ts";
import type { Config } from "../config.ts";
import type { ActorRow } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { type Html, html, page } from "../http/html.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { RateLimiter } from "../http/rate-limit.ts";
import { koa, ROUTES } from "../http/routes.ts";
import { csrfForm } from "../sessions/middleware.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { orgIdentity } from "../web/design.ts";
import type { ApiAuth } from "./auth.ts";
import type { ApiAppRow } from "./entities.ts";
import { limitedBy } from "./limits.ts";
import { type OAuth, type OAuthError, OOB } from "./oauth.ts";
import { apiParams, list, type Params, str } from "./params.ts";
import { parseScopes, SCOPES, subsetOf } from "./scopes.ts";

const SCOPE_WORDS: Record<string, string> = {
  read: "read the account's posts, timelines and profile",
  write: "post, and delete posts, as the account",
  follow: "follow and unfollow accounts",
  push: "receive push notifications",
  profile: "see who you are (your name and handle)",
};

/** An authorization request, checked: or an answer that must not redirect (RFC 6749 §4.1.2.1). */
type Checked =
  | {
      readonly ok: true;
      readonly app: ApiAppRow;
      readonly redirectUri: string;
      readonly scopes: string[];
      readonly state: string | undefined;
      readonly challenge: string | null;
    }
  | { readonly ok: false; readonly page: string }
  | { readonly ok: false; readonly redirect: string };

export function oauthRoutes(deps: {
  config: Config;
  oauth: OAuth;
  auth: ApiAuth;
  authz: Authz;
  sessions: Sessions;
  /** Per client address: app registration, token exchange, revocation. */
  oauthLimiter: RateLimiter;
  /** The API's own limiter (per token or address) for the authorization page. */
  apiLimiter: RateLimiter;
  maxBodyBytes: number;
}): Router {
  const { config, oauth, authz, sessions } = deps;
  const router = caseSensitiveRouter();
  const perAddress = limitedBy(deps.oauthLimiter, (ctx) => `ip:${ctx.ip}`);
  const pageLimit = limitedBy(deps.apiLimiter, (ctx) => `ip:${ctx.ip}`);
  const params = (ctx: Context) => apiParams(ctx, deps.maxBodyBytes);
  const endpoint = (path: string) => new URL(path, config.origin).href;
  const chrome = (auth: ActiveSession) => ({
    org: orgIdentity(config),
    session: { name: auth.person.displayName ?? auth.person.userName, csrf: auth.csrf },
  });

  function showPage(ctx: Context, status: number, title: string, body: Html, auth?: ActiveSession): void {
    ctx.status = status;
    ctx.set("Cache-Control", "no-store");
    ctx.set("Referrer-Policy", "no-referrer");
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(title, body, auth ? chrome(auth) : { org: orgIdentity(config) });
  }

  function errorRedirect(redirectUri: string, error: string, description: string, state?: string): string {
    const u = new URL(redirectUri);
    u.searchParams.set("error", error);
    u.searchParams.set("error_description", description);
    if (state !== undefined) u.searchParams.set("state", state);
    return u.href;
  }

  async function check(p: Params): Promise<Checked> {
    const app = await oauth.appByClientId(str(p, "client_id"));
    const problem = (text: string) =>
      ({
        ok: false,
        page: page(
          "Authorization failed",
          html`<h1>Authorization failed</h1>
            <p>${text}</p>`,
          { org: orgIdentity(config) },
        ),
      }) as const;
    if (!app) return problem("The app that sent you here is not registered with Herald (unknown client_id).");
    const redirectUri = str(p, "redirect_uri") ?? "";
    if (!app.redirectUris.split("\n").includes(redirectUri))
      return problem("The app asked to send you back to an address it did not register (redirect_uri).");
    const state = str(p, "state");
    const refuse = (error: string, description: string) =>
      redirectUri === OOB
        ? problem(description)
        : ({ ok: false, redirect: errorRedirect(redirectUri, error, description, state) } as const);
    if (str(p, "response_type") !== "code")
      return refuse("unsupported_response_type", "Only response_type=code is supported.");
    const scopes = parseScopes(str(p, "scope"));
    if (!scopes.ok || !subsetOf(scopes.scopes, app.scopes.split(" ")))
      return refuse(
        "invalid_scope",
        "The requested scope is invalid, unknown, or more than the app registered.",
      );
    const challenge = str(p, "code_challenge") ?? null;
    if (challenge !== null) {
      if (str(p, "code_challenge_method") !== "S256")
        return refuse("invalid_request", "Only the S256 code challenge method is supported (RFC 7636 §4.2).");
      if (!/^[A-Za-z0-9_-]{43}$/.test(challenge))
        return refuse("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters).");
    }
    return { ok: true, app, redirectUri, scopes: scopes.scopes, state, challenge };
  }

  /** A refused request: back to the app with the error, or a page when it cannot go back. */
  function refuse(ctx: Context, checked: Exclude<Checked, { ok: true }>): void {
    if ("redirect" in checked) return ctx.redirect(checked.redirect);
    ctx.status = 400;
    ctx.type = "text/html; charset=utf-8";
    ctx.body = checked.page;
  }

  /** The accounts this person may let an app act as: any they act for now (own first). */
  async function choices(auth: ActiveSession) {
    return (await authz.actingAccounts(auth.person)).filter(
      (a) => a.actions.has("post") || a.actions.has("draft") || a.actions.has("view-inbox"),
    );
  }

  const label = (actor: ActorRow) => `@${actor.handle}@${config.handleDomain}`;

  router.get(koa(ROUTES.oauth.metadata), (ctx) => {
    ctx.set("Cache-Control", "public, max-age=300");
    ctx.body = {
      issuer: new URL("/", config.origin).href,
      service_documentation: "https://docs.joinmastodon.org/",
      authorization_endpoint: endpoint(ROUTES.oauth.authorize),
      token_endpoint: endpoint(ROUTES.oauth.token),
      revocation_endpoint: endpoint(ROUTES.oauth.revoke),
      app_registration_endpoint: endpoint(ROUTES.mastodon.apps),
      scopes_supported: SCOPES,
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      code_challenge_methods_supported: ["S256"],
      grant_types_supported: ["authorization_code", "client_credentials"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    };
  });

  router.post(koa(ROUTES.mastodon.apps), perAddress, async (ctx) => {
    const p = await params(ctx);
    const uris = list(p, "redirect_uris")
      .flatMap((u) => u.split(/\r?\n/))
      .map((u) => u.trim())
      .filter(Boolean);
    const r = await oauth.registerApp({
      name: str(p, "client_name") ?? "",
      redirectUris: uris,
      scopes: str(p, "scopes"),
      website: str(p, "website") || null,
      by: "api",
    });
    if (!r.ok) fail(422, `Validation failed: ${r.message}`);
    ctx.set("Cache-Control", "no-store");
    ctx.body = {
      id: r.app.id,
      name: r.app.name,
      website: r.app.website,
      scopes: r.app.scopes.split(" "),
      redirect_uri: r.app.redirectUris,
      redirect_uris: r.app.redirectUris.split("\n"),
      client_id: r.app.clientId,
      client_secret: r.clientSecret,
      client_secret_expires_at: 0,
    };
  });

  router.get(koa(ROUTES.mastodon.appCredentials), pageLimit, async (ctx) => {
    const c = await deps.auth.caller(ctx, "app");
    ctx.body = {
      id: c.app.id,
      name: c.app.name,
      website: c.app.website,
      scopes: c.app.scopes.split(" "),
      redirect_uri: c.app.redirectUris,
      redirect_uris: c.app.redirectUris.split("\n"),
    };
  });

  router.get(koa(ROUTES.oauth.authorize), pageLimit, async (ctx) => {
    const p = await params(ctx);
    const checked = await check(p);
    if (!checked.ok) return refuse(ctx, checked);
    const auth = ctx.state.auth as ActiveSession | undefined;
    // Signing in is the staff app's: SSO (or a one-time link), then back here.
    if (!auth) return ctx.redirect(`${ROUTES.login}?next=${encodeURIComponent(ctx.originalUrl)}`);
    const { app, redirectUri, scopes, state, challenge } = checked;
    const accounts = await choices(auth);
    if (accounts.length === 0)
      return showPage(
        ctx,
        403,
        "No account to authorize",
        html`<h1>No account to authorize</h1>
          <p>
            You act for no account yet, so ${app.name} has nothing to act as. Ask IT, or an account's owner.
          </p>`,
        auth,
      );
    const hidden = (name: string, value: string | null | undefined) =>
      value === null || value === undefined
        ? ""
        : html`<input type="hidden" name="${name}" value="${value}" />`;
    showPage(
      ctx,
      200,
      `Authorize ${app.name}`,
      html`<h1>Authorize ${app.name}</h1>
        <p>
          <strong>${app.name}</strong>${app.website ? html` (<span class="muted">${app.website}</span>)` : ""}
          asks to use ${config.orgName}'s Herald. It will be able to:
        </p>
        <ul>
          ${scopes.map((s) => html`<li>${SCOPE_WORDS[s] ?? s}</li>`)}
        </ul>
        <form method="post" action="${ROUTES.oauth.authorize}">
          <input type="hidden" name="csrf" value="${auth.csrf}" />
          ${hidden("response_type", "code")} ${hidden("client_id", app.clientId)}
          ${hidden("redirect_uri", redirectUri)} ${hidden("scope", scopes.join(" "))}
          ${hidden("state", state)} ${hidden("code_challenge", challenge)}
          ${hidden("code_challenge_method", challenge ? "S256" : null)}
          <div class="field">
            <p><strong>Act as</strong></p>
            ${accounts.map(
              (a, i) =>
                html`<p>
                  <input
                    type="radio"
                    name="account"
                    id="account-${a.actor.id}"
                    value="${a.actor.id}"
                    ${i === 0 ? "checked" : ""}
                  />
                  <label for="account-${a.actor.id}"
                    >${label(a.actor)}${a.actor.kind === "person" ? " (you)" : ""}${
                      !a.actions.has("post") && a.actions.has("draft") ? " — posts wait for approval" : ""
                    }</label
                  >
                </p>`,
            )}
          </div>
          <p class="muted">
            Whatever ${app.name} does is recorded under your name. It stops working when you leave the
            account's group or the company, and an administrator can revoke it at any time.
          </p>
          <p class="actions">
            <button type="submit" name="decision" value="approve">Authorize</button>
            <button type="submit" name="decision" value="deny" class="btn-secondary">Deny</button>
          </p>
        </form>`,
      auth,
    );
  });

  router.post(koa(ROUTES.oauth.authorize), pageLimit, async (ctx) => {
    if (!ctx.state.auth) fail(401, "Your session has ended; sign in again.");
    const { auth, form } = await csrfForm(ctx, sessions, deps.maxBodyBytes);
    const p = Object.fromEntries(form.entries());
    const checked = await check(p);
    if (!checked.ok) return refuse(ctx, checked);
    const { app, redirectUri, scopes, state, challenge } = checked;
    if (form.get("decision") !== "approve") {
      if (redirectUri === OOB)
        return showPage(
          ctx,
          200,
          "Not authorized",
          html`<h1>Not authorized</h1>
            <p>${app.name} was not given access.</p>`,
          auth,
        );
      return ctx.redirect(
        errorRedirect(redirectUri, "access_denied", "The resource owner denied the request.", state),
      );
    }
    // Decided again now: the page may be minutes old.
    const chosen = (await choices(auth)).find((a) => a.actor.id === form.get("account"));
    if (!chosen) fail(403, "You may not let an app act as that account.");
    const code = await oauth.issueCode({
      app,
      personId: auth.person.id,
      accountId: chosen.actor.id,
      scopes,
      redirectUri,
      challenge,
    });
    if (redirectUri === OOB)
      return showPage(
        ctx,
        200,
        "Authorization code",
        html`<h1>Authorization code</h1>
          <p>Copy this code and paste it into ${app.name}. It works once, within 10 minutes.</p>
          <p class="card"><code id="code">${code}</code></p>`,
        auth,
      );
    const back = new URL(redirectUri);
    back.searchParams.set("code", code);
    if (state !== undefined) back.searchParams.set("state", state);
    ctx.redirect(back.href);
  });

  function oauthFailure(ctx: Context, e: OAuthError): void {
    ctx.status = e.status;
    ctx.set("Cache-Control", "no-store");
    if (e.error === "invalid_client" && /^Basic /i.test(ctx.get("authorization")))
      ctx.set("WWW-Authenticate", 'Basic realm="Herald"');
    ctx.body = { error: e.error, error_description: e.description };
  }

  /** Client credentials from HTTP Basic (RFC 6749 §2.3.1) or the body. */
  function clientOf(ctx: Context, p: Params): { id?: string; secret?: string } {
    const m = /^Basic\s+(\S+)$/i.exec(ctx.get("authorization"));
    if (m) {
      const decoded = Buffer.from(m[1], "base64").toString("utf8");
      const at = decoded.indexOf(":");
      if (at > 0)
        return {
          id: decodeURIComponent(decoded.slice(0, at).replace(/\+/g, " ")),
          secret: decodeURIComponent(decoded.slice(at + 1).replace(/\+/g, " ")),
        };
    }
    return { id: str(p, "client_id"), secret: str(p, "client_secret") };
  }

  router.post(koa(ROUTES.oauth.token), perAddress, async (ctx) => {
    const p = await params(ctx);
    const client = clientOf(ctx, p);
    const grant = str(p, "grant_type");
    if (grant !== "authorization_code" && grant !== "client_credentials")
      return oauthFailure(ctx, {
        ok: false,
        status: 400,
        error: "unsupported_grant_type",
        description: "The authorization grant type is not supported by the authorization server.",
      });
    const app = await oauth.authenticateClient(client.id, client.secret);
    if ("ok" in app) return oauthFailure(ctx, app);
    const issued =
      grant === "client_credentials"
        ? await oauth.clientCredentials(app, str(p, "scope"))
        : await oauth.exchangeCode({
            app,
            code: str(p, "code"),
            redirectUri: str(p, "redirect_uri"),
            verifier: str(p, "code_verifier"),
            stillAllowed: async (code) => {
              const s = await deps.auth.standing(code);
              return "reason" in s ? `The grant no longer holds: ${s.reason}.` : undefined;
            },
          });
    if ("ok" in issued) return oauthFailure(ctx, issued);
    ctx.set("Cache-Control", "no-store");
    ctx.set("Pragma", "no-cache");
    ctx.body = {
      access_token: issued.token,
      token_type: "Bearer",
      scope: issued.row.scopes,
      created_at: Math.floor(issued.row.createdAt.getTime() / 1000),
    };
  });

  router.post(koa(ROUTES.oauth.revoke), perAddress, async (ctx) => {
    const p = await params(ctx);
    const client = clientOf(ctx, p);
    const app = await oauth.authenticateClient(client.id, client.secret);
    if ("ok" in app) return oauthFailure(ctx, app);
    // RFC 7009 §2.2: 200 whether or not the token was valid.
    await oauth.revokeByValue(app, str(p, "token"));
    ctx.body = {};
  });

  return router;
}
