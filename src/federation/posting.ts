/**
 * The one posting service the CLI, the web app and APIs call: commands only (post, edit, delete,
 * follow, unfollow, decide a follow request, rename an account). A post is written (with who
 * pressed send) in one transaction; delivery is only enqueued on Fedify's persistent queue, so a
 * dead remote inbox never fails a local write (DESIGN rule 5). What follows from a change to an
 * account or a person (Update, Delete, Move to its followers) is announced by the federation
 * bridge (bridge.ts), never from here.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "@fedify/fedify";
import type { EntityManager } from "typeorm";
import {
  Accept,
  type Actor,
  Create,
  Delete,
  Follow,
  isActor,
  lookupObject,
  type LookupObjectOptions,
  Note,
  type Recipient,
  Reject,
  Tombstone,
  Undo,
  Update,
} from "@fedify/vocab";
import type { Archive } from "../archive/records.ts";
import { personOf } from "../archive/records.ts";
import type { Config } from "../config.ts";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { escapeHtml } from "../http/html.ts";
import { logger } from "../logging.ts";
import type { Directory } from "../identity/directory.ts";
import { employmentStatus } from "../identity/standing.ts";
import type { Accounts } from "./accounts.ts";
import {
  type ActorRow,
  ActorSchema,
  FollowerSchema,
  FollowingSchema,
  iriHash,
  type PostRow,
  PostSchema,
  type Visibility,
} from "./entities.ts";
import type { Media } from "../media/service.ts";
import type { FederationContextData, HeraldFederation } from "./context.ts";
import { sendOptions } from "./documents.ts";
import { recordFollow } from "./follower-history.ts";
import { sendFollow } from "./follows.ts";
import { noteOf } from "./notes.ts";

const log = logger("federation", "posting");

export interface PostInput {
  readonly actorId: string;
  readonly text: string;
  /** Who pressed send: a person (id + label) or the CLI operator (label only). */
  readonly author: { readonly personId: string | null; readonly label: string };
  readonly visibility?: Visibility;
  readonly inReplyTo?: string;
  readonly language?: string;
  /** Images to carry (ids of unattached uploads of the author's for this account; up to four). */
  readonly mediaIds?: readonly string[];
  /** Extra recipients (actor URLs or @user@host), mentioned and addressed: e.g. a direct reply. */
  readonly to?: readonly string[];
  /**
   * Who pressed send, for the append-only audit log: SAML subject, session, the authorization
   * decision and, for an approved draft, the approver (DESIGN rule 4).
   */
  readonly audit?: Record<string, unknown>;
  /** For the archive: who approved it (a draft's approver), through which app and token. */
  readonly provenance?: {
    readonly approverPersonId?: string | null;
    readonly draftId?: string | null;
    readonly app?: string | null;
    readonly tokenId?: string | null;
    /** The scheduled status publishing it (its images are held by that scheduled status). */
    readonly scheduledStatusId?: string | null;
  };
  /**
   * Runs in the post's own transaction after the post is written (a scheduled status records
   * that it is published, or throws and nothing is: src/api/scheduled.ts).
   */
  readonly within?: (em: EntityManager, post: PostRow) => Promise<void>;
}

export type PostResult =
  | { readonly ok: true; readonly post: PostRow; readonly url: URL; readonly id: URL }
  | {
      readonly ok: false;
      readonly reason: "not-found" | "suspended" | "invalid" | "not-ready";
      readonly message: string;
    };

const VISIBILITIES: ReadonlySet<string> = new Set(["public", "unlisted", "followers", "direct"]);
const MENTION = /(^|[\s(])@([a-z0-9_.-]+)@([a-z0-9.-]+(?::\d+)?)/gi;
/** `@recruiting`: one of this organization's handles, without the domain (not an e-mail's `@`). */
const SHORT_MENTION = /(^|[\s(])@([a-z0-9_]{1,30})(?![\w@]|[.-]\w)/gi;
const HASHTAG = /(^|[\s(])#([\p{L}\p{M}\p{N}_]{1,100})/gu;
const URL_RE = /\bhttps?:\/\/[^\s<]+[^\s<.,;:!?)"']/g;

/** Plain text → safe HTML: escaped, paragraphs, links, mentions and hashtags. */
export function renderText(
  text: string,
  origin: URL,
  mentions: ReadonlyMap<string, URL>,
  /** The handle domain: `@user` alone is linked when `user@<localDomain>` was mentioned. */
  localDomain?: string,
): { html: string; hashtags: string[] } {
  const hashtags = new Set<string>();
  const paragraphs = text
    .trim()
    .split(/\n{2,}/)
    .map((para) => {
      let html = escapeHtml(para);
      html = html.replace(
        URL_RE,
        (u) => `<a href="${u}" rel="nofollow noopener noreferrer" target="_blank">${u}</a>`,
      );
      html = html.replace(MENTION, (all, pre: string, user: string, host: string) => {
        const href = mentions.get(`${user}@${host}`.toLowerCase());
        return href
          ? `${pre}<span class="h-card"><a href="${escapeHtml(href.href)}" class="u-url mention">@${user}</a></span>`
          : all;
      });
      if (localDomain)
        html = html.replace(SHORT_MENTION, (all, pre: string, user: string) => {
          const href = mentions.get(`${user}@${localDomain}`.toLowerCase());
          return href
            ? `${pre}<span class="h-card"><a href="${escapeHtml(href.href)}" class="u-url mention">@${user}</a></span>`
            : all;
        });
      html = html.replace(HASHTAG, (_all, pre: string, tag: string) => {
        // One spelling per tag (the /tags page's): composed (NFC), lower case.
        const name = tag.normalize("NFC").toLowerCase();
        hashtags.add(name);
        return `${pre}<a href="${new URL(`/tags/${encodeURIComponent(name)}`, origin).href}" class="mention hashtag" rel="tag">#${tag}</a>`;
      });
      return `<p>${html.replace(/\n/g, "<br>")}</p>`;
    });
  return { html: paragraphs.join(""), hashtags: [...hashtags] };
}

export function createPosting(deps: {
  readonly db: Database;
  readonly config: Pick<Config, "mode" | "origin" | "orgName" | "accounts" | "handleDomain" | "remoteFetch">;
  readonly federation: HeraldFederation;
  readonly accounts: Accounts;
  /** Whether a person account's person still works here (the directory decides, at once). */
  readonly directory: Pick<Directory, "personById">;
  /** Every post, edit, deletion and follow decision is recorded in the act's transaction. */
  readonly archive: Archive;
  /** Attaches uploaded images to a post (src/media/service.ts). */
  readonly media?: Pick<Media, "attachable" | "attach">;
}) {
  const { db, config, federation, accounts, directory, archive } = deps;
  const context = (): Context<FederationContextData> =>
    federation.createContext(new URL(config.origin.origin), { requestId: "posting" });

  async function usableActor(
    actorId: string,
  ): Promise<ActorRow | { reason: "not-found" | "suspended" | "not-ready"; message: string }> {
    const actor = (await accounts.byId(actorId)) ?? (await accounts.byHandle(actorId));
    if (!actor || actor.deletedAt) return { reason: "not-found", message: `No account ${actorId}.` };
    if (actor.movedToId) {
      const next = await accounts.byId(actor.movedToId);
      return {
        reason: "not-found",
        message: `@${actor.handle} has moved to @${next?.handle ?? "?"}; use that account.`,
      };
    }
    // The actor row is suspended by the federation bridge a moment after a deactivation; the
    // directory says so from the change on (DESIGN rule 2: every door closes at once).
    const former =
      actor.kind === "person" &&
      (!actor.personId || employmentStatus(await directory.personById(actor.personId)).kind !== "active");
    if (actor.suspendedAt || former) {
      return {
        reason: "suspended",
        message: `@${actor.handle} is suspended (its person left or was deactivated); it cannot post.`,
      };
    }
    if (!actor.keysReadyAt)
      return {
        reason: "not-ready",
        message: `@${actor.handle} is still being set up (keys); try again in a moment.`,
      };
    return actor;
  }

  /**
   * `ctx.lookupObject`, but WebFinger may reach loopback outside production as the document
   * loaders may: Fedify hands its own `allowPrivateAddress` (false beside custom loader factories,
   * src/federation/loader.ts) to WebFinger, and reads the option below though its type omits it.
   * One deadline covers the WebFinger lookup and the document.
   */
  const lookup = (ctx: Context<FederationContextData>, ref: string) =>
    lookupObject(ref, {
      documentLoader: ctx.documentLoader,
      contextLoader: ctx.contextLoader,
      signal: AbortSignal.timeout(config.remoteFetch.timeoutMs),
      allowPrivateAddress: config.mode !== "production",
    } as LookupObjectOptions);

  async function resolveActor(ctx: Context<FederationContextData>, ref: string): Promise<Actor | null> {
    try {
      const obj = await lookup(ctx, ref.trim());
      return isActor(obj) ? obj : null;
    } catch (error) {
      log.info("Could not resolve {ref}: {error}", { ref, error });
      return null;
    }
  }

  async function replyTargetAuthor(ctx: Context<FederationContextData>, iri: string): Promise<Actor | null> {
    try {
      const target = await lookup(ctx, iri);
      const author = target instanceof Note ? await target.getAttribution() : null;
      return author && isActor(author) ? author : null;
    } catch (error) {
      log.info("Could not fetch the post replied to ({iri}): {error}", { iri, error });
      return null;
    }
  }

  /** Those who got a post outside the followers collection: the mentioned, the replied-to. */
  async function outsideFollowers(ctx: Context<FederationContextData>, post: PostRow): Promise<Recipient[]> {
    const recipients: Recipient[] = [];
    const mentions = (post.mentions ? JSON.parse(post.mentions) : []) as { href: string }[];
    for (const m of mentions) {
      const remote = await resolveActor(ctx, m.href);
      if (remote) recipients.push(remote);
    }
    if (post.inReplyToIri) {
      const author = await replyTargetAuthor(ctx, post.inReplyToIri);
      if (author && !recipients.some((r) => r.id?.href === author.id?.href)) recipients.push(author);
    }
    return recipients;
  }

  /** An archive record's fields for a change to one of our posts made by `by`. */
  const ofPost = (kind: string, post: PostRow, handle: string | null, by: string) => ({
    kind,
    direction: "out" as const,
    accountId: post.actorId,
    accountHandle: handle,
    personId: personOf(by),
    actorLabel: by,
    objectIri: context().getObjectUri(Note, { id: post.id }).href,
    inReplyTo: post.inReplyToIri,
    subjectId: post.id,
  });

  return {
    async post(input: PostInput): Promise<PostResult> {
      const text = input.text.trim();
      const mediaIds = input.mediaIds ?? [];
      if (text === "" && mediaIds.length === 0)
        return { ok: false, reason: "invalid", message: "A post needs some text." };
      if (input.language !== undefined && !/^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(input.language)) {
        return {
          ok: false,
          reason: "invalid",
          message: `"${input.language}" is not a language tag (BCP 47, e.g. en or pt-BR).`,
        };
      }
      if (input.visibility !== undefined && !VISIBILITIES.has(input.visibility))
        return {
          ok: false,
          reason: "invalid",
          message: `"${input.visibility}" is not a visibility (public, unlisted, followers or direct).`,
        };
      if (text.length > 5000)
        return { ok: false, reason: "invalid", message: "A post is limited to 5,000 characters." };
      const actor = await usableActor(input.actorId);
      if (!("id" in actor)) return { ok: false, ...actor };
      // An approved draft's images are held by that draft (src/media/service.ts hold).
      const owner = {
        personId: input.author.personId ?? "",
        accountId: actor.id,
        draftId: input.provenance?.draftId ?? null,
        scheduledStatusId: input.provenance?.scheduledStatusId ?? null,
      };
      if (mediaIds.length > 0) {
        const usable = deps.media
          ? await deps.media.attachable(mediaIds, owner)
          : { ok: false as const, message: "This process cannot attach images." };
        if (!usable.ok) return { ok: false, reason: "invalid", message: usable.message };
      }
      const ctx = context();

      // Mentions are resolved before the write; an unreachable server leaves the text as it is.
      const mentioned = new Map<string, URL>();
      const recipients: Recipient[] = [];
      // Our own accounts are looked up here, not over WebFinger (which may not reach this origin
      // as addressed: http in development, a balancer's address): `@jane@<our domain>` and `@jane`.
      const local = config.handleDomain.toLowerCase();
      const ours = [
        ...[...text.matchAll(MENTION)].filter((m) => m[3].toLowerCase() === local).map((m) => m[2]),
        ...[...text.matchAll(SHORT_MENTION)].map((m) => m[2]),
      ];
      for (const handle of ours) {
        const key = `${handle}@${local}`.toLowerCase();
        if (mentioned.has(key)) continue;
        const account = await accounts.byHandle(handle.toLowerCase());
        if (account && !account.deletedAt) mentioned.set(key, ctx.getActorUri(account.id));
      }
      for (const m of text.matchAll(MENTION)) {
        const key = `${m[2]}@${m[3]}`.toLowerCase();
        if (mentioned.has(key) || m[3].toLowerCase() === local) continue;
        const remote = await resolveActor(ctx, `@${key}`);
        if (remote?.id) {
          mentioned.set(key, remote.id);
          recipients.push(remote);
        }
      }
      for (const ref of input.to ?? []) {
        const remote = await resolveActor(ctx, ref);
        if (!remote?.id)
          return { ok: false, reason: "invalid", message: `Could not find the account ${ref}.` };
        if (recipients.some((r) => r.id?.href === remote.id!.href)) continue;
        const handle = remote.preferredUsername
          ? `${remote.preferredUsername}@${remote.id.host}`
          : remote.id.href;
        mentioned.set(handle.toLowerCase(), remote.id);
        recipients.push(remote);
      }
      if (input.inReplyTo) {
        const author = await replyTargetAuthor(ctx, input.inReplyTo);
        if (author?.id && !recipients.some((r) => r.id?.href === author.id!.href)) recipients.push(author);
      }
      const { html, hashtags } = renderText(text, config.origin, mentioned, config.handleDomain);
      // A shared account may sign its posts publicly with who wrote them: "— Jane Doe, Recruiting".
      const signature =
        actor.signPosts && input.author.label
          ? `<p>— ${escapeHtml(input.author.label)}${actor.kind === "shared" ? `, ${escapeHtml(actor.displayName)}` : ""}</p>`
          : "";
      const post: PostRow = {
        id: randomUUID(),
        actorId: actor.id,
        authorPersonId: input.author.personId,
        authorLabel: input.author.label,
        contentHtml: (text === "" ? "" : html) + signature,
        contentText: text,
        language: input.language ?? null,
        visibility: input.visibility ?? "public",
        inReplyToIri: input.inReplyTo ?? null,
        mentions: JSON.stringify(
          [...mentioned].map(([name, href]) => ({ name: `@${name}`, href: href.href })),
        ),
        hashtags: JSON.stringify(hashtags),
        publishedAt: new Date(),
        updatedAt: null,
        deletedAt: null,
      };
      await db.transaction(async (em) => {
        const media =
          mediaIds.length > 0 && deps.media ? await deps.media.attach(em, mediaIds, owner, post.id) : [];
        post.media = media.length > 0 ? JSON.stringify(media) : null;
        await em.getRepository(PostSchema).insert(post);
        await recordAudit(em, {
          actor: input.author.personId ? `person:${input.author.personId}` : input.author.label,
          action: "post.create",
          targetType: "post",
          targetId: post.id,
          detail: { account: actor.handle, visibility: post.visibility, text, ...input.audit },
        });
        await archive.append(em, {
          kind: "post.create",
          direction: "out",
          accountId: actor.id,
          accountHandle: actor.handle,
          personId: input.author.personId,
          actorLabel: input.author.label,
          approverId: input.provenance?.approverPersonId ?? null,
          app: input.provenance?.app ?? null,
          tokenId: input.provenance?.tokenId ?? null,
          objectIri: ctx.getObjectUri(Note, { id: post.id }).href,
          inReplyTo: post.inReplyToIri,
          subjectId: post.id,
          content: {
            text,
            html: post.contentHtml,
            visibility: post.visibility,
            language: post.language,
            mentions: JSON.parse(post.mentions ?? "[]") as unknown,
            hashtags,
            to: recipients.map((r) => r.id?.href ?? null),
            draftId: input.provenance?.draftId ?? null,
            ...(input.provenance?.scheduledStatusId
              ? { scheduledStatusId: input.provenance.scheduledStatusId }
              : {}),
            // The images as attached: which files (their SHA-256 is on the media row) and alt text.
            ...(media.length > 0
              ? { media: media.map((m) => ({ id: m.id, format: m.format, description: m.description })) }
              : {}),
          },
        });
        await input.within?.(em, post);
      });
      const note = noteOf(ctx, config.origin, actor, post);
      const create = new Create({
        id: new URL(`${note.id!.href}#create`),
        actor: ctx.getActorUri(actor.id),
        object: note,
        published: note.published,
        tos: note.toIds,
        ccs: note.ccIds,
      });
      if (post.visibility !== "direct") {
        await ctx.sendActivity({ identifier: actor.id }, "followers", create, {
          preferSharedInbox: true,
          ...sendOptions(post),
        });
      }
      if (recipients.length > 0)
        await ctx.sendActivity({ identifier: actor.id }, recipients, create, sendOptions(post));
      return { ok: true, post, url: note.url as URL, id: note.id! };
    },

    /** Edits a post's text and sends Update(Note) to those who got it. */
    async edit(postId: string, text: string, by: string): Promise<PostResult> {
      const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: postId }));
      if (!post || post.deletedAt) return { ok: false, reason: "not-found", message: `No post ${postId}.` };
      const actor = await usableActor(post.actorId);
      if (!("id" in actor)) return { ok: false, ...actor };
      const trimmed = text.trim();
      if (trimmed === "" || trimmed.length > 5000) {
        return { ok: false, reason: "invalid", message: "A post needs 1–5,000 characters of text." };
      }
      const mentions = new Map<string, URL>(
        ((post.mentions ? JSON.parse(post.mentions) : []) as { name: string; href: string }[]).map((m) => [
          m.name.replace(/^@/, "").toLowerCase(),
          new URL(m.href),
        ]),
      );
      const { html, hashtags } = renderText(trimmed, config.origin, mentions, config.handleDomain);
      const updated: PostRow = {
        ...post,
        contentHtml: html,
        contentText: trimmed,
        hashtags: JSON.stringify(hashtags),
        updatedAt: new Date(),
      };
      await db.transaction(async (em) => {
        await em.getRepository(PostSchema).update(
          { id: postId },
          {
            contentHtml: html,
            contentText: trimmed,
            hashtags: updated.hashtags,
            updatedAt: updated.updatedAt,
          },
        );
        await recordAudit(em, {
          actor: by,
          action: "post.edit",
          targetType: "post",
          targetId: postId,
          detail: { before: post.contentText, after: trimmed },
        });
        await archive.append(em, {
          ...ofPost("post.edit", post, actor.handle, by),
          content: {
            text: trimmed,
            html,
            previousText: post.contentText,
            visibility: post.visibility,
            editedAt: updated.updatedAt!.toISOString(),
          },
        });
      });
      const ctx = context();
      const note = noteOf(ctx, config.origin, actor, updated);
      const update = new Update({
        id: new URL(`${note.id!.href}#update/${updated.updatedAt!.getTime()}`),
        actor: ctx.getActorUri(actor.id),
        object: note,
        published: note.updated,
        tos: note.toIds,
        ccs: note.ccIds,
      });
      if (post.visibility !== "direct") {
        await ctx.sendActivity({ identifier: actor.id }, "followers", update, {
          preferSharedInbox: true,
          ...sendOptions(post),
        });
      }
      const recipients = await outsideFollowers(ctx, post);
      if (recipients.length > 0)
        await ctx.sendActivity({ identifier: actor.id }, recipients, update, sendOptions(post));
      return { ok: true, post: updated, url: note.url as URL, id: note.id! };
    },

    async remove(postId: string, by: string): Promise<boolean> {
      const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: postId }));
      if (!post || post.deletedAt) return false;
      await db.transaction(async (em) => {
        const deletedAt = new Date();
        await em.getRepository(PostSchema).update({ id: postId }, { deletedAt });
        const actor = await em.getRepository(ActorSchema).findOneBy({ id: post.actorId });
        await archive.append(em, {
          ...ofPost("post.delete", post, actor?.handle ?? null, by),
          // The words as they stood when deleted: the post row keeps them too, but this is the record.
          content: {
            text: post.contentText,
            visibility: post.visibility,
            deletedAt: deletedAt.toISOString(),
          },
        });
        await recordAudit(em, { actor: by, action: "post.delete", targetType: "post", targetId: postId });
      });
      const ctx = context();
      const id = ctx.getObjectUri(Note, { id: postId });
      const del = new Delete({
        id: new URL(`${id.href}#delete`),
        actor: ctx.getActorUri(post.actorId),
        object: new Tombstone({ id }),
      });
      if (post.visibility !== "direct") {
        await ctx.sendActivity({ identifier: post.actorId }, "followers", del, { preferSharedInbox: true });
      }
      const recipients = await outsideFollowers(ctx, post);
      if (recipients.length > 0) await ctx.sendActivity({ identifier: post.actorId }, recipients, del);
      return true;
    },

    /**
     * Renames an account. Its followers hear of it with a Move (they re-follow the new actor),
     * sent by the federation bridge from the rename's event.
     */
    async rename(account: string, newHandle: string, by: string): Promise<{ ok: boolean; message: string }> {
      const r = await accounts.rename(account, newHandle, by);
      if (!r.ok) return r;
      return { ok: true, message: `@${r.from.handle} moved to @${r.to.handle}; followers are being told.` };
    },

    /** Accepts or rejects a pending follower (accounts with manual approval). */
    async decideFollower(
      actorId: string,
      followerIri: string,
      accept: boolean,
      by: string,
    ): Promise<{ ok: boolean; message: string }> {
      const actor = await usableActor(actorId);
      if (!("id" in actor)) return { ok: false, message: actor.message };
      const row = await db.run((em) =>
        em.getRepository(FollowerSchema).findOneBy({ actorId: actor.id, followerHash: iriHash(followerIri) }),
      );
      if (!row || row.status !== "pending")
        return { ok: false, message: `${followerIri} has no pending follow request for @${actor.handle}.` };
      await db.transaction(async (em) => {
        if (accept) {
          await em
            .getRepository(FollowerSchema)
            .update({ actorId: actor.id, followerHash: row.followerHash }, { status: "accepted" });
          await recordFollow(em, actor.id, row.followerHash);
        } else
          await em
            .getRepository(FollowerSchema)
            .delete({ actorId: actor.id, followerHash: row.followerHash });
        await recordAudit(em, {
          actor: by,
          action: accept ? "follower.accept" : "follower.reject",
          targetType: "actor",
          targetId: actor.id,
          detail: { follower: followerIri },
        });
        await archive.append(em, {
          kind: accept ? "follower.accept" : "follower.reject",
          direction: "out",
          accountId: actor.id,
          accountHandle: actor.handle,
          personId: personOf(by),
          actorLabel: by,
          remoteActor: row.followerIri,
          objectIri: row.followIri,
          content: { decision: accept ? "accept" : "reject" },
        });
      });
      const ctx = context();
      const follow = new Follow({
        id: row.followIri ? new URL(row.followIri) : null,
        actor: new URL(row.followerIri),
        object: ctx.getActorUri(actor.id),
      });
      const recipient = { id: new URL(row.followerIri), inboxId: new URL(row.inboxIri) };
      const Kind = accept ? Accept : Reject;
      await ctx.sendActivity(
        { identifier: actor.id },
        recipient,
        new Kind({
          id: new URL(`#decisions/${randomUUID()}`, ctx.getActorUri(actor.id)),
          actor: ctx.getActorUri(actor.id),
          object: follow,
        }),
      );
      return {
        ok: true,
        message: `${accept ? "Accepted" : "Rejected"} ${followerIri} for @${actor.handle}.`,
      };
    },

    /** Our actor follows a remote account (`@user@host` or an actor URL). */
    async follow(actorId: string, target: string, by = "system"): Promise<{ ok: boolean; message: string }> {
      const actor = await usableActor(actorId);
      if (!("id" in actor)) return { ok: false, message: actor.message };
      const ctx = context();
      const remote = await resolveActor(ctx, target);
      if (!remote?.id || !(await sendFollow(ctx, db, archive, actor, remote, by)))
        return { ok: false, message: `Could not find the account ${target}.` };
      return { ok: true, message: `@${actor.handle} asked to follow ${remote.id.href}.` };
    },

    async unfollow(
      actorId: string,
      target: string,
      by = "system",
    ): Promise<{ ok: boolean; message: string }> {
      const actor = await usableActor(actorId);
      if (!("id" in actor)) return { ok: false, message: actor.message };
      const ctx = context();
      const remote = await resolveActor(ctx, target);
      if (!remote?.id) return { ok: false, message: `Could not find the account ${target}.` };
      const row = await db.run((em) =>
        em.getRepository(FollowingSchema).findOneBy({ actorId: actor.id, targetHash: iriHash(remote.id!) }),
      );
      if (!row) return { ok: false, message: `@${actor.handle} does not follow ${remote.id.href}.` };
      await db.transaction(async (em) => {
        await em.getRepository(FollowingSchema).delete({ actorId: actor.id, targetHash: row.targetHash });
        await archive.append(em, {
          kind: "follow.undo",
          direction: "out",
          accountId: actor.id,
          accountHandle: actor.handle,
          personId: personOf(by),
          actorLabel: by,
          remoteActor: row.targetIri,
          content: { followId: row.followId },
        });
      });
      const followUri = new URL(`#follows/${row.followId}`, ctx.getActorUri(actor.id));
      await ctx.sendActivity(
        { identifier: actor.id },
        remote,
        new Undo({
          id: new URL(`#undo/${randomUUID()}`, ctx.getActorUri(actor.id)),
          actor: ctx.getActorUri(actor.id),
          object: new Follow({ id: followUri, actor: ctx.getActorUri(actor.id), object: remote.id }),
        }),
      );
      return { ok: true, message: `@${actor.handle} no longer follows ${remote.id.href}.` };
    },
  };
}

export type Posting = ReturnType<typeof createPosting>;
