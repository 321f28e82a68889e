/**
 * Rate limits per key (a SCIM token, a client address, a remote host), kept in one of two stores
 * (HERALD_RATE_LIMIT_STORE; docs/decisions/0011-shared-rate-limits.md):
 *
 * - `memory`: a token bucket per process (sustained rate, burst). Behind N processes a client
 *   gets N× the limit. The default on SQLite, which one process serves.
 * - `database`: one count for every process, in the `rate_limit` table of Herald's MySQL/MariaDB
 *   database (rate-limiter-flexible's RateLimiterMySQL on TypeORM's own pool). It counts in fixed
 *   windows (`fixedWindow`); a refused key is then refused from memory until its window ends (no
 *   database round trip), and a store that fails or stalls falls back to a per-process count
 *   (warned once), so a database hiccup never fails a request or lets everything through.
 *
 * 429 answers carry `retryAfterSeconds` (≥ 1) as Retry-After (RFC 6585 §4).
 */
import { createHash } from "node:crypto";
import {
  RateLimiterMemory,
  RateLimiterMySQL,
  RateLimiterRes,
  RLWrapperTimeouts,
} from "rate-limiter-flexible";
import type { Database } from "../db/database.ts";
import { logger } from "../logging.ts";

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

export interface RateLimiter {
  take(key: string): Promise<RateDecision>;
}

export type RateLimitStore = "memory" | "database";

export interface RateLimits {
  readonly store: RateLimitStore;
  /**
   * A limiter; `name` keeps its keys apart from other limiters' in the shared table. `process`:
   * counted in this process whatever the store (a hot public answer that a write per request
   * would slow to a fraction; decision 0011).
   */
  limiter(name: string, limit: RateLimit, options?: { readonly scope?: "shared" | "process" }): RateLimiter;
}

/** The table migration 0016 creates (the library is told not to create it). */
export const RATE_LIMIT_TABLE = "rate_limit";
/** Longer than this, a store answer counts as a hiccup: the request is counted in memory. */
const STORE_TIMEOUT_MS = 1_000;
/** Expired rows are deleted at most this often per process, a batch at a time. */
const SWEEP_INTERVAL_MS = 5 * 60_000;
const SWEEP_BATCH = 1_000;

const log = logger("http", "rate-limit");

/**
 * A token bucket per key, in this process: `burst` requests at once, refilled at `ratePerSecond`.
 * Buckets idle for a minute are forgotten.
 */
export function tokenBucket(limit: RateLimit, now: () => number = () => performance.now()) {
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

export function createMemoryRateLimiter(limit: RateLimit, now?: () => number): RateLimiter {
  const bucket = tokenBucket(limit, now);
  return { take: async (key) => bucket.take(key) };
}

/**
 * A token bucket as the fixed window the shared store counts in: the burst is the window's
 * points and the window lasts as long as the bucket takes to refill from empty (burst / rate), so
 * a full burst passes at once and the long-run rate is the same. The difference: a client may
 * spend one window's points at its end and the next window's at its start — at most 2 × burst in
 * a short time where the bucket allows burst + rate × t. Whole milliseconds (the table stores
 * them), at least one.
 */
export function fixedWindow(limit: RateLimit): { readonly points: number; readonly durationMs: number } {
  return {
    points: limit.burst,
    durationMs: Math.max(1, Math.round((1000 * limit.burst) / limit.ratePerSecond)),
  };
}

/** The store's answer as Herald's decision: Retry-After in whole seconds, at least one. */
export function decisionFrom(allowed: boolean, msBeforeNext: number): RateDecision {
  return allowed
    ? { allowed: true, retryAfterSeconds: 0 }
    : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(msBeforeNext / 1000)) };
}

/** Keys as stored: long ones (a forwarded address can be anything) hashed to fit the column. */
export function storeKey(key: string): string {
  return key.length <= 200 ? key : `sha256:${createHash("sha256").update(key).digest("base64url")}`;
}

/** The per-process count a shared limiter falls back to; it tells when it is used. */
class FallbackLimiter extends RateLimiterMemory {
  readonly #used: () => void;
  constructor(opts: ConstructorParameters<typeof RateLimiterMemory>[0], used: () => void) {
    super(opts);
    this.#used = used;
  }
  override consume(key: string | number, points?: number, options?: { [key: string]: unknown }) {
    this.#used();
    return super.consume(key, points, options);
  }
}

interface MysqlDriverParts {
  /** mysql2's callback pool, which TypeORM's MySQL driver keeps. */
  readonly pool: unknown;
  /** The database DATABASE_URL names. */
  readonly database: string;
}

/**
 * The limiters of one process, in `store`. `now` paces only the warnings and the sweep (the
 * windows run on the library's clock, Date.now).
 */
export function createRateLimits(
  store: RateLimitStore,
  db: Database,
  now: () => number = Date.now,
): RateLimits {
  const names = new Set<string>();
  const named = (name: string) => {
    if (names.has(name)) throw new Error(`two rate limiters are both named "${name}"`);
    names.add(name);
  };
  if (store === "memory")
    return {
      store,
      limiter(name, limit) {
        named(name);
        return createMemoryRateLimiter(limit);
      },
    };

  if (db.dialect !== "mysql") throw new Error("the database rate-limit store needs MySQL or MariaDB");
  const { pool, database } = db.dataSource.driver as unknown as MysqlDriverParts;

  // One warning per episode: the first fallback after a minute without one.
  let lastFallback = Number.NEGATIVE_INFINITY;
  const fellBack = (name: string) => () => {
    const t = now();
    if (t - lastFallback > 60_000)
      log.warn(
        "The rate-limit table failed or did not answer within {timeoutMs} ms ({limiter}); limits are counted per process until it does.",
        { timeoutMs: STORE_TIMEOUT_MS, limiter: name },
      );
    lastFallback = t;
  };

  // Rows outlive their window until swept; the sweep reads without locks, then deletes by key
  // (a range DELETE on the unindexed column would lock every row it scans).
  let lastSweep = now();
  const sweep = async () => {
    for (let batch = 0; batch < 10; batch++) {
      // The library's clock, which wrote the expiry times.
      const cutoff = Date.now();
      const rows = await db.query<{ key: string }>(
        `SELECT \`key\` FROM ${RATE_LIMIT_TABLE} WHERE expire < ? LIMIT ${SWEEP_BATCH}`,
        [cutoff],
      );
      if (rows.length === 0) return;
      await db.query(`DELETE FROM ${RATE_LIMIT_TABLE} WHERE \`key\` IN (?) AND expire < ?`, [
        rows.map((r) => r.key),
        cutoff,
      ]);
      if (rows.length < SWEEP_BATCH) return;
    }
  };
  const maybeSweep = () => {
    const t = now();
    if (t - lastSweep < SWEEP_INTERVAL_MS) return;
    lastSweep = t;
    sweep().catch((error) => log.warn("Could not delete expired rate-limit rows: {error}", { error }));
  };

  return {
    store,
    limiter(name, limit, options) {
      named(name);
      if (options?.scope === "process") return createMemoryRateLimiter(limit);
      const { points, durationMs } = fixedWindow(limit);
      const window = { keyPrefix: name, points, duration: durationMs / 1000 };
      const insurance = new FallbackLimiter(window, fellBack(name));
      const shared = new RateLimiterMySQL({
        ...window,
        storeClient: pool,
        storeType: "pool",
        dbName: database,
        tableName: RATE_LIMIT_TABLE,
        tableCreated: true,
        clearExpiredByTimeout: false,
        // Past the points, this process refuses the key from memory until the window ends.
        inMemoryBlockOnConsumed: points + 1,
        insuranceLimiter: insurance,
      });
      const guarded = new RLWrapperTimeouts({
        limiter: shared,
        timeoutMs: STORE_TIMEOUT_MS,
        insuranceLimiter: insurance,
      });
      return {
        async take(key) {
          maybeSweep();
          try {
            const res = await guarded.consume(storeKey(key));
            return decisionFrom(true, res.msBeforeNext);
          } catch (err) {
            if (err instanceof RateLimiterRes) return decisionFrom(false, err.msBeforeNext);
            // Only a bug gets here (the fallback count cannot fail): never fail the request on it.
            log.error("Rate limiter {limiter} failed: {error}", { limiter: name, error: err });
            return { allowed: true, retryAfterSeconds: 0 };
          }
        },
      };
    },
  };
}
