/**
 * Leases in the database: a named right held by one process at a time, for a short term it keeps
 * renewing. If the holder dies, the term runs out and another process takes the lease over. Used
 * for the once-per-cluster event consumers (DESIGN: "a lease in the database decides which
 * process runs them") and, on SQLite, to keep a second server off a database only one process
 * may serve.
 *
 * A holder must assume it lost the lease once its term has passed without a successful renewal
 * (it renews at a third of the term, so two renewals may fail before that), and work that must
 * happen once is fenced with `holds()` in the transaction that records it (the event cursor).
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { EntitySchema, type EntityManager } from "typeorm";
import type { Database } from "./database.ts";
import { isUniqueViolation } from "./errors.ts";
import { logger } from "../logging.ts";

interface LeaseRow {
  name: string;
  holder: string;
  expiresAt: string | number;
  acquiredAt: string | number;
}

export const LeaseSchema = new EntitySchema<LeaseRow>({
  name: "Lease",
  tableName: "lease",
  columns: {
    name: { type: "varchar", length: 100, primary: true },
    holder: { type: "varchar", length: 200 },
    expiresAt: { name: "expires_at", type: "bigint" },
    acquiredAt: { name: "acquired_at", type: "bigint" },
  },
});

const log = logger("db", "leases");

/** A name for this process in lease rows and logs: host, pid and a random part (pids repeat). */
export function processIdentity(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export interface LeaseInfo {
  readonly holder: string;
  readonly expiresAt: number;
}

export function createLeases(db: Database, now: () => number = Date.now) {
  return {
    /**
     * Takes or renews `name` for `holder` until now + ttlMs: true if `holder` holds it now.
     * One conditional UPDATE (renewal, or takeover of an expired lease), else one INSERT (a lease
     * never taken before; a concurrent insert loses on the primary key).
     */
    async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
      const t = now();
      const taken = await db.run(async (em) => {
        const r = await em
          .createQueryBuilder()
          .update(LeaseSchema)
          .set({ holder, expiresAt: t + ttlMs })
          .where("name = :name AND (holder = :holder OR expires_at < :t)", { name, holder, t })
          .execute();
        return (r.affected ?? 0) > 0;
      });
      if (taken) return true;
      try {
        await db.run((em) =>
          em.getRepository(LeaseSchema).insert({ name, holder, expiresAt: t + ttlMs, acquiredAt: t }),
        );
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    /** Gives the lease up at once (a clean shutdown), so another process need not wait out the term. */
    async release(name: string, holder: string): Promise<void> {
      await db.run((em) =>
        em
          .createQueryBuilder()
          .update(LeaseSchema)
          .set({ expiresAt: 0 })
          .where("name = :name AND holder = :holder", { name, holder })
          .execute(),
      );
    },

    /** Whether `holder` holds `name` now, read inside the caller's transaction (fencing). */
    async holds(em: EntityManager, name: string, holder: string): Promise<boolean> {
      const row = await em.getRepository(LeaseSchema).findOneBy({ name });
      return !!row && row.holder === holder && Number(row.expiresAt) > now();
    },

    async info(name: string): Promise<LeaseInfo | undefined> {
      const row = await db.run((em) => em.getRepository(LeaseSchema).findOneBy({ name }));
      return row ? { holder: row.holder, expiresAt: Number(row.expiresAt) } : undefined;
    },
  };
}

export type Leases = ReturnType<typeof createLeases>;

/**
 * Keeps trying to hold a lease: renews every third of the term while held, tries to take it over
 * as often while another process holds it. `held()` is true only while the last successful
 * renewal is younger than the term (minus a margin for clock and query time).
 */
export function createLeaseKeeper(options: {
  readonly leases: Leases;
  readonly name: string;
  readonly holder: string;
  readonly ttlMs: number;
  readonly onChange?: (held: boolean) => void;
  readonly now?: () => number;
}) {
  const { leases, name, holder, ttlMs } = options;
  const now = options.now ?? Date.now;
  const every = Math.max(50, Math.floor(ttlMs / 3));
  let heldUntil = 0;
  let wasHeld = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let round: Promise<void> | undefined;

  const held = () => now() < heldUntil;
  const report = () => {
    const h = held();
    if (h !== wasHeld) {
      wasHeld = h;
      log.info(h ? "Took the lease {name} ({holder})." : "Lost the lease {name} ({holder}).", {
        name,
        holder,
      });
      options.onChange?.(h);
    }
  };

  async function tick(): Promise<void> {
    const started = now();
    try {
      if (await leases.acquire(name, holder, ttlMs)) heldUntil = started + ttlMs - Math.min(1000, every);
      else heldUntil = 0;
    } catch (error) {
      // The database is unreachable: keep what the last renewal gave, no more.
      log.warn("Could not renew the lease {name}: {error}", { name, error });
    }
    report();
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      round = tick().finally(schedule);
    }, every);
    // A lease keeper never keeps a process alive on its own.
    timer.unref();
  }

  return {
    held,
    /** Tries at once, then on every period; resolves after the first try. */
    async start(): Promise<void> {
      round = tick();
      await round;
      schedule();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await round;
      if (wasHeld) await leases.release(name, holder).catch(() => undefined);
      heldUntil = 0;
      report();
    },
  };
}

export type LeaseKeeper = ReturnType<typeof createLeaseKeeper>;
