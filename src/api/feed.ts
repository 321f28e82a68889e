/**
 * The client API's home timeline, cached per process and checked on every call (decision 0016).
 *
 * A home timeline page is the same bytes for everyone acting as one account until something it
 * shows changes. Every write that can change one raises a version in its own transaction:
 *
 * - `actor.feed_version` of each local account whose timeline the row touches: a post's author, the
 *   account that received an inbound message, the author of the post it replies to or that a
 *   reaction is on, the account followed or following, an account's own row (its profile), the
 *   account that favourited or boosted a remote post;
 * - the global version (`api_sequence` row `feed`) when the row does not name its account (an
 *   update or deletion by criteria) or belongs to everyone (a remote account's profile).
 *
 * The per-call decision (src/api/oauth.ts) reads both versions in its one statement; a page is
 * served from the cache only if it was built under exactly those versions. So a cached page is
 * never older than what a fresh read would show: every process, the CLI and a second server
 * included, raises the versions in the database, and the check happens on every call, after the
 * decision that the caller may still act for the account. Versions are raised after the row is
 * written (after-insert/update/remove hooks, in the writer's transaction), so a page built
 * between the write and its commit is only ever stored under the older version.
 */
import type {
  DataSource,
  EntitySubscriberInterface,
  InsertEvent,
  QueryRunner,
  RemoveEvent,
  UpdateEvent,
} from "typeorm";
import type { Database } from "../db/database.ts";

/** The actor column holding an account's feed version (migration 0026; not in the entity, so a
 * `save` of an actor row never writes an old value back). */
export const FEED_VERSION_COLUMN = "feed_version";

/** The global version as a scalar subquery's SELECT (for the per-call statement). */
export function globalFeedVersionSql(ds: DataSource): string {
  const e = (s: string) => ds.driver.escape(s);
  return `SELECT ${e("fv")}.${e("value")} FROM ${e("api_sequence")} ${e("fv")} WHERE ${e("fv")}.${e("name")} = 'feed'`;
}

type Row = Record<string, unknown>;
/** Whose timelines a written row changes: accounts by id, authors of posts by post id, or all. */
type Touch = { readonly accounts: readonly unknown[]; readonly posts: readonly unknown[] } | "all";

const some = (...values: unknown[]) => values.filter((v) => typeof v === "string" && v !== "");
const named = (accounts: unknown[], posts: unknown[] = []): Touch =>
  accounts.length + posts.length > 0 ? { accounts, posts } : "all";

/** The tables a home timeline shows, and how a row of each names the accounts it touches. */
export const WATCHED: Readonly<Record<string, (r: Row) => Touch>> = {
  post: (r) => named(some(r.actorId)),
  // A received post or reply: its account's timeline, and the replied-to post's reply count.
  inbound_message: (r) => named(some(r.actorId), some(r.inReplyToPostId)),
  reaction: (r) => named([], some(r.postId)),
  follower: (r) => named(some(r.actorId)),
  following: (r) => named(some(r.actorId)),
  actor: (r) => named(some(r.id)),
  api_outbound_reaction: (r) => named(some(r.accountId)),
  inbound_boost: (r) => named(some(r.actorId)),
  api_remote_account: () => "all",
};

/** Raises the versions a write to `table` changes, in `q`'s connection and transaction. */
export async function touchFeeds(q: QueryRunner, table: string, row: Row | undefined): Promise<void> {
  const touch = WATCHED[table]?.(row ?? {});
  if (!touch) return;
  const e = (s: string) => q.connection.driver.escape(s);
  if (touch === "all") {
    await q.query(
      `UPDATE ${e("api_sequence")} SET ${e("value")} = ${e("value")} + 1 WHERE ${e("name")} = 'feed'`,
    );
    return;
  }
  const raise = `UPDATE ${e("actor")} SET ${e(FEED_VERSION_COLUMN)} = ${e(FEED_VERSION_COLUMN)} + 1 WHERE ${e("id")} IN`;
  const marks = (n: number) => Array.from({ length: n }, () => "?").join(", ");
  if (touch.accounts.length) await q.query(`${raise} (${marks(touch.accounts.length)})`, [...touch.accounts]);
  if (touch.posts.length)
    await q.query(
      `${raise} (SELECT ${e("actor_id")} FROM ${e("post")} WHERE ${e("id")} IN (${marks(touch.posts.length)}))`,
      [...touch.posts],
    );
}

const tableOf = (e: { metadata: { tableName: string } }) => e.metadata.tableName;

/**
 * Raises feed versions after every write TypeORM announces: inserts name their row; updates and
 * removals name it when the entity is at hand (`save`, `remove`), and otherwise (by criteria)
 * raise the global version. Herald writes none of these tables with raw SQL.
 */
export const feedSubscriber: EntitySubscriberInterface = {
  async afterInsert(event: InsertEvent<Row>) {
    await touchFeeds(event.queryRunner, tableOf(event), event.entity);
  },
  async afterUpdate(event: UpdateEvent<Row>) {
    const row = event.databaseEntity ? { ...event.databaseEntity, ...(event.entity ?? {}) } : event.entity;
    await touchFeeds(event.queryRunner, tableOf(event), row as Row | undefined);
  },
  async afterRemove(event: RemoveEvent<Row>) {
    // TypeORM clears a removed entity's primary columns before this event: its key is `entityId`.
    const row =
      event.entity || event.databaseEntity
        ? { ...event.databaseEntity, ...event.entity, ...(event.entityId as Row | undefined) }
        : undefined;
    await touchFeeds(event.queryRunner, tableOf(event), row);
  },
};

/** Registers the subscriber on the database's data source (once; createServices calls this). */
export function watchFeeds(db: Database): void {
  if (!db.dataSource.subscribers.includes(feedSubscriber)) db.dataSource.subscribers.push(feedSubscriber);
}

// --- the cache -------------------------------------------------------------------------------------

export interface CachedPage {
  readonly version: string;
  /** The page's JSON as UTF-8 (encoded once, written as it is by every hit). */
  readonly body: Buffer;
  readonly link: string | undefined;
}

/** Bytes of pages (and their keys) one process keeps, least recently used evicted first. */
export const FEED_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * Pages by key (the account and the request's path and query), each with the versions it was
 * built under. A page is returned only for exactly the versions the caller just read.
 */
export function createFeedCache(maxBytes = FEED_CACHE_BYTES) {
  const pages = new Map<string, CachedPage & { readonly bytes: number }>();
  let bytes = 0;
  const counts = { hits: 0, misses: 0, evictions: 0 };
  const drop = (key: string) => {
    const p = pages.get(key);
    if (!p) return;
    pages.delete(key);
    bytes -= p.bytes;
  };
  return {
    get(key: string, version: string): CachedPage | undefined {
      const p = pages.get(key);
      if (!p || p.version !== version || version === "") {
        counts.misses++;
        return undefined;
      }
      // Most recently used last: Map keeps insertion order.
      pages.delete(key);
      pages.set(key, p);
      counts.hits++;
      return p;
    },
    set(key: string, page: CachedPage): void {
      if (page.version === "") return;
      drop(key);
      const size = 2 * (key.length + (page.link?.length ?? 0)) + page.body.length + 64;
      if (size > maxBytes) return;
      pages.set(key, { ...page, bytes: size });
      bytes += size;
      for (const oldest of pages.keys()) {
        if (bytes <= maxBytes) break;
        drop(oldest);
        counts.evictions++;
      }
    },
    stats: () => ({ ...counts, pages: pages.size, bytes }),
  };
}

export type FeedCache = ReturnType<typeof createFeedCache>;
