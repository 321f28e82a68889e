/**
 * What a client does to one status beyond create/get/delete (src/api/routes.ts): its context
 * (ancestors and descendants Herald knows: its own posts and the replies its accounts received),
 * an edit (PUT: posting's edit path — audited, archived as a new version, federated as an Update),
 * favourite/reblog of a remote post the account received (a Like or Announce sent to its
 * author, and their Undo), and favourite/reblog of one of Herald's own posts it may see (kept
 * here; a boost is announced to the account's followers). Casbin decides: editing needs `post` on
 * the account; a favourite or a boost speaks as the account, so it needs `post` too.
 */
import { randomUUID } from "node:crypto";
import type Router from "@koa/router";
import type { Context } from "koa";
import { type EntityManager, In, IsNull } from "typeorm";
import type { Decision } from "../authz/authz.ts";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { isUniqueViolation } from "../db/errors.ts";
import {
  type InboundRow,
  InboundSchema,
  iriHash,
  type PostRow,
  PostSchema,
  ReactionSchema,
} from "../federation/entities.ts";
import type { Posting } from "../federation/posting.ts";
import { forgetUndone, receivedByApiId } from "../federation/received-boosts.ts";
import type { Remote } from "../federation/remote.ts";
import { fail } from "../http/errors.ts";
import { koa } from "../http/routes.ts";
import type { ApiAuth, UserCaller } from "./auth.ts";
import { parseApiId } from "./ids.ts";
import type { Params } from "./params.ts";
import { str } from "./params.ts";
import { type OutboundReactionRow, OutboundReactionSchema } from "./records.ts";
import { remoteVisibility, type Statuses } from "./statuses.ts";
import { MAX_CHARACTERS, type Wire } from "./wire.ts";

export const STATUS_ACTION_PATHS = {
  context: "/api/v1/statuses/{id}/context",
  status: "/api/v1/statuses/{id}",
  favourite: "/api/v1/statuses/{id}/favourite",
  unfavourite: "/api/v1/statuses/{id}/unfavourite",
  reblog: "/api/v1/statuses/{id}/reblog",
  unreblog: "/api/v1/statuses/{id}/unreblog",
} as const;

function notFound(): never {
  fail(404, "Record not found");
}

export function statusActionRoutes(deps: {
  db: Database;
  auth: ApiAuth;
  wire: Wire;
  statuses: Statuses;
  posting: Posting;
  remote: Remote;
}) {
  const { db, auth, wire, statuses, posting, remote } = deps;

  /** A local post, or a remote one the caller's account received (`account`), by its api id. */
  const byApiId = async (id: string, account?: string) => {
    const apiId = parseApiId(id);
    if (apiId === undefined) return { post: null, inbound: null };
    return db.run(async (em) => ({
      post: await em.getRepository(PostSchema).findOneBy({ apiId, deletedAt: IsNull() }),
      inbound: account === undefined ? null : await receivedByApiId(em, apiId, account),
    }));
  };
  const visible = (post: PostRow, c: UserCaller | undefined) =>
    post.visibility === "public" || post.visibility === "unlisted" || c?.account.id === post.actorId;

  /** Ancestors (oldest first) and descendants of a local post or a received message. */
  async function context(c: UserCaller | undefined, post: PostRow | null, inbound: InboundRow | null) {
    const ancestors: PostRow[] = [];
    const remoteAncestors: InboundRow[] = [];
    let parentIri = post?.inReplyToIri ?? null;
    let parentPostId = inbound?.inReplyToPostId ?? null;
    for (let depth = 0; depth < 40; depth++) {
      let parent: PostRow | null = null;
      if (parentPostId)
        parent = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: parentPostId! }));
      else if (parentIri?.startsWith(wire.notePrefix))
        parent = await db.run((em) =>
          em.getRepository(PostSchema).findOneBy({ id: parentIri!.slice(wire.notePrefix.length) }),
        );
      else if (parentIri && c) {
        const r = await db.run((em) =>
          em
            .getRepository(InboundSchema)
            .findOneBy({ objectHash: iriHash(parentIri!), actorId: c.account.id }),
        );
        if (r && !r.deletedAt) remoteAncestors.unshift(r);
        break;
      }
      if (!parent || parent.deletedAt || !visible(parent, c)) break;
      ancestors.unshift(parent);
      parentIri = parent.inReplyToIri;
      parentPostId = null;
    }
    // Descendants: replies to a local post (ours and those received), breadth first.
    const descendants: PostRow[] = [];
    const received: InboundRow[] = [];
    let frontier = post ? [post] : [];
    for (let depth = 0; depth < 10 && frontier.length > 0; depth++) {
      const iris = frontier.map((p) => wire.noteUri(p.id));
      const ids = frontier.map((p) => p.id);
      const [children, replies] = await db.run(async (em) => [
        await em.getRepository(PostSchema).findBy({ inReplyToIri: In(iris), deletedAt: IsNull() }),
        c
          ? await em
              .getRepository(InboundSchema)
              .findBy({ inReplyToPostId: In(ids), actorId: c.account.id, deletedAt: IsNull() })
          : [],
      ]);
      const shown = (children as PostRow[]).filter((p) => visible(p, c));
      descendants.push(...shown);
      received.push(...(replies as InboundRow[]));
      frontier = shown;
    }
    const byId = (a: { apiId?: unknown }, b: { apiId?: unknown }) => Number(a.apiId) - Number(b.apiId);
    return {
      ancestors: [
        ...(await statuses.remote(remoteAncestors, c?.account)),
        ...(await statuses.local(ancestors, [], c?.account)),
      ],
      descendants: [
        ...(await statuses.local(descendants.sort(byId), [], c?.account)),
        ...(await statuses.remote(received.sort(byId), c?.account)),
      ].sort((a, b) => Number(a.id) - Number(b.id)),
    };
  }

  /** Casbin: a favourite or a boost speaks as the account, so it needs `post` on it. */
  async function speaksAs(c: UserCaller) {
    const decision = await c.can("post", c.account);
    if (!decision.allow) fail(403, `This action is not allowed: you may not speak as @${c.account.handle}`);
    return decision;
  }

  /** What the account did (its outbound reaction) or its undoing, and who did it (the audit). */
  async function recordReaction(
    em: EntityManager,
    c: UserCaller,
    decision: Decision,
    key: Pick<OutboundReactionRow, "accountId" | "objectHash" | "kind">,
    undo: boolean,
    target: { type: "post" | "inbound"; id: string; iri: string },
    activityId: string,
  ) {
    if (undo) await em.getRepository(OutboundReactionSchema).delete(key);
    else
      await em.getRepository(OutboundReactionSchema).insert({
        ...key,
        objectIri: target.iri,
        activityId,
        personId: c.person.id,
        createdAt: new Date(),
      });
    await recordAudit(em, {
      actor: `person:${c.person.id}`,
      action: `api.status.${undo ? "un" : ""}${key.kind === "like" ? "favourite" : "reblog"}`,
      targetType: target.type,
      targetId: target.id,
      detail: {
        account: c.account.handle,
        object: target.iri,
        app: c.app.name,
        tokenId: c.token.id,
        decision: decision.rule,
      },
    });
  }

  /**
   * A favourite or boost of one of Herald's own posts (a colleague's, a shared account's, its own),
   * as Mastodon does on one server. Kept twice, in one transaction: as what the account did (an
   * outbound reaction: `favourited`/`reblogged`, and the id its Undo names) and as what the post
   * received (a reaction row naming our account's actor IRI, as a remote like is kept: the count,
   * and the author's notification). A like needs no delivery; a boost goes to the booster's
   * followers as an Announce, and its undoing as an Undo.
   */
  async function reactLocal(
    ctx: Context,
    c: UserCaller,
    post: PostRow,
    kind: "like" | "announce",
    undo: boolean,
  ) {
    const decision = await speaksAs(c);
    // Mastodon refuses to boost a followers-only or direct post (its audience is not the booster's),
    // except its author's own followers-only post, boosted to the same followers
    // (StatusPolicy#reblog?: `!private? || owned?`).
    const own = post.actorId === c.account.id;
    const followersOnly = post.visibility === "followers";
    if (kind === "announce" && !undo && ((followersOnly && !own) || post.visibility === "direct"))
      notBoosted();
    const noteIri = wire.noteUri(post.id);
    const me = wire.actorUri(c.account.id);
    const key = { accountId: c.account.id, objectHash: iriHash(noteIri), kind };
    const received = { postId: post.id, kind, remoteActorHash: iriHash(me) };
    let sent: string | null = null;
    try {
      sent = await db.transaction(async (em) => {
        const existing = await em.getRepository(OutboundReactionSchema).findOneBy(key);
        if (undo ? !existing : existing) return null;
        const activityId = existing?.activityId ?? randomUUID();
        await recordReaction(
          em,
          c,
          decision,
          key,
          undo,
          { type: "post", id: post.id, iri: noteIri },
          activityId,
        );
        if (undo) await em.getRepository(ReactionSchema).delete(received);
        else
          await em.getRepository(ReactionSchema).insert({
            ...received,
            remoteActorIri: me,
            activityHash: iriHash(remote.reactionIri(c.account.id, kind, activityId)),
            createdAt: new Date(),
          });
        return activityId;
      });
    } catch (err) {
      // The same favourite sent twice at once: the other request made it (idempotent).
      if (!isUniqueViolation(err)) throw err;
    }
    // After the commit, through Fedify's persistent queue.
    if (sent && kind === "announce")
      await remote.announceLocal(c.account.id, noteIri, post.actorId, sent, undo, followersOnly);
    ctx.body = (await boosted(c, kind, undo, key)) ?? (await statuses.local([post], [], c.account))[0];
  }

  /**
   * What a boost answers, as on Mastodon: the booster's own status wrapping the boosted one (its
   * `reblog`); an unboost or a favourite answers with the post itself (undefined here).
   */
  async function boosted(
    c: UserCaller,
    kind: "like" | "announce",
    undo: boolean,
    key: Pick<OutboundReactionRow, "accountId" | "objectHash" | "kind">,
  ) {
    if (kind !== "announce" || undo) return undefined;
    const row = await db.run((em) => em.getRepository(OutboundReactionSchema).findOneBy(key));
    return row ? (await statuses.boosts([row], c.account, c.account))[0] : undefined;
  }

  /**
   * As Mastodon answers (StatusPolicy#reblog? fails, NotPermittedError): 403 "This action is not
   * allowed", which clients show as is.
   */
  function notBoosted(): never {
    fail(403, "This action is not allowed: a followers-only or direct post is not boosted");
  }

  async function react(ctx: Context, kind: "like" | "announce", undo: boolean) {
    const c = await auth.caller(ctx, "user", kind === "like" ? "write:favourites" : "write:statuses");
    const { post, inbound } = await byApiId(ctx.params.id, c.account.id);
    if (post) {
      if (!visible(post, c)) notFound();
      return reactLocal(ctx, c, post, kind, undo);
    }
    if (!inbound) notFound();
    const decision = await speaksAs(c);
    // As for our own posts: a followers-only or direct message was addressed to this account, not
    // to its followers, and a boost would pass it on to them (and to the public).
    if (kind === "announce" && !undo && ["private", "direct"].includes(remoteVisibility(inbound)))
      notBoosted();
    const key = { accountId: c.account.id, objectHash: inbound.objectHash, kind };
    const existing = await db.run((em) => em.getRepository(OutboundReactionSchema).findOneBy(key));
    if (undo ? existing : !existing) {
      const activityId = existing?.activityId ?? randomUUID();
      if (
        !(await remote.react(c.account.id, inbound.objectIri, inbound.remoteActorIri, kind, activityId, undo))
      )
        fail(503, "The post's server cannot be reached now; try again later");
      const target = { type: "inbound", id: inbound.id, iri: inbound.objectIri } as const;
      await db.transaction(async (em) => {
        await recordReaction(em, c, decision, key, undo, target, activityId);
        if (undo) await forgetUndone(em, c.account.id, inbound.objectHash);
      });
    }
    const [status] = await statuses.remote([inbound], c.account);
    ctx.body = (await boosted(c, kind, undo, key)) ?? status;
  }

  return (router: Router, params: (ctx: Context) => Promise<Params>) => {
    router.get(koa(STATUS_ACTION_PATHS.context), async (ctx) => {
      const c = await auth.caller(ctx, "optional", "read:statuses");
      const user = c?.kind === "user" ? c : undefined;
      const { post, inbound } = await byApiId(ctx.params.id, user?.account.id);
      if (post && visible(post, user)) ctx.body = await context(user, post, null);
      else if (inbound && user) ctx.body = await context(user, null, inbound);
      else notFound();
    });

    router.put(koa(STATUS_ACTION_PATHS.status), async (ctx) => {
      const c = await auth.caller(ctx, "user", "write:statuses");
      const { post } = await byApiId(ctx.params.id);
      if (!post || post.actorId !== c.account.id) notFound();
      const p = await params(ctx);
      const text = str(p, "status") ?? "";
      if (text.trim() === "") fail(422, "Validation failed: Text can't be blank");
      if (text.length > MAX_CHARACTERS)
        fail(422, `Validation failed: Text character limit of ${MAX_CHARACTERS} exceeded`);
      const decision = await c.can("post", c.account);
      if (!decision.allow)
        fail(403, `This action is not allowed: you may not edit posts of @${c.account.handle}`);
      const r = await posting.edit(post.id, text, `person:${c.person.id}`);
      if (!r.ok) fail(r.reason === "invalid" ? 422 : r.reason === "not-found" ? 404 : 409, r.message);
      // posting.edit records who; this names the app and the token too.
      await db.transaction((em) =>
        recordAudit(em, {
          actor: `person:${c.person.id}`,
          action: "api.status.edit",
          targetType: "post",
          targetId: post.id,
          detail: {
            via: "api",
            app: c.app.name,
            appId: c.app.id,
            tokenId: c.token.id,
            decision: decision.rule,
          },
        }),
      );
      ctx.body = (await statuses.local([r.post]))[0];
    });

    router.post(koa(STATUS_ACTION_PATHS.favourite), (ctx) => react(ctx, "like", false));
    router.post(koa(STATUS_ACTION_PATHS.unfavourite), (ctx) => react(ctx, "like", true));
    router.post(koa(STATUS_ACTION_PATHS.reblog), (ctx) => react(ctx, "announce", false));
    router.post(koa(STATUS_ACTION_PATHS.unreblog), (ctx) => react(ctx, "announce", true));
  };
}
