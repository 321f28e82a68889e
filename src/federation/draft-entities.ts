/**
 * The draft table's row and schema, apart from the drafts service (drafts.ts) so that the
 * directory's erasure (src/identity/erase.ts) can discard an erased person's pending drafts
 * without importing the service and, through it, posting and the directory itself.
 */
import { EntitySchema } from "typeorm";

/** `discarded`: its author's record was erased while it waited (src/identity/erase.ts). */
export type DraftStatus = "pending" | "approved" | "rejected" | "withdrawn" | "discarded";

export interface DraftRow {
  id: string;
  accountId: string;
  authorPersonId: string;
  text: string;
  visibility: string;
  inReplyToIri: string | null;
  status: DraftStatus;
  createdAt: Date;
  decidedBy: string | null;
  decidedAt: Date | null;
  comment: string | null;
  postId: string | null;
  /** JSON: the images it carries, as `post.media` (src/media/entities.ts AttachedMedia[]); null: none. */
  media?: string | null;
}

export const DraftSchema = new EntitySchema<DraftRow>({
  name: "Draft",
  tableName: "draft",
  columns: {
    id: { type: "varchar", primary: true },
    accountId: { name: "account_id", type: "varchar" },
    authorPersonId: { name: "author_person_id", type: "varchar" },
    text: { type: "text" },
    visibility: { type: "varchar" },
    inReplyToIri: { name: "in_reply_to_iri", type: "varchar", nullable: true },
    status: { type: "varchar" },
    createdAt: { name: "created_at", type: "datetime" },
    decidedBy: { name: "decided_by", type: "varchar", nullable: true },
    decidedAt: { name: "decided_at", type: "datetime", nullable: true },
    comment: { type: "text", nullable: true },
    postId: { name: "post_id", type: "varchar", nullable: true },
    media: { type: "text", nullable: true },
  },
});
