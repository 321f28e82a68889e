/** The directory's tables as TypeORM entity schemas (no decorators: Node strips types only). */
import { EntitySchema } from "typeorm";

export interface Person {
  id: string;
  userName: string;
  userNameKey: string;
  externalId: string | null;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  email: string | null;
  title: string | null;
  department: string | null;
  active: boolean;
  handle: string | null;
  createdAt: Date;
  updatedAt: Date;
  deactivatedAt: Date | null;
  version: number;
}

export interface Group {
  id: string;
  displayName: string;
  displayNameKey: string;
  externalId: string | null;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export interface GroupMember {
  groupId: string;
  personId: string;
}

export type HandleOwnerKind = "person" | "shared" | "org" | "reserved";

export interface HandleRecord {
  handle: string;
  ownerKind: HandleOwnerKind;
  ownerId: string | null;
  issuedAt: Date;
}

export const PersonSchema = new EntitySchema<Person>({
  name: "Person",
  tableName: "person",
  columns: {
    id: { type: "varchar", length: 36, primary: true },
    userName: { name: "user_name", type: "varchar", length: 255 },
    userNameKey: { name: "user_name_key", type: "varchar", length: 255, unique: true },
    externalId: { name: "external_id", type: "varchar", length: 255, nullable: true },
    displayName: { name: "display_name", type: "varchar", length: 255, nullable: true },
    givenName: { name: "given_name", type: "varchar", length: 255, nullable: true },
    familyName: { name: "family_name", type: "varchar", length: 255, nullable: true },
    email: { type: "varchar", length: 320, nullable: true },
    title: { type: "varchar", length: 255, nullable: true },
    department: { type: "varchar", length: 255, nullable: true },
    active: { type: "boolean" },
    handle: { type: "varchar", length: 64, nullable: true },
    createdAt: { name: "created_at", type: "datetime" },
    updatedAt: { name: "updated_at", type: "datetime" },
    deactivatedAt: { name: "deactivated_at", type: "datetime", nullable: true },
    version: { type: "int" },
  },
});

export const GroupSchema = new EntitySchema<Group>({
  name: "Group",
  tableName: "directory_group",
  columns: {
    id: { type: "varchar", length: 36, primary: true },
    displayName: { name: "display_name", type: "varchar", length: 255 },
    displayNameKey: { name: "display_name_key", type: "varchar", length: 255, unique: true },
    externalId: { name: "external_id", type: "varchar", length: 255, nullable: true },
    createdAt: { name: "created_at", type: "datetime" },
    updatedAt: { name: "updated_at", type: "datetime" },
    version: { type: "int" },
  },
});

export const GroupMemberSchema = new EntitySchema<GroupMember>({
  name: "GroupMember",
  tableName: "group_member",
  columns: {
    groupId: { name: "group_id", type: "varchar", length: 36, primary: true },
    personId: { name: "person_id", type: "varchar", length: 36, primary: true },
  },
});

export const HandleSchema = new EntitySchema<HandleRecord>({
  name: "HandleRecord",
  tableName: "handle",
  columns: {
    handle: { type: "varchar", length: 64, primary: true },
    ownerKind: { name: "owner_kind", type: "varchar", length: 16 },
    ownerId: { name: "owner_id", type: "varchar", length: 36, nullable: true },
    issuedAt: { name: "issued_at", type: "datetime" },
  },
});

export const identityEntities = [PersonSchema, GroupSchema, GroupMemberSchema, HandleSchema];
