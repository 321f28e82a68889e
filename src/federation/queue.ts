/**
 * Fedify's MessageQueue on Herald's database, SQLite and MySQL alike (docs/decisions/0001).
 *
 * It is at-least-once: a worker leases a message, runs the handler, then deletes it. If the
 * process dies mid-handler, the lease runs out and another worker takes the message. Leases are
 * renewed while the handler runs, so a slow delivery is not handed out twice.
 */
import { randomUUID } from "node:crypto";
import type {
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

export interface SqlMessageQueueOptions {
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

export class SqlMessageQueue implements MessageQueue {
  readonly nativeRetrial = false;
  readonly #db: Database;
  readonly #owner = randomUUID();
  readonly #pollIntervalMs: number;
  readonly #workers: number;
  readonly #leaseMs: number;
  readonly #wakers = new Set<() => void>();
  readonly #dialect: Database["dialect"];

  constructor(db: Database, options: SqlMessageQueueOptions = {}) {
    this.#db = db;
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#workers = options.workers ?? 4;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#dialect = db.dialect;
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
        await em.query(`INSERT INTO delivery_queue (message, deliver_after, ordering_key) VALUES (?, ?, ?)`, [
          JSON.stringify(message),
          deliverAfter,
          orderingKey,
        ]);
      }
    });
    for (const wake of this.#wakers) wake();
  }

  async getDepth(): Promise<MessageQueueDepth> {
    const [row] = await this.#db.query<{ queued: number; ready: number }>(
      `SELECT COUNT(*) AS queued, COALESCE(SUM(deliver_after <= ?), 0) AS ready
       FROM delivery_queue WHERE lease_until IS NULL OR lease_until < ?`,
      [Date.now(), Date.now()],
    );
    const queued = Number(row.queued);
    const ready = Number(row.ready);
    return { queued, ready, delayed: queued - ready };
  }

  /** Leases the oldest ready message whose ordering key (if any) has no older message pending. */
  async #lease(): Promise<Leased | undefined> {
    const now = Date.now();
    const eligible = `m.deliver_after <= ?
           AND (m.lease_until IS NULL OR m.lease_until < ?)
           AND (m.ordering_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM delivery_queue o WHERE o.ordering_key = m.ordering_key AND o.id < m.id))`;
    if (this.#dialect === "sqlite") {
      const rows = await this.#db.query<{ id: number; message: string }>(
        `UPDATE delivery_queue SET lease_until = ?, lease_owner = ?
         WHERE id = (SELECT m.id FROM delivery_queue m WHERE ${eligible} ORDER BY m.deliver_after, m.id LIMIT 1)
         RETURNING id, message`,
        [now + this.#leaseMs, this.#owner, now, now],
      );
      return rows.length === 0 ? undefined : { id: Number(rows[0].id), message: JSON.parse(rows[0].message) };
    }
    // MySQL/MariaDB: SKIP LOCKED lets concurrent workers take different messages without waiting.
    return this.#db.transaction(async (em) => {
      const rows: { id: number; message: string }[] = await em.query(
        `SELECT m.id, m.message FROM delivery_queue m WHERE ${eligible}
         ORDER BY m.deliver_after, m.id LIMIT 1 FOR UPDATE SKIP LOCKED`,
        [now, now],
      );
      if (rows.length === 0) return undefined;
      await em.query("UPDATE delivery_queue SET lease_until = ?, lease_owner = ? WHERE id = ?", [
        now + this.#leaseMs,
        this.#owner,
        rows[0].id,
      ]);
      return { id: Number(rows[0].id), message: JSON.parse(rows[0].message) };
    });
  }

  async #renew(ids: Iterable<number>): Promise<void> {
    const list = [...ids];
    if (list.length === 0) return;
    await this.#db.query(
      `UPDATE delivery_queue SET lease_until = ? WHERE lease_owner = ? AND id IN (${list.map(() => "?").join(",")})`,
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
            .query(`DELETE FROM delivery_queue WHERE id = ? AND lease_owner = ?`, [leased.id, this.#owner])
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
