/**
 * Inbox listeners. The Koa adapter has verified the request's HTTP signature before Fedify read
 * the body (signatures.ts), and Fedify has checked that the activity's actor is the signer's (or
 * that a forwarded activity carries its actor's own Linked Data Signature): unsigned or forged
 * requests never get here (401), and `activity.actorId` is the verified signer.
 *
 * A remote party changes only what it owns: its own messages (stored with their author, and
 * updated or deleted only by that author), its own reactions and follows, and its answers to
 * follow requests sent to it. Every handler is idempotent: deliveries may repeat.
 */
import { randomUUID } from "node:crypto";
import { FetchError, type InboxContext, UrlError } from "@fedify/fedify";
import {
  Accept,
  Activity,
  Announce,
  Block,
  Create,
  Delete,
  Follow,
  isActor,
  Like,
  Move,
  Note,
  type Object as ApObject,
  Reject,
  Undo,
  Update,
} from "@fedify/vocab";
import { type EntityManager, IsNull } from "typeorm";
import type { Archive } from "../archive/records.ts";
import type { Database } from "../db/database.ts";
import { isUniqueViolation } from "../db/errors.ts";
import { logger } from "../logging.ts";
import type { Accounts } from "./accounts.ts";
import {
  ActorSchema,
  FollowerSchema,
  FollowingSchema,
  fitsIri,
  type InboundKind,
  type InboundRow,
  InboundSchema,
  iriHash,
  MAX_IRI_LENGTH,
  PostSchema,
  ReactionSchema,
  webUrl,
} from "./entities.ts";
import type { FederationContextData, HeraldFederation } from "./context.ts";
import { recordFollow, removeFollowers } from "./follower-history.ts";
import { ourFollowId, sendFollow } from "./follows.ts";
import { forgetBoosts, receiveBoost } from "./received-boosts.ts";
import { remoteMediaOf } from "./remote-media.ts";
import { sanitizeRemoteHtml } from "./sanitize.ts";
import { ROUTES } from "../http/routes.ts";

const log = logger("federation", "inbox");

interface InboxDeps {
  readonly db: Database;
  readonly accounts: Accounts;
  readonly blockedDomains: () => Promise<Set<string>>;
  /** Messages addressed to or mentioning an account, and follows and blocks, are archived. */
  readonly archive: Archive;
  /** Whether received posts' images may be http URLs (outside production: loopback peers). */
  readonly remoteMediaHttp?: boolean;
  /** Boosts by one followed account kept per account here (src/federation/received-boosts.ts). */
  readonly boostsPerBooster?: number;
}

type Ctx = InboxContext<FederationContextData>;

function ourActorId(ctx: Ctx, iri: URL | null): string | undefined {
  const parsed = ctx.parseUri(iri);
  return parsed?.type === "actor" ? parsed.identifier : undefined;
}

function ourPostId(ctx: Ctx, iri: URL | null): string | undefined {
  const parsed = ctx.parseUri(iri);
  return parsed?.type === "object" && parsed.class === Note ? parsed.values.id : undefined;
}

/**
 * Why a note sent by `actor` is not `actor`'s own to create or change, or undefined if it is: it
 * must live on the actor's origin (as Mastodon requires: another host's ids are not the
 * sender's to define) and name no one else as its author.
 */
function notOwnNote(note: Note, actor: URL): string | undefined {
  if (!note.id || note.id.origin !== actor.origin) return "its id is not on the sender's origin";
  if (note.attributionIds.some((a) => a.href !== actor.href)) return "it is attributed to someone else";
  return undefined;
}

/**
 * An error a retry cannot mend: the remote document is gone or refused (4xx), refused by the SSRF
 * guard, or not ActivityStreams Herald can read. A network error or a 5xx may pass; those are
 * retried.
 */
function isPermanent(error: unknown): boolean {
  if (error instanceof FetchError) {
    const status = error.response?.status;
    return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
  }
  // Node's fetch reports a network failure (a refused connection, a reset) as this TypeError.
  if (error instanceof TypeError && error.message === "fetch failed") return false;
  if (error instanceof UrlError || error instanceof TypeError || error instanceof RangeError) return true;
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" && name.startsWith("jsonld.");
}

/**
 * A listener that ignores (with its reason, at info) an activity it cannot act on for good,
 * instead of failing it into Fedify's retries and error log.
 */
function guarded<A extends ApObject>(
  listener: (ctx: Ctx, activity: A) => Promise<void>,
): (ctx: Ctx, activity: A) => Promise<void> {
  return async (ctx, activity) => {
    try {
      await listener(ctx, activity);
    } catch (error) {
      if (!isPermanent(error)) throw error;
      // A parse error may also be a bug of ours: a warning, with its message (no stack).
      const level = error instanceof TypeError || error instanceof RangeError ? "warn" : "info";
      log[level]("Ignored {type} {id}: {reason}", {
        type: activity.constructor.name,
        id: activity.id?.href ?? "",
        reason: String(error),
      });
    }
  };
}

/**
 * The inbox listeners, one per activity type, as plain functions of an inbox context and the
 * activity: registerInbox puts them on Fedify's inboxes, and the fast test tier
 * (test/federation/inbox-handlers.test.ts) calls them with @fedify/testing's contexts.
 */
export function inboxListeners(deps: InboxDeps) {
  const { db, accounts, archive } = deps;
  // Read through the transaction's manager: on SQLite another db.run inside it would wait forever.
  const handleOf = async (em: EntityManager, actorId: string) =>
    (await em.getRepository(ActorSchema).findOneBy({ id: actorId }))?.handle ?? null;

  /** An archive record's fields for a change by `sender` to a message an account received. */
  const ofCopy = async (em: EntityManager, kind: string, copy: InboundRow, sender: URL, object: URL) => ({
    kind,
    direction: "in" as const,
    accountId: copy.actorId,
    accountHandle: await handleOf(em, copy.actorId),
    remoteActor: sender.href,
    objectIri: object.href,
    subjectId: copy.id,
  });

  /** Archives what a remote actor did to one of our accounts (follows, blocks), in `em`. */
  const heard = async (
    em: EntityManager,
    kind: string,
    actorId: string,
    remote: URL,
    content: Record<string, unknown>,
    objectIri: URL | null = null,
  ) =>
    archive.append(em, {
      kind,
      direction: "in",
      accountId: actorId,
      accountHandle: await handleOf(em, actorId),
      remoteActor: remote.href,
      objectIri: objectIri?.href ?? null,
      content,
    });

  const isBlocked = async (iri: URL | null): Promise<boolean> => {
    if (!iri) return true;
    const blocked = await deps.blockedDomains();
    return blocked.has(iri.hostname);
  };

  /**
   * The note as its sender wrote it, for what Fedify drops when parsing (Mastodon's blurhash):
   * embedded in the activity, or the document fetched for it.
   */
  const sentNote = (activity: Activity, note: Note) => async (): Promise<unknown> => {
    const object = ((await activity.toJsonLd()) as { object?: unknown } | null)?.object;
    if (object && typeof object === "object" && (object as { id?: unknown }).id === note.id?.href)
      return object;
    return note.toJsonLd();
  };

  async function storeNote(
    ctx: Ctx,
    note: ApObject,
    senderIri: URL,
    update: boolean,
    activity: Activity,
  ): Promise<void> {
    if (!(note instanceof Note) || !note.id) return;
    const refused =
      fitsIri(note.id) && fitsIri(senderIri)
        ? notOwnNote(note, senderIri)
        : `an IRI longer than ${MAX_IRI_LENGTH} characters`;
    if (refused) {
      log.info("Ignored a note {id} from {sender}: {reason}.", {
        id: note.id.href,
        sender: senderIri.href,
        reason: refused,
      });
      return;
    }
    const objectHash = iriHash(note.id);
    const content = note.content == null ? null : sanitizeRemoteHtml(note.content.toString());
    const images = await remoteMediaOf(note, sentNote(activity, note), deps.remoteMediaHttp ?? false);
    const media = images.length > 0 ? JSON.stringify(images) : null;
    if (update) {
      // Only the copies stored as the sender's: another actor's message keeps its words, even
      // when both live on the same server. Each edit of a message addressed to an account is a
      // record of its own.
      const raw = JSON.stringify(await note.toJsonLd({ format: "compact" }));
      await db.transaction(async (em) => {
        const where = { objectHash, remoteActorIri: senderIri.href };
        const copies = await em.getRepository(InboundSchema).findBy(where);
        if (copies.length === 0) return;
        await em
          .getRepository(InboundSchema)
          .update(where, { contentHtml: content, media, updatedAt: new Date() });
        for (const c of copies.filter((c) => c.kind !== "post"))
          await archive.append(em, {
            ...(await ofCopy(em, "inbound.edit", c, senderIri, note.id!)),
            inReplyTo: note.replyTargetId?.href ?? null,
            content: {
              kind: c.kind,
              html: content,
              previousHtml: c.contentHtml,
              note: raw,
              ...(images.length > 0 ? { media: images } : {}),
            },
          });
      });
      return;
    }
    // Who among our actors should see it, and as what.
    const targets = new Map<string, { kind: InboundKind; replyTo: string | null }>();
    const replyPostId = ourPostId(ctx, note.replyTargetId);
    if (replyPostId) {
      const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: replyPostId }));
      if (post) targets.set(post.actorId, { kind: "reply", replyTo: post.id });
    }
    const addressed = [...note.toIds, ...note.ccIds];
    const isPublic = addressed.some(
      (u) => u.href === "https://www.w3.org/ns/activitystreams#Public" || u.href === "as:Public",
    );
    for await (const tag of note.getTags()) {
      const href = "href" in tag ? (tag.href as URL | null) : null;
      const id = ourActorId(ctx, href);
      if (id && !targets.has(id)) targets.set(id, { kind: isPublic ? "mention" : "direct", replyTo: null });
    }
    for (const iri of addressed) {
      const id = ourActorId(ctx, iri);
      if (id && !targets.has(id)) targets.set(id, { kind: isPublic ? "mention" : "direct", replyTo: null });
    }
    // Posts of accounts our actors follow.
    const followers = await db.run((em) =>
      em.getRepository(FollowingSchema).findBy({ targetHash: iriHash(senderIri), status: "accepted" }),
    );
    for (const f of followers)
      if (!targets.has(f.actorId)) targets.set(f.actorId, { kind: "post", replyTo: null });
    if (targets.size === 0) {
      log.debug("Note {id} is for none of our actors; ignored.", { id: note.id.href });
      return;
    }
    const raw = JSON.stringify(await note.toJsonLd({ format: "compact" }));
    for (const [actorId, t] of targets) {
      const id = randomUUID();
      const url = (note.url instanceof URL ? webUrl(note.url) : null) ?? webUrl(note.id);
      const publishedAt = note.published ? new Date(note.published.epochMilliseconds) : null;
      await db.transaction(async (em) => {
        // A repeated delivery is stored (and archived) once: the unique (actor, object) decides.
        if (await em.getRepository(InboundSchema).existsBy({ actorId, objectHash })) return;
        try {
          await em.getRepository(InboundSchema).insert({
            id,
            actorId,
            objectHash,
            objectIri: note.id!.href,
            remoteActorIri: senderIri.href,
            kind: t.kind,
            contentHtml: content,
            inReplyToPostId: t.replyTo,
            // Only web links: a remote `javascript:` URL must never reach a staff page.
            url,
            publishedAt,
            receivedAt: new Date(),
            updatedAt: null,
            deletedAt: null,
            raw,
            media,
          });
        } catch (err) {
          if (isUniqueViolation(err)) return;
          throw err;
        }
        // What the organization hears: replies, mentions and direct messages (not the posts of
        // accounts it follows, which are addressed to no one here).
        if (t.kind === "post") return;
        await archive.append(em, {
          kind: `inbound.${t.kind}`,
          direction: "in",
          accountId: actorId,
          accountHandle: await handleOf(em, actorId),
          remoteActor: senderIri.href,
          objectIri: note.id!.href,
          inReplyTo: note.replyTargetId?.href ?? null,
          subjectId: id,
          content: {
            kind: t.kind,
            html: content,
            url,
            published: publishedAt?.toISOString() ?? null,
            answersPostId: t.replyTo,
            to: note.toIds.map((u) => u.href),
            cc: note.ccIds.map((u) => u.href),
            note: raw,
            // The images as the sender described them (their remote URLs and alt text).
            ...(images.length > 0 ? { media: images } : {}),
          },
        });
      });
    }
  }

  async function reaction(ctx: Ctx, activity: Like | Announce, kind: "like" | "announce"): Promise<void> {
    if (!activity.id || !activity.actorId || (await isBlocked(activity.actorId))) return;
    const postId = ourPostId(ctx, activity.objectId);
    if (!postId) return;
    await db.run((em) =>
      em
        .getRepository(ReactionSchema)
        .createQueryBuilder()
        .insert()
        .values({
          postId,
          kind,
          remoteActorHash: iriHash(activity.actorId!),
          remoteActorIri: activity.actorId!.href,
          activityHash: iriHash(activity.id!),
          createdAt: new Date(),
        })
        .orIgnore()
        .execute(),
    );
  }

  return {
    follow: guarded<Follow>(async (ctx, follow) => {
      if (!follow.id || !follow.actorId || (await isBlocked(follow.actorId))) return;
      const targetId = ourActorId(ctx, follow.objectId);
      const target = targetId ? await accounts.byId(targetId) : null;
      if (!target) return;
      const follower = await follow.getActor(ctx);
      if (!follower?.id || !follower.inboxId) return;
      if (target.deletedAt || target.suspendedAt) {
        await ctx.sendActivity(
          { identifier: target.id },
          follower,
          new Reject({ actor: follow.objectId, object: follow }),
        );
        return;
      }
      const status = target.manualApproval ? "pending" : "accepted";
      await db.transaction(async (em) => {
        const key = { actorId: target.id, followerHash: iriHash(follower.id!) };
        // A repeated Follow is stored (and archived) once.
        if (await em.getRepository(FollowerSchema).existsBy(key)) return;
        try {
          await em.getRepository(FollowerSchema).insert({
            ...key,
            followerIri: follower.id!.href,
            inboxIri: follower.inboxId!.href,
            sharedInboxIri: follower.endpoints?.sharedInbox?.href ?? null,
            followIri: follow.id!.href,
            status,
            createdAt: new Date(),
          });
        } catch (err) {
          if (isUniqueViolation(err)) return;
          throw err;
        }
        if (status === "accepted") await recordFollow(em, key.actorId, key.followerHash);
        await heard(em, "follower.request", target.id, follower.id!, { status }, follow.id);
      });
      if (status === "accepted") {
        await ctx.sendActivity(
          { identifier: target.id },
          follower,
          new Accept({
            id: new URL(`#accepts/${randomUUID()}`, ctx.getActorUri(target.id)),
            actor: ctx.getActorUri(target.id),
            object: follow,
          }),
        );
      }
    }),
    undo: guarded<Undo>(async (ctx, undo) => {
      if (!undo.actorId) return;
      const object = await undo.getObject(ctx);
      // One undoes only one's own activities.
      if (object instanceof Activity && object.actorId?.href !== undo.actorId.href) {
        log.info("Ignored an Undo by {actor} of an activity by {other}.", {
          actor: undo.actorId.href,
          other: object.actorId?.href ?? "nobody",
        });
        return;
      }
      if (object instanceof Follow) {
        const targetId = ourActorId(ctx, object.objectId);
        if (targetId) {
          await db.transaction(async (em) => {
            const gone = await removeFollowers(em, {
              actorId: targetId,
              followerHash: iriHash(undo.actorId!),
            });
            if (gone.length > 0) await heard(em, "follower.undo", targetId, undo.actorId!, {}, object.id);
          });
        }
      } else if (object instanceof Like || object instanceof Announce) {
        // Found first and removed by key: the feed subscriber raises only the post's author's
        // version (src/api/feed.ts), and nothing at all when the Undo matches nothing here.
        if (object.id)
          await db.run(async (em) => {
            const repo = em.getRepository(ReactionSchema);
            const rows = await repo.findBy({
              activityHash: iriHash(object.id!),
              remoteActorHash: iriHash(undo.actorId!),
            });
            if (rows.length > 0) await repo.remove(rows);
          });
        if (object instanceof Announce && object.id)
          await db.run((em) =>
            forgetBoosts(em, { activityHash: iriHash(object.id!) }, "booster", undo.actorId!),
          );
      }
    }),
    // The embedded Follow is ours (its id is on our origin, the Accept's actor is not), so Fedify
    // would refetch it cross-origin: identify it by id instead — our follows are "#follows/<id>".
    accept: guarded<Accept>(async (_ctx, accept) => {
      const followId = ourFollowId(accept.objectId);
      if (!followId || !accept.actorId) return;
      await db.transaction(async (em) => {
        const where = { followId, targetHash: iriHash(accept.actorId!), status: "pending" as const };
        const row = await em.getRepository(FollowingSchema).findOneBy(where);
        if (!row) return;
        await em.getRepository(FollowingSchema).update(where, { status: "accepted" });
        await heard(em, "follow.accepted", row.actorId, accept.actorId!, { followId }, accept.id);
      });
    }),
    reject: guarded<Reject>(async (_ctx, reject) => {
      const followId = ourFollowId(reject.objectId);
      if (!followId || !reject.actorId) return;
      await db.transaction(async (em) => {
        const where = { followId, targetHash: iriHash(reject.actorId!) };
        const row = await em.getRepository(FollowingSchema).findOneBy(where);
        if (!row) return;
        await em.getRepository(FollowingSchema).delete(where);
        await heard(em, "follow.rejected", row.actorId, reject.actorId!, { followId }, reject.id);
      });
    }),
    create: guarded<Create>(async (ctx, create) => {
      if (!create.actorId || (await isBlocked(create.actorId))) return;
      const object = await create.getObject(ctx);
      if (object) await storeNote(ctx, object, create.actorId, false, create);
    }),
    update: guarded<Update>(async (ctx, update) => {
      if (!update.actorId || (await isBlocked(update.actorId))) return;
      const object = await update.getObject(ctx);
      if (object instanceof Note && object.attributionId?.href === update.actorId.href) {
        await storeNote(ctx, object, update.actorId, true, update);
      }
    }),
    delete: guarded<Delete>(async (ctx, del) => {
      if (!del.actorId || !del.objectId) return;
      const hash = iriHash(del.objectId);
      if (del.objectId.href === del.actorId.href) {
        // The remote actor itself is gone: it follows nobody here any more, and its boosts and
        // the boosts of its posts go with it.
        await db.transaction((em) => removeFollowers(em, { followerHash: hash }));
        await db.run(async (em) => {
          await forgetBoosts(em, {}, "booster", del.actorId!);
          await forgetBoosts(em, {}, "author", del.actorId!);
        });
        return;
      }
      // Boosts of it are forgotten with it (only its author may delete it).
      await db.run((em) => forgetBoosts(em, { objectHash: hash }, "author", del.actorId!));
      await db.transaction(async (em) => {
        const where = { objectHash: hash, remoteActorIri: del.actorId!.href, deletedAt: IsNull() };
        const copies = await em.getRepository(InboundSchema).findBy(where);
        if (copies.length === 0) return;
        await em.getRepository(InboundSchema).update(where, { deletedAt: new Date(), contentHtml: null });
        // The sender withdrew it: the inbox forgets its words, the archive keeps them.
        for (const c of copies.filter((c) => c.kind !== "post"))
          await archive.append(em, {
            ...(await ofCopy(em, "inbound.delete", c, del.actorId!, del.objectId!)),
            content: { kind: c.kind, lastHtml: c.contentHtml },
          });
      });
    }),
    move: guarded<Move>(async (ctx, move) => {
      // A followed account moved: follow its successor if it names the old account as an alias.
      if (!move.actorId || !move.targetId || move.objectId?.href !== move.actorId.href) return;
      const rows = await db.run((em) =>
        em.getRepository(FollowingSchema).findBy({ targetHash: iriHash(move.actorId!), status: "accepted" }),
      );
      if (rows.length === 0) return;
      const target = await move.getTarget(ctx);
      if (!target || !isActor(target) || !target.aliasIds.some((a) => a.href === move.actorId!.href)) {
        log.info("Ignored a Move to {target}: it does not list {actor} as an alias.", {
          target: move.targetId.href,
          actor: move.actorId.href,
        });
        return;
      }
      for (const row of rows) {
        await db.run((em) =>
          em.getRepository(FollowingSchema).delete({ actorId: row.actorId, targetHash: row.targetHash }),
        );
        // Through this context (no posting service): the target document is already in hand, and
        // only an account that may still speak follows anyone.
        const ours = await accounts.byId(row.actorId);
        if (!ours || ours.deletedAt || ours.suspendedAt || ours.movedToId || !ours.keysReadyAt) continue;
        await sendFollow(ctx, db, archive, ours, target, "system");
      }
    }),
    like: guarded<Like>(async (ctx, like) => reaction(ctx, like, "like")),
    announce: guarded<Announce>(async (ctx, announce) => {
      if (ourPostId(ctx, announce.objectId)) return reaction(ctx, announce, "announce");
      // Another server's post boosted by an account someone here follows: their home timeline
      // (neither the booster's server nor the post's may be a blocked one).
      if (!announce.id || !announce.actorId || !announce.objectId) return;
      // An activity id lives on its actor's server: one naming another server's id could take
      // the place of that server's real boost (the rows are keyed by it).
      if (announce.id.origin !== announce.actorId.origin) return;
      if ((await isBlocked(announce.actorId)) || (await isBlocked(announce.objectId))) return;
      const http = deps.remoteMediaHttp ?? false;
      const kept = deps.boostsPerBooster ?? 200;
      await receiveBoost(db, ctx, http, announce.id, announce.actorId, announce.objectId, kept);
    }),
    block: guarded<Block>(async (ctx, block) => {
      const ourId = ourActorId(ctx, block.objectId);
      if (ourId && block.actorId) {
        await db.transaction(async (em) => {
          await removeFollowers(em, { actorId: ourId, followerHash: iriHash(block.actorId!) });
          await heard(em, "block.received", ourId, block.actorId!, {}, block.id);
        });
        log.info("{remote} blocked our actor {actor}.", { remote: block.actorId.href, actor: ourId });
      }
    }),
  };
}

/** Registers the listeners on Herald's inboxes (each actor's and the shared one). */
export function registerInbox(federation: HeraldFederation, deps: InboxDeps): void {
  const on = inboxListeners(deps);
  federation
    .setInboxListeners(ROUTES.ap.inbox, ROUTES.ap.sharedInbox)
    .on(Follow, on.follow)
    .on(Undo, on.undo)
    .on(Accept, on.accept)
    .on(Reject, on.reject)
    .on(Create, on.create)
    .on(Update, on.update)
    .on(Delete, on.delete)
    .on(Move, on.move)
    .on(Like, on.like)
    .on(Announce, on.announce)
    .on(Block, on.block)
    .onError((_ctx, error) => {
      // Fedify reports here activities it could not parse (answered 400): the sender's error.
      if (isPermanent(error)) log.warn("Refused an activity: {reason}", { reason: String(error) });
      else log.error("Inbox listener failed: {error}", { error });
    });
}
