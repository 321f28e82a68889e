/**
 * A status from the client API, published or drafted as Casbin decides now: one path for a
 * client's POST /api/v1/statuses and for a scheduled status the worker publishes later. Who may
 * post (or reply) publishes; who may only draft files a draft awaiting approval (decision 0013);
 * anyone else is refused. The audit record and the archive name the person, the app and the token.
 */
import type { EntityManager } from "typeorm";
import type { Decider } from "../authz/authz.ts";
import type { Drafts } from "../federation/drafts.ts";
import type { ActorRow, PostRow, Visibility } from "../federation/entities.ts";
import type { Posting } from "../federation/posting.ts";
import type { CallerPerson } from "../identity/directory.ts";

/** Who speaks: the person, the account, this moment's decisions, and through which app and token. */
export interface Speaker {
  readonly person: CallerPerson;
  readonly account: ActorRow;
  readonly can: Decider;
  readonly app: { readonly id: string | null; readonly name: string | null };
  readonly tokenId: string | null;
}

export interface StatusInput {
  readonly text: string;
  readonly visibility: Visibility;
  /** The IRI of the note replied to. */
  readonly inReplyTo?: string;
  readonly language?: string;
  /** Uploaded images to attach (POST /api/v1/media), up to four. */
  readonly mediaIds?: readonly string[];
}

export type Published =
  | { readonly kind: "post"; readonly post: PostRow }
  | { readonly kind: "draft"; readonly draftId: string }
  | { readonly kind: "refused"; readonly status: number; readonly message: string };

/** For a scheduled status: whose images, and what to record in the same transaction. */
export interface PublishFrom {
  readonly scheduledStatusId: string;
  /** Runs in the post's (or draft's) transaction; throwing undoes the post (or draft). */
  readonly within: (em: EntityManager, made: { kind: "post" | "draft"; id: string }) => Promise<void>;
}

export function createPublisher(deps: { posting: Posting; drafts: Drafts }) {
  const { posting, drafts } = deps;

  /** What the app, the token and the person were, for the audit log and the archive. */
  const pressedSend = (s: Speaker, decision: string, extra: Record<string, unknown>) => ({
    via: "api",
    personId: s.person.id,
    userName: s.person.userName,
    app: s.app.name,
    appId: s.app.id,
    tokenId: s.tokenId,
    decision,
    ...extra,
  });

  return {
    pressedSend,

    async publish(
      s: Speaker,
      input: StatusInput,
      extra: Record<string, unknown> = {},
      from?: PublishFrom,
    ): Promise<Published> {
      const direct = await s.can(input.inReplyTo ? "reply" : "post", s.account);
      if (!direct.allow) {
        const asDraft = await s.can("draft", s.account);
        if (!asDraft.allow)
          return {
            kind: "refused",
            status: 403,
            message: `This action is not allowed: you may not post as @${s.account.handle}`,
          };
        // A draft holds its images until it is decided (the approver sees them; approval posts them).
        const r = await drafts.propose(
          s.person,
          s.account,
          {
            text: input.text,
            visibility: input.visibility,
            inReplyTo: input.inReplyTo,
            mediaIds: input.mediaIds,
          },
          pressedSend(s, asDraft.rule, extra),
          from && {
            scheduledStatusId: from.scheduledStatusId,
            within: (em, draft) => from.within(em, { kind: "draft", id: draft.id }),
          },
        );
        if (!r.ok) return { kind: "refused", status: r.status === 400 ? 422 : r.status, message: r.message };
        return { kind: "draft", draftId: r.draft.id };
      }
      const result = await posting.post({
        actorId: s.account.id,
        text: input.text,
        visibility: input.visibility,
        inReplyTo: input.inReplyTo,
        language: input.language,
        mediaIds: input.mediaIds,
        author: { personId: s.person.id, label: s.person.displayName ?? s.person.userName },
        audit: pressedSend(s, direct.rule, extra),
        provenance: { app: s.app.name, tokenId: s.tokenId, scheduledStatusId: from?.scheduledStatusId },
        within: from && ((em, post) => from.within(em, { kind: "post", id: post.id })),
      });
      if (!result.ok)
        return {
          kind: "refused",
          status: result.reason === "invalid" ? 422 : result.reason === "not-found" ? 404 : 409,
          message: result.message,
        };
      return { kind: "post", post: result.post };
    },
  };
}

export type Publisher = ReturnType<typeof createPublisher>;
