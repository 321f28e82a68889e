/** Rate limits of the client API: 429 with Retry-After (RFC 6585 §4), as every limit of Herald's. */
import { createHash } from "node:crypto";
import type { Context, Middleware } from "koa";
import { fail } from "../http/errors.ts";
import type { RateLimiter } from "../http/rate-limit.ts";

/** Per token when one is presented (its hash: the token never becomes a key), else per address. */
export function apiKey(ctx: Context): string {
  const auth = ctx.get("authorization");
  return auth ? `t:${createHash("sha256").update(auth).digest("base64url").slice(0, 32)}` : `ip:${ctx.ip}`;
}

export function limitedBy(limiter: RateLimiter, key: (ctx: Context) => string): Middleware {
  return async (ctx, next) => {
    const d = await limiter.take(key(ctx));
    if (!d.allowed)
      fail(429, "Too many requests", {
        "Retry-After": String(d.retryAfterSeconds),
        "X-RateLimit-Reset": new Date(Date.now() + d.retryAfterSeconds * 1000).toISOString(),
      });
    await next();
  };
}
