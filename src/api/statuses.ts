/**
 * Statuses as the client API shows them, local and remote, a page at a time: ids are the sortable
 * api ids (src/api/ids.ts), `in_reply_to_id` names the post replied to when Herald knows it
 * (its own posts, and remote posts its accounts received), counts come from the replies and
 * reactions received, `favourited`/`reblogged` from what the viewing account did. Remote messages
 * (inbound rows: replies, mentions, direct messages, posts of followed accounts) carry their
 * author as a remote account. Also the keyset paging every list shares (`max_id`, `since_id`,
 * `min_id`, `limit`, and the Link header).
 */
import type { Context } from "koa";
import { In, IsNull, type SelectQueryBuilder, type ObjectLiteral } from "typeorm";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import {
  type ActorRow,
  type InboundBoostRow,
  InboundBoostSchema,
  type InboundRow,
  InboundSchema,
  iriHash,
  type PostRow,
  PostSchema,
  ReactionSchema,
} from "../federation/entities.ts";
import { boostedAsInbound } from "../federation/received-boosts.ts";
import { remoteMedia } from "../federation/remote-media.ts";
import { remoteMediaAttachment } from "./media-routes.ts";
import { apiIdOf, parseApiId } from "./ids.ts";
import type { Params } from "./params.ts";
import { str } from "./params.ts";
import type { RemoteAccountRow } from "./records.ts";
import { type OutboundReactionRow, OutboundReactionSchema } from "./records.ts";
import type { RemoteAccounts } from "./remote-accounts.ts";
import type { AccountJson, Wire } from "./wire.ts";

// --- paging ----------------------------------------------------------------------------------------

export interface Page {
  readonly limit: number;
  readonly max?: number;
  readonly since?: number;
  readonly min?: number;
}

/** The window a request asks for; undefined when a cursor is not an id (nothing to place it by). */
export function pageOf(p: Params, maxLimit = 40, defaultLimit = 20): Page | undefined {
  const n = Number(str(p, "limit") ?? defaultLimit);
  const limit = Number.isFinite(n) ? Math.min(maxLimit, Math.max(1, Math.trunc(n))) : defaultLimit;
  const cursor = (key: string): number | undefined | null => {
    const v = str(p, key);
    if (v === undefined || v === "") return undefined;
    return parseApiId(v) ?? null;
  };
  const [max, since, min] = [cursor("max_id"), cursor("since_id"), cursor("min_id")];
  if (max === null || since === null || min === null) return undefined;
  return { limit, max, since, min };
}

/** Applies the window to `qb` over its api id column `col` (newest first; min_id: just after). */
export function keyset<T extends ObjectLiteral>(
  qb: SelectQueryBuilder<T>,
  col: string,
  page: Page,
  tag = "k",
): SelectQueryBuilder<T> {
  if (page.max !== undefined) qb.andWhere(`${col} < :${tag}Max`, { [`${tag}Max`]: page.max });
  if (page.since !== undefined) qb.andWhere(`${col} > :${tag}Since`, { [`${tag}Since`]: page.since });
  if (page.min !== undefined) qb.andWhere(`${col} > :${tag}Min`, { [`${tag}Min`]: page.min });
  return qb.orderBy(col, page.min !== undefined ? "ASC" : "DESC").take(page.limit);
}

/**
 * Merges pages of several sources (each already windowed) into one, newest first: ids from one
 * counter, so they interleave.
 */
export function merged<R>(page: Page, lists: R[][], idOf: (r: R) => number): R[] {
  const all = lists.flat().sort((a, b) => idOf(b) - idOf(a));
  // min_id: the `limit` just above the cursor, i.e. the oldest of them.
  return page.min !== undefined ? all.slice(-page.limit) : all.slice(0, page.limit);
}

/** The Link header of a page (RFC 8288), as Mastodon sends it: next = older, prev = newer. */
export function setLink(ctx: Context, config: Pick<Config, "origin">, p: Params, ids: readonly string[]) {
  if (ids.length === 0) return;
  const base = new URL(ctx.path, config.origin);
  for (const [k, v] of Object.entries(p))
    if (!["max_id", "since_id", "min_id"].includes(k)) {
      if (typeof v === "string") base.searchParams.set(k, v);
      else if (Array.isArray(v))
        for (const x of v) if (typeof x === "string") base.searchParams.append(`${k}[]`, x);
    }
  const link = (key: string, id: string) => {
    const u = new URL(base);
    u.searchParams.set(key, id);
    return u.href;
  };
  ctx.set(
    "Link",
    `<${link("max_id", ids[ids.length - 1])}>; rel="next", <${link("min_id", ids[0])}>; rel="prev"`,
  );
}

// --- statuses --------------------------------------------------------------------------------------

const PUBLIC = new Set(["https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"]);

/** A remote message's visibility from its addressing (Mastodon's conventions). */
export function remoteVisibility(row: InboundRow): "public" | "unlisted" | "private" | "direct" {
  if (row.kind === "direct") return "direct";
  let raw: { to?: unknown; cc?: unknown } = {};
  try {
    raw = row.raw ? (JSON.parse(row.raw) as typeof raw) : {};
  } catch {
    raw = {};
  }
  const list = (v: unknown) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String);
  if (list(raw.to).some((x) => PUBLIC.has(x))) return "public";
  if (list(raw.cc).some((x) => PUBLIC.has(x))) return "unlisted";
  return "private";
}

export function remoteAccountJson(row: RemoteAccountRow, avatarFallback: string) {
  return {
    id: String(row.id),
    username: row.username,
    acct: row.acct,
    url: row.url ?? row.iri,
    uri: row.iri,
    display_name: row.displayName,
    note: row.note ?? "",
    avatar: row.avatar ?? avatarFallback,
    avatar_static: row.avatar ?? avatarFallback,
    header: "",
    header_static: "",
    locked: false,
    fields: [],
    emojis: [],
    bot: false,
    group: false,
    discoverable: null,
    created_at: row.fetchedAt.toISOString(),
    last_status_at: null,
    statuses_count: 0,
    followers_count: 0,
    following_count: 0,
  };
}

/** The fields of a status Herald does not keep for it (no app, mentions, tags or counts). */
const unadorned = () => ({
  application: null,
  mentions: [] as never[],
  tags: [] as never[],
  emojis: [] as never[],
  reblogs_count: 0,
  favourites_count: 0,
  replies_count: 0,
});

/** Whether the viewing account favourited and boosted the note `objectHash` (its outbound reactions). */
function viewed(mine: readonly OutboundReactionRow[], objectHash: string) {
  const did = (kind: string) => mine.some((m) => m.objectHash === objectHash && m.kind === kind);
  return { favourited: did("like"), reblogged: did("announce") };
}

export function createStatuses(deps: {
  config: Config;
  db: Database;
  wire: Wire;
  accounts: Accounts;
  remoteAccounts: RemoteAccounts;
  /** The IRI of an account's Announce (a boost wrapper's `uri`). */
  boostUri?: (accountId: string, activityId: string) => string;
}) {
  const { db, wire, accounts, remoteAccounts } = deps;
  const avatar = wire.avatar;

  /** Counts and the viewer's own reactions for a page of local posts. */
  async function localFacts(posts: PostRow[]) {
    const ids = posts.map((p) => p.id);
    const iris = posts.filter((p) => p.inReplyToIri).map((p) => p.inReplyToIri!);
    return db.run(async (em) => {
      const reactions = ids.length
        ? await em
            .getRepository(ReactionSchema)
            .createQueryBuilder("r")
            .select("r.post_id", "postId")
            .addSelect("r.kind", "kind")
            .addSelect("COUNT(*)", "n")
            .where({ postId: In(ids) })
            .groupBy("r.post_id")
            .addGroupBy("r.kind")
            .getRawMany<{ postId: string; kind: string; n: number | string }>()
        : [];
      const replies = ids.length
        ? await em
            .getRepository(InboundSchema)
            .createQueryBuilder("i")
            .select("i.in_reply_to_post_id", "postId")
            .addSelect("COUNT(DISTINCT i.object_hash)", "n")
            .where({ inReplyToPostId: In(ids), kind: "reply" })
            .andWhere("i.deleted_at IS NULL")
            .groupBy("i.in_reply_to_post_id")
            .getRawMany<{ postId: string; n: number | string }>()
        : [];
      const localTargets = iris
        .filter((i) => i.startsWith(wire.notePrefix))
        .map((i) => i.slice(wire.notePrefix.length));
      const targets = localTargets.length
        ? await em.getRepository(PostSchema).findBy({ id: In(localTargets) })
        : [];
      const remoteTargets = iris.filter((i) => !i.startsWith(wire.notePrefix)).map((i) => iriHash(i));
      const inbound = remoteTargets.length
        ? await em.getRepository(InboundSchema).findBy({ objectHash: In(remoteTargets) })
        : [];
      return { reactions, replies, targets, inbound };
    });
  }

  /**
   * Local posts as Statuses, in the order given. `known`: accounts the caller has already read in
   * this request (the home timeline's own account), not read again. `viewer`: the account whose
   * favourites and boosts of them `favourited`/`reblogged` show (one more query; none without).
   */
  async function local(posts: PostRow[], known: readonly ActorRow[] = [], viewer?: ActorRow) {
    const facts = await localFacts(posts);
    const mine =
      viewer && posts.length
        ? await db.run((em) =>
            em.getRepository(OutboundReactionSchema).findBy({
              accountId: viewer.id,
              objectHash: In(posts.map((p) => iriHash(wire.noteUri(p.id)))),
            }),
          )
        : [];
    const accountOf = wire.accountCache();
    // A page's posts share a few authors (the home timeline's: one): each read once.
    const actors = new Map<string, Promise<ActorRow | null>>(known.map((a) => [a.id, Promise.resolve(a)]));
    const out = [];
    for (const post of posts) {
      if (!actors.has(post.actorId)) actors.set(post.actorId, accounts.byId(post.actorId));
      const actor = await actors.get(post.actorId)!;
      if (!actor) continue;
      const count = (kind: string) =>
        Number(facts.reactions.find((r) => r.postId === post.id && r.kind === kind)?.n ?? 0);
      let inReplyTo: { id: string | null; account: string | null } = { id: null, account: null };
      if (post.inReplyToIri?.startsWith(wire.notePrefix)) {
        const t = facts.targets.find((x) => x.id === post.inReplyToIri!.slice(wire.notePrefix.length));
        if (t) inReplyTo = { id: apiIdOf(t) ?? null, account: t.actorId };
      } else if (post.inReplyToIri) {
        const t = facts.inbound.find((x) => x.objectIri === post.inReplyToIri);
        if (t)
          inReplyTo = {
            id: apiIdOf(t) ?? null,
            account: String((await remoteAccounts.ensure(t.remoteActorIri)).id),
          };
      }
      out.push(
        wire.status(post, await accountOf(actor), {
          in_reply_to_id: inReplyTo.id,
          in_reply_to_account_id: inReplyTo.account,
          replies_count: Number(facts.replies.find((r) => r.postId === post.id)?.n ?? 0),
          favourites_count: count("like"),
          reblogs_count: count("announce"),
          ...(viewer ? viewed(mine, iriHash(wire.noteUri(post.id))) : {}),
        }),
      );
    }
    return out;
  }

  /** Remote messages (inbound rows) as Statuses, seen by `viewer` (its favourites and boosts). */
  async function remote(rows: InboundRow[], viewer: ActorRow | undefined) {
    const replyTo = rows.filter((r) => r.inReplyToPostId).map((r) => r.inReplyToPostId!);
    const [targets, mine] = await Promise.all([
      replyTo.length
        ? db.run((em) => em.getRepository(PostSchema).findBy({ id: In(replyTo) }))
        : Promise.resolve([] as PostRow[]),
      viewer && rows.length
        ? db.run((em) =>
            em
              .getRepository(OutboundReactionSchema)
              .findBy({ accountId: viewer.id, objectHash: In(rows.map((r) => r.objectHash)) }),
          )
        : Promise.resolve([]),
    ]);
    const authors = await remoteAccounts.ensureAll(rows.map((r) => r.remoteActorIri));
    const out = [];
    for (const row of rows) {
      const author = authors.get(row.remoteActorIri)!;
      const target = targets.find((t) => t.id === row.inReplyToPostId);
      const id = apiIdOf(row) ?? row.id;
      out.push({
        id,
        uri: row.objectIri,
        url: row.url ?? row.objectIri,
        created_at: (row.publishedAt ?? row.receivedAt).toISOString(),
        edited_at: row.updatedAt ? row.updatedAt.toISOString() : null,
        account: remoteAccountJson(author, avatar()),
        content: row.contentHtml ?? "",
        visibility: remoteVisibility(row),
        sensitive: false,
        spoiler_text: "",
        media_attachments: remoteMedia(row).map((m, i) => remoteMediaAttachment(id, i, m)),
        ...unadorned(),
        in_reply_to_id: target ? (apiIdOf(target) ?? null) : null,
        in_reply_to_account_id: target ? target.actorId : null,
        reblog: null,
        poll: null,
        card: null,
        language: null,
        ...viewed(mine, row.objectHash),
        muted: false,
        bookmarked: false,
        pinned: false,
        filtered: [],
      });
    }
    return out;
  }

  /**
   * An account's boosts (its outbound `announce` reactions numbered by migration 0028) as Mastodon
   * shows them: a status of its own, by the booster, whose `reblog` is the boosted post as
   * `viewer` sees it. Boosts whose post is gone (or has no id) are left out.
   */
  async function boosts(rows: OutboundReactionRow[], booster: ActorRow, viewer?: ActorRow) {
    const numbered = rows.filter((r) => r.kind === "announce" && apiIdOf(r) !== undefined);
    if (numbered.length === 0) return [];
    const localIds = numbered
      .filter((r) => r.objectIri.startsWith(wire.notePrefix))
      .map((r) => r.objectIri.slice(wire.notePrefix.length));
    const remoteHashes = numbered
      .filter((r) => !r.objectIri.startsWith(wire.notePrefix))
      .map((r) => r.objectHash);
    const [posts, received] = await db.run(async (em) => [
      localIds.length
        ? await em.getRepository(PostSchema).findBy({ id: In(localIds), deletedAt: IsNull() })
        : [],
      remoteHashes.length
        ? await em
            .getRepository(InboundSchema)
            .findBy({ actorId: booster.id, objectHash: In(remoteHashes), deletedAt: IsNull() })
        : [],
    ]);
    // A post the account saw only boosted by someone it follows (migration 0030).
    const unseen = remoteHashes.filter((h) => !(received as InboundRow[]).some((r) => r.objectHash === h));
    const boostedOnly = unseen.length
      ? await db.run((em) =>
          em.getRepository(InboundBoostSchema).findBy({ actorId: booster.id, objectHash: In(unseen) }),
        )
      : [];
    const inbound = [
      ...(received as InboundRow[]),
      ...boostedOnly
        .filter((r, i) => boostedOnly.findIndex((x) => x.objectHash === r.objectHash) === i)
        .map(boostedAsInbound),
    ];
    const shownPosts = (posts as PostRow[]).filter((p) => apiIdOf(p) !== undefined);
    const [ours, theirs] = await Promise.all([local(shownPosts, [booster], viewer), remote(inbound, viewer)]);
    const byHash = new Map<
      string,
      Awaited<ReturnType<typeof local>>[number] | Awaited<ReturnType<typeof remote>>[number]
    >();
    shownPosts.forEach((p, i) => ours[i] && byHash.set(iriHash(wire.noteUri(p.id)), ours[i]));
    inbound.forEach((r, i) => theirs[i] && byHash.set(r.objectHash, theirs[i]));
    const author = await wire.account(booster);
    const out = [];
    for (const r of numbered) {
      const inner = byHash.get(r.objectHash);
      if (!inner) continue;
      const uri =
        deps.boostUri?.(booster.id, r.activityId) ?? `${wire.actorUri(booster.id)}#announce-${r.activityId}`;
      out.push(wrapper(apiIdOf(r)!, uri, r.createdAt, author, inner));
    }
    return out;
  }

  /**
   * Boosts received from remote accounts that `viewer` follows, of posts that are not Herald's
   * (migration 0030), as Mastodon shows them: the booster's status whose `reblog` is the post as
   * its own server served it (its id the row's second one from the counter).
   */
  async function receivedBoosts(rows: InboundBoostRow[], viewer: ActorRow | undefined) {
    const inner = await remote(rows.map(boostedAsInbound), viewer);
    // Each booster's account once, however many of the page's boosts are theirs.
    const boosters = await remoteAccounts.ensureAll(rows.map((r) => r.boosterIri));
    const json = new Map([...boosters].map(([iri, row]) => [iri, remoteAccountJson(row, avatar())]));
    return rows.map((r, i) =>
      wrapper(apiIdOf(r)!, r.activityIri, r.receivedAt, json.get(r.boosterIri)!, inner[i]),
    );
  }

  /** A boost's own status: `account`'s, empty, whose `reblog` is `inner`. */
  function wrapper<A, I extends { favourited: boolean; reblogged: boolean; visibility: string }>(
    id: string,
    uri: string,
    createdAt: Date,
    account: A,
    inner: I,
  ) {
    return {
      id,
      uri,
      url: uri,
      created_at: createdAt.toISOString(),
      edited_at: null,
      account,
      content: "",
      // A boost of a followers-only post (its author's own) is as private as the post, as on Mastodon.
      visibility: inner.visibility === "private" ? ("private" as const) : ("public" as const),
      sensitive: false,
      spoiler_text: "",
      media_attachments: [],
      ...unadorned(),
      in_reply_to_id: null,
      in_reply_to_account_id: null,
      reblog: inner,
      poll: null,
      card: null,
      language: null,
      favourited: inner.favourited,
      reblogged: inner.reblogged,
      muted: false,
      bookmarked: false,
      pinned: false,
      filtered: [],
    };
  }

  return { local, remote, boosts, receivedBoosts };
}

export type Statuses = ReturnType<typeof createStatuses>;
export type StatusJson = Awaited<ReturnType<Statuses["local"]>>[number];
export type { AccountJson };
