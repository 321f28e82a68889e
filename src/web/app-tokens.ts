/**
 * The apps people authorized (issue 15): the OAuth tokens of the client API, listed and revoked.
 * In the staff app (`/app/tokens`) a person sees their own — the app, the account it acts as, its
 * scopes, when it was made and last used — and revokes one; on the admin page
 * (`/admin/app-tokens`, Casbin's manage-people on the organization) an administrator sees
 * everyone's and revokes any. Each revocation is a CSRF-checked form with a confirmation box,
 * audited by the OAuth service (api-token.revoke, naming who revoked), and the token fails on its
 * very next API call (src/api/auth.ts resolves only live tokens). The tokens themselves are never
 * shown: only the first characters kept for listings.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ApiAppRow, ApiTokenRow } from "../api/entities.ts";
import type { OAuth } from "../api/oauth.ts";
import type { Config } from "../config.ts";
import type { Accounts } from "../federation/accounts.ts";
import { fail } from "../http/errors.ts";
import { type Html, html, timeTag } from "../http/html.ts";
import { koa, ROUTES } from "../http/routes.ts";
import type { Directory } from "../identity/directory.ts";
import { csrfForm } from "../sessions/middleware.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { type AdminKit, consoleRouter, dataTable, notices } from "./admin-kit.ts";

/** Whose tokens a page shows: the signed-in person's, or (an administrator's page) everyone's. */
export type TokenScope = "own" | "all";

/** The listing's bound (the OAuth service's): the page says when it is reached. */
const LISTED = 500;

export function appTokenPages(deps: {
  config: Config;
  oauth: OAuth;
  accounts: Accounts;
  directory: Directory;
  sessions: Sessions;
}) {
  const { config, oauth, accounts, directory, sessions } = deps;
  const base = (scope: TokenScope) => (scope === "own" ? "/app/tokens" : "/admin/app-tokens");

  /** A name per account and person id, looked up once each for the page. */
  async function namesOf(tokens: readonly ApiTokenRow[]) {
    const accountNames = new Map<string, string>();
    const personNames = new Map<string, string>();
    for (const t of tokens) {
      if (t.accountId && !accountNames.has(t.accountId)) {
        const a = await accounts.byId(t.accountId);
        accountNames.set(t.accountId, a ? `@${a.handle}@${config.handleDomain}` : "a closed account");
      }
      if (t.personId && !personNames.has(t.personId)) {
        const p = await directory.personById(t.personId);
        personNames.set(
          t.personId,
          p ? `${p.displayName ?? p.userName} (${p.userName})` : "a deleted person",
        );
      }
    }
    return {
      account: (t: ApiTokenRow) =>
        t.accountId ? (accountNames.get(t.accountId) ?? "") : "none (the app itself)",
      person: (t: ApiTokenRow) =>
        t.personId ? (personNames.get(t.personId) ?? "") : "none (the app itself)",
    };
  }

  /**
   * The page's content: the live tokens (the person's own, or everyone's), each with its revoke
   * form; `refused` is the token whose form came back without its confirmation.
   */
  async function listing(
    ctx: Context,
    auth: ActiveSession,
    scope: TokenScope,
    refused?: string,
  ): Promise<Html> {
    const entries = await oauth.list(scope === "own" ? { personId: auth.person.id } : {});
    const names = await namesOf(entries.map((e) => e.token));
    const appName = (app: ApiAppRow | null) => app?.name ?? "a removed app";
    const row = ({ token, app }: { token: ApiTokenRow; app: ApiAppRow | null }) => {
      const bad = refused === token.id;
      return html`<tr>
        <td class="words">
          ${appName(app)}${app?.website ? html`<br /><span class="muted small">${app.website}</span>` : ""}
        </td>
        ${scope === "all" ? html`<td class="words">${names.person(token)}</td>` : ""}
        <td class="words">${names.account(token)}</td>
        <td>${token.scopes}</td>
        <td>${timeTag(token.createdAt)}</td>
        <td>${token.lastUsedAt ? timeTag(token.lastUsedAt) : "never"}</td>
        <td>
          <form method="post" action="${base(scope)}/${token.id}/revoke">
            <input type="hidden" name="csrf" value="${auth.csrf}" />
            <label
              ><input
                type="checkbox"
                name="confirm"
                value="yes"
                required
                ${bad ? html`aria-invalid="true" aria-describedby="confirm-${token.id}"` : ""}
              />
              ${appName(app)} stops working now</label
            >
            ${bad ? html`<p class="error" id="confirm-${token.id}">Tick the box to confirm.</p>` : ""}
            <p><button type="submit" class="btn-danger">Revoke</button></p>
          </form>
        </td>
      </tr>`;
    };
    const title = scope === "own" ? "Apps you authorized" : "App tokens";
    return html`<h1>${title}</h1>
      ${notices(ctx, { revoked: "Revoked: the app's next call is refused." })}
      ${
        refused
          ? html`<p class="notice notice-error" role="alert">Not revoked: tick the box to confirm.</p>`
          : ""
      }
      <p>
        ${
          scope === "own"
            ? "The apps you let act for you through the client API (/oauth/authorize or herald app-token create). Each stops working when you revoke it here, when you leave the account's group, or when you leave the company."
            : "Every live token of the client API, newest first: who authorized which app to act as which account. Revoking one stops the app at its next call; the person can authorize it again."
        }
      </p>
      ${
        entries.length === 0
          ? html`<p class="muted">No app holds a live token${scope === "own" ? " of yours" : ""}.</p>`
          : dataTable({
              label: title,
              caption:
                entries.length >= LISTED
                  ? `The newest ${LISTED} tokens. Times in UTC.`
                  : `${entries.length} live ${entries.length === 1 ? "token" : "tokens"}. Times in UTC.`,
              headers: [
                "App",
                ...(scope === "all" ? ["Person"] : []),
                "Acts as",
                "Scopes",
                "Created",
                "Last used",
                "Revoke",
              ],
              records: true,
              rows: entries.map(row),
            })
      }`;
  }

  /**
   * A revoke form's answer: `undefined` when done (a 303 back to the list, which says so), else
   * the page again with the refusal (400). A token that is not live (or, on the person's page,
   * not theirs) is a 404.
   */
  async function revoke(ctx: Context, scope: TokenScope, auth: ActiveSession): Promise<Html | undefined> {
    const { form } = await csrfForm(ctx, sessions, 8_000);
    const id = String(ctx.params.id ?? "");
    if (form.get("confirm") !== "yes") {
      const live = await oauth.list(scope === "own" ? { personId: auth.person.id } : {});
      if (!live.some((e) => e.token.id === id)) fail(404, "No such live app token.");
      ctx.status = 400;
      return listing(ctx, auth, scope, id);
    }
    const by = `person:${auth.person.id}`;
    const done = await oauth.revoke(id, by, scope === "own" ? auth.person.id : undefined);
    if (!done) fail(404, scope === "own" ? "No such live app token of yours." : "No such live app token.");
    ctx.status = 303;
    ctx.redirect(`${base(scope)}?revoked=1`);
    return undefined;
  }

  return { listing, revoke };
}

export type AppTokenPages = ReturnType<typeof appTokenPages>;

/** The administrators' page: every token, any revoked (manage-people on the organization). */
export function adminTokenRoutes(deps: { pages: AppTokenPages; kit: AdminKit }): Router {
  const { pages, kit } = deps;
  const router = consoleRouter();
  const what = "App tokens";
  router.get(koa(ROUTES.admin.appTokens), async (ctx) => {
    const auth = await kit.requireOrg(ctx, "manage-people", what);
    await kit.shell(ctx, auth, what, await pages.listing(ctx, auth, "all"));
  });
  router.post(koa(ROUTES.admin.revokeAppToken), async (ctx) => {
    const auth = await kit.requireOrg(ctx, "manage-people", what);
    const again = await pages.revoke(ctx, "all", auth);
    if (again) await kit.shell(ctx, auth, what, again);
  });
  return router;
}
