/**
 * Pieces the admin console's pages share (the directory, provisioning and insights pages): the
 * page shell with a navigation that lists only what the signed-in person may open (Casbin asked
 * once per link), a table in a labelled .table-wrap, fixed confirmations, and the permission gate
 * that stops with 403 and a reason.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import { type Action, type Authz, ORG } from "../authz/authz.ts";
import type { Config } from "../config.ts";
import type { ActorRow } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import { ROUTES } from "../http/routes.ts";
import { requireSession } from "../sessions/middleware.ts";
import { type Html, html, page, raw } from "../http/html.ts";
import type { ActiveSession } from "../sessions/sessions.ts";
import { orgIdentity } from "./design.ts";

/** The console's pages and the permission each needs on the organization (insights: any account). */
const CONSOLE_LINKS: readonly [Action, string, string][] = [
  ["view-directory", "/admin/directory", "Directory"],
  ["view-provisioning", "/admin/provisioning", "Provisioning"],
  ["manage-people", "/admin/app-tokens", "App tokens"],
  ["view-audit", "/admin/audit", "Audit log"],
];

export function adminKit(deps: {
  config: Config;
  authz: Authz;
  accountsWithInsights: (auth: ActiveSession) => Promise<ActorRow[]>;
}) {
  const { config, authz } = deps;

  async function shell(ctx: Context, auth: ActiveSession, title: string, body: Html): Promise<void> {
    const decide = await authz.decider(auth.person);
    const nav: { href: string; label: string; current: boolean }[] = [];
    for (const [action, href, label] of CONSOLE_LINKS)
      if ((await decide(action, ORG)).allow) nav.push({ href, label, current: ctx.path === href });
    if ((await deps.accountsWithInsights(auth)).length > 0)
      nav.push({ href: "/admin/insights", label: "Insights", current: ctx.path === "/admin/insights" });
    nav.push({ href: "/app", label: "Staff app", current: false });
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(`${title} · Herald admin`, body, {
      org: { ...orgIdentity(config), href: "/admin" },
      navLabel: "Administration",
      nav,
      session: { name: auth.person.displayName ?? auth.person.userName, csrf: auth.csrf },
      wide: true,
    });
  }

  /** Stops with 403 unless the person may do `action` organization-wide. */
  async function requireOrg(ctx: Context, action: Action, what: string): Promise<ActiveSession> {
    const auth = ctx.state.auth as ActiveSession;
    if (!(await authz.decide(auth.person, action, ORG)).allow)
      fail(403, `${what} needs the ${action} permission (rbac/policy.csv).`);
    return auth;
  }

  return { shell, requireOrg };
}

export type AdminKit = ReturnType<typeof adminKit>;

/** A router under /admin whose pages need a session (sign in first; a form without one is 401). */
export function consoleRouter(): Router {
  const router = caseSensitiveRouter({ prefix: ROUTES.admin.prefix });
  router.use(requireSession());
  return router;
}

/**
 * A table in a .table-wrap: it scrolls inside its own box on a phone, never the page (a labelled,
 * focusable region, as axe asks). Long values wrap in their cells.
 */
export function dataTable(t: {
  label: string;
  caption?: string;
  headers: readonly (string | Html)[];
  rows: Html[];
  /** Wide rows of long values (the audit log, the reports): a table.records. */
  records?: boolean;
}): Html {
  return html`<div class="table-wrap" role="region" aria-label="${t.label}" tabindex="0">
    <table ${t.records ? raw('class="records"') : ""}>
      ${
        t.caption
          ? html`<caption class="muted">
              ${t.caption}
            </caption>`
          : ""
      }
      <thead>
        <tr>
          ${t.headers.map((h) => html`<th scope="col">${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${t.rows}
      </tbody>
    </table>
  </div>`;
}

/** Confirmations after a change: a flag in the redirect's query picks one fixed sentence. */
export function notices(ctx: Context, texts: Record<string, string>): Html[] {
  return Object.entries(texts)
    .filter(([flag]) => typeof ctx.query[flag] === "string")
    .map(([, text]) => html`<p class="notice notice-success" role="status">${text}</p>`);
}

/** A query parameter as one trimmed string ("" when absent or repeated). */
export function queryText(ctx: Context, name: string, max = 200): string {
  const v = ctx.query[name];
  return typeof v === "string" ? v.trim().slice(0, max) : "";
}

/** The CSV of rows (RFC 4180): fields quoted when needed, formulas defused for spreadsheets. */
export function csv(rows: readonly (readonly (string | number)[])[]): string {
  const field = (v: string | number) => {
    let s = String(v);
    // A cell starting with = + - @ is a formula to Excel and LibreOffice (CSV injection).
    if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return rows.map((r) => r.map(field).join(",")).join("\r\n") + "\r\n";
}
