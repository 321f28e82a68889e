/**
 * Token-bucket rate limiting, in memory, per key (a SCIM token, a client address, a remote host).
 * Per process: behind N processes the effective limit is N× — acceptable for abuse protection,
 * which is what this is for. Buckets idle for a minute are forgotten.
 */
export interface RateLimit {
  /** Sustained requests per second. */
  readonly ratePerSecond: number;
  /** Requests allowed at once from a full bucket. */
  readonly burst: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Seconds until one request is allowed again (for Retry-After), when refused. */
  readonly retryAfterSeconds: number;
}

export function createRateLimiter(limit: RateLimit, now: () => number = () => performance.now()) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  let lastSweep = now();
  return {
    take(key: string): RateDecision {
      const t = now();
      if (t - lastSweep > 60_000) {
        for (const [k, b] of buckets) if (t - b.at > 60_000) buckets.delete(k);
        lastSweep = t;
      }
      const b = buckets.get(key) ?? { tokens: limit.burst, at: t };
      b.tokens = Math.min(limit.burst, b.tokens + ((t - b.at) / 1000) * limit.ratePerSecond);
      b.at = t;
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return { allowed: true, retryAfterSeconds: 0 };
      }
      return {
        allowed: false,
        retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / limit.ratePerSecond)),
      };
    },
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
