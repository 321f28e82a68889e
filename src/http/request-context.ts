/**
 * Per-request context: a request id (the caller's X-Request-Id when well-formed, else a new
 * UUID), echoed in the response, carried by every log record made during the request, and one
 * access-log line per request. Query strings are not logged (they can carry SAML messages).
 */
import { randomUUID } from "node:crypto";
import { withContext } from "@logtape/logtape";
import type { Middleware } from "koa";
import { logger } from "../logging.ts";

const log = logger("http", "access");
const VALID_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'";

export function requestContext(): Middleware {
  return async (ctx, next) => {
    const given = ctx.get("x-request-id");
    const requestId = VALID_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set("X-Request-Id", requestId);
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Referrer-Policy", "strict-origin-when-cross-origin");
    const started = performance.now();
    await withContext({ requestId }, async () => {
      try {
        await next();
      } finally {
        // Herald's pages run no script at all: a CSP that says so turns any markup injection
        // (a remote `javascript:` link, a missed escape) into nothing. Pages that need a script
        // (the development IdP's auto-post) set their own. No framing (clickjacking).
        if (/^text\/html/.test(ctx.response.type) && !ctx.response.get("Content-Security-Policy"))
          ctx.set("Content-Security-Policy", PAGE_CSP);
        const ms = Math.round((performance.now() - started) * 10) / 10;
        log.info("{method} {path} {status} {ms}ms", {
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms,
        });
      }
    });
  };
}
