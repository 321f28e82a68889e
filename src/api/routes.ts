/**
 * The Mastodon client API (docs.joinmastodon.org/methods/), slice 1: instance, accounts, statuses
 * (create with Idempotency-Key, get, delete), the home and public timelines, and empty but valid
 * answers for what Herald does not have (custom emojis, filters, lists, announcements, trends,
 * markers). Every call re-decides the person behind its token (src/api/auth.ts); a drafter's post
 * becomes a draft awaiting approval (docs/decisions/0013-api-drafts.md). Errors are
 * `{"error": "…"}` (src/http/errors.ts), never a 500 for a client's mistake.
 */
import { createHash } from "node:crypto";
import type Router from "@koa/router";
import type { Context } from "koa";
import { type EntityManager, IsNull, type SelectQueryBuilder } from "typeorm";
import type { Config } from "../config.ts";
import { createFeedCache, type FeedCache } from "./feed.ts";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { isUniqueViolation } from "../db/errors.ts";
import type { Accounts } from "../federation/accounts.ts";
import type { Drafts } from "../federation/drafts.ts";
import {
  type ActorRow,
  ActorSchema,
  type InboundBoostRow,
  InboundBoostSchema,
  type InboundRow,
  InboundSchema,
  type PostRow,
  PostSchema,
} from "../federation/entities.ts";
import { type Posting, renderText } from "../federation/posting.ts";
import { receivedByApiId } from "../federation/received-boosts.ts";
import { fail } from "../http/errors.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { RateLimiter } from "../http/rate-limit.ts";
import { koa, ROUTES } from "../http/routes.ts";
import type { Directory } from "../identity/directory.ts";
import type { ApiAuth, Caller, UserCaller } from "./auth.ts";
import { ApiIdempotencySchema } from "./entities.ts";
import { apiKey, limitedBy } from "./limits.ts";
import type { OAuth } from "./oauth.ts";
import { parseApiId } from "./ids.ts";
import { createPublisher, type Speaker, type StatusInput } from "./publish.ts";
import type { Scheduled } from "./scheduled.ts";
import { apiParams, bool, list, type Params, str } from "./params.ts";
import { keyset, merged, type Page, pageOf, setLink, type Statuses } from "./statuses.ts";
import { type OutboundReactionRow, OutboundReactionSchema } from "./records.ts";
import { createWire, fromMastodonVisibility, MAX_CHARACTERS } from "./wire.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
function notFound(): never {
  fail(404, "Record not found");
}

export function apiRoutes(deps: {
  config: Config;
  /** The home timeline's page cache (src/api/feed.ts); one per process by default. */
  feeds?: FeedCache;
  db: Database;
  auth: ApiAuth;
  oauth: OAuth;
  accounts: Accounts;
  directory: Directory;
  posting: Posting;
  drafts: Drafts;
  limiter: RateLimiter;
  maxBodyBytes: number;
  /** Statuses as the API shows them (src/api/statuses.ts). */
  statuses: Statuses;
  /** Scheduled statuses (src/api/scheduled.ts). */
  scheduled: Scheduled;
  /** More endpoint groups, mounted on this router (its rate limit, its errors). */
  more?: readonly ((router: Router, params: (ctx: Context) => Promise<Params>) => void)[];
}): Router {
  const { config, db, auth, accounts, posting, drafts } = deps;
  const feeds = deps.feeds ?? createFeedCache();
  const wire = createWire(config, db);
  const router = caseSensitiveRouter();
  router.use(limitedBy(deps.limiter, apiKey));
  const params = (ctx: Context) => apiParams(ctx, deps.maxBodyBytes);
  // First: /api/v1/accounts/relationships must not be taken for /api/v1/accounts/{id}.
  deps.scheduled.routes(router, params);
  for (const mount of deps.more ?? []) mount(router, params);

  /** A local, open account by id (ids are UUIDs: anything else is simply not found). */
  async function accountById(id: string): Promise<ActorRow> {
    const actor = UUID.test(id) ? await accounts.byId(id) : null;
    if (!actor || actor.deletedAt || actor.kind === "org") return notFound();
    return actor;
  }

  // --- pagination (max_id / since_id / min_id / limit by api id, Link header) --------------------

  /** Posts matching `where` in the window `page`, newest first. */
  async function postsIn(page: Page, where: (qb: SelectQueryBuilder<PostRow>) => void): Promise<PostRow[]> {
    const rows = await db.run((em) => {
      const qb = em
        .getRepository(PostSchema)
        .createQueryBuilder("p")
        .innerJoin(ActorSchema.options.name, "a", "a.id = p.actor_id")
        .where("p.deleted_at IS NULL")
        .andWhere("a.deleted_at IS NULL")
        .andWhere("p.api_id IS NOT NULL");
      where(qb);
      return keyset(qb, "p.api_id", page).getMany();
    });
    return page.min !== undefined ? rows.reverse() : rows;
  }

  async function paged(
    ctx: Context,
    p: Params,
    where: (qb: SelectQueryBuilder<PostRow>) => void,
  ): Promise<PostRow[]> {
    const page = pageOf(p);
    if (!page) return [];
    const list = await postsIn(page, where);
    setLink(
      ctx,
      config,
      p,
      list.map((r) => String(r.apiId)),
    );
    return list;
  }

  const statuses = (rows: PostRow[]) => deps.statuses.local(rows);
  type StatusOrBoost =
    | Awaited<ReturnType<Statuses["boosts"]>>[number]
    | Awaited<ReturnType<Statuses["local"]>>[number]
    | Awaited<ReturnType<Statuses["remote"]>>[number]
    | Awaited<ReturnType<Statuses["receivedBoosts"]>>[number];

  /** An account's boosts in the window `page` (each a status of its own: src/api/statuses.ts). */
  const boostsOf = (em: EntityManager, accountId: string, page: Page) =>
    keyset(
      em
        .getRepository(OutboundReactionSchema)
        .createQueryBuilder("b")
        .where("b.account_id = :accountId AND b.kind = :announce AND b.api_id IS NOT NULL", {
          accountId,
          announce: "announce",
        }),
      "b.api_id",
      page,
      "b",
    ).getMany();

  /** A remote message the caller's account received, by its api id. */
  async function inboundFor(c: UserCaller, id: string): Promise<InboundRow | null> {
    const apiId = parseApiId(id);
    if (apiId === undefined) return null;
    return db.run((em) => receivedByApiId(em, apiId, c.account.id));
  }

  /** A local post by its api id (anything else is simply not found). */
  async function postByApiId(id: string): Promise<PostRow | null> {
    const apiId = parseApiId(id);
    return apiId === undefined ? null : db.run((em) => em.getRepository(PostSchema).findOneBy({ apiId }));
  }

  /** Who may see a post: public and unlisted anyone; the rest only the account that wrote it. */
  const visibleTo = (post: PostRow, caller: Caller | undefined) =>
    post.visibility === "public" ||
    post.visibility === "unlisted" ||
    (caller?.kind === "user" && caller.account.id === post.actorId);

  // --- instance and empty answers ----------------------------------------------------------------

  async function stats() {
    const [users, statuses] = await Promise.all([
      db.run((em) =>
        em.getRepository(ActorSchema).countBy({ kind: "person", deletedAt: IsNull(), suspendedAt: IsNull() }),
      ),
      db.run((em) => em.getRepository(PostSchema).countBy({ deletedAt: IsNull() })),
    ]);
    return { users, statuses };
  }

  router.get(koa(ROUTES.mastodon.instance), async (ctx) => {
    ctx.body = await wire.instanceV1(await stats());
  });
  router.get(koa(ROUTES.mastodon.instanceV2), async (ctx) => {
    ctx.body = await wire.instanceV2(await stats());
  });

  const empty = (path: string, body: () => unknown, scope = "read") =>
    router.get(koa(path), async (ctx) => {
      await auth.caller(ctx, "user", scope);
      ctx.body = body();
    });
  empty(ROUTES.mastodon.filters, () => [], "read:filters");
  empty(ROUTES.mastodon.filtersV2, () => [], "read:filters");
  empty(ROUTES.mastodon.lists, () => [], "read:lists");
  // Markers: src/api/notifications.ts.
  empty(ROUTES.mastodon.announcements, () => []);
  empty(
    ROUTES.mastodon.preferences,
    () => ({
      "posting:default:visibility": "public",
      "posting:default:sensitive": false,
      "posting:default:language": null,
      "reading:expand:media": "default",
      "reading:expand:spoilers": false,
    }),
    "read:accounts",
  );
  // Public in Mastodon: no token needed.
  for (const path of [
    ROUTES.mastodon.customEmojis,
    ROUTES.mastodon.trends,
    ROUTES.mastodon.trendsTags,
    ROUTES.mastodon.trendsStatuses,
    ROUTES.mastodon.trendsLinks,
  ])
    router.get(koa(path), (ctx) => {
      ctx.body = [];
    });

  // --- accounts ----------------------------------------------------------------------------------

  router.get(koa(ROUTES.mastodon.verifyCredentials), async (ctx) => {
    const c = await auth.caller(ctx, "user", "read:accounts");
    ctx.set("Cache-Control", "no-store");
    ctx.body = await wire.account(c.account, true);
  });

  router.get(koa(ROUTES.mastodon.accountLookup), async (ctx) => {
    await auth.caller(ctx, "optional", "read:accounts");
    const acct = (typeof ctx.query.acct === "string" ? ctx.query.acct : "").replace(/^@/, "").toLowerCase();
    const [user, host] = acct.split("@");
    if (!user || (host !== undefined && host !== config.handleDomain.toLowerCase())) notFound();
    const actor = await accounts.byHandle(user);
    if (!actor || actor.deletedAt || actor.kind === "org" || actor.movedToId) notFound();
    ctx.body = await wire.account(actor);
  });

  router.get(koa(ROUTES.mastodon.account), async (ctx) => {
    await auth.caller(ctx, "optional", "read:accounts");
    ctx.body = await wire.account(await accountById(ctx.params.id));
  });

  router.get(koa(ROUTES.mastodon.accountStatuses), async (ctx) => {
    const c = await auth.caller(ctx, "optional", "read:statuses");
    const actor = await accountById(ctx.params.id);
    const p = await params(ctx);
    // Herald has no pins: that filter has nothing to show.
    if (bool(p, "pinned")) {
      ctx.body = [];
      return;
    }
    const own = c?.kind === "user" && c.account.id === actor.id;
    const where = (qb: SelectQueryBuilder<PostRow>) => {
      qb.andWhere("p.actor_id = :actorId", { actorId: actor.id });
      if (!own) qb.andWhere("p.visibility IN (:...shown)", { shown: ["public", "unlisted"] });
      if (bool(p, "exclude_replies")) qb.andWhere("p.in_reply_to_iri IS NULL");
      if (bool(p, "only_media")) qb.andWhere("p.media IS NOT NULL");
    };
    const page = pageOf(p);
    if (bool(p, "exclude_reblogs") || bool(p, "only_media") || !page) {
      ctx.body = await statuses(await paged(ctx, p, where));
      return;
    }
    // The account's posts and its boosts (each a status of its own), interleaved by id. A boost
    // of a post the caller may not see is left out; the page is then filled from the rows past
    // it (a few windows at most), and the Link header names the rows considered, shown or not,
    // so paging on never repeats or skips one.
    const viewer = c?.kind === "user" ? c.account : undefined;
    const out: StatusOrBoost[] = [];
    const considered: string[] = [];
    let window = page;
    for (let round = 0; round < 4; round++) {
      const [posts, boosted] = await Promise.all([
        postsIn(window, where),
        db.run((em) => boostsOf(em, actor.id, window)),
      ]);
      const chosen = merged<PostRow | OutboundReactionRow>(window, [posts, boosted], (r) => Number(r.apiId));
      const boosts = new Set<PostRow | OutboundReactionRow>(boosted);
      const [local, wrappers] = await Promise.all([
        statuses(chosen.filter((r) => !boosts.has(r)) as PostRow[]),
        deps.statuses.boosts(chosen.filter((r) => boosts.has(r)) as OutboundReactionRow[], actor, viewer),
      ]);
      const byId = new Map<string, StatusOrBoost>();
      for (const x of [...local, ...wrappers])
        if (own || !x.reblog || ["public", "unlisted"].includes(x.reblog.visibility)) byId.set(x.id, x);
      considered.push(...chosen.map((r) => String(r.apiId)));
      out.push(...chosen.flatMap((r) => byId.get(String(r.apiId)) ?? []));
      // Filled, or nothing more to find; min_id pages (newer than a cursor) are not refilled.
      if (out.length >= page.limit || chosen.length < window.limit || page.min !== undefined) break;
      window = { limit: page.limit - out.length, max: Number(considered.at(-1)), since: page.since };
    }
    setLink(ctx, config, p, considered);
    ctx.body = out;
  });

  // --- timelines ---------------------------------------------------------------------------------

  router.get(koa(ROUTES.mastodon.homeTimeline), async (ctx) => {
    const c = await auth.caller(ctx, "user", "read:statuses");
    // The same page for everyone acting as this account until a version it was built under
    // changes (src/api/feed.ts); the decision above ran first, as on every call.
    const cacheKey = `${c.account.id} ${ctx.path}?${ctx.querystring}`;
    const cached = feeds.get(cacheKey, c.feedVersion);
    if (cached) {
      if (cached.link) ctx.set("Link", cached.link);
      ctx.type = "application/json";
      ctx.body = cached.body;
      return;
    }
    const p = await params(ctx);
    // The account's own posts and the posts of accounts it follows that reached its inbox (decision
    // 0015), interleaved by id.
    const page = pageOf(p);
    if (!page) {
      ctx.body = [];
      return;
    }
    // only_media: statuses with attachments (a post's images, a received post's remote ones).
    const media = bool(p, "only_media");
    const withMedia = <Q extends { andWhere(where: string): Q }>(qb: Q, alias: string) =>
      media ? qb.andWhere(`${alias}.media IS NOT NULL`) : qb;
    const [own, received, boosted, theirBoosts] = await db.run(async (em) => [
      await keyset(
        withMedia(
          em
            .getRepository(PostSchema)
            .createQueryBuilder("p")
            .where("p.actor_id = :actorId AND p.deleted_at IS NULL AND p.api_id IS NOT NULL", {
              actorId: c.account.id,
            }),
          "p",
        ),
        "p.api_id",
        page,
      ).getMany(),
      await keyset(
        withMedia(
          em
            .getRepository(InboundSchema)
            .createQueryBuilder("i")
            .where("i.actor_id = :actorId AND i.kind = :post AND i.deleted_at IS NULL", {
              actorId: c.account.id,
              post: "post",
            }),
          "i",
        ),
        "i.api_id",
        page,
        "i",
      ).getMany(),
      // The account's boosts, each its own status wrapping the boosted one (as on Mastodon).
      media ? [] : await boostsOf(em, c.account.id, page),
      // Boosts by the accounts it follows of other servers' posts (migration 0030).
      media
        ? []
        : await keyset(
            em
              .getRepository(InboundBoostSchema)
              .createQueryBuilder("rb")
              .where("rb.actor_id = :actorId AND rb.api_id IS NOT NULL AND rb.undone_at IS NULL", {
                actorId: c.account.id,
              }),
            "rb.api_id",
            page,
            "rb",
          ).getMany(),
    ]);
    type Row = PostRow | InboundRow | OutboundReactionRow | InboundBoostRow;
    const chosen = merged<Row>(page, [own, received, boosted, theirBoosts], (r) => Number(r.apiId));
    const ours = new Set<Row>(own);
    const boosts = new Set<Row>(boosted);
    const theirs = new Set<Row>(theirBoosts);
    // Each kind as one batch (its facts in a few queries, each author's account built once), then
    // back in the merged order: per-status calls cost ~8 queries each on the page's 20.
    const [local, remote, wrappers, theirWrappers] = await Promise.all([
      deps.statuses.local(chosen.filter((r) => ours.has(r)) as PostRow[], [c.account], c.account),
      deps.statuses.remote(
        chosen.filter((r) => !ours.has(r) && !boosts.has(r) && !theirs.has(r)) as InboundRow[],
        c.account,
      ),
      deps.statuses.boosts(
        chosen.filter((r) => boosts.has(r)) as OutboundReactionRow[],
        c.account,
        c.account,
      ),
      deps.statuses.receivedBoosts(chosen.filter((r) => theirs.has(r)) as InboundBoostRow[], c.account),
    ]);
    const byId = new Map<string, StatusOrBoost>();
    for (const x of [...local, ...remote, ...wrappers, ...theirWrappers]) byId.set(x.id, x);
    const out = chosen.flatMap((r) => byId.get(String(r.apiId)) ?? []);
    // The cursors are the rows considered: a boost whose post is gone is left out, not the end.
    setLink(
      ctx,
      config,
      p,
      chosen.map((r) => String(r.apiId)),
    );
    const body = Buffer.from(JSON.stringify(out), "utf8");
    feeds.set(cacheKey, { version: c.feedVersion, body, link: ctx.response.get("Link") || undefined });
    ctx.type = "application/json";
    ctx.body = body;
  });

  router.get(koa(ROUTES.mastodon.publicTimeline), async (ctx) => {
    await auth.caller(ctx, "optional", "read:statuses");
    const p = await params(ctx);
    // Herald's public timeline is its own accounts' (it keeps no remote timeline).
    if (bool(p, "remote")) {
      ctx.body = [];
      return;
    }
    const rows = await paged(ctx, p, (qb) => {
      qb.andWhere("p.visibility = :public", { public: "public" }).andWhere("a.suspended_at IS NULL");
      if (bool(p, "only_media")) qb.andWhere("p.media IS NOT NULL");
    });
    ctx.body = await statuses(rows);
  });

  // --- statuses ----------------------------------------------------------------------------------

  router.get(koa(ROUTES.mastodon.status), async (ctx) => {
    const c = await auth.caller(ctx, "optional", "read:statuses");
    const post = await postByApiId(ctx.params.id);
    if (post) {
      if (post.deletedAt || !visibleTo(post, c)) notFound();
      const actor = await accounts.byId(post.actorId);
      if (!actor || actor.deletedAt) notFound();
      // `favourited`/`reblogged` as the caller's account did (src/api/status-actions.ts).
      ctx.body = (await deps.statuses.local([post], [], c?.kind === "user" ? c.account : undefined))[0];
      return;
    }
    // A remote message one of the caller's account received.
    const row = c?.kind === "user" ? await inboundFor(c, ctx.params.id) : null;
    if (!row) notFound();
    ctx.body = (await deps.statuses.remote([row], c?.kind === "user" ? c.account : undefined))[0];
  });

  const publisher = createPublisher({ posting, drafts });
  const speaker = (c: UserCaller): Speaker => ({
    person: c.person,
    account: c.account,
    can: c.can,
    app: { id: c.app.id, name: c.app.name },
    tokenId: c.token.id,
  });
  /** What the app, the token and the person were, for the audit log and the archive. */
  const pressedSend = (c: UserCaller, decision: string) => publisher.pressedSend(speaker(c), decision, {});

  type Made = { status: number; body: unknown; kind: "post" | "draft" | "scheduled"; id: string };

  /** A status a client sent, checked as Mastodon checks it (422 with the reason). */
  async function input(c: UserCaller, p: Params): Promise<StatusInput> {
    const text = str(p, "status") ?? "";
    const mediaIds = list(p, "media_ids");
    if (p.poll !== undefined && p.poll !== null) fail(422, "Validation failed: Herald does not take polls");
    // A content warning Herald could not show would publish what was meant to be hidden.
    if ((str(p, "spoiler_text") ?? "").trim() !== "")
      fail(422, "Validation failed: Herald does not take content warnings yet");
    if (text.trim() === "" && mediaIds.length === 0) fail(422, "Validation failed: Text can't be blank");
    if (text.length > MAX_CHARACTERS)
      fail(422, `Validation failed: Text character limit of ${MAX_CHARACTERS} exceeded`);
    const visibility = fromMastodonVisibility(str(p, "visibility"));
    if (!visibility) fail(422, "Validation failed: Visibility is not included in the list");
    const language = str(p, "language") || undefined;
    let inReplyTo: string | undefined;
    const replyId = str(p, "in_reply_to_id");
    if (replyId) {
      const target = await postByApiId(replyId);
      if (target) {
        if (target.deletedAt || !visibleTo(target, c)) notFound();
        inReplyTo = wire.noteUri(target.id);
      } else {
        // A reply to a remote message the account received.
        const row = await inboundFor(c, replyId);
        if (!row) notFound();
        inReplyTo = row.objectIri;
      }
    }
    return { text, visibility, inReplyTo, language, mediaIds };
  }

  async function create(c: UserCaller, p: Params): Promise<Made> {
    const r = await publisher.publish(speaker(c), await input(c, p));
    switch (r.kind) {
      case "refused":
        return fail(r.status, r.message);
      case "draft":
        return { status: 202, body: await draftStatus(c, r.draftId), kind: "draft", id: r.draftId };
      case "post":
        return { status: 200, body: (await statuses([r.post]))[0], kind: "post", id: r.post.id };
    }
  }

  /** A draft as a Status-shaped answer (decision 0013): it is not a status until approved. */
  async function draftStatus(c: UserCaller, draftId: string) {
    const draft = (await drafts.byAuthor(c.person.id)).find((d) => d.id === draftId);
    if (!draft) return notFound();
    const where = new URL(`${ROUTES.app.prefix}?account=${c.account.id}&drafted=${draft.id}`, config.origin)
      .href;
    const post: PostRow = {
      id: draft.id,
      actorId: c.account.id,
      authorPersonId: c.person.id,
      authorLabel: c.person.displayName ?? c.person.userName,
      contentHtml: renderText(draft.text, config.origin, new Map()).html,
      contentText: draft.text,
      language: null,
      visibility: draft.visibility as PostRow["visibility"],
      inReplyToIri: draft.inReplyToIri,
      mentions: "[]",
      hashtags: "[]",
      // The images it holds (their MediaAttachments: what the client sent, waiting with it).
      media: draft.media ?? null,
      publishedAt: draft.createdAt,
      updatedAt: null,
      deletedAt: null,
    };
    return wire.status(post, await wire.account(c.account), {
      uri: where,
      url: where,
      herald: { pending_approval: true, draft_id: draft.id },
    });
  }

  /** The answer a finished request with the same key got, rebuilt from what it made. */
  async function replay(c: UserCaller, kind: string, id: string): Promise<Made> {
    if (kind === "draft") return { status: 202, body: await draftStatus(c, id), kind, id };
    if (kind === "scheduled") return { status: 200, body: await deps.scheduled.one(c, id), kind, id };
    const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id }));
    if (!post) notFound();
    return { status: 200, body: (await statuses([post]))[0], kind: "post", id };
  }

  /**
   * Idempotency-Key (Mastodon keeps one an hour, per user): the first request claims the key;
   * a repeat gets what the first made; a repeat while the first still runs waits for it.
   */
  async function once(c: UserCaller, key: string, make: () => Promise<Made>): Promise<Made> {
    const keyHash = createHash("sha256")
      .update(`${c.person.id}\u0000${c.account.id}\u0000${key}`)
      .digest("hex");
    const repo = () => db.run(async (em) => em.getRepository(ApiIdempotencySchema).findOneBy({ keyHash }));
    await deps.oauth.sweepIdempotency();
    try {
      await db.run((em) =>
        em
          .getRepository(ApiIdempotencySchema)
          .insert({ keyHash, createdAt: new Date(), kind: null, resultId: null }),
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const deadline = Date.now() + 10_000;
      for (;;) {
        const row = await repo();
        if (row?.kind && row.resultId) return replay(c, row.kind, row.resultId);
        if (!row) return once(c, key, make);
        if (Date.now() > deadline) fail(409, "A request with this Idempotency-Key is still being processed");
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      const made = await make();
      await db.run((em) =>
        em.getRepository(ApiIdempotencySchema).update({ keyHash }, { kind: made.kind, resultId: made.id }),
      );
      return made;
    } catch (err) {
      // Nothing was made: the key is free for a retry.
      await db.run((em) => em.getRepository(ApiIdempotencySchema).delete({ keyHash }));
      throw err;
    }
  }

  router.post(koa(ROUTES.mastodon.statuses), async (ctx) => {
    const c = await auth.caller(ctx, "user", "write:statuses");
    const p = await params(ctx);
    const key = ctx.get("idempotency-key");
    if (key.length > 255) fail(422, "Validation failed: Idempotency-Key is too long");
    // With scheduled_at: a ScheduledStatus, published by the worker then (src/api/scheduled.ts).
    const make =
      str(p, "scheduled_at") !== undefined
        ? async (): Promise<Made> => {
            const body = await deps.scheduled.create(c, await input(c, p), p);
            return { status: 200, body, kind: "scheduled", id: body.id };
          }
        : () => create(c, p);
    const made = key ? await once(c, key, make) : await make();
    ctx.status = made.status;
    ctx.body = made.body;
  });

  router.delete(koa(ROUTES.mastodon.status), async (ctx) => {
    const c = await auth.caller(ctx, "user", "write:statuses");
    const post = await postByApiId(ctx.params.id);
    if (!post || post.deletedAt || post.actorId !== c.account.id) notFound();
    const decision = await c.can("delete", c.account);
    if (!decision.allow)
      fail(403, `This action is not allowed: you may not delete posts of @${c.account.handle}`);
    const body = { ...wire.status(post, await wire.account(c.account)), text: post.contentText };
    await posting.remove(post.id, `person:${c.person.id}`);
    // posting.remove records who; this names the app and the token too.
    await db.transaction((em) =>
      recordAudit(em, {
        actor: `person:${c.person.id}`,
        action: "api.status.delete",
        targetType: "post",
        targetId: post.id,
        detail: pressedSend(c, decision.rule),
      }),
    );
    ctx.body = body;
  });

  return router;
}
