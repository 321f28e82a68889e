/**
 * Signing in and out, and `/api/me`. SAML SSO is the normal way in (`/login` → `/saml/login`);
 * the one-time links of `herald login-link` are for when the IdP is down. Signing out of a SAML
 * session also asks the IdP to end its session when the IdP takes logout requests.
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Config } from "../config.ts";
import type { Authz } from "../authz/authz.ts";
import { fail } from "../http/errors.ts";
import { html, page } from "../http/html.ts";
import {
  clearSessionCookie,
  csrfForm,
  type SessionCookie,
  setSessionCookie,
} from "../sessions/middleware.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { type ServiceProvider, safeNext } from "../saml/sp.ts";
import { logger } from "../logging.ts";
import { publicChrome } from "./public.ts";

const log = logger("web", "session");

export function sessionRoutes(
  config: Config,
  sessions: Sessions,
  authz: Authz,
  cookie: SessionCookie,
  sp?: ServiceProvider,
): Router {
  const router = caseSensitiveRouter();

  router.get(koa(ROUTES.login), (ctx) => {
    const next = safeNext(typeof ctx.query.next === "string" ? ctx.query.next : "/app");
    if (ctx.state.auth) return ctx.redirect(next);
    const idp = sp?.idp();
    const dev = idp?.entityId.endsWith("/dev-idp/metadata") ?? false;
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `Sign in to ${config.orgName}`,
      html`<h1>Sign in to ${config.orgName}</h1>
        ${
          idp
            ? html`<p>
                  Herald uses ${config.orgName}'s single sign-on: you sign in at the company's identity
                  provider.
                </p>
                <p>
                  <a class="btn btn-primary" href="/saml/login?next=${encodeURIComponent(next)}"
                    >Sign in with single sign-on</a
                  >
                </p>
                ${
                  dev
                    ? html`<p class="muted">
                        This is the development identity provider built into Herald (never in production): it
                        lets you pick a person from the demo directory.
                      </p>`
                    : ""
                }`
            : html`<p>
                Single sign-on is not set up yet: an administrator connects the company's identity provider at
                <code>/admin/connect</code> (see docs/saml.md). Until then, an administrator can make a
                one-time sign-in link with <code>npx herald login-link &lt;userName&gt;</code>.
              </p>`
        }`,
      publicChrome(config),
    );
  });

  router.get(koa(ROUTES.me), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession | undefined;
    if (!auth) fail(401, "Not signed in.");
    const acting = await authz.actingAccounts(auth.person);
    ctx.set("Cache-Control", "no-store");
    ctx.body = {
      userName: auth.person.userName,
      displayName: auth.person.displayName,
      handle: auth.person.handle ? `@${auth.person.handle}@${config.handleDomain}` : null,
      // The accounts this person may act for right now, with what they may do on each.
      accounts: acting.map(({ actor, actions }) => ({
        id: actor.id,
        handle: `@${actor.handle}@${config.handleDomain}`,
        kind: actor.kind,
        actions: [...actions].sort(),
      })),
    };
  });

  // A GET only shows a button: link scanners and previews must not spend the link.
  router.get(koa(ROUTES.loginLink), (ctx) => {
    ctx.set("Cache-Control", "no-store");
    ctx.set("Referrer-Policy", "no-referrer");
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `Sign in to ${config.orgName}`,
      html`<h1>Sign in to ${config.orgName}</h1>
        <p>This one-time link signs you in without the company's identity provider.</p>
        <form method="post"><button type="submit">Sign in</button></form>`,
      publicChrome(config),
    );
  });

  router.post(koa(ROUTES.loginLink), async (ctx) => {
    const r = await sessions.redeemLoginLink(ctx.params.token);
    if (!r.ok) fail(400, r.message);
    const { token, expiresAt } = await sessions.create(r.personId, {
      method: "login-link",
      userAgent: ctx.get("user-agent"),
      ip: ctx.ip,
    });
    setSessionCookie(ctx, cookie, token, expiresAt);
    ctx.redirect("/app");
  });

  router.post(koa(ROUTES.logout), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession | undefined;
    if (auth) {
      await csrfForm(ctx, sessions);
      const token = ctx.cookies.get(cookie.name);
      if (token) await sessions.revoke(token);
      clearSessionCookie(ctx, cookie);
      // SAML profiles §4.4: ask the IdP to end its session too, when it takes logout requests.
      const { method, samlNameId, samlSessionIndex } = auth.session;
      if (sp && method === "saml" && samlNameId) {
        try {
          const url = await sp.startLogout(samlNameId, samlSessionIndex ?? undefined);
          if (url) return ctx.redirect(url);
        } catch (error) {
          log.warn("Could not start single logout at the IdP: {error}", { error });
        }
      }
    }
    clearSessionCookie(ctx, cookie);
    ctx.redirect("/");
  });

  return router;
}
