/**
 * What the client API needs from remote servers, kept here so ActivityStreams stays in
 * federation/: a remote actor described in plain fields (looked up by IRI or `@user@host`), and
 * our account's Like or Announce of a remote note — and their Undo — sent to its author (and, for
 * an Announce, to our followers); and our account's Announce of one of our own notes, to its
 * followers. Lookups go through Fedify's document loader (its cache, its
 * private-address guard) with one deadline.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "@fedify/fedify";
import {
  Announce,
  isActor,
  Like,
  lookupObject,
  type LookupObjectOptions,
  PUBLIC_COLLECTION,
  Undo,
} from "@fedify/vocab";
import type { Config } from "../config.ts";
import { logger } from "../logging.ts";
import type { FederationContextData, HeraldFederation } from "./context.ts";
import { sanitizeRemoteHtml } from "./sanitize.ts";

const log = logger("federation", "remote");

export interface RemoteActorInfo {
  readonly iri: string;
  readonly username: string;
  readonly host: string;
  readonly displayName: string;
  readonly url: string | null;
  readonly avatar: string | null;
  readonly summary: string | null;
}

export function createRemote(deps: {
  readonly federation: HeraldFederation;
  readonly config: Pick<Config, "mode" | "origin" | "remoteFetch">;
}) {
  const { federation, config } = deps;
  const context = (): Context<FederationContextData> =>
    federation.createContext(new URL(config.origin.origin), { requestId: "api" });
  const lookup = (ctx: Context<FederationContextData>, ref: string) =>
    lookupObject(ref, {
      documentLoader: ctx.documentLoader,
      contextLoader: ctx.contextLoader,
      signal: AbortSignal.timeout(config.remoteFetch.timeoutMs),
      // WebFinger reaches loopback outside production as the document loaders do (posting.ts).
      allowPrivateAddress: config.mode !== "production",
    } as LookupObjectOptions);

  async function actor(ref: string) {
    try {
      const found = await lookup(context(), ref);
      return isActor(found) && found.id ? found : null;
    } catch (error) {
      log.info("Could not look up {ref}: {error}", { ref, error });
      return null;
    }
  }

  const reactionId = (
    ctx: Context<FederationContextData>,
    actorId: string,
    kind: "like" | "announce",
    activityId: string,
  ) => new URL(`#${kind === "like" ? "likes" : "announces"}/${activityId}`, ctx.getActorUri(actorId));

  /**
   * Our account's Like or Announce, or its Undo, addressed as Mastodon does: public, cc the author
   * and our followers; the boost of a followers-only post (only its author's, `followersOnly`) to
   * our followers, cc the author.
   */
  function reaction(
    ctx: Context<FederationContextData>,
    actorId: string,
    noteIri: string,
    kind: "like" | "announce",
    activityId: string,
    author: URL,
    undo: boolean,
    followersOnly = false,
  ) {
    const me = ctx.getActorUri(actorId);
    const id = reactionId(ctx, actorId, kind, activityId);
    const activity =
      kind === "like"
        ? new Like({ id, actor: me, object: new URL(noteIri) })
        : new Announce({
            id,
            actor: me,
            object: new URL(noteIri),
            ...(followersOnly
              ? { tos: [ctx.getFollowersUri(actorId)], ccs: [author] }
              : { tos: [PUBLIC_COLLECTION], ccs: [author, ctx.getFollowersUri(actorId)] }),
          });
    return undo
      ? new Undo({ id: new URL(`#undo/${randomUUID()}`, me), actor: me, object: activity })
      : activity;
  }

  return {
    /** A remote actor by IRI or `@user@host`, or null when it cannot be found now. */
    async describe(ref: string): Promise<RemoteActorInfo | null> {
      const a = await actor(ref);
      if (!a?.id) return null;
      const icon = await a.getIcon().catch(() => null);
      const url = a.url instanceof URL ? a.url.href : null;
      return {
        iri: a.id.href,
        username: a.preferredUsername?.toString() ?? a.id.pathname.split("/").filter(Boolean).at(-1) ?? "",
        host: a.id.host,
        displayName: a.name?.toString() ?? "",
        url: url && /^https?:$/.test(new URL(url).protocol) ? url : null,
        // Web links only, as for url: a `javascript:` URL must never reach a client.
        avatar: icon?.url instanceof URL && /^https?:$/.test(icon.url.protocol) ? icon.url.href : null,
        summary: a.summary == null ? null : sanitizeRemoteHtml(a.summary.toString()),
      };
    },

    /**
     * Sends our account's Like or Announce of a remote note (kind), or its Undo (`undo` holds the
     * activity id sent before), to the note's author `authorIri` — as the inbox received the note
     * from them: its actor document is public, while a followers-only or direct note is not
     * served to an unsigned fetch. False when the author cannot be reached now.
     */
    async react(
      actorId: string,
      noteIri: string,
      authorIri: string,
      kind: "like" | "announce",
      activityId: string,
      undo = false,
    ): Promise<boolean> {
      const ctx = context();
      const author = await actor(authorIri);
      if (!author) return false;
      const sent = reaction(ctx, actorId, noteIri, kind, activityId, author.id!, undo);
      await ctx.sendActivity({ identifier: actorId }, author, sent);
      if (kind === "announce")
        await ctx.sendActivity({ identifier: actorId }, "followers", sent, { preferSharedInbox: true });
      return true;
    },

    /**
     * Our account's Announce of a note of our own account `authorId` (a colleague's, or its
     * own), or its Undo, sent to the booster's followers only: the author is on this server, where
     * the boost is stored as a reaction (its count and notification), so nothing goes to it.
     */
    async announceLocal(
      actorId: string,
      noteIri: string,
      authorId: string,
      activityId: string,
      undo = false,
      followersOnly = false,
    ): Promise<void> {
      const ctx = context();
      const author = ctx.getActorUri(authorId);
      const sent = reaction(ctx, actorId, noteIri, "announce", activityId, author, undo, followersOnly);
      await ctx.sendActivity({ identifier: actorId }, "followers", sent, { preferSharedInbox: true });
    },

    /** The IRI of our account's Like or Announce `activityId` (what a reaction row keeps the hash of). */
    reactionIri(actorId: string, kind: "like" | "announce", activityId: string): string {
      return reactionId(context(), actorId, kind, activityId).href;
    },
  };
}

export type Remote = ReturnType<typeof createRemote>;
