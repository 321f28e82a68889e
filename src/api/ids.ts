/**
 * The client API's ids (decision 0015). Mastodon clients sort statuses and notifications by id and
 * page with `max_id`/`since_id`/`min_id`, comparing ids as numbers written as strings. Herald's
 * rows keep their UUIDs (ActivityPub URLs use them) and get an `api_id` as they are inserted:
 * `max(last + 1, now_ms × 1024)` from one counter row (`api_sequence`), so ids grow with time,
 * are unique across posts, inbound messages, followers and reactions (a notification's id is its
 * source row's), and stay below 2^53 (exact in a JavaScript number) until the year 2248.
 *
 * The counter is taken in the inserting statement's own connection and transaction: on MySQL the
 * row stays locked until that transaction ends (post and inbound transactions are already
 * serialised by the archive's chain lock), and `LAST_INSERT_ID(expr)` hands the value back on the
 * same connection; SQLite has one writer and `UPDATE … RETURNING`.
 */
import type { EntitySubscriberInterface, InsertEvent, QueryRunner } from "typeorm";
import type { Database } from "../db/database.ts";

/**
 * Tables whose rows get an `api_id` on insert (migrations 0020, 0028: a boost's wrapper status;
 * 0030: a received boost's).
 */
const NUMBERED = new Set([
  "post",
  "inbound_message",
  "follower",
  "reaction",
  "api_outbound_reaction",
  "inbound_boost",
]);

export const ID_SCALE = 1024;

/**
 * TypeORM announces a multi-row insert's rows all at once (its subscribers run concurrently): on
 * MySQL two `UPDATE … LAST_INSERT_ID(…)` could both run before either `SELECT LAST_INSERT_ID()`,
 * and two rows get the same id. So the takes on one connection run one after another.
 */
const queues = new WeakMap<QueryRunner, Promise<unknown>>();

/** The next id from the counter, in `q`'s connection. */
export function nextApiId(q: QueryRunner, now = Date.now()): Promise<number> {
  const next = (queues.get(q) ?? Promise.resolve()).then(() => takeApiId(q, now));
  queues.set(
    q,
    next.catch(() => undefined),
  );
  return next;
}

async function takeApiId(q: QueryRunner, now: number): Promise<number> {
  const floor = now * ID_SCALE;
  if (q.connection.options.type === "mysql") {
    await q.query(
      "UPDATE `api_sequence` SET `value` = LAST_INSERT_ID(GREATEST(`value` + 1, ?)) WHERE `name` = 'id'",
      [floor],
    );
    const [row] = (await q.query("SELECT LAST_INSERT_ID() AS value")) as { value: number | string }[];
    return Number(row.value);
  }
  const [row] = (await q.query(
    `UPDATE "api_sequence" SET "value" = max("value" + 1, ?) WHERE "name" = 'id' RETURNING "value"`,
    [floor],
  )) as { value: number | string }[];
  return Number(row.value);
}

/** Numbers every inserted row of the tables above that has no `apiId` yet. */
export const apiIdSubscriber: EntitySubscriberInterface = {
  async beforeInsert(event: InsertEvent<{ apiId?: number | string | null }>) {
    if (!NUMBERED.has(event.metadata.tableName) || !event.entity) return;
    if (event.entity.apiId !== undefined && event.entity.apiId !== null) return;
    event.entity.apiId = await nextApiId(event.queryRunner);
  },
};

/** Registers the subscriber on the database's data source (once; createServices calls this). */
export function numberApiRows(db: Database): void {
  if (!db.dataSource.subscribers.includes(apiIdSubscriber)) db.dataSource.subscribers.push(apiIdSubscriber);
}

/** An id from a client: digits only, within a JavaScript number's exact range. */
export function parseApiId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A row's api id as the wire spells it. */
export const apiIdOf = (row: { apiId?: number | string | null }): string | undefined =>
  row.apiId === undefined || row.apiId === null ? undefined : String(row.apiId);
