/**
 * Domain events from the directory (provisioned, updated, deactivated, reactivated, deleted,
 * group membership changed…). They are appended to `domain_event` inside the transaction that
 * makes the change (an outbox: a process killed right after the 2xx loses nothing), and consumed
 * by the other capabilities — accounts, sessions, roles, verification — each through its own
 * cursor, in order, at least once.
 */
import { EntitySchema, type EntityManager, MoreThan } from "typeorm";
import type { Database } from "../db/database.ts";
import { logger } from "../logging.ts";

export type DirectoryEvent =
  | { type: "person.provisioned"; personId: string; userName: string; handle: string | null; active: boolean }
  | { type: "person.updated"; personId: string; renamed?: { from: string; to: string } }
  | { type: "person.deactivated"; personId: string }
  | { type: "person.reactivated"; personId: string }
  | { type: "person.deleted"; personId: string }
  /** `herald person relink`: a former person's reserved handle now belongs to this person. */
  | {
      type: "person.relinked";
      personId: string;
      handle: string;
      previousHandle: string | null;
      fromPersonId: string;
    }
  | { type: "group.created"; groupId: string; displayName: string }
  | { type: "group.updated"; groupId: string; renamed?: { from: string; to: string } }
  | { type: "group.deleted"; groupId: string; displayName: string }
  | { type: "group.membership_changed"; groupId: string; added: string[]; removed: string[] };

export interface StoredEvent {
  id: number;
  type: string;
  subjectType: string;
  subjectId: string;
  payload: string | null;
  actor: string;
  occurredAt: Date;
}

export const DomainEventSchema = new EntitySchema<StoredEvent>({
  name: "DomainEvent",
  tableName: "domain_event",
  columns: {
    id: { type: "integer", primary: true, generated: "increment" },
    type: { type: "varchar", length: 64 },
    subjectType: { name: "subject_type", type: "varchar", length: 32 },
    subjectId: { name: "subject_id", type: "varchar", length: 36 },
    payload: { type: "text", nullable: true },
    actor: { type: "varchar", length: 255 },
    occurredAt: { name: "occurred_at", type: "datetime" },
  },
});

export interface EventCursor {
  consumer: string;
  lastId: number;
  updatedAt: Date;
}

export const EventCursorSchema = new EntitySchema<EventCursor>({
  name: "EventCursor",
  tableName: "event_cursor",
  columns: {
    consumer: { type: "varchar", length: 100, primary: true },
    lastId: { name: "last_id", type: "integer" },
    updatedAt: { name: "updated_at", type: "datetime" },
  },
});

function subjectOf(e: DirectoryEvent): [string, string] {
  return "personId" in e ? ["person", e.personId] : ["group", e.groupId];
}

/** Appends events inside the caller's transaction. */
export async function appendEvents(
  em: EntityManager,
  actor: string,
  events: readonly DirectoryEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const now = new Date();
  await em.getRepository(DomainEventSchema).insert(
    events.map((e) => {
      const [subjectType, subjectId] = subjectOf(e);
      return { type: e.type, subjectType, subjectId, payload: JSON.stringify(e), actor, occurredAt: now };
    }),
  );
}

export interface EventConsumer {
  /** Stable name: the cursor is stored under it. */
  readonly name: string;
  handle(event: DirectoryEvent, meta: { id: number; actor: string; occurredAt: Date }): Promise<void>;
}

const log = logger("identity", "events");

/**
 * Delivers events to consumers in order. Each consumer's cursor advances after its handler
 * succeeds; a failing handler is retried on the next round (its later events wait: order matters
 * more than progress for things like "deactivated" then "reactivated").
 */
export function createEventDispatcher(db: Database, consumers: readonly EventConsumer[], pollMs = 250) {
  const wakers = new Set<() => void>();
  let notifyTimer: NodeJS.Timeout | undefined;
  let running: Promise<void[]> | undefined;
  const controller = new AbortController();

  /** Delivers one batch to one consumer; returns how many events it saw. */
  async function drainOne(consumer: EventConsumer): Promise<number> {
    const cursor = await db.run((em) =>
      em.getRepository(EventCursorSchema).findOneBy({ consumer: consumer.name }),
    );
    const after = cursor?.lastId ?? 0;
    const batch = await db.run((em) =>
      em
        .getRepository(DomainEventSchema)
        .find({ where: { id: MoreThan(after) }, order: { id: "ASC" }, take: 100 }),
    );
    // The cursor is saved once per batch (and before a failure propagates), not per event:
    // handlers are idempotent, so a crash between the two only replays a few events.
    let last = after;
    try {
      for (const row of batch) {
        if (controller.signal.aborted) break;
        const event = JSON.parse(row.payload ?? "{}") as DirectoryEvent;
        await consumer.handle(event, { id: row.id, actor: row.actor, occurredAt: row.occurredAt });
        last = row.id;
      }
    } finally {
      if (last !== after) {
        await db.run((em) =>
          em
            .getRepository(EventCursorSchema)
            .save({ consumer: consumer.name, lastId: last, updatedAt: new Date() }),
        );
      }
    }
    return batch.length;
  }

  /** Delivers everything pending to one consumer; a failure stops it until the next round. */
  async function drainConsumer(consumer: EventConsumer): Promise<void> {
    try {
      while ((await drainOne(consumer)) === 100 && !controller.signal.aborted);
    } catch (error) {
      log.error("Event consumer {consumer} failed; it will retry: {error}", {
        consumer: consumer.name,
        error,
      });
    }
  }

  /** Each consumer runs its own loop, so a slow one (key generation) never delays another. */
  async function loop(consumer: EventConsumer): Promise<void> {
    while (!controller.signal.aborted) {
      await drainConsumer(consumer);
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, pollMs);
        function done() {
          clearTimeout(t);
          wakers.delete(done);
          resolve();
        }
        wakers.add(done);
        controller.signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  return {
    /** Delivers everything pending now to every consumer. */
    async drain(): Promise<void> {
      await Promise.all(consumers.map(drainConsumer));
    },
    /** Wakes the loops soon after a local commit (a burst of commits makes one batch). */
    notify(): void {
      if (notifyTimer) return;
      notifyTimer = setTimeout(() => {
        notifyTimer = undefined;
        for (const wake of wakers) wake();
      }, 20);
    },
    start(): void {
      if (consumers.length === 0 || running) return;
      running = Promise.all(consumers.map(loop));
    },
    async stop(): Promise<void> {
      controller.abort();
      for (const wake of wakers) wake();
      await running;
    },
  };
}

export type EventDispatcher = ReturnType<typeof createEventDispatcher>;
