/**
 * The client API's own state beyond apps and tokens (migration 0020): remote accounts as the API
 * shows them, markers, dismissed notifications, our accounts' favourites and boosts of remote
 * posts, and scheduled statuses.
 */
import { EntitySchema } from "typeorm";

const dt = (name: string, nullable = false) => ({ name, type: "datetime" as const, nullable });
const vc = (name: string, nullable = false) => ({ name, type: "varchar" as const, nullable });

export interface RemoteAccountRow {
  /** A numeric id from the api_id counter (src/api/ids.ts). */
  id: number | string;
  iriHash: string;
  iri: string;
  username: string;
  /** `user@host` */
  acct: string;
  displayName: string;
  url: string | null;
  avatar: string | null;
  note: string | null;
  fetchedAt: Date;
}

export const RemoteAccountSchema = new EntitySchema<RemoteAccountRow>({
  name: "ApiRemoteAccount",
  tableName: "api_remote_account",
  columns: {
    id: { type: "bigint", primary: true },
    iriHash: vc("iri_hash"),
    iri: vc("iri"),
    username: vc("username"),
    acct: vc("acct"),
    displayName: vc("display_name"),
    url: vc("url", true),
    avatar: vc("avatar", true),
    note: { type: "text", nullable: true },
    fetchedAt: dt("fetched_at"),
  },
});

export interface MarkerRow {
  personId: string;
  accountId: string;
  timeline: string;
  lastReadId: string;
  version: number;
  updatedAt: Date;
}

export const MarkerSchema = new EntitySchema<MarkerRow>({
  name: "ApiMarker",
  tableName: "api_marker",
  columns: {
    personId: { name: "person_id", type: "varchar", primary: true },
    accountId: { name: "account_id", type: "varchar", primary: true },
    timeline: { type: "varchar", primary: true },
    lastReadId: vc("last_read_id"),
    version: { type: "integer" },
    updatedAt: dt("updated_at"),
  },
});

export interface DismissalRow {
  personId: string;
  accountId: string;
  notificationId: number | string;
}

export const DismissalSchema = new EntitySchema<DismissalRow>({
  name: "ApiNotificationDismissal",
  tableName: "api_notification_dismissal",
  columns: {
    personId: { name: "person_id", type: "varchar", primary: true },
    accountId: { name: "account_id", type: "varchar", primary: true },
    notificationId: { name: "notification_id", type: "bigint", primary: true },
  },
});

export interface ClearRow {
  personId: string;
  accountId: string;
  upTo: number | string;
  clearedAt: Date;
}

export const ClearSchema = new EntitySchema<ClearRow>({
  name: "ApiNotificationClear",
  tableName: "api_notification_clear",
  columns: {
    personId: { name: "person_id", type: "varchar", primary: true },
    accountId: { name: "account_id", type: "varchar", primary: true },
    upTo: { name: "up_to", type: "bigint" },
    clearedAt: dt("cleared_at"),
  },
});

export interface OutboundReactionRow {
  accountId: string;
  objectHash: string;
  kind: "like" | "announce";
  objectIri: string;
  activityId: string;
  personId: string | null;
  createdAt: Date;
  /** A boost's own status id (migration 0028; likes get one too, unused). */
  apiId?: number | string | null;
}

export const OutboundReactionSchema = new EntitySchema<OutboundReactionRow>({
  name: "ApiOutboundReaction",
  tableName: "api_outbound_reaction",
  columns: {
    accountId: { name: "account_id", type: "varchar", primary: true },
    objectHash: { name: "object_hash", type: "varchar", primary: true },
    kind: { type: "varchar", primary: true },
    objectIri: vc("object_iri"),
    activityId: vc("activity_id"),
    personId: vc("person_id", true),
    createdAt: dt("created_at"),
    apiId: { name: "api_id", type: "bigint", nullable: true },
  },
});

/** `discarded`: its author's record was erased before it was due (src/identity/erase.ts). */
export type ScheduledState =
  "scheduled" | "publishing" | "published" | "drafted" | "refused" | "failed" | "discarded";

export interface ScheduledRow {
  id: number | string;
  personId: string;
  accountId: string;
  tokenId: string | null;
  app: string | null;
  /** JSON: ScheduledParams (src/api/scheduled.ts). */
  params: string;
  scheduledAt: Date;
  state: ScheduledState;
  createdAt: Date;
  claimedBy: string | null;
  claimedAt: Date | null;
  /** The random id of the worker's claim: publishing commits only while it is still this one. */
  claimId?: string | null;
  /** How many times a worker claimed it (migration 0029); null before the first. */
  attempts?: number | null;
  postId: string | null;
  draftId: string | null;
  /** Why it was not published (refused, failed), for the person and the audit. */
  outcome: string | null;
  finishedAt: Date | null;
}

export const ScheduledSchema = new EntitySchema<ScheduledRow>({
  name: "ApiScheduledStatus",
  tableName: "api_scheduled_status",
  columns: {
    id: { type: "bigint", primary: true },
    personId: vc("person_id"),
    accountId: vc("account_id"),
    tokenId: vc("token_id", true),
    app: vc("app", true),
    params: { type: "text" },
    scheduledAt: dt("scheduled_at"),
    state: { type: "varchar" },
    createdAt: dt("created_at"),
    claimedBy: vc("claimed_by", true),
    claimedAt: dt("claimed_at", true),
    claimId: vc("claim_id", true),
    attempts: { name: "attempts", type: "integer", nullable: true },
    postId: vc("post_id", true),
    draftId: vc("draft_id", true),
    outcome: vc("outcome", true),
    finishedAt: dt("finished_at", true),
  },
});

export const apiRecordEntities = [
  RemoteAccountSchema,
  MarkerSchema,
  DismissalSchema,
  ClearSchema,
  OutboundReactionSchema,
  ScheduledSchema,
];
