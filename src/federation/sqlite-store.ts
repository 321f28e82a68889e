/**
 * Fedify's KvStore and MessageQueue on the embedded SQLite database (no Fedify 2 build of
 * `@fedify/sqlite` is published; RUNTIME.md). Both go through `Database.query`, which serialises
 * SQLite work in-process; across processes SQLite's own locking applies (WAL, busy timeout).
 *
 * The queue is at-least-once: a worker leases a message, runs the handler, then deletes it. If the
 * process dies mid-handler, the lease runs out and another worker takes the message. Leases are
 * renewed while the handler runs, so a slow delivery is not handed out twice.
 */
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import type {
  KvKey,
  KvStore,
  KvStoreListEntry,
  KvStoreSetOptions,
  MessageQueue,
  MessageQueueDepth,
  MessageQueueEnqueueOptions,
  MessageQueueListenOptions,
} from "@fedify/fedify";
import type { Database } from "../db/database.ts";
import { logger } from "../logging.ts";

const log = logger("federation", "queue");

type Duration = { total(options: { unit: "millisecond" }): number };

function durationMs(d: Duration | undefined): number {
  return d == null ? 0 : Math.max(0, Math.round(d.total({ unit: "millisecond" })));
}

function encodeKey(key: KvKey): string {
  return JSON.stringify([...key]);
}

export class SqliteKvStore implements KvStore {
  readonly #db: Database;

  constructor(db: Database) {
    if (db.dialect !== "sqlite") throw new TypeError("SqliteKvStore needs a SQLite database");
    this.#db = db;
  }

  async get<T = unknown>(key: KvKey): Promise<T | undefined> {
    const rows = await this.#db.query<{ value: string }>(
      `SELECT "value" FROM "fedify_kv" WHERE "key" = ? AND ("expires_at" IS NULL OR "expires_at" > ?)`,
      [encodeKey(key), Date.now()],
    );
    return rows.length === 0 ? undefined : (JSON.parse(rows[0].value) as T);
  }

  async set(key: KvKey, value: unknown, options?: KvStoreSetOptions): Promise<void> {
    if (value === undefined) return;
    const ttl = options?.ttl == null ? null : Date.now() + durationMs(options.ttl);
    await this.#db.query(
      `INSERT INTO "fedify_kv" ("key", "value", "expires_at") VALUES (?, ?, ?)
       ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value", "expires_at" = excluded."expires_at"`,
      [encodeKey(key), JSON.stringify(value), ttl],
    );
    await this.#expire();
  }

  async delete(key: KvKey): Promise<void> {
    await this.#db.query(`DELETE FROM "fedify_kv" WHERE "key" = ?`, [encodeKey(key)]);
  }

  async cas(
    key: KvKey,
    expectedValue: unknown,
    newValue: unknown,
    options?: KvStoreSetOptions,
  ): Promise<boolean> {
    const k = encodeKey(key);
    const now = Date.now();
    return await this.#db.transaction(async (em) => {
      const rows: { value: string }[] = await em.query(
        `SELECT "value" FROM "fedify_kv" WHERE "key" = ? AND ("expires_at" IS NULL OR "expires_at" > ?)`,
        [k, now],
      );
      const current = rows.length === 0 ? undefined : JSON.parse(rows[0].value);
      if (!isDeepStrictEqual(current, expectedValue)) return false;
      if (newValue === undefined) {
        await em.query(`DELETE FROM "fedify_kv" WHERE "key" = ?`, [k]);
      } else {
        const ttl = options?.ttl == null ? null : now + durationMs(options.ttl);
        await em.query(
          `INSERT INTO "fedify_kv" ("key", "value", "expires_at") VALUES (?, ?, ?)
           ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value", "expires_at" = excluded."expires_at"`,
          [k, JSON.stringify(newValue), ttl],
        );
      }
      return true;
    });
  }

  async *list(prefix?: KvKey): AsyncIterable<KvStoreListEntry> {
    const now = Date.now();
    let rows: { key: string; value: string }[];
    if (prefix == null || prefix.length === 0) {
      rows = await this.#db.query(
        `SELECT "key", "value" FROM "fedify_kv" WHERE "expires_at" IS NULL OR "expires_at" > ? ORDER BY "key"`,
        [now],
      );
    } else {
      // Keys are JSON arrays: ["a","b"] is under the prefix ["a"] when it starts with `["a",`.
      const exact = encodeKey(prefix);
      const like = `${exact.slice(0, -1).replace(/[\\%_]/g, "\\$&")},%`;
      rows = await this.#db.query(
        `SELECT "key", "value" FROM "fedify_kv"
         WHERE ("key" = ? OR "key" LIKE ? ESCAPE '\\')
           AND ("expires_at" IS NULL OR "expires_at" > ?)
         ORDER BY "key"`,
        [exact, like, now],
      );
    }
    for (const row of rows) {
      yield { key: JSON.parse(row.key) as KvKey, value: JSON.parse(row.value) };
    }
  }

  #lastExpire = 0;
  async #expire(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastExpire < 60_000) return;
    this.#lastExpire = now;
    await this.#db.query(`DELETE FROM "fedify_kv" WHERE "expires_at" IS NOT NULL AND "expires_at" <= ?`, [
      now,
    ]);
  }
}

export interface SqliteMessageQueueOptions {
  /** How often idle workers look for new messages (also wakes on local enqueues at once). */
  readonly pollIntervalMs?: number;
  /** Concurrent handlers per `listen()` call. */
  readonly workers?: number;
  /** How long a lease lasts before another worker may take the message. */
  readonly leaseMs?: number;
}

interface Leased {
  readonly id: number;
  readonly message: unknown;
}

export class SqliteMessageQueue implements MessageQueue {
  readonly nativeRetrial = false;
  readonly #db: Database;
  readonly #owner = randomUUID();
  readonly #pollIntervalMs: number;
  readonly #workers: number;
  readonly #leaseMs: number;
  readonly #wakers = new Set<() => void>();

  constructor(db: Database, options: SqliteMessageQueueOptions = {}) {
    if (db.dialect !== "sqlite") throw new TypeError("SqliteMessageQueue needs a SQLite database");
    this.#db = db;
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#workers = options.workers ?? 4;
    this.#leaseMs = options.leaseMs ?? 30_000;
  }

  async enqueue(message: unknown, options?: MessageQueueEnqueueOptions): Promise<void> {
    await this.enqueueMany([message], options);
  }

  async enqueueMany(messages: readonly unknown[], options?: MessageQueueEnqueueOptions): Promise<void> {
    if (messages.length === 0) return;
    const deliverAfter = Date.now() + durationMs(options?.delay);
    const orderingKey = options?.orderingKey ?? null;
    await this.#db.transaction(async (em) => {
      for (const message of messages) {
        await em.query(
          `INSERT INTO "fedify_mq" ("message", "deliver_after", "ordering_key") VALUES (?, ?, ?)`,
          [JSON.stringify(message), deliverAfter, orderingKey],
        );
      }
    });
    for (const wake of this.#wakers) wake();
  }

  async getDepth(): Promise<MessageQueueDepth> {
    const [row] = await this.#db.query<{ queued: number; ready: number }>(
      `SELECT COUNT(*) AS "queued", COALESCE(SUM("deliver_after" <= ?), 0) AS "ready"
       FROM "fedify_mq" WHERE "lease_until" IS NULL OR "lease_until" < ?`,
      [Date.now(), Date.now()],
    );
    const queued = Number(row.queued);
    const ready = Number(row.ready);
    return { queued, ready, delayed: queued - ready };
  }

  /** Leases the oldest ready message whose ordering key (if any) has no older message pending. */
  async #lease(): Promise<Leased | undefined> {
    const now = Date.now();
    const rows = await this.#db.query<{ id: number; message: string }>(
      `UPDATE "fedify_mq" SET "lease_until" = ?, "lease_owner" = ?
       WHERE "id" = (
         SELECT m."id" FROM "fedify_mq" m
         WHERE m."deliver_after" <= ?
           AND (m."lease_until" IS NULL OR m."lease_until" < ?)
           AND (m."ordering_key" IS NULL OR NOT EXISTS (
             SELECT 1 FROM "fedify_mq" o WHERE o."ordering_key" = m."ordering_key" AND o."id" < m."id"))
         ORDER BY m."deliver_after", m."id" LIMIT 1)
       RETURNING "id", "message"`,
      [now + this.#leaseMs, this.#owner, now, now],
    );
    if (rows.length === 0) return undefined;
    return { id: rows[0].id, message: JSON.parse(rows[0].message) };
  }

  async #renew(ids: Iterable<number>): Promise<void> {
    const list = [...ids];
    if (list.length === 0) return;
    await this.#db.query(
      `UPDATE "fedify_mq" SET "lease_until" = ? WHERE "lease_owner" = ? AND "id" IN (${list.map(() => "?").join(",")})`,
      [Date.now() + this.#leaseMs, this.#owner, ...list],
    );
  }

  async listen(
    handler: (message: unknown) => Promise<void> | void,
    options: MessageQueueListenOptions = {},
  ): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) return;
    const inFlight = new Set<number>();
    const sleepers = new Set<() => void>();
    const waker = () => {
      for (const wakeUp of sleepers) wakeUp();
    };
    this.#wakers.add(waker);
    const renewal = setInterval(
      () => {
        this.#renew(inFlight).catch((error) => log.error("Lease renewal failed: {error}", { error }));
      },
      Math.max(50, Math.floor(this.#leaseMs / 3)),
    );
    renewal.unref();

    const sleep = () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, this.#pollIntervalMs);
        function done() {
          clearTimeout(t);
          sleepers.delete(done);
          signal?.removeEventListener("abort", done);
          resolve();
        }
        sleepers.add(done);
        signal?.addEventListener("abort", done, { once: true });
      });

    const worker = async () => {
      while (!signal?.aborted) {
        let leased: Leased | undefined;
        try {
          leased = await this.#lease();
        } catch (error) {
          log.error("Could not poll the message queue; retrying: {error}", { error });
        }
        if (leased === undefined) {
          await sleep();
          continue;
        }
        inFlight.add(leased.id);
        try {
          await handler(leased.message);
        } catch (error) {
          // Fedify retries inside its handler; an error here is a bug. The message is dropped
          // rather than retried forever.
          log.error("Queue handler failed for message {id}: {error}", { id: leased.id, error });
        } finally {
          inFlight.delete(leased.id);
          await this.#db
            .query(`DELETE FROM "fedify_mq" WHERE "id" = ? AND "lease_owner" = ?`, [leased.id, this.#owner])
            .catch((error) =>
              log.error("Could not acknowledge message {id}: {error}", { id: leased.id, error }),
            );
        }
      }
    };

    try {
      await Promise.all(Array.from({ length: this.#workers }, worker));
    } finally {
      clearInterval(renewal);
      this.#wakers.delete(waker);
    }
  }
}
