/**
 * The directory as HR and IT see it (/admin/directory, issue 17): everyone the IdP provisioned,
 * former employees included, with search (name, userName, handle, e-mail) and filters (standing,
 * group), 50 a page; each person's page shows their record, their standing as `employmentStatus`
 * decides it, their groups and roles, their last sign-in and their history (domain events and
 * the audit log), and the actions policy allows: relink a handle (the service behind
 * `herald person relink`), end their sessions, revoke their app tokens. Reading needs
 * view-directory, acting manage-people (Casbin); every form carries the CSRF token and a
 * confirmation box, every action is audited, a refusal comes back on the page with its reason.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { OAuth } from "../api/oauth.ts";
import { type Authz, ORG } from "../authz/authz.ts";
import type { Config } from "../config.ts";
import { recordAudit } from "../db/audit.ts";
import { auditAbout, lastSignIns } from "../db/audit-queries.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import { fail } from "../http/errors.ts";
import { type Html, html, timeTag } from "../http/html.ts";
import { koa, ROUTES } from "../http/routes.ts";
import type { Directory } from "../identity/directory.ts";
import type { Roster, RosterEntry, RosterStanding } from "../identity/roster.ts";
import type { EmploymentStatus } from "../identity/standing.ts";
import { csrfForm } from "../sessions/middleware.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { type AdminKit, consoleRouter, dataTable, notices, queryText } from "./admin-kit.ts";
import { auditNames, renderDetail } from "./audit-view.ts";

export const PAGE_SIZE = 50;
const STANDINGS: readonly RosterStanding[] = ["current", "pending", "former"];

/** The standing as a badge: the words employmentStatus's answer means. */
export function standingBadge(status: EmploymentStatus, pending = false): Html {
  switch (status.kind) {
    case "active":
      return pending
        ? html`<span class="badge badge-neutral">Current, no account yet</span>`
        : html`<span class="badge badge-current">Current employee</span>`;
    case "former":
      return html`<span class="badge badge-former"
        >Former${status.how === "deleted" ? " (deleted)" : ""}${
          status.since ? html` since ${status.since.toISOString().slice(0, 10)}` : ""
        }</span
      >`;
    case "unknown":
      return html`<span class="badge badge-neutral">Unknown</span>`;
  }
}

/** One field of the person's record: its name and its value (a two-column table's row). */
const fieldRow = ([name, value]: readonly string[]) =>
  html`<tr>
    <th scope="row">${name}</th>
    <td class="words">${value}</td>
  </tr>`;

/** The domain events of a person, in words. */
const EVENT_WORDS: Record<string, string> = {
  "person.provisioned": "Provisioned",
  "person.updated": "Record changed",
  "person.deactivated": "Deactivated",
  "person.reactivated": "Reactivated (rehired)",
  "person.deleted": "Deleted from the directory",
  "person.relinked": "Handle relinked",
  "person.erased": "Record erased",
};

export function directoryRoutes(deps: {
  config: Config;
  db: Database;
  directory: Directory;
  roster: Roster;
  authz: Authz;
  sessions: Sessions;
  oauth: OAuth;
  accounts: Accounts;
  kit: AdminKit;
}): Router {
  const { config, db, directory, roster, authz, sessions, oauth, accounts, kit } = deps;
  const router = consoleRouter();

  router.get(koa(ROUTES.admin.directory), async (ctx) => {
    const auth = await kit.requireOrg(ctx, "view-directory", "The directory");
    const search = queryText(ctx, "q", 100);
    const standingText = queryText(ctx, "status");
    const groupId = queryText(ctx, "group", 36);
    const pageText = queryText(ctx, "page", 6) || "1";
    const errors: string[] = [];
    const standing = STANDINGS.find((s) => s === standingText);
    if (standingText && !standing) errors.push(`Status is one of ${STANDINGS.join(", ")}.`);
    const groups = await roster.groups();
    if (groupId && !groups.some((g) => g.id === groupId)) errors.push("No such group.");
    const pageNo = /^\d{1,6}$/.test(pageText) ? Number(pageText) : 0;
    if (pageNo < 1) errors.push("The page is a number from 1.");
    if (errors.length > 0) ctx.status = 400;
    const result =
      errors.length > 0
        ? { total: 0, entries: [] as RosterEntry[] }
        : await roster.list({
            search,
            standing,
            groupId: groupId || undefined,
            offset: (pageNo - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
          });
    const signIns = await lastSignIns(
      db,
      result.entries.map((e) => e.person.id),
    );
    const roles = new Map<string, string[]>();
    for (const e of result.entries)
      roles.set(
        e.person.id,
        (await authz.rolesOf(e.person)).map(
          (r) => `${r.role} on ${r.account === ORG ? "the organization" : r.account}`,
        ),
      );
    const link = (p: number) =>
      `/admin/directory?${new URLSearchParams({
        ...(search ? { q: search } : {}),
        ...(standing ? { status: standing } : {}),
        ...(groupId ? { group: groupId } : {}),
        page: String(p),
      })}`;
    const pages = Math.max(1, Math.ceil(result.total / PAGE_SIZE));
    const rows = result.entries.map(
      (e) =>
        html`<tr>
          <td class="words">
            <a href="/admin/directory/${e.person.id}">${e.person.displayName ?? e.person.userName}</a>
            <br /><span class="small muted">${e.person.userName}</span>
          </td>
          <td class="words">
            ${e.person.handle ? html`<code>@${e.person.handle}</code>` : html`<span class="muted">none</span>`}
          </td>
          <td>${standingBadge(e.status, e.pending)}</td>
          <td>${e.groups.map((g) => g.displayName).join(", ") || html`<span class="muted">none</span>`}</td>
          <td>${roles.get(e.person.id)?.join("; ") || html`<span class="muted">none</span>`}</td>
          <td>
            ${signIns.get(e.person.id) ? timeTag(signIns.get(e.person.id) as Date) : html`<span class="muted">never</span>`}
          </td>
        </tr>`,
    );
    await kit.shell(
      ctx,
      auth,
      "Directory",
      html`<h1>Directory</h1>
        <p class="muted">
          Everyone the identity provider has provisioned, former employees included (their handles stay
          reserved). Standing is what verification answers.
        </p>
        ${errors.length > 0 ? html`<p class="notice notice-error" role="alert" id="filter-error">Not filtered: ${errors.join(" ")}</p>` : ""}
        <form method="get" action="/admin/directory" class="stack">
          <div class="field">
            <label for="q">Search (name, userName, handle or e-mail)</label>
            <input type="search" id="q" name="q" value="${search}" maxlength="100" />
          </div>
          <div class="field">
            <label for="status">Status</label>
            <select id="status" name="status">
              <option value="">Any</option>
              ${STANDINGS.map(
                (s) =>
                  html`<option value="${s}" ${s === standing ? "selected" : ""}>
                    ${s === "current" ? "Current" : s === "former" ? "Former" : "Pending (current, no account yet)"}
                  </option>`,
              )}
            </select>
          </div>
          <div class="field">
            <label for="group">Group</label>
            <select id="group" name="group">
              <option value="">Any</option>
              ${groups.map((g) => html`<option value="${g.id}" ${g.id === groupId ? "selected" : ""}>${g.displayName}</option>`)}
            </select>
          </div>
          <p class="actions">
            <button type="submit">Search</button>
            <a class="btn btn-secondary" href="/admin/directory">Clear</a>
          </p>
        </form>
        <p role="status" id="directory-count">
          ${result.total}
          ${result.total === 1 ? "person" : "people"}${pages > 1 ? ` · page ${pageNo} of ${pages}` : ""}
        </p>
        ${dataTable({
          label: "People",
          caption: "By userName. Last sign-in in UTC.",
          headers: ["Name", "Handle", "Status", "Groups", "Roles", "Last sign-in"],
          rows,
          records: true,
        })}
        <nav aria-label="Pages" class="actions">
          ${pageNo > 1 ? html`<a href="${link(pageNo - 1)}">Previous page</a>` : ""}
          ${pageNo < pages ? html`<a href="${link(pageNo + 1)}">Next page</a>` : ""}
        </nav>`,
    );
  });

  interface Refusal {
    readonly action: "relink" | "sessions" | "tokens" | "erase";
    readonly message: string;
    readonly handle?: string;
    /** 400 unless said (a refusal of what the record is: 409). */
    readonly status?: number;
  }

  async function personPage(ctx: Context, auth: ActiveSession, id: string, refused?: Refusal): Promise<void> {
    const found = await roster.person(id);
    if (!found) fail(404, "No such person in the directory.");
    const { person, groups, emails } = found;
    const erased = person.erasedAt ?? null;
    const status = await directory.status(person.id);
    const canManage = (await authz.decide(auth.person, "manage-people", ORG)).allow;
    const signIn = (await lastSignIns(db, [person.id])).get(person.id);
    const roles = await authz.rolesOf(person);
    const names = auditNames({ db, accounts, directory });
    const history: { at: Date; what: Html; who: string; detail: Html }[] = [];
    for (const e of await roster.events(person.id))
      history.push({
        at: e.occurredAt,
        what: html`${EVENT_WORDS[e.type] ?? e.type}`,
        who: await names.actor(e.actor),
        detail: html``,
      });
    for (const a of await auditAbout(db, person.id))
      history.push({
        at: a.at,
        what: html`<code>${a.action}</code>`,
        who: await names.actor(a.actor),
        // An erased record's page shows no more of it (the audit log itself keeps its records).
        detail:
          erased && a.action !== "person.erase"
            ? html`<span class="muted">kept in the audit log</span>`
            : await renderDetail(a.detail, names),
      });
    history.sort((x, y) => y.at.getTime() - x.at.getTime());
    const err = (a: Refusal["action"]) =>
      refused?.action === a ? html`<p class="error" id="${a}-error">${refused.message}</p>` : "";
    const invalid = (a: Refusal["action"]) =>
      refused?.action === a ? html`aria-invalid="true" aria-describedby="${a}-error"` : "";
    const confirmBox = (a: Refusal["action"], text: string) =>
      html`<label
        ><input type="checkbox" name="confirm" value="yes" required ${invalid(a)} /> ${text}</label
      >`;
    const csrf = html`<input type="hidden" name="csrf" value="${auth.csrf}" />`;
    if (refused) ctx.status = refused.status ?? 400;
    const title = erased
      ? `Erased record${person.handle ? ` @${person.handle}` : ""}`
      : (person.displayName ?? person.userName);
    const handleText = person.handle ? `@${person.handle}@${config.handleDomain}` : "none";
    await kit.shell(
      ctx,
      auth,
      title,
      html`<h1>${title}</h1>
        ${notices(ctx, {
          relinked: "Relinked: the handle is this person's again.",
          ended: "Their sessions have ended: they must sign in again.",
          revoked: "Their app tokens are revoked.",
          erased: "Erased: only the handle and the date they left remain.",
        })}
        ${refused ? html`<p class="notice notice-error" role="alert">Not done: ${refused.message}</p>` : ""}
        <p>${standingBadge(status)}</p>
        ${
          erased
            ? dataTable({
                label: "Record",
                caption: "What an erased record keeps: what verification answers.",
                headers: ["Field", "Value"],
                rows: [
                  ["Handle", handleText],
                  ["Erased", erased.toISOString().slice(0, 10)],
                ].map(fieldRow),
              })
            : dataTable({
                label: "Record",
                headers: ["Field", "Value"],
                rows: [
                  ["userName", person.userName],
                  ["Handle", handleText],
                  ["E-mail", emails.join(", ") || "none"],
                  ["Title", person.title ?? ""],
                  ["Department", person.department ?? ""],
                  ["Groups", groups.map((g) => g.displayName).join(", ") || "none"],
                  [
                    "Roles",
                    roles
                      .map((r) => `${r.role} on ${r.account === ORG ? "the organization" : r.account}`)
                      .join("; ") || "none",
                  ],
                ]
                  .map(fieldRow)
                  .concat(
                    html`<tr>
                      <th scope="row">Last sign-in</th>
                      <td>${signIn ? timeTag(signIn) : "never"}</td>
                    </tr>`,
                  ),
              })
        }
        ${
          canManage && !erased
            ? html`<h2>Actions</h2>
                <form method="post" action="/admin/directory/${person.id}/relink" class="card">
                  ${csrf}
                  <div class="field">
                    <label for="handle">Relink a former record's handle to this person</label>
                    <input
                      type="text"
                      id="handle"
                      name="handle"
                      required
                      maxlength="100"
                      value="${refused?.handle ?? ""}"
                      ${invalid("relink")}
                    />
                    <p class="hint muted small">
                      The reserved handle of a deleted record (a returning employee): as
                      <code>npx herald person relink</code> does.
                    </p>
                    ${err("relink")}
                  </div>
                  ${confirmBox("relink", "I have checked this is the same person.")}
                  <p><button type="submit">Relink handle</button></p>
                </form>
                <form method="post" action="/admin/directory/${person.id}/end-sessions" class="card">
                  ${csrf} ${confirmBox("sessions", "End every session of this person now.")}
                  ${err("sessions")}
                  <p><button type="submit" class="btn-danger">End sessions</button></p>
                </form>
                <form method="post" action="/admin/directory/${person.id}/revoke-tokens" class="card">
                  ${csrf} ${confirmBox("tokens", "Revoke every app token of this person now.")}
                  ${err("tokens")}
                  <p><button type="submit" class="btn-danger">Revoke app tokens</button></p>
                </form>
                ${
                  status.kind === "former"
                    ? html`<form method="post" action="/admin/directory/${person.id}/erase" class="card">
                        ${csrf}
                        <p>
                          Erase this former employee's record (as <code>npx herald person erase</code>): name,
                          title, e-mail addresses, groups and their account's name and bio go; the handle
                          stays reserved and verification keeps answering "former employee". The archive and
                          the audit log keep their records.
                        </p>
                        ${confirmBox("erase", "Erase this record for good. It cannot be undone.")}
                        ${err("erase")}
                        <p><button type="submit" class="btn-danger">Erase record</button></p>
                      </form>`
                    : html`<p class="muted small" id="erase-note">
                        Erasing a record is for former employees: deactivate or delete this person in the
                        identity provider first.
                      </p>`
                }`
            : ""
        }
        <h2>History</h2>
        ${dataTable({
          label: "History",
          caption: "Newest first: the directory's events and the audit log. Times in UTC.",
          headers: ["When", "What", "Who", "Detail"],
          records: true,
          rows: history.map(
            (h) =>
              html`<tr>
                <td>${timeTag(h.at)}</td>
                <td class="words">${h.what}</td>
                <td class="words">${h.who}</td>
                <td class="small">${h.detail}</td>
              </tr>`,
          ),
        })}`,
    );
  }

  router.get(koa(ROUTES.admin.person), async (ctx) => {
    const auth = await kit.requireOrg(ctx, "view-directory", "The directory");
    await personPage(ctx, auth, ctx.params.id);
  });

  /** A person action: manage-people, CSRF, the confirmation box; a refusal comes back on the page. */
  async function act(
    ctx: Context,
    action: Refusal["action"],
    run: (auth: ActiveSession, personId: string, form: URLSearchParams) => Promise<Refusal | string>,
  ): Promise<void> {
    const auth = await kit.requireOrg(ctx, "manage-people", "Acting on a person");
    const { form } = await csrfForm(ctx, sessions, 8_000);
    const found = await roster.person(ctx.params.id);
    if (!found) fail(404, "No such person in the directory.");
    if (form.get("confirm") !== "yes")
      return personPage(ctx, auth, found.person.id, {
        action,
        message: "Tick the box to confirm.",
        handle: form.get("handle") ?? undefined,
      });
    const r = await run(auth, found.person.id, form);
    if (typeof r !== "string") return personPage(ctx, auth, found.person.id, r);
    ctx.status = 303;
    ctx.redirect(`/admin/directory/${found.person.id}?${r}=1`);
  }

  /** The admin's action on the person, in the audit log (with how many it ended). */
  const audited = (
    ctx: Context,
    auth: ActiveSession,
    personId: string,
    action: string,
    detail: Record<string, number>,
  ) =>
    db.transaction((em) =>
      recordAudit(em, {
        actor: `person:${auth.person.id}`,
        action,
        targetType: "person",
        targetId: personId,
        detail,
        requestId: String(ctx.state.requestId ?? ""),
      }),
    );

  router.post(koa(ROUTES.admin.personRelink), (ctx) =>
    act(ctx, "relink", async (auth, id, form) => {
      const person = await directory.personById(id);
      const handle = (form.get("handle") ?? "").slice(0, 100);
      if (!person || person.deletedAt)
        return { action: "relink", message: "A deleted record cannot take a handle.", handle };
      const r = await directory.relink({
        userName: person.userName,
        handle,
        by: `person:${auth.person.id}`,
        handleDomain: config.handleDomain,
      });
      return r.ok ? "relinked" : { action: "relink", message: r.message, handle };
    }),
  );

  router.post(koa(ROUTES.admin.personSessions), (ctx) =>
    act(ctx, "sessions", async (auth, id) => {
      await audited(ctx, auth, id, "session.revoke-all", { sessions: await sessions.revokeAll(id) });
      return "ended";
    }),
  );

  router.post(koa(ROUTES.admin.personErase), (ctx) =>
    act(ctx, "erase", async (auth, id) => {
      const r = await directory.erase({
        who: id,
        by: `person:${auth.person.id}`,
        handleDomain: config.handleDomain,
        requestId: String(ctx.state.requestId ?? ""),
      });
      return r.ok ? "erased" : { action: "erase", message: r.message, status: 409 };
    }),
  );

  router.post(koa(ROUTES.admin.personTokens), (ctx) =>
    act(ctx, "tokens", async (auth, id) => {
      // Each token's revocation is audited (api-token.revoke) by the OAuth service.
      const tokens = await oauth.revokeAllOf(id, `person:${auth.person.id}`);
      await audited(ctx, auth, id, "api-token.revoke-all", { tokens });
      return "revoked";
    }),
  );

  return router;
}
