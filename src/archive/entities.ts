/**
 * The archive's tables (migrations 0017, 0023). Records are appended (records.ts) and removed only by
 * the retention purge (maintenance.ts); nothing else in Herald updates or deletes them.
 */
import { EntitySchema } from "typeorm";

/** Said (`out`), heard (`in`), or an internal act of the organization (a draft, a decision). */
export type ArchiveDirection = "out" | "in" | "internal";

export interface ArchiveRecordRow {
  id?: number;
  /** The chain: the UTC day of `recordedAt`, `YYYY-MM-DD` (decision 0012). */
  chain: string;
  /** Position in the chain, from 1. */
  seq: number;
  recordedAt: Date;
  kind: string;
  direction: ArchiveDirection;
  accountId: string | null;
  accountHandle: string | null;
  /** The person who acted (pressed send, drafted, decided), when a person did. */
  personId: string | null;
  /** Who acted as the caller named them: `person:<id>`, `cli:<os user>`, a display name. */
  actorLabel: string | null;
  approverId: string | null;
  app: string | null;
  tokenId: string | null;
  /** The other party: a remote actor's IRI. */
  remoteActor: string | null;
  objectIri: string | null;
  inReplyTo: string | null;
  /** Herald's own id of what the record is about (a post, a draft, an inbound message). */
  subjectId: string | null;
  /** Canonical JSON (canonical.ts) of the record's content. */
  content: string;
  prevHash: string;
  hash: string;
}

export const ArchiveRecordSchema = new EntitySchema<ArchiveRecordRow>({
  name: "ArchiveRecord",
  tableName: "archive_record",
  columns: {
    id: { type: "integer", primary: true, generated: "increment" },
    chain: { type: "varchar", length: 10 },
    seq: { type: "integer" },
    recordedAt: { name: "recorded_at", type: "datetime", precision: 3 },
    kind: { type: "varchar", length: 40 },
    direction: { type: "varchar", length: 10 },
    accountId: { name: "account_id", type: "varchar", length: 36, nullable: true },
    accountHandle: { name: "account_handle", type: "varchar", length: 255, nullable: true },
    personId: { name: "person_id", type: "varchar", length: 36, nullable: true },
    actorLabel: { name: "actor_label", type: "varchar", length: 255, nullable: true },
    approverId: { name: "approver_id", type: "varchar", length: 36, nullable: true },
    app: { type: "varchar", length: 255, nullable: true },
    tokenId: { name: "token_id", type: "varchar", length: 64, nullable: true },
    remoteActor: { name: "remote_actor", type: "varchar", length: 2048, nullable: true },
    objectIri: { name: "object_iri", type: "varchar", length: 2048, nullable: true },
    inReplyTo: { name: "in_reply_to", type: "varchar", length: 2048, nullable: true },
    subjectId: { name: "subject_id", type: "varchar", length: 64, nullable: true },
    content: { type: "text" },
    prevHash: { name: "prev_hash", type: "varchar", length: 64 },
    hash: { type: "varchar", length: 64 },
  },
});

/** One row per chain (day): its head, and once the day is over its signed digest. */
export interface ArchiveChainRow {
  chain: string;
  seq: number;
  headHash: string;
  openedAt: Date;
  sealedAt: Date | null;
  /** Compact JWS (EdDSA, the organization's key) over {chain, count, head, prevDigest, previous}. */
  digest: string | null;
  /**
   * The latest day before this one when this day opened, its record count and head then
   * (migration 0023; null for the first day, and for days opened before it): a whole earlier day
   * deleted with its head row is named by verify even before it is sealed.
   */
  prevChain: string | null;
  prevSeq: number | null;
  prevHead: string | null;
}

export const ArchiveChainSchema = new EntitySchema<ArchiveChainRow>({
  name: "ArchiveChain",
  tableName: "archive_chain",
  columns: {
    chain: { type: "varchar", length: 10, primary: true },
    seq: { type: "integer" },
    headHash: { name: "head_hash", type: "varchar", length: 64 },
    openedAt: { name: "opened_at", type: "datetime", precision: 3 },
    sealedAt: { name: "sealed_at", type: "datetime", precision: 3, nullable: true },
    digest: { type: "text", nullable: true },
    prevChain: { name: "prev_chain", type: "varchar", length: 10, nullable: true },
    prevSeq: { name: "prev_seq", type: "integer", nullable: true },
    prevHead: { name: "prev_head", type: "varchar", length: 64, nullable: true },
  },
});

/**
 * A purge checkpoint: records `fromSeq`..`toSeq` of a chain were removed by the retention purge;
 * `lastHash` is the hash of the last of them, so the record after the gap still links. Signed.
 */
export interface ArchivePurgeRow {
  id?: number;
  chain: string;
  fromSeq: number;
  toSeq: number;
  lastHash: string;
  purgedAt: Date;
  signature: string;
}

export const ArchivePurgeSchema = new EntitySchema<ArchivePurgeRow>({
  name: "ArchivePurge",
  tableName: "archive_purge",
  columns: {
    id: { type: "integer", primary: true, generated: "increment" },
    chain: { type: "varchar", length: 10 },
    fromSeq: { name: "from_seq", type: "integer" },
    toSeq: { name: "to_seq", type: "integer" },
    lastHash: { name: "last_hash", type: "varchar", length: 64 },
    purgedAt: { name: "purged_at", type: "datetime", precision: 3 },
    signature: { type: "text" },
  },
});

/** A legal hold: records matching every criterion it sets survive the retention purge. */
export interface ArchiveHoldRow {
  id: string;
  name: string;
  personId: string | null;
  accountId: string | null;
  fromAt: Date | null;
  toAt: Date | null;
  createdBy: string;
  createdAt: Date;
  releasedBy: string | null;
  releasedAt: Date | null;
}

export const ArchiveHoldSchema = new EntitySchema<ArchiveHoldRow>({
  name: "ArchiveHold",
  tableName: "archive_hold",
  columns: {
    id: { type: "varchar", length: 36, primary: true },
    name: { type: "varchar", length: 200 },
    personId: { name: "person_id", type: "varchar", length: 36, nullable: true },
    accountId: { name: "account_id", type: "varchar", length: 36, nullable: true },
    fromAt: { name: "from_at", type: "datetime", precision: 3, nullable: true },
    toAt: { name: "to_at", type: "datetime", precision: 3, nullable: true },
    createdBy: { name: "created_by", type: "varchar", length: 255 },
    createdAt: { name: "created_at", type: "datetime", precision: 3 },
    releasedBy: { name: "released_by", type: "varchar", length: 255, nullable: true },
    releasedAt: { name: "released_at", type: "datetime", precision: 3, nullable: true },
  },
});

export const archiveEntities = [
  ArchiveRecordSchema,
  ArchiveChainSchema,
  ArchivePurgeSchema,
  ArchiveHoldSchema,
];
