/**
 * What a record's hash covers, and how it is computed: SHA-256 over the canonical JSON of every
 * field of the record except its database id and its own hash. Canonical JSON here is RFC 8785's
 * shape for the values records hold (strings, finite numbers, booleans, null, arrays, objects): object
 * keys sorted by UTF-16 code units, no whitespace, JSON.stringify's string escaping. The offline
 * checker (docs/examples/verify-archive-export.mjs) implements the same few lines.
 */
import { createHash } from "node:crypto";
import type { ArchiveRecordRow } from "./entities.ts";

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    // ECMAScript's number serialization is RFC 8785's; NaN and infinities have none.
    if (typeof value === "number" && !Number.isFinite(value))
      throw new TypeError(`archive content cannot hold ${value}`);
    if (value === undefined) return "null";
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

/** The hash a chain's first record points back to: nothing comes before it. */
export const genesisHash = (chain: string): string => sha256(`herald-archive-genesis:${chain}`);

/** The fields a record's hash covers, as the export and the offline checker carry them. */
export function hashedFields(r: Omit<ArchiveRecordRow, "id" | "hash">): Record<string, unknown> {
  return {
    v: 1,
    chain: r.chain,
    seq: r.seq,
    recordedAt: r.recordedAt.toISOString(),
    kind: r.kind,
    direction: r.direction,
    accountId: r.accountId,
    accountHandle: r.accountHandle,
    personId: r.personId,
    actorLabel: r.actorLabel,
    approverId: r.approverId,
    app: r.app,
    tokenId: r.tokenId,
    remoteActor: r.remoteActor,
    objectIri: r.objectIri,
    inReplyTo: r.inReplyTo,
    subjectId: r.subjectId,
    content: JSON.parse(r.content) as unknown,
    prevHash: r.prevHash,
  };
}

export const recordHash = (r: Omit<ArchiveRecordRow, "id" | "hash">): string =>
  sha256(canonicalJson(hashedFields(r)));

/**
 * The canonical JSON of a record's hashed fields around the two only its chain decides:
 * `before + prevHash + middle + seq + after` is `canonicalJson(hashedFields(r))`, written out in
 * key order with the stored content (already canonical) spliced in rather than parsed again. The
 * append builds these before taking the chain head's lock; the database joins them with the head
 * and hashes them in the same statement (records.ts). test/archive/canonical.test.ts holds it
 * equal to recordHash.
 */
export function recordHashParts(r: Omit<ArchiveRecordRow, "id" | "hash" | "seq" | "prevHash">): {
  before: string;
  middle: string;
  after: string;
} {
  const j = (v: string | null) => (v === null ? "null" : JSON.stringify(v));
  return {
    before:
      `{"accountHandle":${j(r.accountHandle)},"accountId":${j(r.accountId)},"actorLabel":${j(r.actorLabel)}` +
      `,"app":${j(r.app)},"approverId":${j(r.approverId)},"chain":${j(r.chain)},"content":${r.content}` +
      `,"direction":${j(r.direction)},"inReplyTo":${j(r.inReplyTo)},"kind":${j(r.kind)}` +
      `,"objectIri":${j(r.objectIri)},"personId":${j(r.personId)},"prevHash":"`,
    middle: `","recordedAt":${j(r.recordedAt.toISOString())},"remoteActor":${j(r.remoteActor)},"seq":`,
    after: `,"subjectId":${j(r.subjectId)},"tokenId":${j(r.tokenId)},"v":1}`,
  };
}

/** The UTC day of a time: the chain a record made then belongs to. */
export const dayOf = (t: Date | number): string => new Date(t).toISOString().slice(0, 10);
