/**
 * Capture: `append` writes one archive record inside the caller's transaction, so the record
 * commits with the act it records or not at all (nothing said escapes the record).
 *
 * Serialization: the chain head row (archive_chain) is bumped with `UPDATE … SET seq = seq + 1`
 * before anything is read, which takes its row lock on InnoDB until the caller commits; a second
 * process appending to the same chain waits there, then reads the head the first one wrote: one
 * chain, never a fork. SQLite transactions are BEGIN IMMEDIATE (one writer). A day's first append
 * inserts the head row; a concurrent first insert loses on the primary key and bumps instead.
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
  /** Appends a record in the caller's transaction (a no-op while capture is off: benchmarks only). */
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

async function bumpHead(em: EntityManager, chain: string): Promise<boolean> {
  const r = await em
    .createQueryBuilder()
    .update(ArchiveChainSchema)
    .set({ seq: () => "seq + 1" })
    .where("chain = :chain AND sealed_at IS NULL", { chain })
    .execute();
  return (r.affected ?? 0) > 0;
}

export async function appendRecord(
  em: EntityManager,
  input: ArchiveInput,
  now: () => number = Date.now,
): Promise<ArchiveRecordRow> {
  const chain = dayOf(now());
  for (let attempt = 0; !(await bumpHead(em, chain)); attempt++) {
    if (attempt > 0) throw new Error(`archive chain ${chain} is sealed: is this host's clock behind?`);
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
      if (!isUniqueViolation(err)) throw err;
    }
  }
  const head = await em.getRepository(ArchiveChainSchema).findOneByOrFail({ chain });
  const record: Omit<ArchiveRecordRow, "id"> = {
    chain,
    seq: head.seq,
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
    prevHash: head.headHash,
    hash: "",
  };
  record.hash = recordHash(record);
  await em.getRepository(ArchiveRecordSchema).insert(record);
  await em.getRepository(ArchiveChainSchema).update({ chain }, { headHash: record.hash });
  return record;
}
