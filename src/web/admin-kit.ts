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
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import { ROUTES } from "../http/routes.ts";
import { requireSession } from "../sessions/middleware.ts";
import { type Html, html, page, raw } from "../http/html.ts";
import type { ActiveSession } from "../sessions/sessions.ts";
import { orgIdentity } from "./design.ts";

/**
 * The admin pages, each with what its own handler asks Casbin: an action on the organization, or
 * (`onAccount`) on the organization or any account the predicate picks — an analyst of @recruiting
 * opens its archive and insights, an account's owner its grants. `about` is the home's longer name.
 */
const CONSOLE_LINKS: readonly {
  readonly action: Action;
  readonly href: string;
  readonly label: string;
  readonly about: string;
  readonly onAccount?: (a: ActorRow) => boolean;
}[] = [
  { action: "manage-accounts", href: "/admin/accounts", label: "Shared accounts", about: "Shared accounts" },
  {
    action: "manage-grants",
    href: "/admin/grants",
    label: "Grants",
    about: "Grants",
    onAccount: (a) => a.kind === "shared" && !a.deletedAt,
  },
  { action: "view-audit", href: "/admin/audit", label: "Audit log", about: "Audit log" },
  { action: "view-reports", href: "/admin/reports", label: "Reports", about: "Impersonation reports" },
  {
    action: "view-archive",
    href: "/admin/archive",
    label: "Archive",
    about: "Archive (search and export)",
    onAccount: (a) => a.kind === "shared",
  },
  {
    action: "view-directory",
    href: "/admin/directory",
    label: "Directory",
    about: "Directory (everyone provisioned)",
  },
  {
    action: "view-provisioning",
    href: "/admin/provisioning",
    label: "Provisioning",
    about: "Provisioning health (SCIM)",
  },
  {
    action: "view-insights",
    href: "/admin/insights",
    label: "Insights",
    about: "Insights (followers, replies, boosts, likes)",
    onAccount: (a) => a.kind !== "person" && !a.deletedAt,
  },
  { action: "manage-people", href: "/admin/app-tokens", label: "App tokens", about: "App tokens" },
  {
    action: "connect-idp",
    href: "/admin/connect",
    label: "Identity provider",
    about: "Identity provider (single sign-on, SCIM tokens)",
  },
];

export type ConsoleLink = (typeof CONSOLE_LINKS)[number];

export function adminKit(deps: { config: Config; authz: Authz; accounts: Pick<Accounts, "list"> }) {
  const { config, authz } = deps;

  /** The admin pages this person may open, as Casbin decides (the navigation and the home's list). */
  async function openable(auth: ActiveSession): Promise<ConsoleLink[]> {
    const decide = await authz.decider(auth.person);
    let listed: ActorRow[] | undefined;
    const out: ConsoleLink[] = [];
    for (const link of CONSOLE_LINKS) {
      let allow = (await decide(link.action, ORG)).allow;
      if (!allow && link.onAccount) {
        listed ??= await deps.accounts.list();
        for (const a of listed.filter(link.onAccount))
          if ((allow = (await decide(link.action, a)).allow)) break;
      }
      if (allow) out.push(link);
    }
    return out;
  }

  async function shell(ctx: Context, auth: ActiveSession, title: string, body: Html): Promise<void> {
    const nav = (await openable(auth)).map(({ href, label }) => ({
      href,
      label,
      current: ctx.path === href,
    }));
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

  return { shell, openable, requireOrg };
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
