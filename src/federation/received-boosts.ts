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
import { OutboundReactionSchema } from "../api/records.ts";
import type { Database } from "../db/database.ts";
import { isUniqueViolation } from "../db/errors.ts";
import { logger } from "../logging.ts";
import { type EntityManager, type FindOptionsWhere, IsNull, LessThan, Not } from "typeorm";
import {
  FollowingSchema,
  type InboundBoostRow,
  InboundBoostSchema,
  type InboundRow,
  fitsIri,
  InboundSchema,
  iriHash,
  MAX_IRI_LENGTH,
  webUrl,
} from "./entities.ts";
import { remoteMediaOf } from "./remote-media.ts";
import { sanitizeRemoteHtml } from "./sanitize.ts";

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
    if (!note.attributionId || note.attributionId.origin !== note.id.origin || !fitsIri(note.attributionId))
      return null;
  } catch (error) {
    log.info("Could not fetch the boosted post {iri}: {error}", { iri: iri.href, error: String(error) });
    return null;
  }
  const addressed = [...note.toIds, ...note.ccIds].map((u) => u.href);
  return addressed.some((u) => PUBLIC.has(u)) ? { note, document: doc.document } : null;
}

/** What a received boost keeps of the boosted post. */
type BoostedPost = Pick<
  InboundBoostRow,
  | "objectHash"
  | "objectIri"
  | "authorIri"
  | "authorHash"
  | "contentHtml"
  | "url"
  | "publishedAt"
  | "raw"
  | "media"
>;

async function fetchPost(
  loaders: { documentLoader: DocumentLoader; contextLoader: DocumentLoader },
  allowHttp: boolean,
  objectIri: URL,
): Promise<BoostedPost | null> {
  const fetched = await fetchBoosted(loaders.documentLoader, loaders.contextLoader, objectIri);
  if (!fetched) return null;
  const { note, document } = fetched;
  const images = await remoteMediaOf(note, () => Promise.resolve(document), allowHttp);
  return {
    objectHash: iriHash(note.id!),
    objectIri: note.id!.href,
    authorIri: note.attributionId!.href,
    authorHash: iriHash(note.attributionId!),
    contentHtml: note.content == null ? null : sanitizeRemoteHtml(note.content.toString()),
    url: note.url instanceof URL ? webUrl(note.url) : null,
    publishedAt: note.published ? new Date(note.published.epochMilliseconds) : null,
    raw: JSON.stringify(await note.toJsonLd({ format: "compact" })),
    media: images.length > 0 ? JSON.stringify(images) : null,
  };
}

/**
 * Keeps `booster`'s boost `activityIri` of `objectIri` for each Herald account following it
 * (accepted), once whatever the repeats: a booster boosts a post once (a later Announce of it is
 * the same boost, as on Mastodon), and only its `perBooster` newest boosts are kept per account,
 * so a followed account sending Announce after Announce cannot grow the table without bound.
 * Nothing is fetched when no one here follows the booster, or when all who do hold the boost.
 */
export async function receiveBoost(
  db: Database,
  loaders: { documentLoader: DocumentLoader; contextLoader: DocumentLoader },
  /** Whether the post's images may be http URLs (outside production: loopback peers). */
  allowHttp: boolean,
  activityIri: URL,
  booster: URL,
  objectIri: URL,
  perBooster: number,
): Promise<number> {
  if (![activityIri, booster, objectIri].every(fitsIri)) {
    log.info("Ignored a boost {id}: an IRI longer than {max} characters.", {
      id: activityIri.href.slice(0, 200),
      max: MAX_IRI_LENGTH,
    });
    return 0;
  }
  const following = await db.run((em) =>
    em.getRepository(FollowingSchema).findBy({ targetHash: iriHash(booster), status: "accepted" }),
  );
  const activityHash = iriHash(activityIri);
  const boosterHash = iriHash(booster);
  const objectHash = iriHash(objectIri);
  const missing: string[] = [];
  /** Boosts of the post by this booster that it undid while the account had reacted to the post. */
  const undone: InboundBoostRow[] = [];
  for (const f of following) {
    const actorId = f.actorId;
    const held = await db.run((em) =>
      em.getRepository(InboundBoostSchema).find({
        where: [
          { actorId, activityHash },
          { actorId, boosterHash, objectHash },
          // Stored by an earlier version (no hash) during a rolling upgrade.
          { actorId, boosterHash: IsNull(), boosterIri: booster.href, objectHash },
        ],
      }),
    );
    if (held.length === 0) missing.push(actorId);
    else if (held.every((r) => r.undoneAt && r.activityHash !== activityHash)) undone.push(held[0]);
  }
  if (missing.length === 0 && undone.length === 0) return 0;
  let stored = 0;
  /** Keeps `row` for its account, and lets the booster's oldest boosts beyond its share go. */
  const keep = async (row: InboundBoostRow, replacing?: InboundBoostRow) => {
    try {
      await db.transaction(async (em) => {
        const repo = em.getRepository(InboundBoostSchema);
        if (replacing) await repo.remove({ ...replacing });
        await repo.insert({ ...row, objectApiId: row.objectApiId ?? (await nextApiId(em.queryRunner!)) });
        const [last] = await repo.find({
          select: { apiId: true },
          where: { actorId: row.actorId, boosterHash, undoneAt: IsNull() },
          order: { apiId: "DESC" },
          skip: perBooster - 1,
          take: 1,
        });
        if (last?.apiId != null)
          await dropRows(
            em,
            { actorId: row.actorId, boosterHash, undoneAt: IsNull(), apiId: LessThan(Number(last.apiId)) },
            true,
          );
      });
      stored++;
    } catch (err) {
      // The same Announce (or another of the same post) delivered twice at once: the other kept it.
      if (!isUniqueViolation(err)) throw err;
    }
  };
  const received = { activityHash, activityIri: activityIri.href, boosterIri: booster.href, boosterHash };
  // Boosted again after an undo: a new boost (a new wrapper id, on top), of the post as kept
  // (under its id, which the account's own favourite or boost of it goes by).
  for (const old of undone)
    await keep({ ...old, ...received, apiId: undefined, receivedAt: new Date(), undoneAt: null }, old);
  if (missing.length === 0) return stored;
  // Boosts of one post by several accounts within minutes cost one fetch: the loader's cache
  // (src/federation/loader.ts).
  const post = await fetchPost(loaders, allowHttp, objectIri);
  if (!post) return stored;
  for (const actorId of missing)
    await keep({
      ...post,
      ...received,
      actorId,
      receivedAt: new Date(),
    });
  return stored;
}

/**
 * Forgets the received boosts matching `where` whose booster (or author) is `iri`: by the hash
 * beside the IRI (indexed, migration 0032), and by the IRI itself in rows stored without one. A
 * booster's boost of a post its account here favourited or boosted is only marked undone (see
 * dropRows); when the author deletes the post (or their account), it goes.
 */
export async function forgetBoosts(
  em: EntityManager,
  where: FindOptionsWhere<InboundBoostRow>,
  by: "booster" | "author",
  iri: URL,
): Promise<void> {
  const [hash, text] =
    by === "booster" ? (["boosterHash", "boosterIri"] as const) : (["authorHash", "authorIri"] as const);
  await dropRows(em, { ...where, [hash]: iriHash(iri) }, by === "booster");
  await dropRows(em, { ...where, [hash]: IsNull(), [text]: iri.href }, by === "booster");
}

/**
 * Deletes the rows matching `where` one by one, by key: the feed subscriber (src/api/feed.ts) then
 * raises the versions of their accounts only, where a delete by criteria raises everyone's (it
 * cannot tell whose rows went), even when nothing matched — as most Deletes and Undos received do.
 * With `keepReacted`, a row whose account favourited or boosted its post is marked `undoneAt`
 * instead: off the home timeline, while the post keeps its id, so that account still sees and can
 * undo what it did (Mastodon keeps the post, which does not depend on who boosted it).
 */
async function dropRows(
  em: EntityManager,
  where: FindOptionsWhere<InboundBoostRow>,
  keepReacted: boolean,
): Promise<void> {
  const repo = em.getRepository(InboundBoostSchema);
  const rows = await repo.find({ where });
  const gone = [];
  for (const r of rows) {
    const reacted =
      keepReacted &&
      (await em
        .getRepository(OutboundReactionSchema)
        .existsBy({ accountId: r.actorId, objectHash: r.objectHash }));
    if (!reacted) gone.push(r);
    else if (!r.undoneAt) await repo.save({ ...r, undoneAt: new Date() });
  }
  if (gone.length > 0) await repo.remove(gone);
}

/**
 * Once `accountId` no longer favourites or boosts the post `objectHash`, the boosts of it that
 * their boosters undid (kept for that reaction: dropRows) go.
 */
export async function forgetUndone(em: EntityManager, accountId: string, objectHash: string): Promise<void> {
  await dropRows(em, { actorId: accountId, objectHash, undoneAt: Not(IsNull()) }, true);
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

/**
 * A remote post `accountId` received (and its sender has not withdrawn), or saw boosted by an
 * account it follows, by its status id; another account's is not found.
 */
export async function receivedByApiId(
  em: EntityManager,
  apiId: number,
  accountId: string,
): Promise<InboundRow | null> {
  const row = await em
    .getRepository(InboundSchema)
    .findOneBy({ apiId, actorId: accountId, deletedAt: IsNull() });
  if (row) return row;
  const boost = await em
    .getRepository(InboundBoostSchema)
    .findOneBy({ objectApiId: apiId, actorId: accountId });
  return boost ? boostedAsInbound(boost) : null;
}
