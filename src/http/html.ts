/** Minimal, auto-escaping HTML helpers for server-rendered pages, and the page shell. */
import { monogram, type OrgIdentity, STYLESHEET_NAME } from "../web/design.ts";
import { href, ROUTES } from "./routes.ts";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A tagged template that escapes every interpolation unless it is `raw()` HTML. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export function raw(value: string): Html {
  return new Html(value);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => {
    const part = Array.isArray(v)
      ? v.map((x) => (x instanceof Html ? x.value : escapeHtml(x))).join("")
      : v instanceof Html
        ? v.value
        : escapeHtml(v);
    out += part + strings[i + 1];
  });
  return new Html(out);
}

/** A link in the site header's navigation. */
export interface NavLink {
  readonly href: string;
  readonly label: string;
  /** The page shown now (aria-current="page"). */
  readonly current?: boolean;
}

/**
 * What a page shows around its content: the organization's name and logo (always, when chrome is
 * given), the navigation, and — where a session exists — the signed-in person's name with a
 * sign-out form carrying the session's CSRF token. See src/web/design.ts for the classes.
 */
export interface Chrome {
  readonly org: OrgIdentity;
  readonly nav?: readonly NavLink[];
  /** The navigation's accessible name (default "Site"). */
  readonly navLabel?: string;
  readonly session?: { readonly name: string; readonly csrf: string };
  /** A wider main column (tables on admin pages). */
  readonly wide?: boolean;
}

function header(chrome: Chrome): Html {
  const { org, nav = [], session } = chrome;
  const mark = org.logoUrl
    ? html`<img class="org-logo" src="${safeHref(org.logoUrl)}" alt="" width="36" height="36" />`
    : html`<span class="org-mark" aria-hidden="true">${monogram(org.name)}</span>`;
  const links = nav.map(
    (l) => html`<li><a href="${l.href}" ${l.current ? raw('aria-current="page"') : ""}>${l.label}</a></li>`,
  );
  const signOut = session
    ? html`<form class="signout" method="post" action="${ROUTES.logout}">
        <input type="hidden" name="csrf" value="${session.csrf}" />
        <span class="muted">Signed in as <strong>${session.name}</strong></span>
        <button type="submit" class="btn-secondary">Sign out</button>
      </form>`
    : "";
  return html`<header class="site-header">
    <div class="site-header-inner">
      <a class="brand" href="${org.href ?? ROUTES.home}">${mark}<span>${org.name}</span></a>
      ${
        nav.length > 0 || session
          ? html`<nav class="site-nav" aria-label="${chrome.navLabel ?? "Site"}">
              ${
                links.length > 0
                  ? html`<ul>
                      ${links}
                    </ul>`
                  : ""
              }
              ${signOut}
            </nav>`
          : ""
      }
    </div>
  </header>`;
}

/**
 * A complete page. `body` is trusted HTML (build it with `html`). Every page links the one
 * stylesheet (src/web/design.ts) and the favicon; with `chrome` it has the site header.
 */
export function page(title: string, body: string | Html, chrome?: Chrome): string {
  const stylesheet = href(ROUTES.asset, { name: STYLESHEET_NAME });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark"><title>${escapeHtml(title)}</title><link rel="stylesheet" href="${stylesheet}"><link rel="icon" href="${ROUTES.favicon}" sizes="32x32"></head><body>${chrome ? header(chrome).value : ""}<main${chrome?.wide ? ' class="wide"' : ""}>${String(body)}</main></body></html>`;
}

const DATE_TIME = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

/** "3 minutes ago", "in 2 hours", "5 days ago" (English, whole units). */
export function relativeTime(date: Date, now: Date = new Date()): string {
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  for (const [unit, size] of units)
    if (Math.abs(seconds) >= size) return rtf.format(Math.trunc(seconds / size), unit);
  return "just now";
}

/**
 * A point in time as people read it: `<time datetime="ISO">4 Dec 2026, 19:35 UTC</time>`, with
 * the relative time after it in .muted ("(3 minutes ago)") unless `relative` is false.
 */
export function timeTag(
  date: Date,
  options: { readonly relative?: boolean; readonly now?: Date } = {},
): Html {
  const absolute = `${DATE_TIME.format(date)} UTC`;
  const tag = html`<time datetime="${date.toISOString()}">${absolute}</time>`;
  return options.relative === false
    ? tag
    : html`${tag} <span class="muted">(${relativeTime(date, options.now)})</span>`;
}

/** A link target from elsewhere (a remote server, a stored row): only http(s), else "#". */
export function safeHref(url: string | null | undefined): string {
  if (!url) return "#";
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : "#";
  } catch {
    return "#";
  }
}
