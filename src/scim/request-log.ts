/**
 * The SCIM request log behind the provisioning health page (/admin/provisioning): for each token,
 * how many requests each UTC hour ended in each status class (2xx … 5xx), and the last failed
 * requests (4xx, 5xx) with their request ids so an operator can find them in the logs.
 *
 * Cheap on the request path: a request only bumps a counter in memory; the counters (one row per
 * token, hour and class, added to with an upsert) and the failures are written every few seconds
 * and at shutdown, so a burst of 10,000 creates costs a handful of statements, not 10,000.
 * Bounded: failures are kept at most MAX_PENDING_ERRORS per flush, their text cut to 500
 * characters; the worker prunes both tables past RETENTION_DAYS.
 */
import { EntitySchema, LessThan, MoreThanOrEqual } from "typeorm";
import type { Database } from "../db/database.ts";
import { logger } from "../logging.ts";

const log = logger("scim");

export const RETENTION_DAYS = 30;
const MAX_PENDING_ERRORS = 200;
const HOUR_MS = 3_600_000;

export type StatusClass = "2xx" | "3xx" | "4xx" | "5xx";

export interface RequestStatRow {
  tokenId: string;
  hour: Date;
  statusClass: string;
  count: number;
}

export interface RequestErrorRow {
  id?: number;
  tokenId: string;
  at: Date;
  method: string;
  path: string;
  status: number;
  requestId: string;
  message: string;
}

export const RequestStatSchema = new EntitySchema<RequestStatRow>({
  name: "ScimRequestStat",
  tableName: "scim_request_stat",
  columns: {
    tokenId: { name: "token_id", type: "varchar", length: 36, primary: true },
    hour: { type: "datetime", primary: true },
    statusClass: { name: "status_class", type: "varchar", length: 3, primary: true },
    count: { type: "int" },
  },
});

export const RequestErrorSchema = new EntitySchema<RequestErrorRow>({
  name: "ScimRequestError",
  tableName: "scim_request_error",
  columns: {
    id: { type: "integer", primary: true, generated: "increment" },
    tokenId: { name: "token_id", type: "varchar", length: 36 },
    at: { type: "datetime" },
    method: { type: "varchar", length: 10 },
    path: { type: "varchar", length: 255 },
    status: { type: "int" },
    requestId: { name: "request_id", type: "varchar", length: 64 },
    message: { type: "varchar", length: 500 },
  },
});

export const requestLogEntities = [RequestStatSchema, RequestErrorSchema];

export function statusClass(status: number): StatusClass {
  if (status >= 500) return "5xx";
  if (status >= 400) return "4xx";
  if (status >= 300) return "3xx";
  return "2xx";
}

export interface RequestOutcome {
  readonly tokenId: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly requestId: string;
  /** What went wrong (the SCIM error's detail), for 4xx and 5xx. */
  readonly message?: string;
}

export function createScimRequestLog(db: Database, options: { readonly flushIntervalMs?: number } = {}) {
  /** `${tokenId} ${hour ms} ${class}` → requests not yet written. */
  let counts = new Map<string, number>();
  let errors: RequestErrorRow[] = [];
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  async function write(batch: Map<string, number>, failed: RequestErrorRow[]): Promise<void> {
    const upsert =
      db.dialect === "mysql"
        ? "INSERT INTO scim_request_stat (token_id, hour, status_class, count) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE count = count + VALUES(count)"
        : "INSERT INTO scim_request_stat (token_id, hour, status_class, count) VALUES (?, ?, ?, ?) ON CONFLICT (token_id, hour, status_class) DO UPDATE SET count = count + excluded.count";
    const meta = db.dataSource.getMetadata(RequestStatSchema);
    const hourColumn = meta.findColumnWithPropertyName("hour");
    if (!hourColumn) throw new Error("scim_request_stat has no hour column");
    await db.transaction(async (em) => {
      for (const [key, n] of batch) {
        const [tokenId, hour, cls] = key.split(" ");
        // The driver's own spelling of a datetime, as the entity reads it back.
        const at = db.dataSource.driver.preparePersistentValue(new Date(Number(hour)), hourColumn);
        await em.query(upsert, [tokenId, at, cls, n]);
      }
      if (failed.length > 0) await em.getRepository(RequestErrorSchema).insert(failed);
    });
  }

  const requestLog = {
    /** Counts one answered request (and keeps it if it failed). Never waits for the database. */
    record(o: RequestOutcome): void {
      const cls = statusClass(o.status);
      const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
      const key = `${o.tokenId} ${hour} ${cls}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (o.status >= 400 && errors.length < MAX_PENDING_ERRORS)
        errors.push({
          tokenId: o.tokenId,
          at: new Date(),
          method: o.method.slice(0, 10),
          path: o.path.slice(0, 255),
          status: o.status,
          requestId: o.requestId.slice(0, 64),
          message: (o.message ?? "").slice(0, 500),
        });
    },

    /** Writes what was counted since the last flush (the page calls it before reading). */
    flush(): Promise<void> {
      flushing = flushing.then(async () => {
        if (counts.size === 0 && errors.length === 0) return;
        const batch = counts;
        const failed = errors;
        counts = new Map();
        errors = [];
        try {
          await write(batch, failed);
        } catch (error) {
          log.warn("Could not write the SCIM request log: {error}", { error });
          // Put the counts back for the next attempt (failures too, within the bound).
          for (const [k, n] of batch) counts.set(k, (counts.get(k) ?? 0) + n);
          errors = [...failed, ...errors].slice(0, MAX_PENDING_ERRORS);
        }
      });
      return flushing;
    },

    start(): void {
      timer ??= setInterval(() => void requestLog.flush(), options.flushIntervalMs ?? 2_000);
      timer.unref();
    },

    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      await requestLog.flush();
    },

    /** Requests per token and status class since `since` (whole hours). */
    async countsSince(since: Date): Promise<Map<string, Record<StatusClass, number>>> {
      const rows = await db.run((em) =>
        em.getRepository(RequestStatSchema).findBy({ hour: MoreThanOrEqual(since) }),
      );
      const out = new Map<string, Record<StatusClass, number>>();
      for (const r of rows) {
        const c = out.get(r.tokenId) ?? { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
        c[statusClass(Number(r.statusClass.slice(0, 1)) * 100)] += Number(r.count);
        out.set(r.tokenId, c);
      }
      return out;
    },

    /** The newest failed requests of a token, newest first. */
    async lastErrors(tokenId: string, limit = 10): Promise<RequestErrorRow[]> {
      return db.run((em) =>
        em.getRepository(RequestErrorSchema).find({ where: { tokenId }, order: { id: "DESC" }, take: limit }),
      );
    },

    /** Deletes what is older than the retention (the worker, once per cluster). */
    async prune(now = new Date()): Promise<number> {
      const before = new Date(now.getTime() - RETENTION_DAYS * 86_400_000);
      return db.transaction(async (em) => {
        const a = await em.getRepository(RequestStatSchema).delete({ hour: LessThan(before) });
        const b = await em.getRepository(RequestErrorSchema).delete({ at: LessThan(before) });
        return (a.affected ?? 0) + (b.affected ?? 0);
      });
    },
  };
  return requestLog;
}

export type ScimRequestLog = ReturnType<typeof createScimRequestLog>;
