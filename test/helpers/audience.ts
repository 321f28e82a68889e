/**
 * An account's audience, written straight into federation's tables as the inbox would have
 * stored it (with the follower history): followers on a.example (2) and b.example (1), one post with 2 replies, 1 boost and
 * 3 likes (the insights page's numbers).
 */
import { randomUUID } from "node:crypto";
import type { Database } from "../../src/db/database.ts";
import { FollowerSchema, InboundSchema, PostSchema, ReactionSchema } from "../../src/federation/entities.ts";
import { recordFollow } from "../../src/federation/follower-history.ts";

export async function seedAudience(
  db: Database,
  actorId: string,
  now = new Date(),
): Promise<{ postId: string }> {
  const postId = randomUUID();
  await db.run(async (em) => {
    await em.getRepository(PostSchema).insert({
      id: postId,
      actorId,
      authorPersonId: null,
      authorLabel: "test",
      contentHtml: "<p>We are hiring</p>",
      contentText: "We are hiring",
      language: "en",
      visibility: "public",
      inReplyToIri: null,
      mentions: null,
      hashtags: null,
      publishedAt: now,
      updatedAt: null,
      deletedAt: null,
    });
    const followers = ["https://a.example/u/1", "https://a.example/u/2", "https://b.example/u/3"];
    for (const [i, iri] of followers.entries())
      await em.getRepository(FollowerSchema).insert({
        actorId,
        followerHash: `h${i}`,
        followerIri: iri,
        inboxIri: `${iri}/inbox`,
        sharedInboxIri: null,
        followIri: null,
        status: "accepted",
        createdAt: now,
      });
    for (const i of followers.keys()) await recordFollow(em, actorId, `h${i}`, now);
    for (let i = 0; i < 2; i++)
      await em.getRepository(InboundSchema).insert({
        id: randomUUID(),
        actorId,
        objectHash: `o${i}`,
        objectIri: `https://a.example/n/${i}`,
        remoteActorIri: "https://a.example/u/1",
        kind: "reply",
        contentHtml: "<p>hi</p>",
        inReplyToPostId: postId,
        url: null,
        publishedAt: now,
        receivedAt: now,
        updatedAt: null,
        deletedAt: null,
        raw: null,
      });
    const reactions: ["like" | "announce", string][] = [
      ["like", "l1"],
      ["like", "l2"],
      ["like", "l3"],
      ["announce", "b1"],
    ];
    for (const [kind, h] of reactions)
      await em
        .getRepository(ReactionSchema)
        .insert({ postId, kind, remoteActorHash: h, activityHash: h, createdAt: now });
  });
  return { postId };
}
