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
import { type Html, html, page } from "../http/html.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import type { Reports } from "../verify/reports.ts";
import { orgIdentity } from "./design.ts";

export function adminRoutes(deps: {
  config: Config;
  db: Database;
  accounts: Accounts;
  authz: Authz;
  sessions: Sessions;
  reports: Reports;
}): Router {
  const { config, db, accounts, authz, sessions, reports } = deps;
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

  function shell(ctx: Context, auth: ActiveSession, title: string, body: Html): void {
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    const links: [string, string][] = [
      ["/admin/accounts", "Shared accounts"],
      ["/admin/grants", "Grants"],
      ["/admin/audit", "Audit log"],
      ["/admin/reports", "Reports"],
      ["/app", "Staff app"],
    ];
    ctx.body = page(`${title} · Herald admin`, body, {
      org: { ...orgIdentity(config), href: "/admin" },
      navLabel: "Administration",
      nav: links.map(([href, label]) => ({ href, label, current: ctx.path === href })),
      session: { name: auth.person.displayName ?? auth.person.userName, csrf: auth.csrf },
      wide: true,
    });
  }

  const csrfField = (auth: ActiveSession) => html`<input type="hidden" name="csrf" value="${auth.csrf}" />`;

  router.get(koa(ROUTES.admin.home), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const decide = await authz.decider(auth.person);
    const can = async (a: Action) => (await decide(a, ORG)).allow;
    const links = [
      ["manage-accounts", "/admin/accounts", "Shared accounts"],
      ["manage-grants", "/admin/grants", "Grants"],
      ["view-audit", "/admin/audit", "Audit log"],
      ["view-reports", "/admin/reports", "Impersonation reports"],
    ] as const;
    const allowed = [];
    for (const [a, href, text] of links)
      if (await can(a)) allowed.push(html`<li><a href="${href}">${text}</a></li>`);
    if (allowed.length === 0)
      fail(
        403,
        "The admin pages are for organization admins and compliance officers (npx herald admin add).",
      );
    shell(
      ctx,
      auth,
      "Administration",
      html`<h1>Administration</h1>
        <ul>
          ${allowed}
        </ul>`,
    );
  });

  router.get(koa(ROUTES.admin.accounts), async (ctx) => {
    const auth = await requireOrg(ctx, "manage-accounts");
    const shared = (await accounts.list()).filter((a) => a.kind === "shared" && !a.deletedAt);
    shell(
      ctx,
      auth,
      "Shared accounts",
      html`<h1>Shared accounts</h1>
        ${typeof ctx.query.saved === "string" ? html`<p class="notice" role="status">Saved.</p>` : ""}
        <table>
          <caption class="muted">
            Accounts people speak for together
          </caption>
          <thead>
            <tr>
              <th scope="col">Handle</th>
              <th scope="col">Name</th>
              <th scope="col">Posts signed</th>
              <th scope="col">Profile</th>
            </tr>
          </thead>
          <tbody>
            ${shared.map(
              (a) =>
                html`<tr>
                  <td><code>@${a.handle}@${domain}</code></td>
                  <td>${a.displayName}</td>
                  <td>${a.signPosts ? "yes" : "no"}</td>
                  <td><a href="/admin/accounts/${a.id}">Edit</a></td>
                </tr>`,
            )}
          </tbody>
        </table>
        <h2>New shared account</h2>
        <form method="post" action="/admin/accounts">
          ${csrfField(auth)}
          <label for="handle">Handle</label>
          <input type="text" id="handle" name="handle" required maxlength="30" pattern="[a-z0-9_]+" />
          <label for="name">Display name</label>
          <input type="text" id="name" name="name" required maxlength="100" />
          <p><button type="submit">Create</button></p>
        </form>`,
    );
  });

  router.post(koa(ROUTES.admin.accounts), async (ctx) => {
    const auth = await requireOrg(ctx, "manage-accounts");
    const f = await form(ctx);
    const r = await accounts.createShared(
      f.get("handle") ?? "",
      f.get("name") ?? "",
      `person:${auth.person.id}`,
    );
    if (!r.ok) fail(400, r.message);
    ctx.status = 303;
    ctx.redirect(`/admin/accounts/${r.actor.id}`);
  });

  async function sharedAccount(ctx: Context): Promise<ActorRow> {
    const actor = await accounts.byId(ctx.params.id);
    if (!actor || actor.kind !== "shared" || actor.deletedAt) fail(404, "No such shared account.");
    return actor;
  }

  router.get(koa(ROUTES.admin.account), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const actor = await sharedAccount(ctx);
    if (!(await authz.decide(auth.person, "edit-profile", actor)).allow)
      fail(403, `You may not edit the profile of @${actor.handle}.`);
    shell(
      ctx,
      auth,
      `@${actor.handle}`,
      html`<h1>@${actor.handle}@${domain}</h1>
        ${typeof ctx.query.saved === "string" ? html`<p class="notice" role="status">Saved; followers' servers get the update.</p>` : ""}
        <form method="post" action="/admin/accounts/${actor.id}">
          ${csrfField(auth)}
          <label for="name">Display name</label>
          <input type="text" id="name" name="name" value="${actor.displayName}" maxlength="100" required />
          <label for="summary">Bio</label>
          <input type="text" id="summary" name="summary" value="${actor.summary ?? ""}" maxlength="500" />
          <label
            ><input type="checkbox" name="signPosts" value="1" ${actor.signPosts ? "checked" : ""} /> Sign
            posts publicly with the name of who wrote them ("— Jane")</label
          >
          <label
            ><input
              type="checkbox"
              name="manualApproval"
              value="1"
              ${actor.manualApproval ? "checked" : ""}
            />
            Approve new followers by hand</label
          >
          <p><button type="submit">Save</button></p>
        </form>
        <p>
          <a href="/admin/grants?account=${actor.id}">Who may act for @${actor.handle}</a> ·
          <a href="/@${actor.handle}">Public profile</a>
        </p>`,
    );
  });

  router.post(koa(ROUTES.admin.account), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const actor = await sharedAccount(ctx);
    if (!(await authz.decide(auth.person, "edit-profile", actor)).allow)
      fail(403, `You may not edit the profile of @${actor.handle}.`);
    const f = await form(ctx);
    const name = (f.get("name") ?? "").trim();
    if (name === "" || name.length > 100) fail(400, "The display name needs 1–100 characters.");
    await accounts.configure(
      actor.id,
      {
        displayName: name,
        summary: (f.get("summary") ?? "").trim().slice(0, 500),
        signPosts: f.get("signPosts") === "1",
        manualApproval: f.get("manualApproval") === "1",
      },
      `person:${auth.person.id}`,
    );
    ctx.status = 303;
    ctx.redirect(`/admin/accounts/${actor.id}?saved=1`);
  });

  router.get(koa(ROUTES.admin.grants), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
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
    shell(
      ctx,
      auth,
      "Grants",
      html`<h1>Who may act for which account</h1>
        <p class="muted">
          Roles and what they allow: <code>rbac/policy.csv</code>. Group membership comes from the IdP and
          counts at once.
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">Account</th>
              <th scope="col">Role</th>
              <th scope="col">Group or person</th>
              <th scope="col">Granted by</th>
              <th scope="col"><span class="muted">Action</span></th>
            </tr>
          </thead>
          <tbody>
            ${grants.map(
              (g) =>
                html`<tr>
                  <td>${where(g.accountId)}</td>
                  <td>${g.role}</td>
                  <td>${g.subjectKind}:${g.subjectLabel}</td>
                  <td>${g.createdBy}</td>
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
            )}
          </tbody>
        </table>
        <h2>Grant a role</h2>
        <form method="post" action="/admin/grants">
          ${csrfField(auth)}
          <label for="subject">Group name, or user:userName</label>
          <input type="text" id="subject" name="subject" required placeholder="Recruiting" />
          <label for="role">Role</label>
          <select id="role" name="role">
            ${ACCOUNT_ROLES.map((r) => html`<option value="${r}">${r}</option>`)}
            ${orgManage ? ORG_ROLES.map((r) => html`<option value="${r}">${r} (organization-wide)</option>`) : ""}
          </select>
          <label for="account">Account</label>
          <select id="account" name="account">
            ${manageable.map((a) => html`<option value="${a.id}" ${a.id === only ? "selected" : ""}>@${a.handle}</option>`)}
            ${orgManage ? html`<option value="${ORG}">the organization (for organization-wide roles)</option>` : ""}
          </select>
          <p><button type="submit">Grant</button></p>
        </form>`,
    );
  });

  router.post(koa(ROUTES.admin.grants), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const f = await form(ctx);
    const accountId = f.get("account") ?? "";
    const account = accountId === ORG ? ORG : await accounts.byId(accountId);
    if (!account) fail(404, "No such account.");
    if (!(await authz.decide(auth.person, "manage-grants", account)).allow)
      fail(403, "You may not manage grants on that account.");
    const subject = await authz.resolveSubject(f.get("subject") ?? "");
    if ("error" in subject) fail(400, subject.error);
    const r = await authz.grant(subject, f.get("role") ?? "", account, `person:${auth.person.id}`);
    if (!r.ok) fail(400, r.message);
    ctx.status = 303;
    ctx.redirect(`/admin/grants${accountId === ORG ? "" : `?account=${accountId}`}`);
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
    ctx.redirect("/admin/grants");
  });

  router.get(koa(ROUTES.admin.audit), async (ctx) => {
    const auth = await requireOrg(ctx, "view-audit");
    const q = (k: string) => (typeof ctx.query[k] === "string" ? (ctx.query[k] as string).trim() : "");
    const where: FindOptionsWhere<AuditEvent> = {};
    if (q("action")) where.action = q("action");
    if (q("actor")) where.actor = q("actor");
    if (q("target")) where.targetId = q("target");
    const from = q("from") ? new Date(q("from")) : undefined;
    const to = q("to") ? new Date(`${q("to")}T23:59:59.999Z`) : undefined;
    if ((from && Number.isNaN(from.getTime())) || (to && Number.isNaN(to.getTime())))
      fail(400, "Dates are YYYY-MM-DD.");
    if (from && to) where.at = Between(from, to);
    else if (from) where.at = MoreThanOrEqual(from);
    else if (to) where.at = LessThanOrEqual(to);
    const events = await db.run((em) =>
      em.getRepository(AuditEventSchema).find({ where, order: { id: "DESC" }, take: 200 }),
    );
    shell(
      ctx,
      auth,
      "Audit log",
      html`<h1>Audit log</h1>
        <form method="get" action="/admin/audit">
          <label for="f-action">Action (e.g. post.create, draft.approve, grant.add)</label>
          <input type="text" id="f-action" name="action" value="${q("action")}" />
          <label for="f-actor">Who (e.g. person:&lt;id&gt;, cli:root, scim-token:okta)</label>
          <input type="text" id="f-actor" name="actor" value="${q("actor")}" />
          <label for="f-target">Target id</label>
          <input type="text" id="f-target" name="target" value="${q("target")}" />
          <label for="f-from">From (YYYY-MM-DD)</label>
          <input type="text" id="f-from" name="from" value="${q("from")}" />
          <label for="f-to">To (YYYY-MM-DD)</label>
          <input type="text" id="f-to" name="to" value="${q("to")}" />
          <p><button type="submit">Filter</button></p>
        </form>
        <table>
          <caption class="muted">
            Newest first, at most 200
          </caption>
          <thead>
            <tr>
              <th scope="col">When (UTC)</th>
              <th scope="col">Who</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            ${events.map(
              (e) =>
                html`<tr>
                  <td>${e.at.toISOString().slice(0, 19).replace("T", " ")}</td>
                  <td>${e.actor}</td>
                  <td>${e.action}</td>
                  <td>${e.targetType ?? ""} ${e.targetId ?? ""}</td>
                  <td><code>${(e.detail ?? "").slice(0, 400)}</code></td>
                </tr>`,
            )}
          </tbody>
        </table>`,
    );
  });

  router.get(koa(ROUTES.admin.reports), async (ctx) => {
    const auth = await requireOrg(ctx, "view-reports");
    const rows = await reports.list(200);
    shell(
      ctx,
      auth,
      "Impersonation reports",
      html`<h1>Impersonation reports</h1>
        <p class="muted">
          Sent by the public from <a href="/verify">/verify</a>. Reporters' addresses are kept only as a keyed
          hash.
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">When (UTC)</th>
              <th scope="col">Reported</th>
              <th scope="col">What happened</th>
              <th scope="col">Contact</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map(
              (r) =>
                html`<tr>
                  <td>${r.createdAt.toISOString().slice(0, 16).replace("T", " ")}</td>
                  <td>${r.reported}</td>
                  <td>${r.details}</td>
                  <td>${r.contact ?? ""}</td>
                </tr>`,
            )}
          </tbody>
        </table>`,
    );
  });

  return router;
}
