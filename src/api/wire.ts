/**
 * Herald's rows as Mastodon's API entities (docs.joinmastodon.org/entities/): Account, Status,
 * Instance (v1 and v2). Ids are strings; times ISO 8601; visibility spelt as Mastodon does
 * (`private` is Herald's `followers`). Wire names stay in this file.
 */
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { profileUrl } from "../federation/actors.ts";
import {
  type ActorRow,
  FollowerSchema,
  FollowingSchema,
  type PostRow,
  PostSchema,
  type Visibility,
} from "../federation/entities.ts";
import { escapeHtml } from "../http/html.ts";
import { attachedMedia } from "../media/entities.ts";
import { MAX_ATTACHMENTS } from "../media/service.ts";
import { mediaAttachment } from "./media-routes.ts";
import { apiIdOf } from "./ids.ts";
import { href, ROUTES } from "../http/routes.ts";

export type MastodonVisibility = "public" | "unlisted" | "private" | "direct";

export const toMastodonVisibility = (v: Visibility | string): MastodonVisibility =>
  v === "followers" ? "private" : (v as MastodonVisibility);

export function fromMastodonVisibility(v: string | undefined): Visibility | undefined {
  switch (v) {
    case undefined:
    case "":
      return "public";
    case "public":
    case "unlisted":
    case "direct":
      return v;
    case "private":
      return "followers";
    default:
      return undefined;
  }
}

/** Herald's version as clients read it: Mastodon's API level first (as GoToSocial does). */
export const API_VERSION = "4.3.0 (compatible; Herald 0.1.0)";
export const MAX_CHARACTERS = 5000;

export type WireConfig = Pick<
  Config,
  "origin" | "orgName" | "handleDomain" | "accounts" | "orgLogoUrl" | "media"
>;

export function createWire(config: WireConfig, db: Database) {
  const origin = config.origin;
  const avatar = () => config.accounts.orgAvatarUrl ?? new URL(ROUTES.favicon, origin).href;
  const noteUri = (id: string) => new URL(href(ROUTES.ap.note, { id }), origin).href;
  const notePrefix = new URL(href(ROUTES.ap.note, { id: "" }), origin).href;
  const actorUri = (id: string) => new URL(href(ROUTES.ap.actor, { identifier: id }), origin).href;
  const actorPrefix = actorUri("");

  /** An account's counts and its last post's time, in one query (four subqueries on indexed columns). */
  async function counts(actorId: string) {
    const [row] = await db.query<{
      statuses: number | string;
      followers: number | string;
      following: number | string;
      last_at: string | Date | null;
    }>(
      `SELECT
         (SELECT COUNT(*) FROM ${PostSchema.options.tableName} WHERE actor_id = ? AND deleted_at IS NULL) AS statuses,
         (SELECT COUNT(*) FROM ${FollowerSchema.options.tableName} WHERE actor_id = ? AND status = 'accepted') AS followers,
         (SELECT COUNT(*) FROM ${FollowingSchema.options.tableName} WHERE actor_id = ? AND status = 'accepted') AS following,
         (SELECT MAX(published_at) FROM ${PostSchema.options.tableName} WHERE actor_id = ?) AS last_at`,
      [actorId, actorId, actorId, actorId],
    );
    const last = row?.last_at;
    return {
      statuses: Number(row?.statuses ?? 0),
      followers: Number(row?.followers ?? 0),
      following: Number(row?.following ?? 0),
      // SQLite answers the stored text (UTC, no zone), MySQL a Date.
      last: last == null ? null : last instanceof Date ? last : new Date(`${last.replace(" ", "T")}Z`),
    };
  }

  async function account(actor: ActorRow, withSource = false) {
    const c = await counts(actor.id);
    const note = actor.summary ? `<p>${escapeHtml(actor.summary)}</p>` : "";
    const url = profileUrl(origin, actor.handle).href;
    return {
      id: actor.id,
      username: actor.handle,
      acct: actor.handle,
      url,
      uri: actorUri(actor.id),
      display_name: actor.displayName,
      note,
      avatar: avatar(),
      avatar_static: avatar(),
      header: "",
      header_static: "",
      locked: actor.manualApproval,
      fields: [],
      emojis: [],
      bot: false,
      group: false,
      discoverable: true,
      indexable: false,
      noindex: false,
      suspended: actor.suspendedAt !== null ? true : undefined,
      created_at: actor.createdAt.toISOString(),
      last_status_at: c.last ? c.last.toISOString().slice(0, 10) : null,
      statuses_count: c.statuses,
      followers_count: c.followers,
      following_count: c.following,
      ...(withSource
        ? {
            source: {
              privacy: "public",
              sensitive: false,
              language: null,
              note: actor.summary ?? "",
              fields: [],
              follow_requests_count: 0,
            },
          }
        : {}),
    };
  }

  type AccountJson = Awaited<ReturnType<typeof account>>;

  /** One request's account objects, each built once (a page of statuses shares its author's). */
  function accountCache() {
    const seen = new Map<string, Promise<AccountJson>>();
    return (actor: ActorRow) => {
      let a = seen.get(actor.id);
      if (!a) seen.set(actor.id, (a = account(actor)));
      return a;
    };
  }

  function status(post: PostRow, author: AccountJson, extra: Record<string, unknown> = {}) {
    const mentions = (post.mentions ? JSON.parse(post.mentions) : []) as { name: string; href: string }[];
    const tags = (post.hashtags ? JSON.parse(post.hashtags) : []) as string[];
    const replyTo = post.inReplyToIri?.startsWith(notePrefix)
      ? post.inReplyToIri.slice(notePrefix.length)
      : null;
    return {
      // The sortable API id (src/api/ids.ts); a draft, not a post yet, answers with its own id.
      id: apiIdOf(post) ?? post.id,
      uri: noteUri(post.id),
      url: new URL(href(ROUTES.profilePost, { handle: author.username, postId: post.id }), origin).href,
      created_at: post.publishedAt.toISOString(),
      edited_at: post.updatedAt ? post.updatedAt.toISOString() : null,
      account: author,
      content: post.contentHtml,
      visibility: toMastodonVisibility(post.visibility),
      sensitive: false,
      spoiler_text: "",
      media_attachments: attachedMedia(post).map((m) => mediaAttachment(origin, m)),
      application: null,
      mentions: mentions.map((m) => {
        const acct = m.name.replace(/^@/, "");
        return { id: m.href, username: acct.split("@")[0], url: m.href, acct };
      }),
      tags: tags.map((name) => ({ name, url: new URL(`/tags/${encodeURIComponent(name)}`, origin).href })),
      emojis: [],
      reblogs_count: 0,
      favourites_count: 0,
      replies_count: 0,
      in_reply_to_id: replyTo,
      in_reply_to_account_id: null,
      reblog: null,
      poll: null,
      card: null,
      language: post.language,
      favourited: false,
      reblogged: false,
      muted: false,
      bookmarked: false,
      pinned: false,
      filtered: [],
      ...extra,
    };
  }

  const host = config.handleDomain;
  const streaming = new URL(origin);
  streaming.protocol = origin.protocol === "https:" ? "wss:" : "ws:";
  const description = `${config.orgName}'s verified accounts on the fediverse.`;
  const limits = {
    statuses: {
      max_characters: MAX_CHARACTERS,
      max_media_attachments: MAX_ATTACHMENTS,
      characters_reserved_per_url: 23,
    },
    media_attachments: {
      supported_mime_types: ["image/jpeg", "image/png", "image/webp", "image/gif"],
      image_size_limit: config.media.maxBytes,
      image_matrix_limit: config.media.maxPixels,
      video_size_limit: 0,
      video_frame_rate_limit: 0,
      video_matrix_limit: 0,
    },
    polls: { max_options: 0, max_characters_per_option: 0, min_expiration: 0, max_expiration: 0 },
  };

  return {
    account,
    avatar,
    accountCache,
    status,
    noteUri,
    notePrefix,
    /** Our account's actor IRI (what a reaction row names when one of our accounts reacted). */
    actorUri,
    actorPrefix,

    async instanceV1(stats: { users: number; statuses: number }) {
      return {
        uri: host,
        title: config.orgName,
        short_description: description,
        description,
        email: "",
        version: API_VERSION,
        urls: { streaming_api: streaming.origin },
        stats: { user_count: stats.users, status_count: stats.statuses, domain_count: 0 },
        thumbnail: config.orgLogoUrl ?? null,
        languages: ["en"],
        registrations: false,
        approval_required: false,
        invites_enabled: false,
        configuration: { accounts: { max_featured_tags: 0 }, ...limits },
        contact_account: null,
        rules: [],
      };
    },

    async instanceV2(stats: { users: number }) {
      return {
        domain: host,
        title: config.orgName,
        version: API_VERSION,
        source_url: origin.href,
        description,
        usage: { users: { active_month: stats.users } },
        thumbnail: { url: config.orgLogoUrl ?? avatar() },
        icon: [],
        languages: ["en"],
        configuration: {
          urls: { streaming: streaming.origin, status: null },
          vapid: { public_key: "" },
          accounts: { max_featured_tags: 0, max_pinned_statuses: 0 },
          ...limits,
          translation: { enabled: false },
        },
        registrations: { enabled: false, approval_required: false, message: null, url: null },
        api_versions: { mastodon: 2 },
        contact: { email: "", account: null },
        rules: [],
      };
    },
  };
}

export type Wire = ReturnType<typeof createWire>;
export type AccountJson = Awaited<ReturnType<Wire["account"]>>;
