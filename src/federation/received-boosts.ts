/**
 * Boosts received from remote accounts that Herald accounts follow, of posts that are not
 * Herald's (migration 0030). Mastodon shows such a boost in the follower's home timeline as the
 * booster's status whose `reblog` is the post; Herald does the same (src/api/statuses.ts
 * `receivedBoosts`).
 *
 * The boosted post is fetched from its own server through Fedify's document loader (bounded in
 * size and time, private addresses refused in production: src/federation/loader.ts), never taken
 * as the booster embedded it — the booster does not speak for the post's author. Only a public or
 * unlisted post, living on its author's origin, is kept. A boost is undone by its booster's Undo
 * and forgotten when the post's author deletes the post.
 */
import { Note, Object as ApObject } from "@fedify/vocab";
import type { DocumentLoader } from "@fedify/vocab-runtime";
import { nextApiId } from "../api/ids.ts";
import type { Database } from "../db/database.ts";
import { isUniqueViolation } from "../db/errors.ts";
import { logger } from "../logging.ts";
import type { EntityManager } from "typeorm";
import {
  FollowingSchema,
  type InboundBoostRow,
  InboundBoostSchema,
  type InboundRow,
  iriHash,
} from "./entities.ts";
import { remoteMediaOf } from "./remote-media.ts";

const log = logger("federation", "received-boosts");

const PUBLIC = new Set(["https://www.w3.org/ns/activitystreams#Public", "as:Public"]);

/**
 * The post `iri` as its own server serves it (and the document, for what Fedify's parse drops),
 * if it is a public or unlisted note of its origin.
 */
async function fetchBoosted(
  loader: DocumentLoader,
  contextLoader: DocumentLoader,
  iri: URL,
): Promise<{ note: Note; document: unknown } | null> {
  let note: unknown;
  let doc;
  try {
    doc = await loader(iri.href);
    note = await ApObject.fromJsonLd(doc.document, { documentLoader: loader, contextLoader });
    // A redirect may move the document; what counts is where it was finally served from.
    const served = new URL(doc.documentUrl);
    if (!(note instanceof Note) || !note.id || note.id.origin !== served.origin || note.id.href !== iri.href)
      return null;
    // Its author lives where it does (as Mastodon requires of a note's id).
    if (!note.attributionId || note.attributionId.origin !== note.id.origin) return null;
  } catch (error) {
    log.info("Could not fetch the boosted post {iri}: {error}", { iri: iri.href, error: String(error) });
    return null;
  }
  const addressed = [...note.toIds, ...note.ccIds].map((u) => u.href);
  return addressed.some((u) => PUBLIC.has(u)) ? { note, document: doc.document } : null;
}

/**
 * Keeps `booster`'s boost `activityIri` of `objectIri` for each Herald account following it
 * (accepted), once whatever the repeats. Nothing is fetched when no one here follows the booster.
 */
export async function receiveBoost(
  db: Database,
  loaders: { documentLoader: DocumentLoader; contextLoader: DocumentLoader },
  /** Whether the post's images may be http URLs (outside production: loopback peers). */
  allowHttp: boolean,
  activityIri: URL,
  booster: URL,
  objectIri: URL,
): Promise<number> {
  const following = await db.run((em) =>
    em.getRepository(FollowingSchema).findBy({ targetHash: iriHash(booster), status: "accepted" }),
  );
  const activityHash = iriHash(activityIri);
  const missing = [];
  for (const f of following)
    if (
      !(await db.run((em) =>
        em.getRepository(InboundBoostSchema).existsBy({ actorId: f.actorId, activityHash }),
      ))
    )
      missing.push(f.actorId);
  if (missing.length === 0) return 0;
  const fetched = await fetchBoosted(loaders.documentLoader, loaders.contextLoader, objectIri);
  if (!fetched) return 0;
  const { note, document } = fetched;
  const images = await remoteMediaOf(note, () => Promise.resolve(document), allowHttp);
  const raw = JSON.stringify(await note.toJsonLd({ format: "compact" }));
  const url = note.url instanceof URL && /^https?:$/.test(note.url.protocol) ? note.url.href : null;
  let stored = 0;
  for (const actorId of missing) {
    try {
      await db.transaction(async (em) => {
        await em.getRepository(InboundBoostSchema).insert({
          actorId,
          activityHash,
          activityIri: activityIri.href,
          boosterIri: booster.href,
          objectHash: iriHash(note.id!),
          objectIri: note.id!.href,
          authorIri: note.attributionId!.href,
          contentHtml: note.content?.toString() ?? null,
          // Only web links: a remote `javascript:` URL must never reach a client.
          url,
          publishedAt: note.published ? new Date(note.published.epochMilliseconds) : null,
          raw,
          media: images.length > 0 ? JSON.stringify(images) : null,
          receivedAt: new Date(),
          objectApiId: await nextApiId(em.queryRunner!),
        });
      });
      stored++;
    } catch (err) {
      // The same Announce delivered twice at once: the other delivery kept it.
      if (!isUniqueViolation(err)) throw err;
    }
  }
  return stored;
}

/**
 * The boosted post of `r` as a received post of `r.actorId` (by its own id, `objectApiId`), so it
 * is shown, favourited and boosted as one; its `id` is the boost's hash, there being no row.
 */
export function boostedAsInbound(r: InboundBoostRow): InboundRow {
  return {
    id: r.activityHash,
    actorId: r.actorId,
    objectHash: r.objectHash,
    objectIri: r.objectIri,
    remoteActorIri: r.authorIri,
    kind: "post",
    contentHtml: r.contentHtml,
    inReplyToPostId: null,
    url: r.url,
    publishedAt: r.publishedAt,
    receivedAt: r.receivedAt,
    updatedAt: null,
    deletedAt: null,
    raw: r.raw,
    media: r.media,
    apiId: r.objectApiId,
  };
}

/** A boosted post by its status id (`objectApiId`), as a received post of the account. */
export async function boostedByApiId(em: EntityManager, apiId: number): Promise<InboundRow | null> {
  const row = await em.getRepository(InboundBoostSchema).findOneBy({ objectApiId: apiId });
  return row ? boostedAsInbound(row) : null;
}
