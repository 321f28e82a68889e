/** Grants (who holds which role on which account), the policy version, and drafts for approval. */
import { EntitySchema } from "typeorm";

export type SubjectKind = "group" | "user";

export interface GrantRow {
  id: string;
  subjectKind: SubjectKind;
  /** The group's or person's id: a re-created group of the same name does not inherit. */
  subjectId: string;
  /** What the subject was called when granted (for listings after a rename or deletion). */
  subjectLabel: string;
  role: string;
  /** An actor id, or "org" for the organization-wide roles. */
  accountId: string;
  createdBy: string;
  createdAt: Date;
}

export const GrantSchema = new EntitySchema<GrantRow>({
  name: "Grant",
  tableName: "authz_grant",
  columns: {
    id: { type: "varchar", primary: true },
    subjectKind: { name: "subject_kind", type: "varchar" },
    subjectId: { name: "subject_id", type: "varchar" },
    subjectLabel: { name: "subject_label", type: "varchar" },
    role: { type: "varchar" },
    accountId: { name: "account_id", type: "varchar" },
    createdBy: { name: "created_by", type: "varchar" },
    createdAt: { name: "created_at", type: "datetime" },
  },
});

export interface AuthzStateRow {
  id: number;
  /** Bumped with every grant or revocation: processes reload their enforcer when it moves. */
  version: number;
}

export const AuthzStateSchema = new EntitySchema<AuthzStateRow>({
  name: "AuthzState",
  tableName: "authz_state",
  columns: {
    id: { type: "int", primary: true },
    version: { type: "int" },
  },
});

export type DraftStatus = "pending" | "approved" | "rejected" | "withdrawn";

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
  },
});

export const authzEntities = [GrantSchema, AuthzStateSchema, DraftSchema];
