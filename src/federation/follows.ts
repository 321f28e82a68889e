/**
 * Our actors following remote ones: the one place a Follow is made, whether an operator asked for
 * it (posting.ts) or a followed account moved (the inbox's Move handler, ActivityPub §7.1 and
 * Mastodon's Move). Our Follows have ids `<actor>#follows/<uuid>`, so an Accept or Reject that
 * embeds one is matched by that id alone (inbox.ts).
 */
import { randomUUID } from "node:crypto";
import type { Context } from "@fedify/fedify";
import { type Actor, Follow } from "@fedify/vocab";
import { type Archive, personOf } from "../archive/records.ts";
import type { Database } from "../db/database.ts";
import type { FederationContextData } from "./context.ts";
import { type ActorRow, FollowingSchema, iriHash } from "./entities.ts";

/** The follow id in one of our Follow ids, or undefined if `iri` is not one. */
export function ourFollowId(iri: URL | null): string | undefined {
  return iri ? /#follows\/([0-9a-f-]{36})$/.exec(iri.href)?.[1] : undefined;
}

/**
 * Records a pending follow of `remote` by our actor (and archives it, in the same transaction) and
 * sends it the Follow; false (nothing done) if the remote actor has no id or inbox to send to.
 * `by` is who asked (`person:<id>`, `cli:<user>`, `system` for a followed account's Move).
 */
export async function sendFollow(
  ctx: Context<FederationContextData>,
  db: Database,
  archive: Archive,
  actor: Pick<ActorRow, "id" | "handle">,
  remote: Actor,
  by: string,
): Promise<boolean> {
  const actorId = actor.id;
  const target = remote.id;
  const inbox = remote.inboxId;
  if (!target || !inbox) return false;
  const followId = randomUUID();
  await db.transaction(async (em) => {
    await em.getRepository(FollowingSchema).save({
      actorId,
      targetHash: iriHash(target),
      targetIri: target.href,
      targetInboxIri: inbox.href,
      followId,
      status: "pending",
      createdAt: new Date(),
    });
    await archive.append(em, {
      kind: "follow.request",
      direction: "out",
      accountId: actorId,
      accountHandle: actor.handle,
      personId: personOf(by),
      actorLabel: by,
      remoteActor: target.href,
      objectIri: new URL(`#follows/${followId}`, ctx.getActorUri(actorId)).href,
      content: { followId },
    });
  });
  await ctx.sendActivity(
    { identifier: actorId },
    remote,
    new Follow({
      id: new URL(`#follows/${followId}`, ctx.getActorUri(actorId)),
      actor: ctx.getActorUri(actorId),
      object: target,
    }),
  );
  return true;
}
