/**
 * Session cookie handling for every request: `ctx.state.auth` is the signed-in person's session,
 * or undefined. Cookies are HttpOnly, SameSite=Lax, Secure (and `__Host-`-prefixed) whenever the
 * public origin is https.
 */
import type { Context, Middleware } from "koa";
import { fail } from "../http/errors.ts";
import { formBody } from "../http/form.ts";
import type { ActiveSession, Sessions } from "./sessions.ts";

export interface SessionCookie {
  readonly name: string;
  readonly secure: boolean;
}

export function sessionCookie(origin: URL): SessionCookie {
  const secure = origin.protocol === "https:";
  return { name: secure ? "__Host-herald_session" : "herald_session", secure };
}

export function setSessionCookie(ctx: Context, cookie: SessionCookie, token: string, expires: Date): void {
  // TLS usually ends at a proxy: the public origin, not the hop, decides Secure.
  if (cookie.secure) ctx.cookies.secure = true;
  ctx.cookies.set(cookie.name, token, {
    httpOnly: true,
    secure: cookie.secure,
    sameSite: "lax",
    path: "/",
    expires,
    overwrite: true,
  });
}

export function clearSessionCookie(ctx: Context, cookie: SessionCookie): void {
  if (cookie.secure) ctx.cookies.secure = true;
  ctx.cookies.set(cookie.name, "", {
    httpOnly: true,
    secure: cookie.secure,
    sameSite: "lax",
    path: "/",
    maxAge: 0,
    overwrite: true,
  });
}

export function sessionMiddleware(sessions: Sessions, cookie: SessionCookie): Middleware {
  return async (ctx, next) => {
    const token = ctx.cookies.get(cookie.name);
    if (token) {
      const auth: ActiveSession | undefined = await sessions.resolve(token);
      if (auth) ctx.state.auth = auth;
      else clearSessionCookie(ctx, cookie);
    }
    await next();
  };
}

/** Everything behind it needs a session: pages send people to sign in, anything else is a 401. */
export function requireSession(): Middleware {
  return async (ctx, next) => {
    if (ctx.state.auth) return next();
    if (ctx.method === "GET" || ctx.method === "HEAD")
      return ctx.redirect(`/login?next=${encodeURIComponent(ctx.originalUrl)}`);
    fail(401, "Your session has ended; sign in again.");
  };
}

/** A form posted by the signed-in person, its CSRF token checked against the session (403). */
export async function csrfForm(
  ctx: Context,
  sessions: Sessions,
  limit?: number,
): Promise<{ auth: ActiveSession; form: URLSearchParams }> {
  const auth = ctx.state.auth as ActiveSession;
  const form = await formBody(ctx, limit);
  if (!sessions.verifyCsrf(auth, form.get("csrf")))
    fail(403, "This form has expired; reload the page and try again.");
  return { auth, form };
}
