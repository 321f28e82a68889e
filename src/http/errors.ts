/**
 * The one error boundary (koajs/koa docs/error-handling.md): every failure below it becomes an
 * answer in the caller's language — a SCIM error envelope under /scim (RFC 7644 §3.12), an
 * RFC 9457 problem document for APIs, a short HTML page for browsers. 5xx details never leave
 * the server; they are logged with the request id, which the answer carries.
 */
import { STATUS_CODES } from "node:http";
import { withContext } from "@logtape/logtape";
import type { Context, Middleware, Next } from "koa";
import { logger } from "../logging.ts";
import { type Chrome, html, page } from "./html.ts";
import { finishAnswer, requestIdFor } from "./request-context.ts";

const log = logger("http", "error");

export const SCIM_ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error";

interface KoaLikeError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  message?: string;
  scimType?: string;
  headers?: Record<string, string>;
  code?: string;
}

export type ErrorFormat = "scim" | "problem" | "html" | "mastodon";

/**
 * What an HTML error page shows around its message: the site header (the organization, the
 * navigation, the signed-in person with sign-out) and a way back. Decided per request (who is
 * signed in, where they were); without it the page is bare (a worker's probes).
 */
export type ErrorChrome = (ctx: Context) => {
  readonly chrome: Chrome;
  readonly back: { readonly href: string; readonly label: string };
};

/** The Mastodon client API and its OAuth endpoints answer errors as Mastodon does: `{"error": …}`. */
const MASTODON = /^\/(?:api\/v[12]\/|oauth\/(?:token|revoke)$|\.well-known\/oauth-authorization-server$)/;

export function errorFormat(ctx: Context): ErrorFormat {
  if (ctx.path === "/scim" || ctx.path.startsWith("/scim/")) return "scim";
  if (MASTODON.test(ctx.path)) return "mastodon";
  if (ctx.path.startsWith("/api/") || ctx.path.startsWith("/.well-known/")) return "problem";
  return ctx.accepts(["json", "html"]) === "html" ? "html" : "problem";
}

export function writeError(
  ctx: Context,
  status: number,
  detail: string,
  extra: { scimType?: string; chrome?: ErrorChrome } = {},
): void {
  const title = STATUS_CODES[status] ?? "Error";
  const requestId = String(ctx.state.requestId ?? "");
  ctx.status = status;
  switch (errorFormat(ctx)) {
    case "scim":
      ctx.type = "application/scim+json";
      ctx.body = {
        schemas: [SCIM_ERROR_SCHEMA],
        status: String(status),
        ...(extra.scimType ? { scimType: extra.scimType } : {}),
        detail,
      };
      return;
    case "mastodon":
      ctx.type = "application/json";
      ctx.body = { error: detail };
      return;
    case "problem":
      ctx.type = "application/problem+json";
      ctx.body = { type: "about:blank", title, status, detail, requestId };
      return;
    case "html": {
      ctx.type = "text/html; charset=utf-8";
      const around = extra.chrome?.(ctx);
      ctx.body = page(
        `${status} ${title}`,
        html`<h1>${title}</h1>
          <p>${detail}</p>
          ${around ? html`<p><a href="${around.back.href}">${around.back.label}</a></p>` : ""}
          <p class="muted">Reference: <code>${requestId}</code></p>`,
        around?.chrome,
      );
      return;
    }
  }
}

/**
 * The first middleware of the chain (koajs/koa docs/error-handling.md): nothing escapes it. It
 * also gives the request its id (echoed as X-Request-Id and carried by every log record made
 * during the request) and finishes every answer (src/http/request-context.ts).
 */
export function errorBoundary(options: { chrome?: ErrorChrome } = {}): Middleware {
  return async (ctx, next) => {
    const requestId = requestIdFor(ctx.get("x-request-id"));
    ctx.state.requestId = requestId;
    ctx.set("X-Request-Id", requestId);
    const started = performance.now();
    await withContext({ requestId }, async () => {
      try {
        await guarded(ctx, next, options.chrome);
      } finally {
        finishAnswer(ctx, started);
      }
    });
  };
}

async function guarded(ctx: Context, next: Next, chrome: ErrorChrome | undefined): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body == null) {
      writeError(ctx, 404, `Nothing here: ${ctx.method} ${ctx.path}`, { chrome });
    }
  } catch (raw) {
    let err = (raw ?? {}) as KoaLikeError;
    // A client that hung up in the middle of its body (Node's "aborted", ECONNRESET, on the
    // request stream): nobody is left to answer and nothing failed here. Not a 500 at ERROR,
    // which anyone could fill the error log and the 5xx alerts with.
    if (ctx.req.destroyed && !ctx.req.complete && (err.code === "ECONNRESET" || err.message === "aborted"))
      err = {
        status: 400,
        expose: true,
        message: "The client closed the connection before the request was complete.",
      };
    let status = Number(err.status ?? err.statusCode ?? 500);
    if (!Number.isInteger(status) || status < 400 || status > 599) status = 500;
    // Only messages meant for the client (http-errors' expose: 4xx by default) are shown. A 501
    // is an answer given on purpose whoever throws it (RFC 9110 §15.6.2), the router's own for
    // a method no route here takes (PROPFIND, TRACE) too, though http-errors marks it unexposed.
    const expose = (err.expose ?? status < 500) || status === 501;
    if (!expose) {
      // A bug or an outage: the one case worth a stack trace.
      log.error("Unhandled error on {method} {path}: {error}", {
        method: ctx.method,
        path: ctx.path,
        error: raw,
      });
    } else {
      // An answer given on purpose (a refusal, a deliberate 501/503): the reason, no stack.
      log.info("{method} {path} answered {status}: {reason}", {
        method: ctx.method,
        path: ctx.path,
        status,
        reason: err.message ?? "",
      });
    }
    const detail =
      expose && err.message ? err.message : "Internal error; the reference below is in the server log.";
    ctx.set(err.headers ?? {});
    writeError(ctx, status, detail, { scimType: err.scimType, chrome });
  }
  // RFC 6585 §4 lets a 429 say when to come back; Herald's always do (clients and IdPs back off
  // by it). Every limiter sets its own; this is the floor for any that did not.
  if (ctx.status === 429 && !ctx.response.get("Retry-After")) ctx.set("Retry-After", "1");
}

/** Throws an error the boundary turns into `status` with `message` shown to the client. */
export function fail(status: number, message: string, headers?: Record<string, string>): never {
  throw Object.assign(new Error(message), { status, expose: true, ...(headers ? { headers } : {}) });
}
