/**
 * What an account's audience did (the insights page, issue 17): followers over time, replies,
 * boosts and likes per post, and the servers followers come from — read from federation's own
 * tables (follower, post, inbound_message, reaction), each query bounded.
 *
 * Followers over time is follows minus unfollows, day by day, from the follower history
 * (follower-history.ts, migration 0025): someone who followed on the 3rd and left on the 5th
 * counts on the 3rd and 4th only. Followers who left before that migration left no trace.
 */
import { In, IsNull, LessThan, MoreThanOrEqual } from "typeorm";
import type { Database } from "../db/database.ts";
import {
  FollowerEventSchema,
  FollowerSchema,
  InboundSchema,
  PostSchema,
  ReactionSchema,
} from "./entities.ts";
import { followerHost } from "./follower-history.ts";

export interface PostInsight {
  readonly id: string;
  readonly publishedAt: Date;
  readonly text: string;
  readonly replies: number;
  readonly boosts: number;
  readonly likes: number;
}

export interface Insights {
  /** Followers (accepted) at the start of the first day shown: follows minus unfollows before it. */
  readonly followersBefore: number;
  /** Per day (YYYY-MM-DD, UTC) of the window: followers gained that day. */
  readonly newFollowers: ReadonlyMap<string, number>;
  /** Per day of the window: followers lost that day (Undo Follow, blocks, domain blocks). */
  readonly lostFollowers: ReadonlyMap<string, number>;
  /** Followers now (the follower table). */
  readonly followers: number;
  readonly posts: readonly PostInsight[];
  /** Follower counts by server host, most first. */
  readonly servers: readonly { host: string; followers: number }[];
}

const MAX_FOLLOWERS = 100_000;
/** A bound on the history one chart reads (30 days of a popular account's comings and goings). */
const MAX_FOLLOWER_EVENTS = 200_000;

export async function accountInsights(
  db: Database,
  actorId: string,
  options: { since: Date; posts?: number },
): Promise<Insights> {
  return db.run(async (em) => {
    const followers = await em.getRepository(FollowerSchema).find({
      select: { followerIri: true },
      where: { actorId, status: "accepted" },
      take: MAX_FOLLOWERS,
    });
    const hosts = new Map<string, number>();
    for (const f of followers) {
      const host = followerHost(f.followerIri);
      hosts.set(host, (hosts.get(host) ?? 0) + 1);
    }
    const history = em.getRepository(FollowerEventSchema);
    const earlier = await history
      .createQueryBuilder("e")
      .select("e.kind", "kind")
      .addSelect("COUNT(*)", "n")
      .where({ actorId, at: LessThan(options.since) })
      .groupBy("e.kind")
      .getRawMany<{ kind: string; n: number | string }>();
    const before = (kind: string) => Number(earlier.find((r) => r.kind === kind)?.n ?? 0);
    const followersBefore = before("follow") - before("unfollow");
    const newFollowers = new Map<string, number>();
    const lostFollowers = new Map<string, number>();
    for (const e of await history.find({
      select: { kind: true, at: true },
      where: { actorId, at: MoreThanOrEqual(options.since) },
      take: MAX_FOLLOWER_EVENTS,
    })) {
      const day = e.at.toISOString().slice(0, 10);
      const perDay = e.kind === "follow" ? newFollowers : lostFollowers;
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
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
      lostFollowers,
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
