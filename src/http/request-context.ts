/**
 * Per-request context: a request id (the caller's X-Request-Id when well-formed, else a new
 * UUID), echoed in the response, carried by every log record made during the request, and one
 * access-log line per request. Query strings are not logged (they can carry SAML messages).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Context, Middleware } from "koa";
import { logger } from "../logging.ts";

const log = logger("http", "access");
const VALID_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Pages load nothing but the stylesheet from this origin (src/web/design.ts) and images (the
 * organization's logo and people's photos: https only, or an http logo named in development);
 * no script, no inline style, no framing.
 */
export function pageCsp(extraImageSources: readonly string[] = []): string {
  const img = ["'self'", "https:", "data:", ...extraImageSources].join(" ");
  return `default-src 'none'; style-src 'self'; img-src ${img}; base-uri 'none'; frame-ancestors 'none'`;
}

export const PAGE_CSP = pageCsp();

/** What is drained of a refused upload before the connection is dropped instead. */
const DRAIN_BYTES = 16 * 1024 * 1024;
const DRAIN_MS = 10_000;

/**
 * A body left half-read (a 413 past a size limit, a 400 mid-stream) leaves the connection in the
 * middle of the client's upload, and a paused request stream stops Node from parsing the next
 * request on it: answered "keep-alive", the next request hung until the idle timeout. The rest of
 * the body is read and discarded — bounded in bytes and time, past which the socket is dropped —
 * so the connection stays usable (RFC 9112 §9.3, §9.6). A stream already destroyed cannot be
 * drained: that answer says `Connection: close`.
 */
export function settleBody(req: IncomingMessage, cannotDrain: () => void): void {
  if (req.complete) return;
  if (req.destroyed) return cannotDrain();
  let drained = 0;
  const drop = () => req.socket?.destroy();
  const timer = setTimeout(drop, DRAIN_MS);
  timer.unref();
  req.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_BYTES) drop();
  });
  req.once("close", () => clearTimeout(timer));
  req.resume();
}

/**
 * Headers every answer carries, the cached fast paths' included: first in the chain. HSTS only in
 * production on an https origin (RFC 6797): a development server on http://localhost must not pin
 * the browser to https for a year. No includeSubDomains: the handle domain's other hosts are the
 * organization's, not Herald's, to decide.
 */
export function securityHeaders(options: { readonly hsts: boolean; readonly pageCsp?: string }): Middleware {
  return (ctx, next) => {
    if (options.pageCsp) ctx.state.pageCsp = options.pageCsp;
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Referrer-Policy", "strict-origin-when-cross-origin");
    if (options.hsts) ctx.set("Strict-Transport-Security", "max-age=31536000");
    return next();
  };
}

/** The caller's X-Request-Id when well-formed, else a new UUID. */
export function requestIdFor(given: string): string {
  return VALID_ID.test(given) ? given : randomUUID();
}

/**
 * What is done to every answer on its way out, whatever produced it: a CSP on pages, the rest of
 * a refused upload drained, one access-log line (not for answers from the in-memory fast paths,
 * which mark themselves with `ctx.state.fastPath`).
 */
export function finishAnswer(ctx: Context, started: number): void {
  // Herald's pages run no script at all: a CSP that says so turns any markup injection
  // (a remote `javascript:` link, a missed escape) into nothing. Pages that need a script
  // (the development IdP's auto-post) set their own. No framing (clickjacking).
  if (/^text\/html/.test(ctx.response.type) && !ctx.response.get("Content-Security-Policy"))
    ctx.set("Content-Security-Policy", (ctx.state.pageCsp as string | undefined) ?? PAGE_CSP);
  settleBody(ctx.req, () => {
    if (!ctx.headerSent) ctx.set("Connection", "close");
  });
  if (ctx.state.fastPath) return;
  const ms = Math.round((performance.now() - started) * 10) / 10;
  log.info("{method} {path} {status} {ms}ms", { method: ctx.method, path: ctx.path, status: ctx.status, ms });
}
