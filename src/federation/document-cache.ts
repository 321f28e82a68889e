/**
 * Serialized answers for the hot public documents (WebFinger and actor documents): DESIGN asks for
 * most of bare Koa's throughput there, not a database round trip plus JSON-LD compaction per
 * request. Entries are dropped whenever an account changes in this process, and expire after a
 * short TTL so that changes made by another process (the CLI) show within seconds.
 */
export interface CachedResponse {
  readonly status: number;
  readonly headers: readonly [string, string][];
  readonly body: Buffer;
  readonly expires: number;
}

export function createDocumentCache(options: { ttlMs: number; maxEntries?: number }) {
  const entries = new Map<string, CachedResponse>();
  const max = options.maxEntries ?? 10_000;
  return {
    get(key: string): CachedResponse | undefined {
      const hit = entries.get(key);
      if (!hit) return undefined;
      if (hit.expires < Date.now()) {
        entries.delete(key);
        return undefined;
      }
      return hit;
    },
    set(key: string, value: Omit<CachedResponse, "expires">): void {
      if (entries.size >= max) entries.delete(entries.keys().next().value as string);
      entries.set(key, { ...value, expires: Date.now() + options.ttlMs });
    },
    clear(): void {
      entries.clear();
    },
    get size(): number {
      return entries.size;
    },
  };
}

export type DocumentCache = ReturnType<typeof createDocumentCache>;

/** The cache key for a request, or undefined when the request must not be cached. */
export function cacheKey(method: string, path: string, search: string, accept: string): string | undefined {
  if (method !== "GET") return undefined;
  if (path === "/.well-known/webfinger") return `wf ${search}`;
  if (/^\/ap\/actors\/[0-9a-f-]{36}$/.test(path) && /application\/(activity|ld)\+json/.test(accept)) {
    return `actor ${path}`;
  }
  return undefined;
}
