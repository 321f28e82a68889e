/**
 * Domain events: changes to the directory (provisioned, updated, deactivated, reactivated,
 * deleted, group membership changed…) and to accounts made by operators (configured, renamed,
 * shared account created). They are appended to `domain_event` inside the transaction that makes
 * the change (an outbox: a process killed right after the 2xx loses nothing), and consumed by the
 * other capabilities, each through its own cursor, in order, at least once.
 *
 * Consumers say what they are (DESIGN, "Event consumers are of two kinds"):
 *
 * - `cluster`: side effects that must happen once per deployment (the federation bridge, session
 *   revocation). Their cursor lives in `event_cursor`, so a restart resumes where it stopped.
 *   Which process runs them is to be decided by a lease (a later issue); until then one server
 *   process of a deployment runs them.
 * - `process`: work every process does for itself (dropping its caches). Their cursor lives in
 *   memory and starts at the newest event when the dispatcher first runs (a process has nothing
 *   cached from before it started), so a change made by any other process (the CLI, another
 *   server) reaches this one within a poll.
 *
 * What one transaction appended is one **change**: its events share a change id (appendEvents
 * stamps one per transaction; not the time, which MySQL keeps to the second) and sit next to each
 * other in id order. Consumers that act once per change (the federation bridge sends one
 * activity per change) take whole changes; the dispatcher never splits a change across two
 * batches unless it is longer than a batch.
 */
import { randomUUID } from "node:crypto";
import { EntitySchema, type EntityManager, MoreThan } from "typeorm";
import type { Database } from "../db/database.ts";
import { logger } from "../logging.ts";

export type DirectoryEvent =
  | { type: "person.provisioned"; personId: string; userName: string; handle: string | null; active: boolean }
  | { type: "person.updated"; personId: string; renamed?: { from: string; to: string } }
  | { type: "person.deactivated"; personId: string }
  | { type: "person.reactivated"; personId: string }
  | { type: "person.deleted"; personId: string }
  /** `herald person erase`: the record was emptied; what else held the person's data forgets it. */
  | { type: "person.erased"; personId: string }
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

/** Changes operators make to accounts (src/federation/accounts.ts); their subject is the actor. */
export type AccountEvent =
  | { type: "account.configured"; actorId: string }
  /** `actorId` moved to the new actor `toActorId` (a rename keeps the old one as an alias). */
  | { type: "account.renamed"; actorId: string; toActorId: string }
  | { type: "account.shared_created"; actorId: string; handle: string }
  /** Who may act for the account changed (`actorId` "org": organization roles). */
  | { type: "account.grants_changed"; actorId: string }
  /** The federation bridge changed the actor's row (suspended, tombstoned, moved): caches drop. */
  | { type: "account.state_changed"; actorId: string };

export type DomainEvent = DirectoryEvent | AccountEvent;

export interface StoredEvent {
  id: number;
  type: string;
  subjectType: string;
  subjectId: string;
  payload: string | null;
  actor: string;
  occurredAt: Date;
  /** The change (transaction) that appended it; null on rows from before migration 0014. */
  changeId: string | null;
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
    changeId: { name: "change_id", type: "varchar", length: 36, nullable: true },
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

function subjectOf(e: DomainEvent): [string, string] {
  if ("actorId" in e) return ["account", e.actorId];
  return "personId" in e ? ["person", e.personId] : ["group", e.groupId];
}

/** The change id of each transaction that appended events (one entity manager per transaction). */
const changeIds = new WeakMap<EntityManager, string>();

/** Appends events inside the caller's transaction: every call in one transaction is one change. */
export async function appendEvents(
  em: EntityManager,
  actor: string,
  events: readonly DomainEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const now = new Date();
  let changeId = changeIds.get(em);
  if (!changeId) changeIds.set(em, (changeId = randomUUID()));
  await em.getRepository(DomainEventSchema).insert(
    events.map((e) => {
      const [subjectType, subjectId] = subjectOf(e);
      return {
        type: e.type,
        subjectType,
        subjectId,
        payload: JSON.stringify(e),
        actor,
        occurredAt: now,
        changeId,
      };
    }),
  );
}

/** Where an event sits in the log. */
export interface EventMeta {
  readonly id: number;
  readonly actor: string;
  readonly occurredAt: Date;
}

/** What one transaction appended (see the module comment), in append order. */
export interface Change {
  /** Stable across deliveries (at least once): activities made from a change may carry it. */
  readonly id: string;
  readonly actor: string;
  readonly occurredAt: Date;
  readonly events: readonly { readonly id: number; readonly event: DomainEvent }[];
}

/** `cluster`: once per deployment, cursor in the database; `process`: in every process, in memory. */
export type ConsumerKind = "cluster" | "process";

export interface EventConsumer {
  /** Stable name: a cluster consumer's cursor is stored under it. */
  readonly name: string;
  readonly kind: ConsumerKind;
  /** Called for every event, in order… */
  handle?(event: DomainEvent, meta: EventMeta): Promise<void>;
  /** …or once per change, with all the events its transaction appended. */
  handleChange?(change: Change): Promise<void>;
}

/**
 * Splits rows in id order into changes: runs of rows with the same change id (rows from before
 * change ids: the same actor and time).
 */
export function changesOf(rows: readonly StoredEvent[]): Change[] {
  const changes: {
    key: string;
    actor: string;
    occurredAt: Date;
    events: { id: number; event: DomainEvent }[];
  }[] = [];
  for (const row of rows) {
    const event = JSON.parse(row.payload ?? "{}") as DomainEvent;
    const key = row.changeId ?? `${row.actor}\u0000${row.occurredAt.getTime()}`;
    const last = changes.at(-1);
    if (last && last.key === key) last.events.push({ id: row.id, event });
    else changes.push({ key, actor: row.actor, occurredAt: row.occurredAt, events: [{ id: row.id, event }] });
  }
  return changes.map(({ key, actor, occurredAt, events }) => ({
    // Rows from before change ids: the first event's id names the change.
    id: key.includes("\u0000") ? `event-${events[0].id}` : key,
    actor,
    occurredAt,
    events,
  }));
}

/**
 * A number every change bumps, in this process: answers cached with it die with any change,
 * wherever it was made (a `process` consumer; the process that made the change may also bump it
 * at once, so its very next request sees the change).
 */
export function createChangeCounter(name: string) {
  let value = 0;
  const bump = () => {
    value++;
  };
  const consumer: EventConsumer = {
    name,
    kind: "process",
    async handleChange() {
      bump();
    },
  };
  return { value: () => value, bump, consumer };
}

const log = logger("identity", "events");
const BATCH = 100;

/** Thrown when a cluster consumer's cursor would be saved by a process that lost the lease. */
export class LeaseLost extends Error {}

/**
 * Thrown by a handler whose change cannot be handled yet (something it needs is still being made
 * elsewhere): the change is offered again on the next round, like a failure, but logged as an
 * expected wait rather than an error.
 */
export class RetryLater extends Error {}

export interface DispatcherOptions {
  /** How often loops look for new events when nothing woke them (other processes' changes). */
  readonly pollMs?: number;
  /**
   * How long a hole in the event ids may stay open before it is taken for a rolled-back
   * transaction and skipped (see `deliverable`).
   */
  readonly gapWaitMs?: number;
  /**
   * Cluster consumers run only while `held()`; their cursor is saved only if `fence` (read in the
   * cursor's transaction) says the lease is still this process's. Without it they run whenever
   * started (tests, the CLI's drain).
   */
  readonly lease?: {
    held(): boolean;
    fence(em: EntityManager): Promise<boolean>;
  };
  readonly now?: () => number;
}

/**
 * Delivers events to consumers in order. Each consumer's cursor advances after its handler
 * succeeds; a failing handler is retried on the next round (its later events wait: order matters
 * more than progress for things like "deactivated" then "reactivated").
 */
export function createEventDispatcher(
  db: Database,
  consumers: readonly EventConsumer[],
  options: DispatcherOptions = {},
) {
  const pollMs = options.pollMs ?? 250;
  const gapWaitMs = options.gapWaitMs ?? 5000;
  const now = options.now ?? Date.now;
  const lease = options.lease;
  /** When each consumer first saw the hole it is waiting on (consumer → [missing id, since]). */
  const holes = new Map<string, [number, number]>();
  const wakers = new Set<() => void>();
  let notifyTimer: NodeJS.Timeout | undefined;
  let running: Promise<void[]> | undefined;
  const controller = new AbortController();
  /** Process consumers' cursors: this process only, from the newest event when first asked. */
  const inMemory = new Map<string, number>();

  async function newestId(): Promise<number> {
    const row = await db.run((em) =>
      em.getRepository(DomainEventSchema).createQueryBuilder("e").select("MAX(e.id)", "max").getRawOne(),
    );
    return Number((row as { max: number | string | null } | undefined)?.max ?? 0);
  }

  async function cursorOf(consumer: EventConsumer): Promise<number> {
    if (consumer.kind === "process") {
      let at = inMemory.get(consumer.name);
      if (at === undefined) {
        at = await newestId();
        inMemory.set(consumer.name, at);
      }
      return at;
    }
    const cursor = await db.run((em) =>
      em.getRepository(EventCursorSchema).findOneBy({ consumer: consumer.name }),
    );
    return cursor?.lastId ?? 0;
  }

  async function saveCursor(consumer: EventConsumer, lastId: number): Promise<void> {
    if (consumer.kind === "process") {
      inMemory.set(consumer.name, lastId);
      return;
    }
    await db.transaction(async (em) => {
      // Fencing: a process that lost the lease (a long pause, a partition) must not move the
      // cursor its successor now owns.
      if (lease && !(await lease.fence(em))) throw new LeaseLost(`lost the lease; ${consumer.name} stops`);
      await em
        .getRepository(EventCursorSchema)
        .save({ consumer: consumer.name, lastId, updatedAt: new Date() });
    });
  }

  /**
   * The rows that may be delivered now: ids are handed out at insert but seen at commit, so on
   * MySQL a later id can be visible while an earlier one's transaction is still open — moving
   * the cursor past it would lose that change for good. Rows are delivered up to the first hole
   * until it fills, or until it has stayed open for `gapWaitMs` (a rolled-back transaction
   * leaves a hole that never fills; Herald's event-writing transactions last milliseconds).
   */
  function deliverable(consumer: EventConsumer, after: number, rows: StoredEvent[]): StoredEvent[] {
    let expected = after + 1;
    for (let i = 0; i < rows.length; i++) {
      if (rows[i].id !== expected) {
        const hole = holes.get(consumer.name);
        const since = hole && hole[0] === expected ? hole[1] : now();
        if (now() - since < gapWaitMs) {
          holes.set(consumer.name, [expected, since]);
          return rows.slice(0, i);
        }
        log.info("Events {from}–{to} never appeared (rolled back); {consumer} goes on.", {
          from: expected,
          to: rows[i].id - 1,
          consumer: consumer.name,
        });
      }
      expected = rows[i].id + 1;
    }
    holes.delete(consumer.name);
    return rows;
  }

  /** Delivers one batch to one consumer; returns whether more may be pending. */
  async function drainOne(consumer: EventConsumer): Promise<boolean> {
    const after = await cursorOf(consumer);
    const fetched = await db.run((em) =>
      em
        .getRepository(DomainEventSchema)
        .find({ where: { id: MoreThan(after) }, order: { id: "ASC" }, take: BATCH }),
    );
    const rows = deliverable(consumer, after, fetched);
    if (rows.length === 0) return false;
    let changes = changesOf(rows);
    // A full batch may end inside a change: its last change waits for the next batch, whole
    // (only a change longer than a batch is delivered in parts).
    if (rows.length === BATCH && changes.length > 1) changes = changes.slice(0, -1);
    // A cluster consumer's cursor is saved after each change (its side effects are sent once per
    // change, so a crash or a lost lease replays at most the change in flight); a process
    // consumer's, which is only memory, once per batch. Handlers are idempotent either way.
    let last = after;
    let saved = after;
    try {
      for (const change of changes) {
        if (controller.signal.aborted) break;
        if (consumer.kind === "cluster" && lease && !lease.held()) break;
        if (consumer.handleChange) await consumer.handleChange(change);
        else if (consumer.handle)
          for (const { id, event } of change.events)
            await consumer.handle(event, { id, actor: change.actor, occurredAt: change.occurredAt });
        last = change.events[change.events.length - 1].id;
        if (consumer.kind === "cluster") await saveCursor(consumer, (saved = last));
      }
    } finally {
      if (last !== saved) await saveCursor(consumer, last);
    }
    return rows.length === BATCH;
  }

  /**
   * Delivers everything pending to one consumer, after any delivery to it already under way (its
   * loop's, or another drain's): a drain that began while the loop was inside a handler would
   * otherwise find that event's work taken and return before it is done.
   */
  const inFlight = new Map<EventConsumer, Promise<void>>();
  function drainConsumer(consumer: EventConsumer): Promise<void> {
    const next = (inFlight.get(consumer) ?? Promise.resolve()).then(() => drainNow(consumer));
    inFlight.set(consumer, next);
    void next.finally(() => {
      if (inFlight.get(consumer) === next) inFlight.delete(consumer);
    });
    return next;
  }

  /** Delivers everything pending to one consumer; a failure stops it until the next round. */
  async function drainNow(consumer: EventConsumer): Promise<void> {
    try {
      while ((await drainOne(consumer)) && !controller.signal.aborted);
    } catch (error) {
      if (error instanceof RetryLater)
        log.debug("Event consumer {consumer} waits: {reason}", {
          consumer: consumer.name,
          reason: error.message,
        });
      else
        log.error("Event consumer {consumer} failed; it will retry: {error}", {
          consumer: consumer.name,
          error,
        });
    }
  }

  /** Each consumer runs its own loop, so a slow one (key generation) never delays another. */
  async function loop(consumer: EventConsumer): Promise<void> {
    while (!controller.signal.aborted) {
      // Cluster consumers run in the one process that holds the lease.
      if (consumer.kind === "process" || !lease || lease.held()) await drainConsumer(consumer);
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
    /** Starts every consumer's loop, or only those of one kind (`process`: a web-only server). */
    start(only?: ConsumerKind): void {
      if (running) return;
      running = Promise.all(consumers.filter((c) => !only || c.kind === only).map(loop));
    },
    async stop(): Promise<void> {
      controller.abort();
      clearTimeout(notifyTimer);
      for (const wake of wakers) wake();
      await running;
    },
  };
}

export type EventDispatcher = ReturnType<typeof createEventDispatcher>;
