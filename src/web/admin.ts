/**
 * Admin pages at `/admin` for organization admins (and, read-only, compliance officers): shared
 * accounts (create, profile), grants (who holds which role where), the audit log with filters and
 * the impersonation reports from /verify. Every page asks Casbin for its own action and stops with
 * 403 and a reason; every form carries the session's CSRF token.
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Context } from "koa";
import { Between, type FindOptionsWhere, LessThanOrEqual, MoreThanOrEqual } from "typeorm";
import { type Action, type Authz, ACCOUNT_ROLES, ORG, ORG_ROLES } from "../authz/authz.ts";
import type { Config } from "../config.ts";
import { type AuditEvent, AuditEventSchema } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { csrfForm, requireSession } from "../sessions/middleware.ts";
import { type Html, html, timeTag } from "../http/html.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import type { Directory } from "../identity/directory.ts";
import type { Reports } from "../verify/reports.ts";
import { type AdminKit, dataTable } from "./admin-kit.ts";
import { auditNames, renderDetail } from "./audit-view.ts";
import { insightAccounts } from "./insights.ts";

export function adminRoutes(deps: {
  config: Config;
  db: Database;
  accounts: Accounts;
  directory: Directory;
  authz: Authz;
  sessions: Sessions;
  reports: Reports;
  kit: AdminKit;
}): Router {
  const { config, db, accounts, directory, authz, sessions, reports, kit } = deps;
  /** Names for the audit log's people, accounts and records, looked up once per page. */
  const namer = () => auditNames({ db, accounts, directory });
  const router = caseSensitiveRouter({ prefix: ROUTES.admin.prefix });
  const domain = config.handleDomain;

  router.use(requireSession());

  /** Stops with 403 unless the person may do `action` organization-wide. */
  async function requireOrg(ctx: Context, action: Action): Promise<ActiveSession> {
    const auth = ctx.state.auth as ActiveSession;
    const d = await authz.decide(auth.person, action, ORG);
    if (!d.allow)
      fail(403, `This page needs the ${action} permission of an organization admin or compliance officer.`);
    return auth;
  }

  const form = async (ctx: Context): Promise<URLSearchParams> => (await csrfForm(ctx, sessions, 32_000)).form;

  /** The page shell: its navigation lists only the admin pages Casbin lets this person open. */
  const shell = kit.shell;

  const csrfField = (auth: ActiveSession) => html`<input type="hidden" name="csrf" value="${auth.csrf}" />`;

  router.get(koa(ROUTES.admin.home), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const allowed = (await kit.openable(auth)).map(
      ({ href, about }) => html`<li><a href="${href}">${about}</a></li>`,
    );
    // Insights are decided per account: an analyst of @recruiting has them there, not org-wide.
    const insights = await insightAccounts(authz, accounts, auth);
    if (allowed.length === 0)
      fail(
        403,
        "The admin pages are for organization admins and compliance officers (npx herald admin add), and for analysts of an account (its insights).",
      );
    await shell(
      ctx,
      auth,
      "Administration",
      html`<h1>Administration</h1>
        ${
          allowed.length > 0
            ? html`<ul>
                ${allowed}
              </ul>`
            : ""
        }
        ${
          insights.length > 0
            ? html`<h2>Insights</h2>
                <p class="muted">Followers, replies, boosts and likes of the accounts you may view.</p>
                <ul id="insight-accounts">
                  ${insights.map(
                    (a) =>
                      html`<li>
                        <a href="/admin/insights?account=${a.handle}">Insights of @${a.handle}</a>
                        (${a.displayName})
                      </li>`,
                  )}
                </ul>`
            : ""
        }`,
    );
  });

  /** Confirmations after a change: a flag in the redirect's query picks one fixed sentence. */
  const notices = (ctx: Context, texts: Record<string, string>) =>
    Object.entries(texts)
      .filter(([flag]) => typeof ctx.query[flag] === "string")
      .map(([, text]) => html`<p class="notice notice-success" role="status">${text}</p>`);

  /** A labelled text input; with an error it is marked invalid and the message sits under it. */
  const textField = (
    id: string,
    name: string,
    labelText: string,
    value: string,
    error: string | undefined,
    attrs: Html = html``,
  ) =>
    html`<div class="field">
      <label for="${id}">${labelText}</label>
      <input
        type="text"
        id="${id}"
        name="${name}"
        value="${value}"
        ${attrs}
        ${error ? html`aria-invalid="true" aria-describedby="${id}-error"` : ""}
      />
      ${error ? html`<p class="error" id="${id}-error">${error}</p>` : ""}
    </div>`;

  interface NewAccountForm {
    readonly handle: string;
    readonly name: string;
    readonly error: { readonly field: "handle" | "name"; readonly message: string };
  }

  async function accountsPage(ctx: Context, auth: ActiveSession, kept?: NewAccountForm): Promise<void> {
    const shared = (await accounts.list()).filter((a) => a.kind === "shared" && !a.deletedAt);
    const err = (f: NewAccountForm["error"]["field"]) =>
      kept?.error.field === f ? kept.error.message : undefined;
    await shell(
      ctx,
      auth,
      "Shared accounts",
      html`<h1>Shared accounts</h1>
        ${notices(ctx, { saved: "Saved." })}
        ${dataTable({
          label: "Shared accounts",
          caption: "Accounts people speak for together",
          headers: ["Handle", "Name", "Posts signed", "Profile"],
          rows: shared.map(
            (a) =>
              html`<tr>
                <td><code>@${a.handle}@${domain}</code></td>
                <td>${a.displayName}</td>
                <td>${a.signPosts ? "yes" : "no"}</td>
                <td>
                  <a href="/admin/accounts/${a.id}">Edit<span class="visually-hidden"> @${a.handle}</span></a>
                </td>
              </tr>`,
          ),
        })}
        <h2>New shared account</h2>
        ${kept ? html`<p class="notice notice-error" role="alert">Not created: fix the field marked below.</p>` : ""}
        <form method="post" action="/admin/accounts">
          ${csrfField(auth)}
          ${textField(
            "handle",
            "handle",
            "Handle",
            kept?.handle ?? "",
            err("handle"),
            html`required maxlength="30" pattern="[a-z0-9_]+"`,
          )}
          ${textField("name", "name", "Display name", kept?.name ?? "", err("name"), html`required maxlength="100"`)}
          <p><button type="submit">Create</button></p>
        </form>`,
    );
  }

  router.get(koa(ROUTES.admin.accounts), async (ctx) => {
    const auth = await requireOrg(ctx, "manage-accounts");
    await accountsPage(ctx, auth);
  });

  router.post(koa(ROUTES.admin.accounts), async (ctx) => {
    const auth = await requireOrg(ctx, "manage-accounts");
    const f = await form(ctx);
    const handle = f.get("handle") ?? "";
    const name = f.get("name") ?? "";
    const again = (field: NewAccountForm["error"]["field"], message: string) => {
      ctx.status = 400;
      return accountsPage(ctx, auth, { handle, name, error: { field, message } });
    };
    if (name.trim() === "" || name.trim().length > 100)
      return again("name", "The display name needs 1–100 characters.");
    const r = await accounts.createShared(handle, name, `person:${auth.person.id}`);
    if (!r.ok) return again("handle", r.message);
    ctx.status = 303;
    ctx.redirect(`/admin/accounts/${r.actor.id}?created=1`);
  });

  async function sharedAccount(ctx: Context): Promise<ActorRow> {
    const actor = await accounts.byId(ctx.params.id);
    if (!actor || actor.kind !== "shared" || actor.deletedAt) fail(404, "No such shared account.");
    return actor;
  }

  interface ProfileForm {
    readonly name: string;
    readonly summary: string;
    readonly signPosts: boolean;
    readonly manualApproval: boolean;
    readonly error: string;
  }

  async function accountPage(
    ctx: Context,
    auth: ActiveSession,
    actor: ActorRow,
    kept?: ProfileForm,
  ): Promise<void> {
    const v = kept ?? {
      name: actor.displayName,
      summary: actor.summary ?? "",
      signPosts: actor.signPosts,
      manualApproval: actor.manualApproval,
    };
    await shell(
      ctx,
      auth,
      `@${actor.handle}`,
      html`<h1>@${actor.handle}@${domain}</h1>
        ${notices(ctx, {
          created: `Created @${actor.handle}. Next, grant roles: who may post, draft and approve for it.`,
          saved: "Saved; followers' servers get the update.",
        })}
        ${kept ? html`<p class="notice notice-error" role="alert">Not saved: fix the field marked below.</p>` : ""}
        <form method="post" action="/admin/accounts/${actor.id}">
          ${csrfField(auth)}
          ${textField("name", "name", "Display name", v.name, kept?.error, html`maxlength="100" required`)}
          ${textField("summary", "summary", "Bio", v.summary, undefined, html`maxlength="500"`)}
          <label
            ><input type="checkbox" name="signPosts" value="1" ${v.signPosts ? "checked" : ""} /> Sign posts
            publicly with the name of who wrote them ("— Jane")</label
          >
          <label
            ><input type="checkbox" name="manualApproval" value="1" ${v.manualApproval ? "checked" : ""} />
            Approve new followers by hand</label
          >
          <p><button type="submit">Save</button></p>
        </form>
        <p>
          <a href="/admin/grants?account=${actor.id}">Who may act for @${actor.handle}</a> ·
          <a href="/@${actor.handle}">Public profile</a>
        </p>`,
    );
  }

  router.get(koa(ROUTES.admin.account), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const actor = await sharedAccount(ctx);
    if (!(await authz.decide(auth.person, "edit-profile", actor)).allow)
      fail(403, `You may not edit the profile of @${actor.handle}.`);
    await accountPage(ctx, auth, actor);
  });

  router.post(koa(ROUTES.admin.account), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const actor = await sharedAccount(ctx);
    if (!(await authz.decide(auth.person, "edit-profile", actor)).allow)
      fail(403, `You may not edit the profile of @${actor.handle}.`);
    const f = await form(ctx);
    const name = (f.get("name") ?? "").trim();
    const summary = (f.get("summary") ?? "").trim().slice(0, 500);
    const signPosts = f.get("signPosts") === "1";
    const manualApproval = f.get("manualApproval") === "1";
    if (name === "" || name.length > 100) {
      ctx.status = 400;
      return accountPage(ctx, auth, actor, {
        name,
        summary,
        signPosts,
        manualApproval,
        error: "The display name needs 1–100 characters.",
      });
    }
    await accounts.configure(
      actor.id,
      { displayName: name, summary, signPosts, manualApproval },
      `person:${auth.person.id}`,
    );
    ctx.status = 303;
    ctx.redirect(`/admin/accounts/${actor.id}?saved=1`);
  });

  interface GrantForm {
    readonly subject: string;
    readonly role: string;
    readonly account: string;
    readonly error: string;
  }

  async function grantsPage(ctx: Context, auth: ActiveSession, kept?: GrantForm): Promise<void> {
    const only = typeof ctx.query.account === "string" ? ctx.query.account : undefined;
    const all = (await accounts.list()).filter((a) => a.kind === "shared" && !a.deletedAt);
    // Org admins see everything; an account's owner sees and manages that account's grants.
    const manageable: ActorRow[] = [];
    const can = await authz.decider(auth.person);
    for (const a of all) if ((await can("manage-grants", a)).allow) manageable.push(a);
    const orgManage = (await can("manage-grants", ORG)).allow;
    if (manageable.length === 0 && !orgManage) fail(403, "You may not manage grants on any account.");
    const ids = new Set(manageable.map((a) => a.id));
    const byId = new Map(all.map((a) => [a.id, a]));
    const grants = (await authz.grants(only)).filter((g) =>
      g.accountId === ORG ? orgManage : ids.has(g.accountId),
    );
    const where = (id: string) => (id === ORG ? "the organization" : `@${byId.get(id)?.handle ?? id}`);
    const names = namer();
    const grantedBy = new Map<string, string>();
    for (const g of grants)
      if (!grantedBy.has(g.createdBy)) grantedBy.set(g.createdBy, await names.actor(g.createdBy));
    const chosenAccount = kept?.account ?? only;
    await shell(
      ctx,
      auth,
      "Grants",
      html`<h1>Who may act for which account</h1>
        ${notices(ctx, {
          granted: "Granted: it counts from the next request of everyone it covers.",
          revoked: "Revoked: it no longer counts, from the next request on.",
        })}
        <p class="muted">
          Roles and what they allow: <code>rbac/policy.csv</code>. Group membership comes from the IdP and
          counts at once.
        </p>
        ${dataTable({
          label: "Grants",
          headers: [
            "Account",
            "Role",
            "Group or person",
            "Granted by",
            html`<span class="muted">Action</span>`,
          ],
          rows: grants.map(
            (g) =>
              html`<tr>
                <td>${where(g.accountId)}</td>
                <td>${g.role}</td>
                <td>${g.subjectKind === "user" ? "person" : "group"} ${g.subjectLabel}</td>
                <td>${grantedBy.get(g.createdBy)}</td>
                <td>
                  <form method="post" action="/admin/grants/${g.id}/revoke">
                    ${csrfField(auth)}<button
                      type="submit"
                      class="btn-secondary"
                      aria-label="Revoke ${g.role} of ${g.subjectLabel} on ${where(g.accountId)}"
                    >
                      Revoke
                    </button>
                  </form>
                </td>
              </tr>`,
          ),
        })}
        <h2>Grant a role</h2>
        ${kept ? html`<p class="notice notice-error" role="alert">Not granted: ${kept.error}</p>` : ""}
        <form method="post" action="/admin/grants">
          ${csrfField(auth)}
          ${textField(
            "subject",
            "subject",
            "Group name, or user:userName",
            kept?.subject ?? "",
            kept?.error,
            html`required placeholder="Recruiting"`,
          )}
          <label for="role">Role</label>
          <select id="role" name="role">
            ${ACCOUNT_ROLES.map((r) => html`<option value="${r}" ${kept?.role === r ? "selected" : ""}>${r}</option>`)}
            ${
              orgManage
                ? ORG_ROLES.map(
                    (r) =>
                      html`<option value="${r}" ${kept?.role === r ? "selected" : ""}>
                        ${r} (organization-wide)
                      </option>`,
                  )
                : ""
            }
          </select>
          <label for="account">Account</label>
          <select id="account" name="account">
            ${manageable.map(
              (a) =>
                html`<option value="${a.id}" ${a.id === chosenAccount ? "selected" : ""}>
                  @${a.handle}
                </option>`,
            )}
            ${
              orgManage
                ? html`<option value="${ORG}" ${chosenAccount === ORG ? "selected" : ""}>
                    the organization (for organization-wide roles)
                  </option>`
                : ""
            }
          </select>
          <p><button type="submit">Grant</button></p>
        </form>`,
    );
  }

  router.get(koa(ROUTES.admin.grants), async (ctx) => grantsPage(ctx, ctx.state.auth as ActiveSession));

  router.post(koa(ROUTES.admin.grants), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const f = await form(ctx);
    const accountId = f.get("account") ?? "";
    const account = accountId === ORG ? ORG : await accounts.byId(accountId);
    if (!account) fail(404, "No such account.");
    if (!(await authz.decide(auth.person, "manage-grants", account)).allow)
      fail(403, "You may not manage grants on that account.");
    const subjectText = f.get("subject") ?? "";
    const role = f.get("role") ?? "";
    const again = (error: string) => {
      ctx.status = 400;
      return grantsPage(ctx, auth, { subject: subjectText, role, account: accountId, error });
    };
    const subject = await authz.resolveSubject(subjectText);
    if ("error" in subject) return again(subject.error);
    const r = await authz.grant(subject, role, account, `person:${auth.person.id}`);
    if (!r.ok) return again(r.message);
    ctx.status = 303;
    ctx.redirect(`/admin/grants?${accountId === ORG ? "" : `account=${accountId}&`}granted=1`);
  });

  router.post(koa(ROUTES.admin.revokeGrant), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    await form(ctx);
    const grant = (await authz.grants()).find((g) => g.id === ctx.params.id);
    if (!grant) fail(404, "No such grant (already revoked?).");
    const account = grant.accountId === ORG ? ORG : await accounts.byId(grant.accountId);
    if (!account || !(await authz.decide(auth.person, "manage-grants", account)).allow)
      fail(403, "You may not manage grants on that account.");
    await authz.revoke(
      { kind: grant.subjectKind, id: grant.subjectId, label: grant.subjectLabel },
      grant.role,
      account,
      `person:${auth.person.id}`,
    );
    ctx.status = 303;
    ctx.redirect("/admin/grants?revoked=1");
  });

  router.get(koa(ROUTES.admin.audit), async (ctx) => {
    const auth = await requireOrg(ctx, "view-audit");
    const q = (k: string) => (typeof ctx.query[k] === "string" ? (ctx.query[k] as string).trim() : "");
    const errors: Partial<Record<"actor" | "target" | "from" | "to", string>> = {};
    const where: FindOptionsWhere<AuditEvent> = {};
    if (q("action")) where.action = q("action");
    // Who: as the log spells it (person:<id>, cli:root, scim-token:okta), or a person's userName
    // or @handle.
    if (q("actor")) {
      const asked = q("actor");
      if (asked.startsWith("person:") || !asked.includes("@")) where.actor = asked;
      else {
        const p = asked.startsWith("@")
          ? await directory.personByHandle(asked.slice(1).split("@")[0])
          : await directory.personByUserName(asked);
        if (p) where.actor = `person:${p.id}`;
        else errors.actor = `No person with the userName or handle ${asked}.`;
      }
    }
    // What: an id as stored, or an account's @handle.
    if (q("target")) {
      const asked = q("target");
      if (!asked.startsWith("@")) where.targetId = asked;
      else {
        const a = await accounts.byHandle(asked.slice(1).split("@")[0]);
        if (a) where.targetId = a.id;
        else errors.target = `No account ${asked}.`;
      }
    }
    const day = /^\d{4}-\d{2}-\d{2}$/;
    const from = q("from") ? new Date(`${q("from")}T00:00:00.000Z`) : undefined;
    const to = q("to") ? new Date(`${q("to")}T23:59:59.999Z`) : undefined;
    if (from && (!day.test(q("from")) || Number.isNaN(from.getTime()))) errors.from = "A date as YYYY-MM-DD.";
    if (to && (!day.test(q("to")) || Number.isNaN(to.getTime()))) errors.to = "A date as YYYY-MM-DD.";
    const refused = Object.keys(errors).length > 0;
    if (!errors.from && !errors.to) {
      if (from && to) where.at = Between(from, to);
      else if (from) where.at = MoreThanOrEqual(from);
      else if (to) where.at = LessThanOrEqual(to);
    }
    const events = refused
      ? []
      : await db.run((em) =>
          em.getRepository(AuditEventSchema).find({ where, order: { id: "DESC" }, take: 200 }),
        );
    const names = namer();
    const rows: Html[] = [];
    for (const e of events) {
      const filterBy = (k: string, v: string) => `/admin/audit?${new URLSearchParams({ [k]: v })}`;
      rows.push(
        html`<tr>
          <td>${timeTag(e.at)}</td>
          <td class="words"><a href="${filterBy("actor", e.actor)}">${await names.actor(e.actor)}</a></td>
          <td>
            <a href="${filterBy("action", e.action)}"><code>${e.action}</code></a>
          </td>
          <td class="words">
            ${e.targetId ? html`<a href="${filterBy("target", e.targetId)}">${await names.target(e.targetType, e.targetId)}</a>` : await names.target(e.targetType, e.targetId)}
          </td>
          <td class="small">${await renderDetail(e.detail, names)}</td>
        </tr>`,
      );
    }
    if (refused) ctx.status = 400;
    await shell(
      ctx,
      auth,
      "Audit log",
      html`<h1>Audit log</h1>
        ${refused ? html`<p class="notice notice-error" role="alert">Not filtered: fix the fields marked below.</p>` : ""}
        <form method="get" action="/admin/audit">
          ${textField("f-action", "action", "Action (e.g. post.create, draft.approve, grant.add)", q("action"), undefined)}
          ${textField("f-actor", "actor", "Who (a userName, @handle, cli:root, scim-token:okta)", q("actor"), errors.actor)}
          ${textField("f-target", "target", "About (an @account or an id)", q("target"), errors.target)}
          ${textField("f-from", "from", "From (YYYY-MM-DD)", q("from"), errors.from)}
          ${textField("f-to", "to", "To (YYYY-MM-DD)", q("to"), errors.to)}
          <p class="actions">
            <button type="submit">Filter</button>
            <a class="btn btn-secondary" href="/admin/audit">Clear</a>
          </p>
        </form>
        ${dataTable({
          label: "Audit records",
          caption: "Newest first, at most 200. Times in UTC.",
          headers: ["When", "Who", "Action", "About", "Detail"],
          rows,
          records: true,
        })}`,
    );
  });

  router.get(koa(ROUTES.admin.reports), async (ctx) => {
    const auth = await requireOrg(ctx, "view-reports");
    const rows = await reports.list(200);
    await shell(
      ctx,
      auth,
      "Impersonation reports",
      html`<h1>Impersonation reports</h1>
        <p class="muted">
          Sent by the public from <a href="/verify">/verify</a>. The sender's network address is not kept:
          only a keyed hash of it (HMAC-SHA-256), shown shortened below so reports from one source can be told
          apart. The contact address is what the sender chose to give, kept and shown as given.
        </p>
        ${dataTable({
          label: "Impersonation reports",
          headers: ["When", "Reported", "What happened", "Contact (as given)", "Source (keyed hash)"],
          records: true,
          rows: rows.map(
            (r) =>
              html`<tr>
                <td>${timeTag(r.createdAt)}</td>
                <td>${r.reported}</td>
                <td>${r.details}</td>
                <td>${r.contact ?? html`<span class="muted">none given</span>`}</td>
                <td><code>${r.sourceHash.slice(0, 12)}</code></td>
              </tr>`,
          ),
        })}`,
    );
  });

  return router;
}
