/**
 * Followers gained and lost, per account (the insights page's followers over time, issue 17).
 * Every write that makes a follower accepted or removes an accepted one goes through here, in its
 * own transaction, so the history and the follower table cannot disagree: an Undo of a Follow,
 * a remote Block, a remote actor's Delete of itself, a domain block, a follow request approved.
 * A pending request that is refused or withdrawn was never a follower and leaves no trace.
 */
import { type EntityManager, type FindOptionsWhere, Like } from "typeorm";
import { FollowerEventSchema, type FollowerRow, FollowerSchema } from "./entities.ts";

/** Records that `followerHash` became an accepted follower of `actorId` (now, or `at`). */
export async function recordFollow(
  em: EntityManager,
  actorId: string,
  followerHash: string,
  at = new Date(),
): Promise<void> {
  await em.getRepository(FollowerEventSchema).insert({ actorId, followerHash, kind: "follow", at });
}

/**
 * Deletes the follower rows `where` names and records each accepted one's leaving. Returns the
 * rows deleted (pending requests included).
 */
export async function removeFollowers(
  em: EntityManager,
  where: FindOptionsWhere<FollowerRow>,
): Promise<FollowerRow[]> {
  const rows = await em.getRepository(FollowerSchema).find({ where });
  if (rows.length === 0) return [];
  const at = new Date();
  // By key, so the feed subscriber raises only their accounts' versions (src/api/feed.ts).
  await em.getRepository(FollowerSchema).remove(rows.map((r) => ({ ...r })));
  const left = rows.filter((r) => r.status === "accepted");
  if (left.length > 0)
    await em.getRepository(FollowerEventSchema).insert(
      left.map((r) => ({
        actorId: r.actorId,
        followerHash: r.followerHash,
        kind: "unfollow" as const,
        at,
      })),
    );
  return rows;
}

/**
 * A domain block: every follower on `domain` (the host as Herald's blocklist compares it, port
 * aside) stops following every account here, recorded as leaving. Returns how many were removed.
 */
export async function removeFollowersOnDomain(em: EntityManager, domain: string): Promise<number> {
  const host = domain.toLowerCase().replace(/:\d+$/, "");
  // Only [a-z0-9.-] reach here (the CLI checks), so the LIKE pattern holds no wildcard of its own.
  if (!/^[a-z0-9.-]+$/.test(host)) throw new Error(`not a domain: ${domain}`);
  const candidates = await em.getRepository(FollowerSchema).find({
    select: { actorId: true, followerHash: true, followerIri: true },
    where: [{ followerIri: Like(`%://${host}/%`) }, { followerIri: Like(`%://${host}:%`) }],
  });
  let n = 0;
  for (const c of candidates.filter((r) => followerHost(r.followerIri).replace(/:\d+$/, "") === host))
    n += (await removeFollowers(em, { actorId: c.actorId, followerHash: c.followerHash })).length;
  return n;
}

/** The host (and port) of a stored follower IRI ("unknown" if it does not parse). */
export function followerHost(iri: string): string {
  try {
    return new URL(iri).host;
  } catch {
    return "unknown";
  }
}
