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

export const authzEntities = [GrantSchema, AuthzStateSchema];
