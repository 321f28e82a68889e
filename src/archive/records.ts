/**
 * Capture: `append` writes one archive record inside the caller's transaction, so the record
 * commits with the act it records or not at all (nothing said escapes the record).
 *
 * Serialization: the chain head row (archive_chain) is read with `SELECT … FOR UPDATE`, which
 * takes its row lock on InnoDB until the caller commits; a second process appending to the same
 * chain waits there, then reads the head the first one wrote: one chain, never a fork. SQLite
 * transactions are BEGIN IMMEDIATE (one writer). A day's first append inserts the head row; a
 * concurrent first insert loses on the primary key and reads the winner's row instead. Three
 * statements per record (read the head, insert the record, move the head), raw where TypeORM's
 * repository would cost more than the query (bench/archive.ts).
 */
import type { EntityManager } from "typeorm";
import { isUniqueViolation } from "../db/errors.ts";
import { canonicalJson, dayOf, genesisHash, recordHash } from "./canonical.ts";
import {
  type ArchiveDirection,
  ArchiveChainSchema,
  type ArchiveRecordRow,
  ArchiveRecordSchema,
} from "./entities.ts";

export interface ArchiveInput {
  readonly kind: string;
  readonly direction: ArchiveDirection;
  readonly accountId?: string | null;
  readonly accountHandle?: string | null;
  readonly personId?: string | null;
  readonly actorLabel?: string | null;
  readonly approverId?: string | null;
  readonly app?: string | null;
  readonly tokenId?: string | null;
  readonly remoteActor?: string | null;
  readonly objectIri?: string | null;
  readonly inReplyTo?: string | null;
  readonly subjectId?: string | null;
  /** The words and their circumstances (text, HTML, visibility, recipients…): JSON values only. */
  readonly content: Record<string, unknown>;
}

/** `person:<id>` → the id; anything else (`cli:root`, `system`) names no person. */
export function personOf(label: string | null | undefined): string | null {
  return label && /^person:[0-9a-f-]{36}$/.test(label) ? label.slice("person:".length) : null;
}

export interface Archive {
  /**
   * Appends a record in the caller's transaction (a no-op while capture is off: benchmarks only).
   * Call it last: the chain head stays locked from here to the commit.
   */
  append(em: EntityManager, input: ArchiveInput): Promise<void>;
  /**
   * For bench/archive.ts only: no configuration variable, route or command reaches it. Turning
   * capture off makes the archive incomplete for good.
   */
  readonly benchmarkOnly: { setCapture(on: boolean): void };
}

export function createArchive(options: { readonly now?: () => number } = {}): Archive {
  const now = options.now ?? Date.now;
  let capture = true;
  return {
    async append(em, input) {
      if (capture) await appendRecord(em, input, now);
    },
    benchmarkOnly: {
      setCapture(on) {
        capture = on;
      },
    },
  };
}

/** Record fields and their columns, for the raw insert (cheaper than the repository's). */
const COLUMNS = Object.entries(ArchiveRecordSchema.options.columns)
  .filter(([field]) => field !== "id")
  .map(([field, c]) => [field, c?.name ?? field] as [Exclude<keyof ArchiveRecordRow, "id">, string]);

interface Head {
  seq: number;
  head_hash: string;
  sealed_at: unknown;
}

/** The chain head, locked for the rest of the transaction (InnoDB row lock; SQLite: one writer). */
async function lockedHead(em: EntityManager, chain: string): Promise<Head | undefined> {
  const forUpdate = em.connection.options.type === "mysql" ? " FOR UPDATE" : "";
  const rows = (await em.query(
    `SELECT seq, head_hash, sealed_at FROM archive_chain WHERE chain = ?${forUpdate}`,
    [chain],
  )) as Head[];
  return rows[0];
}

export async function appendRecord(
  em: EntityManager,
  input: ArchiveInput,
  now: () => number = Date.now,
): Promise<ArchiveRecordRow> {
  const chain = dayOf(now());
  let head = await lockedHead(em, chain);
  if (!head) {
    try {
      await em.getRepository(ArchiveChainSchema).insert({
        chain,
        seq: 0,
        headHash: genesisHash(chain),
        openedAt: new Date(now()),
        sealedAt: null,
        digest: null,
      });
    } catch (err) {
      // Another process opened the day a moment ago: its row is the head.
      if (!isUniqueViolation(err)) throw err;
    }
    head = await lockedHead(em, chain);
    if (!head) throw new Error(`archive chain ${chain} has no head row`);
  }
  if (head.sealed_at !== null && head.sealed_at !== undefined)
    throw new Error(`archive chain ${chain} is sealed: is this host's clock behind?`);
  const record: Omit<ArchiveRecordRow, "id"> = {
    chain,
    seq: Number(head.seq) + 1,
    recordedAt: new Date(now()),
    kind: input.kind,
    direction: input.direction,
    accountId: input.accountId ?? null,
    accountHandle: input.accountHandle ?? null,
    personId: input.personId ?? null,
    actorLabel: input.actorLabel ?? null,
    approverId: input.approverId ?? null,
    app: input.app ?? null,
    tokenId: input.tokenId ?? null,
    remoteActor: input.remoteActor ?? null,
    objectIri: input.objectIri ?? null,
    inReplyTo: input.inReplyTo ?? null,
    subjectId: input.subjectId ?? null,
    content: canonicalJson(input.content),
    prevHash: head.head_hash,
    hash: "",
  };
  record.hash = recordHash(record);
  const mysql = em.connection.options.type === "mysql";
  await em.query(
    `INSERT INTO archive_record (${COLUMNS.map((c) => c[1]).join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")})`,
    COLUMNS.map(([field]) =>
      // TypeORM's own SQLite form of a datetime: UTC, "YYYY-MM-DD HH:MM:SS.SSS" (read back by it).
      field === "recordedAt" && !mysql
        ? record.recordedAt.toISOString().replace("T", " ").replace("Z", "")
        : record[field],
    ),
  );
  await em.query("UPDATE archive_chain SET seq = ?, head_hash = ? WHERE chain = ?", [
    record.seq,
    record.hash,
    chain,
  ]);
  return record;
}
