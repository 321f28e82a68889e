/**
 * Finding records in the archive: one filter, read by the compliance pages (a page of records,
 * newest first) and by every export (all matching records in chain order, export.ts), so what
 * the page shows, what it downloads and what `herald archive export` writes are selected by the
 * same code. Every access is audited (`auditArchiveAccess`: who, the filter, how many records).
 *
 * Indexes: recorded_at, (account_id, recorded_at), (person_id, recorded_at) (migration 0017),
 * (approver_id, recorded_at) (0023: the person criterion is who acted OR who approved).
 * Text is a LIKE over the stored canonical JSON (no index can serve a substring): it is bounded
 * by the other criteria and by the page size, and its length is capped.
 */
import { Brackets, type EntityManager, type SelectQueryBuilder } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { type ArchiveDirection, type ArchiveRecordRow, ArchiveRecordSchema } from "./entities.ts";

/** Records on one page of the compliance search. */
export const SEARCH_PAGE_SIZE = 50;
/** The longest text searched for (characters). */
export const SEARCH_TEXT_MAX = 200;
export const DIRECTIONS: readonly ArchiveDirection[] = ["out", "in", "internal"];

export interface ArchiveFilter {
  /**
   * The accounts the viewer may read the archive of (an account-level role); undefined: the
   * whole archive (an organization-wide role, the CLI's operator). An empty list matches nothing.
   */
  readonly scope?: readonly string[];
  readonly accountId?: string;
  /** The person who acted (pressed send, drafted, decided) or approved. */
  readonly personId?: string;
  readonly direction?: ArchiveDirection;
  /** Words in the record's content (case-insensitive for ASCII letters on both databases). */
  readonly text?: string;
  /** Days, `YYYY-MM-DD`, inclusive (UTC). */
  readonly from?: string;
  readonly to?: string;
}

/** `%`, `_` and the escape character itself, escaped for `LIKE … ESCAPE '!'` (both dialects). */
const likeEscaped = (s: string) => s.replace(/[!%_]/g, "!$&");

/** The first and last instants of UTC days. */
export const dayStart = (day: string) => new Date(`${day}T00:00:00.000Z`);
export const dayEnd = (day: string) => new Date(`${day}T23:59:59.999Z`);

/** The records a filter matches, as a query the caller orders and bounds. */
export function matching(em: EntityManager, f: ArchiveFilter): SelectQueryBuilder<ArchiveRecordRow> {
  const q = em.getRepository(ArchiveRecordSchema).createQueryBuilder("r");
  if (f.scope !== undefined) {
    if (f.scope.length === 0) q.andWhere("1 = 0");
    else q.andWhere("r.accountId IN (:...scope)", { scope: [...f.scope] });
  }
  if (f.accountId !== undefined) q.andWhere("r.accountId = :accountId", { accountId: f.accountId });
  if (f.personId !== undefined)
    q.andWhere(
      new Brackets((w) =>
        w.where("r.personId = :personId", { personId: f.personId }).orWhere("r.approverId = :personId"),
      ),
    );
  if (f.direction !== undefined) q.andWhere("r.direction = :direction", { direction: f.direction });
  if (f.from !== undefined) q.andWhere("r.recordedAt >= :from", { from: dayStart(f.from) });
  if (f.to !== undefined) q.andWhere("r.recordedAt <= :to", { to: dayEnd(f.to) });
  if (f.text !== undefined && f.text !== "") {
    // Content is stored as canonical JSON: the words are inside JSON strings, escaped as
    // JSON.stringify escapes them (quotes, backslashes, control characters).
    const inJson = JSON.stringify(f.text.slice(0, SEARCH_TEXT_MAX)).slice(1, -1);
    q.andWhere("r.content LIKE :text ESCAPE '!'", { text: `%${likeEscaped(inJson)}%` });
  }
  return q;
}

/** Every record a filter matches, in chain order (what an export holds). */
export function allMatching(db: Database, f: ArchiveFilter): Promise<ArchiveRecordRow[]> {
  return db.run((em) => matching(em, f).orderBy("r.chain", "ASC").addOrderBy("r.seq", "ASC").getMany());
}

export function countMatching(db: Database, f: ArchiveFilter): Promise<number> {
  return db.run((em) => matching(em, f).getCount());
}

export interface SearchPage {
  readonly records: ArchiveRecordRow[];
  /** The cursor of the next (older) page, if there is one. */
  readonly older?: number;
}

/**
 * One page of matching records, newest first (time, then id: processes' clocks may disagree
 * with the order of ids). `before` is the id of the last record of the previous page.
 */
export async function searchArchive(
  db: Database,
  f: ArchiveFilter,
  before?: number,
): Promise<SearchPage | { readonly error: string }> {
  return db.run(async (em) => {
    const q = matching(em, f);
    if (before !== undefined) {
      const last = await em.getRepository(ArchiveRecordSchema).findOneBy({ id: before });
      if (!last) return { error: "That page is no longer there: search again from the newest." };
      q.andWhere(
        new Brackets((w) =>
          w
            .where("r.recordedAt < :at", { at: last.recordedAt })
            .orWhere(
              new Brackets((x) => x.where("r.recordedAt = :at").andWhere("r.id < :id", { id: before })),
            ),
        ),
      );
    }
    const rows = await q
      .orderBy("r.recordedAt", "DESC")
      .addOrderBy("r.id", "DESC")
      .limit(SEARCH_PAGE_SIZE + 1)
      .getMany();
    const records = rows.slice(0, SEARCH_PAGE_SIZE);
    return rows.length > SEARCH_PAGE_SIZE ? { records, older: records.at(-1)!.id } : { records };
  });
}

/** The filter as the audit log and an export's manifest name it (unset criteria left out). */
export function describeFilter(f: ArchiveFilter): Record<string, unknown> {
  return {
    account: f.accountId,
    person: f.personId,
    direction: f.direction,
    text: f.text || undefined,
    from: f.from,
    to: f.to,
    scope: f.scope,
  };
}

/**
 * Audits one access to the archive: a search (a page of results) or an export. `count` is how
 * many records the access returned.
 */
export async function auditArchiveAccess(
  db: Database,
  access: {
    readonly action: "archive.search" | "archive.export";
    readonly by: string;
    readonly filter: ArchiveFilter;
    readonly count: number;
    readonly requestId?: string;
    readonly detail?: Record<string, unknown>;
  },
): Promise<void> {
  await db.transaction((em) =>
    recordAudit(em, {
      actor: access.by,
      action: access.action,
      targetType: "archive",
      requestId: access.requestId,
      detail: { ...access.detail, count: access.count, ...describeFilter(access.filter) },
    }),
  );
}
