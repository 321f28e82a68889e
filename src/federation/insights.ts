/**
 * What an account's audience did (the insights page, issue 17): followers over time, replies,
 * boosts and likes per post, and the servers followers come from — read from federation's own
 * tables (follower, post, inbound_message, reaction), each query bounded.
 *
 * Followers over time counts the followers an account has now by the day they followed: Herald
 * deletes a follower's row when they unfollow and keeps no record of removals, so the curve is of
 * those who stayed.
 */
import { In, IsNull } from "typeorm";
import type { Database } from "../db/database.ts";
import { FollowerSchema, InboundSchema, PostSchema, ReactionSchema } from "./entities.ts";

export interface PostInsight {
  readonly id: string;
  readonly publishedAt: Date;
  readonly text: string;
  readonly replies: number;
  readonly boosts: number;
  readonly likes: number;
}

export interface Insights {
  /** Followers (accepted) before the first day shown. */
  readonly followersBefore: number;
  /** Per day (YYYY-MM-DD, UTC) of the window: how many of today's followers followed that day. */
  readonly newFollowers: ReadonlyMap<string, number>;
  readonly followers: number;
  readonly posts: readonly PostInsight[];
  /** Follower counts by server host, most first. */
  readonly servers: readonly { host: string; followers: number }[];
}

const MAX_FOLLOWERS = 100_000;

export async function accountInsights(
  db: Database,
  actorId: string,
  options: { since: Date; posts?: number },
): Promise<Insights> {
  return db.run(async (em) => {
    const followers = await em.getRepository(FollowerSchema).find({
      select: { followerIri: true, createdAt: true },
      where: { actorId, status: "accepted" },
      take: MAX_FOLLOWERS,
    });
    let followersBefore = 0;
    const newFollowers = new Map<string, number>();
    const hosts = new Map<string, number>();
    for (const f of followers) {
      if (f.createdAt < options.since) followersBefore++;
      else {
        const day = f.createdAt.toISOString().slice(0, 10);
        newFollowers.set(day, (newFollowers.get(day) ?? 0) + 1);
      }
      let host = "unknown";
      try {
        host = new URL(f.followerIri).host;
      } catch {
        // A stored IRI that does not parse counts as "unknown".
      }
      hosts.set(host, (hosts.get(host) ?? 0) + 1);
    }
    const posts = await em.getRepository(PostSchema).find({
      select: { id: true, publishedAt: true, contentText: true },
      where: { actorId, deletedAt: IsNull() },
      order: { publishedAt: "DESC" },
      take: options.posts ?? 20,
    });
    const ids = posts.map((p) => p.id);
    const replies = new Map<string, number>();
    const reactions = new Map<string, number>();
    if (ids.length > 0) {
      const r = await em
        .getRepository(InboundSchema)
        .createQueryBuilder("m")
        .select("m.inReplyToPostId", "post")
        .addSelect("COUNT(*)", "n")
        .where({ inReplyToPostId: In(ids), deletedAt: IsNull() })
        .groupBy("m.inReplyToPostId")
        .getRawMany<{ post: string; n: number | string }>();
      for (const x of r) replies.set(x.post, Number(x.n));
      const k = await em
        .getRepository(ReactionSchema)
        .createQueryBuilder("r")
        .select("r.postId", "post")
        .addSelect("r.kind", "kind")
        .addSelect("COUNT(*)", "n")
        .where({ postId: In(ids) })
        .groupBy("r.postId")
        .addGroupBy("r.kind")
        .getRawMany<{ post: string; kind: string; n: number | string }>();
      for (const x of k) reactions.set(`${x.post} ${x.kind}`, Number(x.n));
    }
    return {
      followersBefore,
      newFollowers,
      followers: followers.length,
      posts: posts.map((p) => ({
        id: p.id,
        publishedAt: p.publishedAt,
        text: p.contentText,
        replies: replies.get(p.id) ?? 0,
        boosts: reactions.get(`${p.id} announce`) ?? 0,
        likes: reactions.get(`${p.id} like`) ?? 0,
      })),
      servers: [...hosts]
        .map(([host, n]) => ({ host, followers: n }))
        .sort((a, b) => b.followers - a.followers || a.host.localeCompare(b.host)),
    };
  });
}
