/**
 * `herald archive verify`: recomputes every record's hash and link, every day's head and signed
 * digest (and the digests' own chain), and every purge checkpoint's signature, day by day in
 * order, and names the first record that does not match.
 */
import type { KeyObject } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { Between, IsNull, LessThan, LessThanOrEqual, MoreThanOrEqual, Not, type FindOperator } from "typeorm";
import type { Database } from "../db/database.ts";
import { canonicalJson, genesisHash, recordHash, sha256 } from "./canonical.ts";
import {
  type ArchiveChainRow,
  ArchiveChainSchema,
  ArchivePurgeSchema,
  type ArchiveRecordRow,
  ArchiveRecordSchema,
} from "./entities.ts";
import { dayLink } from "./maintenance.ts";
import { openArchiveJws } from "./signing.ts";

export interface VerifyFailure {
  readonly ok: false;
  readonly chain: string;
  /** The position that does not match (a missing record's position, too). */
  readonly seq: number | null;
  /** The database id of the record that does not match, when it exists. */
  readonly recordId: number | null;
  readonly kind: string | null;
  readonly reason: string;
}

export type VerifyResult =
  | {
      readonly ok: true;
      readonly chains: number;
      readonly records: number;
      readonly purged: number;
      readonly sealed: number;
    }
  | VerifyFailure;

/** A day range on chain names (`YYYY-MM-DD`, inclusive). */
function range(from?: string, to?: string): FindOperator<string> | undefined {
  if (from && to) return Between(from, to);
  if (from) return MoreThanOrEqual(from);
  if (to) return LessThanOrEqual(to);
  return undefined;
}

/** Why a stored record does not match itself, or undefined. */
function recordProblem(r: ArchiveRecordRow): string | undefined {
  let content: unknown;
  try {
    content = JSON.parse(r.content);
  } catch {
    return "its content is not JSON (altered)";
  }
  if (canonicalJson(content) !== r.content) return "its content is not in canonical form (altered)";
  if (recordHash(r) !== r.hash)
    return "its hash does not match its content (the record or its hash was altered)";
  return undefined;
}

/**
 * A day names the day before it as it stood when this day opened (records.ts, openDay): that day
 * must still be there with at least as many records, the one at that position the same. Deleting
 * a whole day with its head row, before it is sealed, is found here once a later day has opened.
 */
async function linkProblem(
  db: Database,
  chain: ArchiveChainRow,
  listed: readonly ArchiveChainRow[],
): Promise<{ chain: string; seq: number | null; reason: string } | undefined> {
  const link = dayLink(chain);
  if (!link) return undefined;
  const before =
    listed.find((c) => c.chain === link.chain) ??
    (await db.run((em) => em.getRepository(ArchiveChainSchema).findOneBy({ chain: link.chain })));
  if (!before)
    return {
      chain: link.chain,
      seq: null,
      reason: `the day ${link.chain} is gone (records and head): ${chain.chain}, opened after it, names it as the day before with ${link.count} records`,
    };
  if (before.seq < link.count)
    return {
      chain: link.chain,
      seq: before.seq + 1,
      reason: `record ${link.chain} #${before.seq + 1} is missing: the day's head counts ${before.seq} records, but ${chain.chain} opened when it had ${link.count}`,
    };
  if (link.count === 0) return undefined;
  const [at, purge] = await db.run((em) =>
    Promise.all([
      em.getRepository(ArchiveRecordSchema).findOneBy({ chain: link.chain, seq: link.count }),
      em.getRepository(ArchivePurgeSchema).findOneBy({ chain: link.chain, toSeq: link.count }),
    ]),
  );
  const hash = at?.hash ?? purge?.lastHash;
  if (hash !== undefined && hash !== link.head)
    return {
      chain: link.chain,
      seq: link.count,
      reason: `record ${link.chain} #${link.count} is not the one ${chain.chain} linked to when it opened (the day was rewritten)`,
    };
  return undefined;
}

export async function verifyArchive(
  db: Database,
  publicKey: KeyObject,
  options: { from?: string; to?: string } = {},
): Promise<VerifyResult> {
  const chainRange = range(options.from, options.to);
  const chains = await db.run((em) =>
    em
      .getRepository(ArchiveChainSchema)
      .find({ where: chainRange ? { chain: chainRange } : {}, order: { chain: "ASC" } }),
  );
  const known = new Set(chains.map((c) => c.chain));
  // Records whose day has no head row: the head was deleted.
  const recordDays = await db.run((em) =>
    em
      .getRepository(ArchiveRecordSchema)
      .createQueryBuilder("r")
      .select("DISTINCT r.chain", "chain")
      .where(options.from ? "r.chain >= :from" : "1=1", { from: options.from })
      .andWhere(options.to ? "r.chain <= :to" : "1=1", { to: options.to })
      .orderBy("r.chain", "ASC")
      .getRawMany<{ chain: string }>(),
  );
  const orphan = recordDays.find((d) => !known.has(d.chain));
  if (orphan)
    return {
      ok: false,
      chain: orphan.chain,
      seq: null,
      recordId: null,
      kind: null,
      reason: `records of ${orphan.chain} exist but the day's chain head is gone`,
    };

  let records = 0;
  let purged = 0;
  let sealed = 0;
  let previousSealed: ArchiveChainRow | null | undefined;
  for (const chain of chains) {
    const fail = (seq: number | null, reason: string, r?: ArchiveRecordRow): VerifyFailure => ({
      ok: false,
      chain: chain.chain,
      seq,
      recordId: r?.id ?? null,
      kind: r?.kind ?? null,
      reason,
    });
    const broken = await linkProblem(db, chain, chains);
    if (broken) return { ok: false, recordId: null, kind: null, ...broken };
    const [rows, purges] = await db.run((em) =>
      Promise.all([
        em.getRepository(ArchiveRecordSchema).find({ where: { chain: chain.chain }, order: { seq: "ASC" } }),
        em
          .getRepository(ArchivePurgeSchema)
          .find({ where: { chain: chain.chain }, order: { fromSeq: "ASC" } }),
      ]),
    );
    const purgeAt = new Map(purges.map((p) => [p.fromSeq, p]));
    for (const p of purges) {
      const opened = await openArchiveJws(p.signature, publicKey, "herald-archive-purge+jws");
      if (!opened.ok) return fail(p.fromSeq, `purge checkpoint ${p.fromSeq}–${p.toSeq}: ${opened.reason}`);
      const q = opened.payload;
      if (q.chain !== p.chain || q.fromSeq !== p.fromSeq || q.toSeq !== p.toSeq || q.lastHash !== p.lastHash)
        return fail(p.fromSeq, `purge checkpoint ${p.fromSeq}–${p.toSeq} differs from what was signed`);
    }
    let prev = genesisHash(chain.chain);
    let expected = 1;
    /** Steps over purged runs starting at `expected`. */
    const skipPurged = () => {
      for (let p = purgeAt.get(expected); p; p = purgeAt.get(expected)) {
        prev = p.lastHash;
        purged += p.toSeq - p.fromSeq + 1;
        expected = p.toSeq + 1;
      }
    };
    for (const r of rows) {
      skipPurged();
      if (r.seq < expected) return fail(r.seq, `record ${r.seq} appears twice or inside a purged run`, r);
      if (r.seq > expected)
        return fail(
          expected,
          `record ${chain.chain} #${expected} is missing${r.seq > expected + 1 ? ` (through #${r.seq - 1})` : ""}: the next record present is #${r.seq} (id ${r.id})`,
        );
      if (r.prevHash !== prev)
        return fail(
          r.seq,
          "its link to the previous record does not match (the record or the one before it was altered)",
          r,
        );
      const problem = recordProblem(r);
      if (problem) return fail(r.seq, problem, r);
      prev = r.hash;
      expected++;
      records++;
    }
    skipPurged();
    if (expected - 1 < chain.seq)
      return fail(
        expected,
        `record ${chain.chain} #${expected} is missing${chain.seq > expected ? ` (through #${chain.seq})` : ""}: the chain head counts ${chain.seq} records`,
      );
    if (expected - 1 > chain.seq || prev !== chain.headHash)
      return fail(
        chain.seq,
        "the chain head does not match the last record (the head or the records were altered)",
      );
    if (chain.sealedAt || chain.digest) {
      if (!chain.digest) return fail(null, "the day is marked sealed but its signed digest is gone");
      const opened = await openArchiveJws(chain.digest, publicKey, "herald-archive-digest+jws");
      if (!opened.ok) return fail(null, `the day's digest: ${opened.reason}`);
      const d = opened.payload;
      if ("previous" in d && !isDeepStrictEqual(d.previous, dayLink(chain)))
        return fail(null, "the day's link to the day before differs from what its digest signed");
      if (d.chain !== chain.chain || d.count !== chain.seq || d.head !== chain.headHash)
        return fail(
          null,
          `the day's signed digest (${String(d.count)} records, head ${String(d.head)}) does not match its records`,
        );
      if (previousSealed === undefined)
        previousSealed = await db.run((em) =>
          em.getRepository(ArchiveChainSchema).findOne({
            where: { chain: LessThan(chain.chain), digest: Not(IsNull()) },
            order: { chain: "DESC" },
          }),
        );
      const expectedPrev = previousSealed?.digest ? sha256(previousSealed.digest) : null;
      if (d.prevDigest !== expectedPrev)
        return fail(
          null,
          "the digest chain is broken: the previous sealed day's digest was removed or altered",
        );
      previousSealed = chain;
      sealed++;
    }
  }
  return { ok: true, chains: chains.length, records, purged, sealed };
}
