/**
 * The archive's scheduled work, run once per deployment by the process holding the cluster lease
 * (server.ts): seal the days that are over (a digest signed with the organization's key, linked to
 * the previous day's digest) and purge the records past retention that no legal hold keeps,
 * leaving a signed checkpoint per purged run of records so the chain still verifies (decision 0012).
 */
import { IsNull, LessThan, Not, type EntityManager } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { createPeriodic } from "../db/periodic.ts";
import { logger } from "../logging.ts";
import { dayOf, sha256 } from "./canonical.ts";
import {
  type ArchiveChainRow,
  ArchiveChainSchema,
  ArchiveHoldSchema,
  ArchivePurgeSchema,
  type ArchivePurgeRow,
  ArchiveRecordSchema,
} from "./entities.ts";
import { isHeld } from "./holds.ts";
import type { ArchiveSigner } from "./signing.ts";

const log = logger("archive", "maintenance");
export const DAY_MS = 86_400_000;
/** A day is sealed this long after it ends: a host whose clock lags a little still appends to it. */
export const SEAL_GRACE_MS = 10 * 60_000;

/** Takes the chain head's row lock for the rest of the transaction (MySQL; SQLite has one writer). */
async function lockChain(em: EntityManager, chain: string): Promise<void> {
  if (em.connection.options.type === "mysql")
    await em.query("SELECT chain FROM archive_chain WHERE chain = ? FOR UPDATE", [chain]);
}

/** A day's link to the day before it (its head row's prev_* columns), as digests sign it. */
export const dayLink = (c: ArchiveChainRow): DigestPayload["previous"] =>
  c.prevChain === null || c.prevSeq === null || c.prevHead === null
    ? null
    : { chain: c.prevChain, count: c.prevSeq, head: c.prevHead };

/** The digest payload of a sealed day: what its signature vouches for. */
export interface DigestPayload {
  readonly chain: string;
  readonly count: number;
  readonly head: string;
  /** SHA-256 of the previous sealed day's digest (its JWS text), or null for the first day. */
  readonly prevDigest: string | null;
  /** The day before as it stood when this day opened (its head row's link; null if none). */
  readonly previous: { readonly chain: string; readonly count: number; readonly head: string } | null;
  readonly sealedAt: string;
}

export async function sealClosedDays(
  db: Database,
  signer: ArchiveSigner,
  now = Date.now(),
): Promise<string[]> {
  const before = dayOf(now - SEAL_GRACE_MS);
  const open = await db.run((em) =>
    em.getRepository(ArchiveChainSchema).find({
      where: { sealedAt: IsNull(), chain: LessThan(before) },
      order: { chain: "ASC" },
    }),
  );
  const sealed: string[] = [];
  for (const { chain } of open) {
    const done = await db.transaction(async (em) => {
      const sealedAt = new Date(now);
      // The same statement appends test (sealed_at IS NULL): after it no record joins this day.
      const r = await em
        .getRepository(ArchiveChainSchema)
        .update({ chain, sealedAt: IsNull() }, { sealedAt });
      if (!r.affected) return false;
      const head = await em.getRepository(ArchiveChainSchema).findOneByOrFail({ chain });
      const previous = await em.getRepository(ArchiveChainSchema).findOne({
        where: { chain: LessThan(chain), digest: Not(IsNull()) },
        order: { chain: "DESC" },
      });
      const payload: DigestPayload = {
        chain,
        count: head.seq,
        head: head.headHash,
        prevDigest: previous?.digest ? sha256(previous.digest) : null,
        previous: dayLink(head),
        sealedAt: sealedAt.toISOString(),
      };
      const digest = await signer.sign("herald-archive-digest+jws", { ...payload });
      await em.getRepository(ArchiveChainSchema).update({ chain }, { digest });
      return true;
    });
    if (done) sealed.push(chain);
  }
  if (sealed.length > 0) log.info("Sealed archive days {sealed}.", { sealed });
  return sealed;
}

export interface PurgeOutcome {
  readonly purged: number;
  readonly kept: number;
  readonly chains: string[];
}

/**
 * Removes the records of sealed days wholly older than `retentionDays`, except those an active
 * legal hold keeps. Each run of removed records leaves a signed checkpoint with the hash of its
 * last record: the next kept record still links, and the day's digest still verifies.
 */
export async function purgeExpired(
  db: Database,
  signer: ArchiveSigner,
  retentionDays: number,
  now = Date.now(),
): Promise<PurgeOutcome> {
  const cutoff = dayOf(now - retentionDays * DAY_MS);
  const chains = await db.run(async (em) =>
    (
      await em
        .getRepository(ArchiveRecordSchema)
        .createQueryBuilder("r")
        .select("DISTINCT r.chain", "chain")
        .innerJoin("archive_chain", "c", "c.chain = r.chain AND c.sealed_at IS NOT NULL")
        .where("r.chain < :cutoff", { cutoff })
        .orderBy("r.chain", "ASC")
        .getRawMany<{ chain: string }>()
    ).map((r) => r.chain),
  );
  let purged = 0;
  let kept = 0;
  const touched: string[] = [];
  for (const chain of chains) {
    const outcome = await db.transaction(async (em) => {
      await lockChain(em, chain);
      const holds = await em.getRepository(ArchiveHoldSchema).findBy({ releasedAt: IsNull() });
      const records = await em.getRepository(ArchiveRecordSchema).find({
        select: {
          seq: true,
          hash: true,
          personId: true,
          approverId: true,
          accountId: true,
          recordedAt: true,
        },
        where: { chain },
        order: { seq: "ASC" },
      });
      const runs: Omit<ArchivePurgeRow, "id" | "signature" | "purgedAt">[] = [];
      for (const r of records) {
        if (isHeld(r, holds)) continue;
        const last = runs.at(-1);
        if (last && last.toSeq === r.seq - 1) {
          last.toSeq = r.seq;
          last.lastHash = r.hash;
        } else runs.push({ chain, fromSeq: r.seq, toSeq: r.seq, lastHash: r.hash });
      }
      const purgedAt = new Date(now);
      let removed = 0;
      for (const run of runs) {
        const signature = await signer.sign("herald-archive-purge+jws", {
          ...run,
          purgedAt: purgedAt.toISOString(),
        });
        await em.getRepository(ArchivePurgeSchema).insert({ ...run, purgedAt, signature });
        const d = await em
          .createQueryBuilder()
          .delete()
          .from(ArchiveRecordSchema)
          .where("chain = :chain AND seq >= :from AND seq <= :to", {
            chain,
            from: run.fromSeq,
            to: run.toSeq,
          })
          .execute();
        removed += d.affected ?? run.toSeq - run.fromSeq + 1;
      }
      if (runs.length > 0)
        await recordAudit(em, {
          actor: "system",
          action: "archive.purge",
          targetType: "archive_chain",
          targetId: chain,
          detail: {
            retentionDays,
            removed,
            kept: records.length - removed,
            runs: runs.map((r) => [r.fromSeq, r.toSeq]),
          },
        });
      return { removed, kept: records.length - removed };
    });
    purged += outcome.removed;
    kept += outcome.kept;
    if (outcome.removed > 0) touched.push(chain);
  }
  if (purged > 0)
    log.info("Purged {purged} archive records past retention ({kept} kept on hold).", { purged, kept });
  return { purged, kept, chains: touched };
}

/**
 * Seals and purges every `intervalMs` while `held()` says this process holds the cluster lease.
 * Never keeps the process alive; stop() waits for a round in flight.
 */
export function createArchiveWorker(options: {
  readonly db: Database;
  readonly signer: () => Promise<ArchiveSigner>;
  readonly retentionDays: number;
  readonly intervalMs: number;
  readonly held: () => boolean;
}) {
  return createPeriodic({
    intervalMs: options.intervalMs,
    held: options.held,
    run: async () => {
      const signer = await options.signer();
      await sealClosedDays(options.db, signer);
      await purgeExpired(options.db, signer, options.retentionDays);
    },
    onError: (error) => log.error("Archive maintenance failed: {error}", { error }),
  });
}
