/** Posts as ActivityStreams Notes (the object dispatcher, the outbox and delivery share this). */
import type { Context } from "@fedify/fedify";
import { Hashtag, LanguageString, Mention, Note, PUBLIC_COLLECTION } from "@fedify/vocab";
import { Temporal } from "@js-temporal/polyfill";
import { attachedMedia } from "../media/entities.ts";
import { documentOf } from "./documents.ts";
import type { ActorRow, PostRow } from "./entities.ts";

export function noteUrl(origin: URL, handle: string, postId: string): URL {
  return new URL(`/@${handle}/${postId}`, origin);
}

/** Addressing by visibility (Mastodon's conventions). */
export function addressing(
  ctx: Context<unknown>,
  actorId: string,
  visibility: PostRow["visibility"],
  mentioned: URL[],
) {
  const followers = ctx.getFollowersUri(actorId);
  switch (visibility) {
    case "public":
      return { tos: [PUBLIC_COLLECTION], ccs: [followers, ...mentioned] };
    case "unlisted":
      return { tos: [followers], ccs: [PUBLIC_COLLECTION, ...mentioned] };
    case "followers":
      return { tos: [followers], ccs: mentioned };
    case "direct":
      return { tos: mentioned, ccs: [] };
  }
}

export function noteOf(ctx: Context<unknown>, origin: URL, actor: ActorRow, post: PostRow): Note {
  const mentions = (post.mentions ? JSON.parse(post.mentions) : []) as { href: string; name: string }[];
  const hashtags = (post.hashtags ? JSON.parse(post.hashtags) : []) as string[];
  const { tos, ccs } = addressing(
    ctx,
    actor.id,
    post.visibility,
    mentions.map((m) => new URL(m.href)),
  );
  return new Note({
    id: ctx.getObjectUri(Note, { id: post.id }),
    attribution: ctx.getActorUri(actor.id),
    // With a language, content is also given as a language map (contentMap), as Mastodon does.
    ...(post.language
      ? { contents: [post.contentHtml, new LanguageString(post.contentHtml, post.language)] }
      : { content: post.contentHtml }),
    url: noteUrl(origin, actor.handle, post.id),
    published: Temporal.Instant.fromEpochMilliseconds(post.publishedAt.getTime()) as never,
    updated: post.updatedAt
      ? (Temporal.Instant.fromEpochMilliseconds(post.updatedAt.getTime()) as never)
      : null,
    replyTarget: post.inReplyToIri ? new URL(post.inReplyToIri) : null,
    attachments: attachedMedia(post).map((m) => documentOf(origin, m)),
    tos,
    ccs,
    tags: [
      ...mentions.map((m) => new Mention({ href: new URL(m.href), name: m.name })),
      ...hashtags.map(
        (t) => new Hashtag({ href: new URL(`/tags/${encodeURIComponent(t)}`, origin), name: `#${t}` }),
      ),
    ],
  });
}
