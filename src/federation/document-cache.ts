/**
 * Serialized answers for the hot public documents (WebFinger and actor documents): DESIGN asks for
 * most of bare Koa's throughput there, not a database round trip plus JSON-LD compaction per
 * request. Entries are dropped by every person or account change: at once when it is committed
 * in this process, and within a poll when another process (the CLI, another server) made it
 * (documentCacheConsumer, a `process` event consumer). A short TTL bounds what no event says:
 * account state the federation bridge derives a moment after a change, in whichever process runs it.
 */
import { matcher, ROUTES } from "../http/routes.ts";
import type { EventConsumer } from "../identity/events.ts";

export interface CachedResponse {
  readonly status: number;
  readonly headers: readonly [string, string][];
  readonly body: Buffer;
  readonly expires: number;
}

export function createDocumentCache(options: { ttlMs: number; maxEntries?: number }) {
  const entries = new Map<string, CachedResponse>();
  const max = options.maxEntries ?? 10_000;
  /** Bumped by every clear: an answer computed across a change must not be cached after it. */
  let generation = 0;
  return {
    /** Read before computing an answer; hand it to `set`. */
    generation: () => generation,
    get(key: string): CachedResponse | undefined {
      const hit = entries.get(key);
      if (!hit) return undefined;
      if (hit.expires < Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return hit;
    },
    /**
     * Caches an answer computed from the state at `since` (a `generation()`): dropped if a change
     * cleared the cache meanwhile — else a request that read the old state and finished after
     * the change would put it back for a whole TTL.
     */
    set(key: string, value: Omit<CachedResponse, "expires">, since: number): void {
      if (since !== generation) return;
      if (entries.size >= max) entries.delete(entries.keys().next().value as string);
      entries.set(key, { ...value, expires: Date.now() + options.ttlMs });
    },
    clear(): void {
      generation++;
      entries.clear();
    },
    get size(): number {
      return entries.size;
    },
  };
}

export type DocumentCache = ReturnType<typeof createDocumentCache>;

/**
 * Drops this process's cached documents on every change to a person or an account (group changes
 * alter no actor document or WebFinger answer), wherever the change was made.
 */
export function documentCacheConsumer(cache: DocumentCache): EventConsumer {
  return {
    name: "federation.document-cache",
    kind: "process",
    async handleChange(change) {
      if (change.events.some(({ event }) => !event.type.startsWith("group."))) cache.clear();
    },
  };
}

/** An actor document's path (actor ids are UUIDs). */
const ACTOR_PATH = matcher([ROUTES.ap.actor], "[0-9a-f-]{36}");

/** The cache key for a request, or undefined when the request must not be cached. */
export function cacheKey(method: string, path: string, search: string, accept: string): string | undefined {
  if (method !== "GET") return undefined;
  if (path === ROUTES.webfinger) return `wf ${search}`;
  if (ACTOR_PATH.test(path) && /application\/(activity|ld)\+json/.test(accept)) {
    return `actor ${path}`;
  }
  return undefined;
}
