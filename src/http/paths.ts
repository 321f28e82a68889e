/**
 * One rule for paths. Guards (SCIM token, session, admin, rate limits) are mounted on path
 * prefixes; a router that matched more spellings than its guard — another letter case, a
 * trailing slash, `//`, a percent-encoded letter, a dot segment — let requests reach handlers
 * around the guard. So, first in the chain:
 *
 * - the path is brought to its normal form (RFC 3986 §6.2.2: percent-encoded unreserved
 *   characters decoded, other escapes upper-cased; §5.2.4 dot segments removed; empty segments
 *   — `//` and a trailing slash — dropped). Malformed escapes, NUL and backslashes are a 400;
 * - a request for any other spelling is not served there: a GET or HEAD is redirected (308) to
 *   the normal form, where the guards apply; any other method is a 404;
 * - every router matches case-sensitively and strictly, so `/SCIM`, `/APP` or `/Admin` are 404.
 *
 * The one exception is SCIM, whose clients are known to vary letter case and trailing slashes
 * (Microsoft's validator sends `/users` and `/Users/`): every path whose lower case is under
 * `/scim/` is handed, normalized, to the SCIM middleware, which authenticates all of them before
 * routing (src/scim/routes.ts).
 */
import { ROUTES } from "./routes.ts";
import Router, { type RouterOptions } from "@koa/router";
import type { Middleware } from "koa";
import { fail } from "./errors.ts";

export type NormalPath =
  { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string };

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** The normal form of a raw (still percent-encoded) request path. */
export function normalizePath(raw: string): NormalPath {
  if (!raw.startsWith("/")) return { ok: false, message: "The request path must start with /." };
  let decoded = "";
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === "\\") return { ok: false, message: "Backslashes are not allowed in paths." };
    if (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
      return { ok: false, message: "Control characters are not allowed in paths." };
    if (c !== "%") {
      decoded += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex))
      return { ok: false, message: "The path has a malformed percent-encoding." };
    const ch = String.fromCharCode(parseInt(hex, 16));
    if (ch === "\0") return { ok: false, message: "NUL is not allowed in paths." };
    decoded += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  const out: string[] = [];
  for (const segment of decoded.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return { ok: true, path: `/${out.join("/")}` };
}

/** True for paths the SCIM surface owns (matched without regard to letter case). */
/** "/scim": the first segment of SCIM's prefix, which owns everything under it. */
const SCIM_ROOT = `/${ROUTES.scim.prefix.split("/")[1]}`;

export function isScimPath(path: string): boolean {
  const lower = path.toLowerCase();
  return lower === SCIM_ROOT || lower.startsWith(`${SCIM_ROOT}/`);
}

export function canonicalPaths(): Middleware {
  return async (ctx, next) => {
    const normal = normalizePath(ctx.path);
    if (!normal.ok) fail(400, normal.message);
    if (isScimPath(normal.path)) {
      if (normal.path !== ctx.path) ctx.path = normal.path;
      return next();
    }
    if (normal.path === ctx.path) return next();
    if (ctx.method === "GET" || ctx.method === "HEAD") {
      ctx.status = 308;
      // Relative and starting with a single "/": never an open redirect.
      ctx.set("Location", normal.path + (ctx.querystring ? `?${ctx.querystring}` : ""));
      ctx.body = `Moved to ${normal.path}`;
      return;
    }
    fail(404, `Nothing here: ${ctx.method} ${ctx.path} (did you mean ${normal.path}?)`);
  };
}

/**
 * Every router of Herald's: letter case matters. (Trailing slashes never reach a router:
 * `canonicalPaths` answered them already; `strict` would turn a prefix's "/" route into "/app/".)
 */
export function caseSensitiveRouter(options: Pick<RouterOptions, "prefix"> = {}): Router {
  return new Router({ ...options, sensitive: true });
}
