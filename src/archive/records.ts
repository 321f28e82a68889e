/**
 * Capture: `append` writes one archive record inside the caller's transaction, so the record
 * commits with the act it records or not at all (nothing said escapes the record).
 *
 * Serialization: the record is inserted by `INSERT … SELECT … FROM archive_chain … FOR UPDATE`,
 * which takes the chain head row's lock on InnoDB until the caller commits; a second process
 * appending to the same chain waits there, then reads the head the first one wrote: one chain,
 * never a fork. SQLite transactions are BEGIN IMMEDIATE (one writer). Two statements per record
 * (insert the record chained to the head, move the head), and the hash is computed by the
 * database from the head it locked: a round trip to read the head into Node and back would be
 * spent holding the lock every other append of the moment waits for (bench/archive.ts). A day's
 * first append inserts the head row; a concurrent first insert loses on the primary key.
 */
import { type EntityManager, LessThan } from "typeorm";
import { isUniqueViolation } from "../db/errors.ts";
import { canonicalJson, dayOf, genesisHash, recordHashParts } from "./canonical.ts";
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
   * capture off makes the archive incomplete for good. `"unchained"` writes each record with one
   * plain INSERT outside any chain (no head, no lock, no hash): the floor any capture in the act's
   * transaction costs, measured beside the real one.
   */
  readonly benchmarkOnly: { setCapture(mode: boolean | "unchained"): void };
}

export function createArchive(options: { readonly now?: () => number } = {}): Archive {
  const now = options.now ?? Date.now;
  let capture: boolean | "unchained" = true;
  let unchained = 0;
  return {
    async append(em, input) {
      if (capture === "unchained") await appendUnchained(em, input, now, ++unchained);
      else if (capture) await appendRecord(em, input, now);
    },
    benchmarkOnly: {
      setCapture(mode) {
        capture = mode;
      },
    },
  };
}

/** The columns the append sets from the act (all but the id and the three its chain decides). */
const ACT_COLUMNS = Object.entries(ArchiveRecordSchema.options.columns)
  .filter(([field]) => !["id", "seq", "prevHash", "hash"].includes(field))
  .map(
    ([field, c]) =>
      [field, c?.name ?? field] as [
        Exclude<keyof ArchiveRecordRow, "id" | "seq" | "prevHash" | "hash">,
        string,
      ],
  );

/**
 * The record's hash, computed by the database from the locked head (`c.head_hash`, `c.seq`) and
 * the three pieces of canonical JSON around them (canonical.ts, recordHashParts): SHA-256 over
 * UTF-8 on both (MySQL's SHA2 over utf8mb4; SQLite's herald_sha256, registered by database.ts).
 */
const hashOf = (mysql: boolean, c: string) =>
  mysql
    ? `SHA2(CONCAT(?, ${c}head_hash, ?, ${c}seq + 1, ?), 256)`
    : `herald_sha256(? || ${c}head_hash || ? || (${c}seq + 1) || ?)`;

/** The two statements of an append, per dialect (built once). */
const STATEMENTS = Object.fromEntries(
  [true, false].map((mysql) => [
    mysql ? "mysql" : "sqlite",
    {
      // Takes the head's row lock (InnoDB: FOR UPDATE; SQLite: one writer) and inserts the record
      // chained to the head it read; no row when the day has no head yet or is sealed.
      insert:
        `INSERT INTO archive_record (${ACT_COLUMNS.map((c) => c[1]).join(", ")}, seq, prev_hash, hash) ` +
        `SELECT ${ACT_COLUMNS.map(() => "?").join(", ")}, c.seq + 1, c.head_hash, ${hashOf(mysql, "c.")} ` +
        `FROM archive_chain c WHERE c.chain = ? AND c.sealed_at IS NULL${mysql ? " FOR UPDATE" : ""}`,
      // Moves the head to that record: the same hash from the same (still locked) row. head_hash is
      // assigned first, so it reads the old seq whether assignments see earlier ones or not.
      advance: `UPDATE archive_chain SET head_hash = ${hashOf(mysql, "")}, seq = seq + 1 WHERE chain = ?`,
    },
  ]),
) as Record<"mysql" | "sqlite", { insert: string; advance: string }>;

/**
 * Opens a day: its head row, starting from the genesis hash and naming the latest day before it
 * (its position and head at this moment), so a whole earlier day deleted with its head row is
 * found by verify even before that day is sealed (decision 0012). A concurrent opening wins on
 * the primary key; this one then uses its row.
 */
async function openDay(em: EntityManager, chain: string, at: Date): Promise<void> {
  const previous = await em.getRepository(ArchiveChainSchema).findOne({
    select: { chain: true, seq: true, headHash: true },
    where: { chain: LessThan(chain) },
    order: { chain: "DESC" },
  });
  try {
    await em.getRepository(ArchiveChainSchema).insert({
      chain,
      seq: 0,
      headHash: genesisHash(chain),
      openedAt: at,
      sealedAt: null,
      digest: null,
      prevChain: previous?.chain ?? null,
      prevSeq: previous?.seq ?? null,
      prevHead: previous?.headHash ?? null,
    });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
  }
}

/** The act's part of a record and the parameters its columns take (ACT_COLUMNS order). */
function actOf(input: ArchiveInput, at: Date, mysql: boolean) {
  const record: Omit<ArchiveRecordRow, "id" | "seq" | "prevHash" | "hash"> = {
    chain: dayOf(at),
    recordedAt: at,
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
  };
  const values = ACT_COLUMNS.map(([field]) =>
    // TypeORM's own SQLite form of a datetime: UTC, "YYYY-MM-DD HH:MM:SS.SSS" (read back by it).
    field === "recordedAt" && !mysql ? at.toISOString().replace("T", " ").replace("Z", "") : record[field],
  );
  return { record, values };
}

/** bench/archive.ts's floor: the same record, one INSERT, in a chain of its own with no head. */
async function appendUnchained(em: EntityManager, input: ArchiveInput, now: () => number, seq: number) {
  const { values } = actOf(input, new Date(now()), em.connection.options.type === "mysql");
  values[ACT_COLUMNS.findIndex(([field]) => field === "chain")] = "unchained";
  await em.query(
    `INSERT INTO archive_record (${ACT_COLUMNS.map((c) => c[1]).join(", ")}, seq, prev_hash, hash) VALUES (${ACT_COLUMNS.map(() => "?").join(", ")}, ?, '', '')`,
    [...values, seq],
  );
}

/**
 * Appends one record in the caller's transaction: two statements, both on the chain head's row
 * (the lock is taken by the first and held to the commit, so the work inside it is as short as it
 * can be: no read of the head into Node and back). Canonicalisation happens before the lock.
 */
export async function appendRecord(
  em: EntityManager,
  input: ArchiveInput,
  now: () => number = Date.now,
): Promise<void> {
  const at = new Date(now());
  const mysql = em.connection.options.type === "mysql";
  const { record, values } = actOf(input, at, mysql);
  const { chain } = record;
  const { before, middle, after } = recordHashParts(record);
  values.push(before, middle, after, chain);
  const runner = em.queryRunner;
  if (!runner) throw new Error("archive records are appended inside the act's transaction");
  const sql = STATEMENTS[mysql ? "mysql" : "sqlite"];
  let inserted = await runner.query(sql.insert, values, true);
  if (!inserted.affected) {
    await openDay(em, chain, at);
    inserted = await runner.query(sql.insert, values, true);
    if (!inserted.affected) throw new Error(`archive chain ${chain} is sealed: is this host's clock behind?`);
  }
  await runner.query(sql.advance, [before, middle, after, chain]);
}
