/**
 * Drafts and approval (FINRA 2210-style pre-approval): a drafter proposes a post for a shared
 * account; someone holding `approve` on it approves or rejects with a comment; only approved
 * drafts are published, and the audit log records both the author and the approver. Nobody
 * approves their own draft (four eyes). A draft is decided exactly once, even under concurrency.
 */
import { randomUUID } from "node:crypto";
import type { Archive } from "../archive/records.ts";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "./accounts.ts";
import type { ActorRow, Visibility } from "./entities.ts";
import type { Posting } from "./posting.ts";
import type { CallerPerson, Directory, Person } from "../identity/directory.ts";
import type { Authz } from "../authz/authz.ts";
import { type EntityManager, In, IsNull } from "typeorm";
import { type AttachedMedia, attachedMedia, MediaSchema } from "../media/entities.ts";

export { type DraftRow, DraftSchema, type DraftStatus } from "./draft-entities.ts";
import { type DraftRow, DraftSchema } from "./draft-entities.ts";

export type DraftOutcome =
  | { readonly ok: true; readonly draft: DraftRow; readonly postUrl?: URL }
  | { readonly ok: false; readonly status: 400 | 403 | 404 | 409; readonly message: string };

/** A renamed account keeps its pending drafts and their images: run in the rename's transaction (accounts.ts). */
export async function moveDrafts(em: EntityManager, fromId: string, toId: string): Promise<void> {
  const pending = await em.getRepository(DraftSchema).findBy({ accountId: fromId, status: "pending" });
  if (pending.length === 0) return;
  await em.getRepository(DraftSchema).update({ accountId: fromId, status: "pending" }, { accountId: toId });
  await em
    .getRepository(MediaSchema)
    .update({ draftId: In(pending.map((d) => d.id)), postId: IsNull() }, { accountId: toId });
}

/**
 * The images a draft carries as the archive lists them: which file (the SHA-256 of the processed
 * bytes) and its alt text, in the draft's order.
 */
async function archivedMedia(em: EntityManager, shown: readonly AttachedMedia[]) {
  if (shown.length === 0) return {};
  const rows = await em.getRepository(MediaSchema).findBy({ id: In(shown.map((m) => m.id)) });
  return {
    media: shown.map((m) => ({
      id: m.id,
      sha256: rows.find((r) => r.id === m.id)?.sha256 ?? null,
      format: m.format,
      description: m.description,
    })),
  };
}

/** What a draft needs of the media service (src/media/service.ts). */
interface DraftMedia {
  attachable(
    ids: readonly string[],
    owner: DraftMediaOwner,
  ): Promise<{ ok: true } | { ok: false; message: string }>;
  hold(
    em: EntityManager,
    ids: readonly string[],
    owner: DraftMediaOwner,
    draftId: string,
  ): Promise<AttachedMedia[]>;
}

/** Whose images a draft takes: the author's for the account (a scheduled status's, when it files it). */
interface DraftMediaOwner {
  personId: string;
  accountId: string;
  scheduledStatusId?: number | string | null;
}

export function createDrafts(deps: {
  db: Database;
  accounts: Accounts;
  posting: Posting;
  authz: Authz;
  directory: Pick<Directory, "personById">;
  /** Drafts and decisions are archived in their transactions; the published post by posting. */
  archive: Archive;
  /** A draft holds its images until it is decided (src/media/service.ts). */
  media?: DraftMedia;
}) {
  const { db, accounts, posting, authz, directory, archive } = deps;

  return {
    async propose(
      author: CallerPerson,
      account: ActorRow,
      input: { text: string; visibility: Visibility; inReplyTo?: string; mediaIds?: readonly string[] },
      meta: Record<string, unknown> = {},
      from: {
        /** The scheduled status filing it (its images are held by that scheduled status). */
        readonly scheduledStatusId?: number | string | null;
        /** Runs in the draft's own transaction after it is written (src/api/scheduled.ts). */
        readonly within?: (em: EntityManager, draft: DraftRow) => Promise<void>;
      } = {},
    ): Promise<DraftOutcome> {
      const decision = await authz.decide(author, "draft", account);
      if (!decision.allow)
        return { ok: false, status: 403, message: `You may not draft for @${account.handle}.` };
      const text = input.text.trim();
      const mediaIds = input.mediaIds ?? [];
      if (text === "" && mediaIds.length === 0)
        return { ok: false, status: 400, message: "A draft needs some text." };
      if (text.length > 5000)
        return { ok: false, status: 400, message: "A post is limited to 5,000 characters." };
      const owner = { personId: author.id, accountId: account.id, scheduledStatusId: from.scheduledStatusId };
      if (mediaIds.length > 0) {
        const usable = deps.media
          ? await deps.media.attachable(mediaIds, owner)
          : { ok: false as const, message: "This process cannot attach images." };
        if (!usable.ok) return { ok: false, status: 400, message: usable.message };
      }
      const draft: DraftRow = {
        id: randomUUID(),
        accountId: account.id,
        authorPersonId: author.id,
        text,
        visibility: input.visibility,
        inReplyToIri: input.inReplyTo ?? null,
        status: "pending",
        createdAt: new Date(),
        decidedBy: null,
        decidedAt: null,
        comment: null,
        postId: null,
        media: null,
      };
      await db.transaction(async (em) => {
        const media =
          mediaIds.length > 0 && deps.media ? await deps.media.hold(em, mediaIds, owner, draft.id) : [];
        draft.media = media.length > 0 ? JSON.stringify(media) : null;
        await em.getRepository(DraftSchema).insert(draft);
        await recordAudit(em, {
          actor: `person:${author.id}`,
          action: "draft.create",
          targetType: "draft",
          targetId: draft.id,
          detail: { account: account.handle, text, decision: decision.rule, ...meta },
        });
        await archive.append(em, {
          kind: "draft.create",
          direction: "internal",
          accountId: account.id,
          accountHandle: account.handle,
          personId: author.id,
          actorLabel: author.displayName ?? author.userName,
          inReplyTo: draft.inReplyToIri,
          subjectId: draft.id,
          content: { text, visibility: draft.visibility, ...(await archivedMedia(em, media)) },
        });
        await from.within?.(em, draft);
      });
      return { ok: true, draft };
    },

    async pending(accountId: string): Promise<DraftRow[]> {
      return db.run((em) =>
        em
          .getRepository(DraftSchema)
          .find({ where: { accountId, status: "pending" }, order: { createdAt: "ASC" } }),
      );
    },

    async byAuthor(personId: string): Promise<DraftRow[]> {
      return db.run((em) =>
        em
          .getRepository(DraftSchema)
          .find({ where: { authorPersonId: personId }, order: { createdAt: "DESC" }, take: 50 }),
      );
    },

    /** Approves (and publishes) or rejects a pending draft. */
    async decide(
      draftId: string,
      approver: Person,
      verdict: "approve" | "reject",
      comment: string,
      meta: Record<string, unknown> = {},
    ): Promise<DraftOutcome> {
      const draft = await db.run((em) => em.getRepository(DraftSchema).findOneBy({ id: draftId }));
      if (!draft) return { ok: false, status: 404, message: "No such draft." };
      const account = await accounts.byId(draft.accountId);
      if (!account) return { ok: false, status: 404, message: "The draft's account no longer exists." };
      const decision = await authz.decide(approver, "approve", account);
      if (!decision.allow)
        return { ok: false, status: 403, message: `You may not approve drafts for @${account.handle}.` };
      if (draft.authorPersonId === approver.id)
        return { ok: false, status: 403, message: "Someone else must approve your own draft." };
      if (draft.status !== "pending")
        return { ok: false, status: 409, message: `This draft was already ${draft.status}.` };
      // The author must still be someone who may draft here (not deactivated, still in the group).
      if (verdict === "approve" && !(await authz.decide(draft.authorPersonId, "draft", account)).allow)
        return {
          ok: false,
          status: 409,
          message:
            "The author may no longer write for this account (left the group or the company); reject it instead.",
        };
      // Claim it: exactly one decision wins.
      const claimed = await db.transaction(async (em) => {
        const r = await em
          .getRepository(DraftSchema)
          .createQueryBuilder()
          .update()
          .set({
            status: verdict === "approve" ? "approved" : "rejected",
            decidedBy: approver.id,
            decidedAt: new Date(),
            comment: comment.trim().slice(0, 2000) || null,
          })
          .where("id = :id AND status = :pending", { id: draftId, pending: "pending" })
          .execute();
        if (r.affected !== 1) return false;
        await recordAudit(em, {
          actor: `person:${approver.id}`,
          action: verdict === "approve" ? "draft.approve" : "draft.reject",
          targetType: "draft",
          targetId: draftId,
          detail: {
            account: account.handle,
            comment: comment.trim() || undefined,
            decision: decision.rule,
            ...meta,
          },
        });
        await archive.append(em, {
          kind: verdict === "approve" ? "draft.approve" : "draft.reject",
          direction: "internal",
          accountId: account.id,
          accountHandle: account.handle,
          personId: approver.id,
          actorLabel: approver.displayName ?? approver.userName,
          approverId: approver.id,
          inReplyTo: draft.inReplyToIri,
          subjectId: draftId,
          content: {
            verdict,
            comment: comment.trim() || null,
            draftAuthorPersonId: draft.authorPersonId,
            text: draft.text,
            visibility: draft.visibility,
            ...(await archivedMedia(em, attachedMedia(draft))),
          },
        });
        return true;
      });
      if (!claimed)
        return { ok: false, status: 409, message: "This draft was decided a moment ago by someone else." };
      const decided = (await db.run((em) => em.getRepository(DraftSchema).findOneBy({ id: draftId })))!;
      if (verdict === "reject") return { ok: true, draft: decided };
      const authorRow = await directory.personById(draft.authorPersonId);
      const result = await posting.post({
        actorId: account.id,
        text: draft.text,
        visibility: draft.visibility as Visibility,
        inReplyTo: draft.inReplyToIri ?? undefined,
        mediaIds: attachedMedia(draft).map((m) => m.id),
        author: {
          personId: draft.authorPersonId,
          label: authorRow?.displayName ?? authorRow?.userName ?? "?",
        },
        audit: {
          draftId,
          approvedBy: approver.userName,
          approverId: approver.id,
          approval: decision.rule,
          ...meta,
        },
        provenance: { approverPersonId: approver.id, draftId },
      });
      if (!result.ok) {
        // Back to the queue, with the reason: nothing is lost.
        await db.run((em) =>
          em
            .getRepository(DraftSchema)
            .update(
              { id: draftId },
              { status: "pending", decidedBy: null, decidedAt: null, comment: result.message },
            ),
        );
        return { ok: false, status: 409, message: result.message };
      }
      await db.run((em) => em.getRepository(DraftSchema).update({ id: draftId }, { postId: result.post.id }));
      return { ok: true, draft: { ...decided, postId: result.post.id }, postUrl: result.url };
    },
  };
}

export type Drafts = ReturnType<typeof createDrafts>;
