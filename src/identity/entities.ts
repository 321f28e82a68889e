/** The directory's tables as TypeORM entity schemas (no decorators: Node strips types only). */
import { EntitySchema } from "typeorm";
import { DomainEventSchema, EventCursorSchema } from "./events.ts";

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
  nickName: string | null;
  formattedName: string | null;
  userType: string | null;
  preferredLanguage: string | null;
  locale: string | null;
  timezone: string | null;
  employeeNumber: string | null;
  costCenter: string | null;
  organization: string | null;
  division: string | null;
  managerValue: string | null;
  formerExternalId: string | null;
  /** The SCIM resource as last written by the IdP (JSON, without password or server attributes). */
  scimDoc: string | null;
  deletedAt: Date | null;
  /** `herald person erase`: the record was emptied, keeping only its handle and dates (erase.ts). */
  erasedAt?: Date | null;
}

export interface PersonEmail {
  personId: string;
  position: number;
  value: string;
  valueKey: string;
  type: string | null;
  isPrimary: boolean;
}

export interface Group {
  id: string;
  displayName: string;
  displayNameKey: string;
  externalId: string | null;
  createdAt: Date;
  updatedAt: Date;
  version: number;
  scimDoc: string | null;
}

export interface GroupMember {
  groupId: string;
  personId: string;
  /** The member display the IdP sent, if any. */
  display?: string | null;
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
    nickName: { name: "nick_name", type: "varchar", nullable: true },
    formattedName: { name: "formatted_name", type: "varchar", nullable: true },
    userType: { name: "user_type", type: "varchar", nullable: true },
    preferredLanguage: { name: "preferred_language", type: "varchar", nullable: true },
    locale: { type: "varchar", nullable: true },
    timezone: { type: "varchar", nullable: true },
    employeeNumber: { name: "employee_number", type: "varchar", nullable: true },
    costCenter: { name: "cost_center", type: "varchar", nullable: true },
    organization: { type: "varchar", nullable: true },
    division: { type: "varchar", nullable: true },
    managerValue: { name: "manager_value", type: "varchar", nullable: true },
    formerExternalId: { name: "former_external_id", type: "varchar", nullable: true },
    scimDoc: { name: "scim_doc", type: "text", nullable: true },
    deletedAt: { name: "deleted_at", type: "datetime", nullable: true },
    erasedAt: { name: "erased_at", type: "datetime", nullable: true },
  },
});

export const PersonEmailSchema = new EntitySchema<PersonEmail>({
  name: "PersonEmail",
  tableName: "person_email",
  columns: {
    personId: { name: "person_id", type: "varchar", length: 36, primary: true },
    position: { type: "int", primary: true },
    value: { type: "varchar", length: 320 },
    valueKey: { name: "value_key", type: "varchar", length: 320 },
    type: { type: "varchar", length: 64, nullable: true },
    isPrimary: { name: "is_primary", type: "boolean" },
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
    scimDoc: { name: "scim_doc", type: "text", nullable: true },
  },
});

export const GroupMemberSchema = new EntitySchema<GroupMember>({
  name: "GroupMember",
  tableName: "group_member",
  columns: {
    groupId: { name: "group_id", type: "varchar", length: 36, primary: true },
    personId: { name: "person_id", type: "varchar", length: 36, primary: true },
    display: { type: "varchar", length: 255, nullable: true },
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

export const identityEntities = [
  PersonSchema,
  PersonEmailSchema,
  GroupSchema,
  GroupMemberSchema,
  HandleSchema,
  DomainEventSchema,
  EventCursorSchema,
];
