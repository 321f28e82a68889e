/** Presence's tables as TypeORM entity schemas. */
import { createHash } from "node:crypto";
import { EntitySchema } from "typeorm";

export type ActorKind = "person" | "shared" | "org";

export interface ActorRow {
  id: string;
  kind: ActorKind;
  personId: string | null;
  handle: string;
  displayName: string;
  summary: string | null;
  manualApproval: boolean;
  signPosts: boolean;
  createdAt: Date;
  updatedAt: Date;
  keysReadyAt: Date | null;
  suspendedAt: Date | null;
  deletedAt: Date | null;
  /** Set when the account was renamed: the actor it moved to. */
  movedToId: string | null;
  formerPersonId: string | null;
}

export interface ActorKeyRow {
  actorId: string;
  algorithm: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: Date;
}

export interface FollowerRow {
  actorId: string;
  followerHash: string;
  followerIri: string;
  inboxIri: string;
  sharedInboxIri: string | null;
  followIri: string | null;
  status: "accepted" | "pending";
  createdAt: Date;
  /** The client API's sortable id (src/api/ids.ts): set on insert. */
  apiId?: number | string | null;
}

/** A follower gained ("follow": now accepted) or lost ("unfollow"): follower-history.ts. */
export interface FollowerEventRow {
  id?: number;
  actorId: string;
  followerHash: string;
  kind: "follow" | "unfollow";
  at: Date;
}

export interface FollowingRow {
  actorId: string;
  targetHash: string;
  targetIri: string;
  targetInboxIri: string;
  followId: string;
  status: "pending" | "accepted";
  createdAt: Date;
}

export type Visibility = "public" | "unlisted" | "followers" | "direct";

export interface PostRow {
  id: string;
  actorId: string;
  authorPersonId: string | null;
  authorLabel: string;
  contentHtml: string;
  contentText: string;
  language: string | null;
  visibility: Visibility;
  inReplyToIri: string | null;
  /** JSON: [{href, name}] */
  mentions: string | null;
  /** JSON: ["tag"] */
  hashtags: string | null;
  /** JSON: the images it carries, as attached (src/media/entities.ts AttachedMedia[]); null: none. */
  media?: string | null;
  publishedAt: Date;
  updatedAt: Date | null;
  deletedAt: Date | null;
  /** The client API's sortable id (src/api/ids.ts): set on insert. */
  apiId?: number | string | null;
}

export type InboundKind = "reply" | "mention" | "direct" | "post";

export interface InboundRow {
  id: string;
  actorId: string;
  objectHash: string;
  objectIri: string;
  remoteActorIri: string;
  kind: InboundKind;
  contentHtml: string | null;
  inReplyToPostId: string | null;
  url: string | null;
  publishedAt: Date | null;
  receivedAt: Date;
  updatedAt: Date | null;
  deletedAt: Date | null;
  raw: string | null;
  /**
   * JSON: the images the remote post says it carries (src/federation/remote-media.ts
   * RemoteMedia[]: their remote URLs and alt text, never fetched); null: none.
   */
  media?: string | null;
  /** The client API's sortable id (src/api/ids.ts): set on insert. */
  apiId?: number | string | null;
}

export interface ReactionRow {
  postId: string;
  kind: "like" | "announce";
  remoteActorHash: string;
  activityHash: string;
  createdAt: Date;
  /** Who reacted (null on rows from before it was kept). */
  remoteActorIri?: string | null;
  /** The client API's sortable id (src/api/ids.ts): set on insert. */
  apiId?: number | string | null;
}

export interface DomainBlockRow {
  domain: string;
  reason: string | null;
  createdBy: string;
  createdAt: Date;
}

/**
 * The longest IRI or link a row keeps (varchar(2048) since migration 0004; MySQL refuses longer
 * values, SQLite would keep them): a longer id is refused before anything is fetched or written,
 * a longer link is dropped.
 */
export const MAX_IRI_LENGTH = 2048;

/** Whether `iri` fits the IRI columns. */
export const fitsIri = (iri: string | URL): boolean => String(iri).length <= MAX_IRI_LENGTH;

/** `u` if it is an http(s) link that fits the IRI columns, else null (a `javascript:` URL never reaches a client). */
export function webUrl(u: URL | null | undefined): string | null {
  return u && /^https?:$/.test(u.protocol) && fitsIri(u) ? u.href : null;
}

export function iriHash(iri: string | URL): string {
  return createHash("sha256").update(String(iri)).digest("hex");
}

const dt = (name: string, nullable = false) => ({ name, type: "datetime" as const, nullable });
const vc = (name: string, nullable = false) => ({ name, type: "varchar" as const, nullable });

export const ActorSchema = new EntitySchema<ActorRow>({
  name: "Actor",
  tableName: "actor",
  columns: {
    id: { type: "varchar", primary: true },
    kind: { type: "varchar" },
    personId: vc("person_id", true),
    handle: { type: "varchar" },
    displayName: vc("display_name"),
    summary: { type: "text", nullable: true },
    manualApproval: { name: "manual_approval", type: "boolean" },
    signPosts: { name: "sign_posts", type: "boolean" },
    createdAt: dt("created_at"),
    updatedAt: dt("updated_at"),
    keysReadyAt: dt("keys_ready_at", true),
    suspendedAt: dt("suspended_at", true),
    deletedAt: dt("deleted_at", true),
    movedToId: vc("moved_to_id", true),
    formerPersonId: vc("former_person_id", true),
  },
});

export const ActorKeySchema = new EntitySchema<ActorKeyRow>({
  name: "ActorKey",
  tableName: "actor_key",
  columns: {
    actorId: { name: "actor_id", type: "varchar", primary: true },
    algorithm: { type: "varchar", primary: true },
    privateJwk: { name: "private_jwk", type: "text" },
    publicJwk: { name: "public_jwk", type: "text" },
    createdAt: dt("created_at"),
  },
});

export const FollowerSchema = new EntitySchema<FollowerRow>({
  name: "Follower",
  tableName: "follower",
  columns: {
    actorId: { name: "actor_id", type: "varchar", primary: true },
    followerHash: { name: "follower_hash", type: "varchar", primary: true },
    followerIri: vc("follower_iri"),
    inboxIri: vc("inbox_iri"),
    sharedInboxIri: vc("shared_inbox_iri", true),
    followIri: vc("follow_iri", true),
    status: { type: "varchar" },
    createdAt: dt("created_at"),
    apiId: { name: "api_id", type: "bigint", nullable: true },
  },
});

export const FollowerEventSchema = new EntitySchema<FollowerEventRow>({
  name: "FollowerEvent",
  tableName: "follower_event",
  columns: {
    id: { type: "integer", primary: true, generated: "increment" },
    actorId: vc("actor_id"),
    followerHash: vc("follower_hash"),
    kind: { type: "varchar" },
    at: dt("at"),
  },
});

export const FollowingSchema = new EntitySchema<FollowingRow>({
  name: "Following",
  tableName: "following",
  columns: {
    actorId: { name: "actor_id", type: "varchar", primary: true },
    targetHash: { name: "target_hash", type: "varchar", primary: true },
    targetIri: vc("target_iri"),
    targetInboxIri: vc("target_inbox_iri"),
    followId: vc("follow_id"),
    status: { type: "varchar" },
    createdAt: dt("created_at"),
  },
});

export const PostSchema = new EntitySchema<PostRow>({
  name: "Post",
  tableName: "post",
  columns: {
    id: { type: "varchar", primary: true },
    actorId: vc("actor_id"),
    authorPersonId: vc("author_person_id", true),
    authorLabel: vc("author_label"),
    contentHtml: { name: "content_html", type: "text" },
    contentText: { name: "content_text", type: "text" },
    language: vc("language", true),
    visibility: { type: "varchar" },
    inReplyToIri: vc("in_reply_to_iri", true),
    mentions: { type: "text", nullable: true },
    hashtags: { type: "text", nullable: true },
    media: { type: "text", nullable: true },
    publishedAt: dt("published_at"),
    updatedAt: dt("updated_at", true),
    deletedAt: dt("deleted_at", true),
    apiId: { name: "api_id", type: "bigint", nullable: true },
  },
});

export const InboundSchema = new EntitySchema<InboundRow>({
  name: "InboundMessage",
  tableName: "inbound_message",
  columns: {
    id: { type: "varchar", primary: true },
    actorId: vc("actor_id"),
    objectHash: vc("object_hash"),
    objectIri: vc("object_iri"),
    remoteActorIri: vc("remote_actor_iri"),
    kind: { type: "varchar" },
    contentHtml: { name: "content_html", type: "text", nullable: true },
    inReplyToPostId: vc("in_reply_to_post_id", true),
    url: vc("url", true),
    publishedAt: dt("published_at", true),
    receivedAt: dt("received_at"),
    updatedAt: dt("updated_at", true),
    deletedAt: dt("deleted_at", true),
    raw: { type: "text", nullable: true },
    media: { type: "text", nullable: true },
    apiId: { name: "api_id", type: "bigint", nullable: true },
  },
});

export const ReactionSchema = new EntitySchema<ReactionRow>({
  name: "Reaction",
  tableName: "reaction",
  columns: {
    postId: { name: "post_id", type: "varchar", primary: true },
    kind: { type: "varchar", primary: true },
    remoteActorHash: { name: "remote_actor_hash", type: "varchar", primary: true },
    activityHash: { name: "activity_hash", type: "varchar" },
    createdAt: dt("created_at"),
    remoteActorIri: vc("remote_actor_iri", true),
    apiId: { name: "api_id", type: "bigint", nullable: true },
  },
});

export const DomainBlockSchema = new EntitySchema<DomainBlockRow>({
  name: "DomainBlock",
  tableName: "domain_block",
  columns: {
    domain: { type: "varchar", primary: true },
    reason: { type: "varchar", nullable: true },
    createdBy: vc("created_by"),
    createdAt: dt("created_at"),
  },
});

/**
 * A boost by a remote account that `actorId` follows, of a post that is not Herald's (migration
 * 0030; src/federation/received-boosts.ts).
 */
export interface InboundBoostRow {
  /** The Herald account that follows the booster. */
  actorId: string;
  activityHash: string;
  activityIri: string;
  boosterIri: string;
  /** iriHash of the booster and of the author (migration 0032); null only in rows an earlier version stored. */
  boosterHash: string | null;
  objectHash: string;
  objectIri: string;
  authorIri: string;
  authorHash: string | null;
  contentHtml: string | null;
  url: string | null;
  publishedAt: Date | null;
  /** The post as fetched (compact JSON-LD): its addressing gives its visibility. */
  raw: string | null;
  /** JSON: the images the post says it carries (RemoteMedia[], never fetched); null: none. */
  media: string | null;
  receivedAt: Date;
  /** The wrapper status's id (src/api/ids.ts): set on insert. */
  apiId?: number | string | null;
  /** The boosted post's status id, taken from the same counter when the row is stored. */
  objectApiId?: number | string | null;
  /**
   * When its booster undid it (or its newer boosts pushed it out) while the account had
   * favourited or boosted the post: off the home timeline, kept for the post (migration 0032).
   */
  undoneAt?: Date | null;
}

export const InboundBoostSchema = new EntitySchema<InboundBoostRow>({
  name: "InboundBoost",
  tableName: "inbound_boost",
  columns: {
    actorId: { name: "actor_id", type: "varchar", primary: true },
    activityHash: { name: "activity_hash", type: "varchar", primary: true },
    activityIri: { name: "activity_iri", type: "varchar" },
    boosterIri: { name: "booster_iri", type: "varchar" },
    boosterHash: { name: "booster_hash", type: "varchar", nullable: true },
    objectHash: { name: "object_hash", type: "varchar" },
    objectIri: { name: "object_iri", type: "varchar" },
    authorIri: { name: "author_iri", type: "varchar" },
    authorHash: { name: "author_hash", type: "varchar", nullable: true },
    contentHtml: { name: "content_html", type: "text", nullable: true },
    url: { type: "varchar", nullable: true },
    publishedAt: { name: "published_at", type: "datetime", nullable: true },
    raw: { type: "text", nullable: true },
    media: { type: "text", nullable: true },
    receivedAt: { name: "received_at", type: "datetime" },
    apiId: { name: "api_id", type: "bigint", nullable: true },
    objectApiId: { name: "object_api_id", type: "bigint", nullable: true },
    undoneAt: { name: "undone_at", type: "datetime", nullable: true },
  },
});

export const federationEntities = [
  ActorSchema,
  ActorKeySchema,
  FollowerSchema,
  FollowerEventSchema,
  FollowingSchema,
  PostSchema,
  InboundSchema,
  ReactionSchema,
  DomainBlockSchema,
  InboundBoostSchema,
];
