/**
 * What a client does to one status beyond create/get/delete (src/api/routes.ts): its context
 * (ancestors and descendants Herald knows: its own posts and the replies its accounts received),
 * an edit (PUT: posting's edit path — audited, archived as a new version, federated as an Update),
 * and favourite/reblog of a remote post the account received (a Like or Announce sent to its
 * author, and their Undo). Casbin decides: editing needs `post` on the account; a favourite or a
 * boost speaks as the account, so it needs `post` too.
 */
import { randomUUID } from "node:crypto";
import type Router from "@koa/router";
import type { Context } from "koa";
import { In, IsNull } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { type InboundRow, InboundSchema, iriHash, type PostRow, PostSchema } from "../federation/entities.ts";
import type { Posting } from "../federation/posting.ts";
import type { Remote } from "../federation/remote.ts";
import { fail } from "../http/errors.ts";
import { koa } from "../http/routes.ts";
import type { ApiAuth, UserCaller } from "./auth.ts";
import { parseApiId } from "./ids.ts";
import type { Params } from "./params.ts";
import { str } from "./params.ts";
import { OutboundReactionSchema } from "./records.ts";
import type { Statuses } from "./statuses.ts";
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

  const byApiId = async (id: string) => {
    const apiId = parseApiId(id);
    if (apiId === undefined) return { post: null, inbound: null };
    return db.run(async (em) => ({
      post: await em.getRepository(PostSchema).findOneBy({ apiId, deletedAt: IsNull() }),
      inbound: await em.getRepository(InboundSchema).findOneBy({ apiId, deletedAt: IsNull() }),
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
        ...(await statuses.local(ancestors)),
      ],
      descendants: [
        ...(await statuses.local(descendants.sort(byId))),
        ...(await statuses.remote(received.sort(byId), c?.account)),
      ].sort((a, b) => Number(a.id) - Number(b.id)),
    };
  }

  async function react(ctx: Context, kind: "like" | "announce", undo: boolean) {
    const c = await auth.caller(ctx, "user", kind === "like" ? "write:favourites" : "write:statuses");
    const { post, inbound } = await byApiId(ctx.params.id);
    if (post) {
      if (!visible(post, c)) notFound();
      fail(422, "Validation failed: Herald favourites and boosts remote posts only");
    }
    if (!inbound || inbound.actorId !== c.account.id) notFound();
    const decision = await c.can("post", c.account);
    if (!decision.allow) fail(403, `This action is not allowed: you may not speak as @${c.account.handle}`);
    const key = { accountId: c.account.id, objectHash: inbound.objectHash, kind };
    const existing = await db.run((em) => em.getRepository(OutboundReactionSchema).findOneBy(key));
    if (undo ? existing : !existing) {
      const activityId = existing?.activityId ?? randomUUID();
      if (!(await remote.react(c.account.id, inbound.objectIri, kind, activityId, undo)))
        fail(503, "The post's server cannot be reached now; try again later");
      await db.transaction(async (em) => {
        if (undo) await em.getRepository(OutboundReactionSchema).delete(key);
        else
          await em.getRepository(OutboundReactionSchema).insert({
            ...key,
            objectIri: inbound.objectIri,
            activityId,
            personId: c.person.id,
            createdAt: new Date(),
          });
        await recordAudit(em, {
          actor: `person:${c.person.id}`,
          action: `api.status.${undo ? "un" : ""}${kind === "like" ? "favourite" : "reblog"}`,
          targetType: "inbound",
          targetId: inbound.id,
          detail: {
            account: c.account.handle,
            object: inbound.objectIri,
            app: c.app.name,
            tokenId: c.token.id,
            decision: decision.rule,
          },
        });
      });
    }
    const [status] = await statuses.remote([inbound], c.account);
    ctx.body = status;
  }

  return (router: Router, params: (ctx: Context) => Promise<Params>) => {
    router.get(koa(STATUS_ACTION_PATHS.context), async (ctx) => {
      const c = await auth.caller(ctx, "optional", "read:statuses");
      const user = c?.kind === "user" ? c : undefined;
      const { post, inbound } = await byApiId(ctx.params.id);
      if (post && visible(post, user)) ctx.body = await context(user, post, null);
      else if (inbound && user && inbound.actorId === user.account.id)
        ctx.body = await context(user, null, inbound);
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
