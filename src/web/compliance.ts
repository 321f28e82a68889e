/**
 * The compliance pages (issue #16), read-only: `/admin/archive` searches the archive by account,
 * person, period, direction and text, 50 records a page, newest first; `/admin/archive/export`
 * downloads what a search matches as one .zip holding exactly the files `herald archive export`
 * writes (JSONL with its signed manifest, or one .eml per record), built by the same code
 * (src/archive/export.ts).
 *
 * Who reads what is Casbin's `view-archive` (rbac/policy.csv), asked through src/authz: held on
 * the organization (compliance-officer, org-admin) it covers the whole archive; held on shared
 * accounts (compliance, analyst, admin, owner) it covers those accounts' records only. A person's
 * own account is not a reason to see these pages. Everyone else gets 403; without a session, the
 * sign-in page. Every search and every export is audited (who, the filter, how many records).
 */
import type Router from "@koa/router";
import { zipSync } from "fflate";
import type { Context } from "koa";
import { type Authz, ORG } from "../authz/authz.ts";
import type { ArchiveRecordRow } from "../archive/entities.ts";
import { buildExport, type ExportFormat, wordsOf } from "../archive/export.ts";
import {
  type ArchiveFilter,
  auditArchiveAccess,
  countMatching,
  DIRECTIONS,
  SEARCH_PAGE_SIZE,
  SEARCH_TEXT_MAX,
  searchArchive,
} from "../archive/search.ts";
import { type ArchiveSigner, createArchiveSigner } from "../archive/signing.ts";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { type Html, html, page, timeTag } from "../http/html.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import { koa, ROUTES } from "../http/routes.ts";
import type { Directory, Person } from "../identity/directory.ts";
import { csrfForm, requireSession } from "../sessions/middleware.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { orgIdentity } from "./design.ts";

/** The most records one download holds (built in memory); larger exports: the CLI. */
export const EXPORT_MAX = 10_000;

/** The results table's columns (one record a row: recordRow). */
const COLUMNS = ["When (UTC)", "Kind", "Account", "People", "Words", "Hash"];

const ARCHIVE = `${ROUTES.admin.prefix}${ROUTES.admin.archive}`;
const EXPORT = `${ROUTES.admin.prefix}${ROUTES.admin.archiveExport}`;

/** What a viewer may read: the whole archive, or these shared accounts. */
type Scope = { readonly all: true } | { readonly all: false; readonly accounts: readonly ActorRow[] };

/** The search form's fields as typed (kept on the page), and the filter they make. */
interface Query {
  readonly account: string;
  readonly person: string;
  readonly from: string;
  readonly to: string;
  readonly direction: string;
  readonly text: string;
}
type QueryField = keyof Query;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** A real calendar day (`2026-02-30` is not one, though Date.parse takes it). */
const isDay = (v: string) => {
  const t = Date.parse(`${v}T00:00:00Z`);
  return DAY.test(v) && !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === v;
};

export function complianceRoutes(deps: {
  config: Config;
  db: Database;
  accounts: Accounts;
  directory: Directory;
  authz: Authz;
  sessions: Sessions;
  /** The organization's signing key (PEM): it signs the manifest of a JSONL export. */
  orgSigningKeyPem?: string;
}): Router {
  const { config, db, accounts, directory, authz, sessions } = deps;
  const router = caseSensitiveRouter({ prefix: ROUTES.admin.prefix });
  let signer: Promise<ArchiveSigner> | undefined;

  router.use(requireSession());

  /** The viewer's scope, as Casbin decides `view-archive`; 403 when they may read none of it. */
  async function scopeOf(person: Person): Promise<Scope> {
    const decide = await authz.decider(person);
    if ((await decide("view-archive", ORG)).allow) return { all: true };
    const readable: ActorRow[] = [];
    for (const a of await accounts.list())
      if (a.kind === "shared" && (await decide("view-archive", a)).allow) readable.push(a);
    if (readable.length === 0)
      fail(
        403,
        "The archive is for compliance officers, and for people who hold a role with view-archive on a shared account.",
      );
    return { all: false, accounts: readable };
  }

  /** The query string or form as typed (trimmed, bounded). */
  function queryOf(get: (k: QueryField) => string | undefined): Query {
    const v = (k: QueryField, max = 320) => (get(k) ?? "").trim().slice(0, max);
    return {
      account: v("account").replace(/^@/, ""),
      person: v("person"),
      from: v("from", 10),
      to: v("to", 10),
      direction: v("direction", 10),
      text: v("text", SEARCH_TEXT_MAX),
    };
  }

  /** The filter a query makes within the scope, or the field that is wrong and why. */
  async function filterOf(
    q: Query,
    scope: Scope,
  ): Promise<{ filter: ArchiveFilter } | { field: QueryField; message: string }> {
    let accountId: string | undefined;
    if (q.account) {
      const a = await accounts.byHandle(q.account.replace(/@.*$/, ""));
      if (!a) return { field: "account", message: `No account @${q.account} here.` };
      if (!scope.all && !scope.accounts.some((s) => s.id === a.id))
        return { field: "account", message: `You may not read the archive of @${a.handle}.` };
      accountId = a.id;
    }
    let personId: string | undefined;
    if (q.person) {
      const p = await directory.personByUserName(q.person);
      if (!p) return { field: "person", message: `No person with userName ${q.person} in the directory.` };
      personId = p.id;
    }
    if (q.from && !isDay(q.from)) return { field: "from", message: "A day, YYYY-MM-DD." };
    if (q.to && !isDay(q.to)) return { field: "to", message: "A day, YYYY-MM-DD." };
    if (q.from && q.to && q.from > q.to) return { field: "to", message: "The period ends before it starts." };
    if (q.direction && !(DIRECTIONS as readonly string[]).includes(q.direction))
      return { field: "direction", message: "Said (out), heard (in) or internal." };
    return {
      filter: {
        scope: scope.all ? undefined : scope.accounts.map((a) => a.id),
        accountId,
        personId,
        direction: (q.direction || undefined) as ArchiveFilter["direction"],
        text: q.text || undefined,
        from: q.from || undefined,
        to: q.to || undefined,
      },
    };
  }

  const who = (auth: ActiveSession) => `person:${auth.person.id}`;

  function send(ctx: Context, auth: ActiveSession, scope: Scope, title: string, body: Html): void {
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    // The admin home is for organization-wide roles: an account-level role would find a 403 there.
    const links: [string, string][] = [
      [ARCHIVE, "Archive"],
      ...(scope.all ? [[ROUTES.admin.prefix, "Administration"] as [string, string]] : []),
      [ROUTES.app.prefix, "Staff app"],
    ];
    ctx.body = page(`${title} · Herald admin`, body, {
      org: { ...orgIdentity(config), href: ROUTES.admin.prefix },
      navLabel: "Administration",
      nav: links.map(([to, label]) => ({ href: to, label, current: ctx.path === to })),
      session: { name: auth.person.displayName ?? auth.person.userName, csrf: auth.csrf },
      wide: true,
    });
  }

  /** People named by records, read once per page. */
  async function peopleOf(records: readonly ArchiveRecordRow[]): Promise<Map<string, Person>> {
    const ids = new Set(records.flatMap((r) => [r.personId, r.approverId]).filter((x): x is string => !!x));
    const out = new Map<string, Person>();
    for (const id of ids) {
      const p = await directory.personById(id);
      if (p) out.set(id, p);
    }
    return out;
  }

  const DIRECTION_LABEL: Record<string, string> = { out: "said", in: "heard", internal: "internal" };

  function recordRow(r: ArchiveRecordRow, people: Map<string, Person>): Html {
    const content = JSON.parse(r.content) as Record<string, unknown>;
    const name = (id: string | null) => {
      const p = id ? people.get(id) : undefined;
      return p ? `${p.displayName ?? p.userName} (${p.userName})` : id;
    };
    const words = wordsOf(content);
    const comment = typeof content.comment === "string" && content.comment ? content.comment : "";
    const shown = words.length > 600 ? `${words.slice(0, 600)}…` : words;
    const actedBy = name(r.personId) ?? r.actorLabel;
    return html`<tr>
      <td>${timeTag(r.recordedAt, { relative: false })}</td>
      <td>
        <code>${r.kind}</code><br /><span class="badge badge-neutral"
          >${DIRECTION_LABEL[r.direction] ?? r.direction}</span
        >
      </td>
      <td>${r.accountHandle ? `@${r.accountHandle}` : html`<span class="muted">none</span>`}</td>
      <td>
        ${actedBy ? html`<span class="small muted">By</span> ${actedBy}<br />` : ""}
        ${r.approverId ? html`<span class="small muted">Approved by</span> ${name(r.approverId)}<br />` : ""}
        ${r.remoteActor ? html`<span class="small muted">With</span> ${r.remoteActor}<br />` : ""}
        ${r.app ? html`<span class="small muted">App</span> ${r.app}` : ""}
      </td>
      <td>
        ${shown || (comment ? "" : html`<span class="muted">(no words)</span>`)}
        ${comment ? html`<br /><span class="small muted">Comment:</span> ${comment}` : ""}
      </td>
      <td><code>${r.hash.slice(0, 12)}</code></td>
    </tr>`;
  }

  function searchForm(q: Query, error?: { field: QueryField; message: string }): Html {
    const invalid = (f: QueryField) =>
      error?.field === f ? html` aria-invalid="true" aria-describedby="f-${f}-error"` : html``;
    const message = (f: QueryField) =>
      error?.field === f ? html`<p class="error" id="f-${f}-error">${error.message}</p>` : "";
    const text = (f: QueryField, label: string, extra: Html = html``) =>
      html`<div class="field">
        <label for="f-${f}">${label}</label>
        <input id="f-${f}" name="${f}" value="${q[f]}" ${extra} ${invalid(f)} />${message(f)}
      </div>`;
    return html`<form
      method="get"
      action="${ARCHIVE}"
      class="card"
      role="search"
      aria-label="Search the archive"
    >
      ${text("account", "Account (handle)", html`placeholder="recruiting" maxlength="320" autocomplete="off"`)}
      ${text("person", "Person who acted or approved (userName)", html`maxlength="320" autocomplete="off"`)}
      ${text("from", "From (day, UTC)", html`type="date"`)}
      ${text("to", "To (day, UTC, inclusive)", html`type="date"`)}
      <div class="field">
        <label for="f-direction">Direction</label>
        <select id="f-direction" name="direction" ${invalid("direction")}>
          ${[
            ["", "Any"],
            ["out", "Said (out)"],
            ["in", "Heard (in)"],
            ["internal", "Internal (drafts, decisions)"],
          ].map(([v, l]) => html`<option value="${v}" ${q.direction === v ? "selected" : ""}>${l}</option>`)}
        </select>
        ${message("direction")}
      </div>
      ${text("text", `Words (up to ${SEARCH_TEXT_MAX} characters)`, html`type="search" maxlength="${SEARCH_TEXT_MAX}"`)}
      <button type="submit">Search</button>
    </form>`;
  }

  /** The filter's fields again, for the export form and the next page's link. */
  const queryParams = (q: Query) => Object.entries(q).filter(([, v]) => v !== "") as [QueryField, string][];

  router.get(koa(ROUTES.admin.archive), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const scope = await scopeOf(auth.person);
    const q = queryOf((k) => (typeof ctx.query[k] === "string" ? (ctx.query[k] as string) : undefined));
    const beforeText = typeof ctx.query.before === "string" ? ctx.query.before : "";
    const before = /^\d{1,15}$/.test(beforeText) ? Number(beforeText) : undefined;
    const scopeNote = scope.all
      ? html`<p class="muted">You read the whole organization's archive.</p>`
      : html`<p class="muted">
          You read the archive of
          ${scope.accounts.map((a, i) => html`${i > 0 ? ", " : ""}<strong>@${a.handle}</strong>`)} (your role
          on ${scope.accounts.length === 1 ? "that account" : "those accounts"}).
        </p>`;
    const head = html`<h1>Archive</h1>
      <p>
        Every post, edit, deletion, draft, decision and message heard, with who pressed send. Read-only; what
        each field means: <code>docs/archive.md</code>.
      </p>
      ${scopeNote}`;
    const made = await filterOf(q, scope);
    if ("field" in made) {
      ctx.status = 400;
      send(
        ctx,
        auth,
        scope,
        "Archive",
        html`${head}
          <p class="notice notice-error" role="alert">Nothing was searched: ${made.message}</p>
          ${searchForm(q, made)}`,
      );
      return;
    }
    const found = await searchArchive(db, made.filter, before);
    if ("error" in found) fail(400, found.error);
    await auditArchiveAccess(db, {
      action: "archive.search",
      by: who(auth),
      filter: made.filter,
      count: found.records.length,
      requestId: String(ctx.state.requestId ?? ""),
      detail: before !== undefined ? { before } : undefined,
    });
    const people = await peopleOf(found.records);
    const params = queryParams(q);
    const olderHref = found.older
      ? `${ARCHIVE}?${new URLSearchParams([...params, ["before", String(found.older)]])}`
      : undefined;
    const exportForm = html`<form method="post" action="${EXPORT}" class="card">
      <input type="hidden" name="csrf" value="${auth.csrf}" />
      ${params.map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}" />`)}
      <h2>Export what this search matches</h2>
      <p class="muted small">
        All matching records (not only this page), up to ${EXPORT_MAX.toLocaleString("en")}, as one .zip with
        the files <code>herald archive export</code> writes. The export is audited.
      </p>
      <div class="actions">
        <button type="submit" name="format" value="jsonl">JSONL with signed manifest (.zip)</button>
        <button type="submit" name="format" value="eml" class="btn-secondary">
          EML, one per record (.zip)
        </button>
      </div>
    </form>`;
    send(
      ctx,
      auth,
      scope,
      "Archive",
      html`${head} ${searchForm(q)}
        <h2 id="results">Records</h2>
        ${
          found.records.length === 0
            ? html`<p class="notice" role="status">No record matches this search.</p>`
            : html`<div class="table-wrap" role="region" aria-labelledby="results-caption" tabindex="0">
                <table class="records">
                  <caption id="results-caption">
                    ${before !== undefined ? "Older records" : "Newest first"}, ${found.records.length} shown
                    (at most ${SEARCH_PAGE_SIZE} a page)
                  </caption>
                  <thead>
                    <tr>
                      ${COLUMNS.map((c) => html`<th scope="col">${c}</th>`)}
                    </tr>
                  </thead>
                  <tbody>
                    ${found.records.map((r) => recordRow(r, people))}
                  </tbody>
                </table>
              </div>`
        }
        <p class="actions">
          ${before !== undefined ? html`<a href="${`${ARCHIVE}?${new URLSearchParams(params)}`}">Newest records</a>` : ""}
          ${olderHref ? html`<a href="${olderHref}">Older records</a>` : ""}
        </p>
        ${exportForm}`,
    );
  });

  router.post(koa(ROUTES.admin.archiveExport), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const scope = await scopeOf(auth.person);
    const { form } = await csrfForm(ctx, sessions, 16_000);
    const format = form.get("format");
    if (format !== "jsonl" && format !== "eml") fail(400, "Choose the JSONL or the EML export.");
    const q = queryOf((k) => form.get(k) ?? undefined);
    const made = await filterOf(q, scope);
    if ("field" in made) fail(400, made.message);
    const count = await countMatching(db, made.filter);
    if (count > EXPORT_MAX)
      fail(
        413,
        `This search matches ${count} records; a download holds at most ${EXPORT_MAX}. Narrow the period, or run herald archive export on the server.`,
      );
    if (!deps.orgSigningKeyPem)
      fail(503, "Exports need the organization's signing key, which is not loaded.");
    signer ??= createArchiveSigner(deps.orgSigningKeyPem);
    const by = who(auth);
    const built = await buildExport(db, await signer, {
      format: format as ExportFormat,
      filter: made.filter,
      by,
      origin: config.origin.origin,
      handleDomain: config.handleDomain,
    });
    const now = new Date();
    const zip = zipSync(
      Object.fromEntries(
        built.files.map((f) => [f.name, [new TextEncoder().encode(f.content), { level: 6, mtime: now }]]),
      ),
    );
    await auditArchiveAccess(db, {
      action: "archive.export",
      by,
      filter: made.filter,
      count: built.count,
      requestId: String(ctx.state.requestId ?? ""),
      detail: { format, download: "zip" },
    });
    const stamp = now
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z");
    ctx.set("Cache-Control", "no-store");
    ctx.set("Content-Disposition", `attachment; filename="herald-archive-${format}-${stamp}.zip"`);
    ctx.type = "application/zip";
    ctx.body = Buffer.from(zip);
  });

  return router;
}
