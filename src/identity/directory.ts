/**
 * The directory's write path for people and groups. SCIM (issue: The directory) drives it; the
 * demo organization seeds through it. A person's handle is issued in the same transaction that
 * creates them (DESIGN rule 6).
 */
import { randomUUID } from "node:crypto";
import type { EntityManager } from "typeorm";
import { type Group, GroupMemberSchema, GroupSchema, type Person, PersonSchema } from "./entities.ts";
import { baseHandle, issueHandle } from "./handles.ts";
import { normalizeUserName, userNameKey } from "./user-names.ts";

export interface NewPerson {
  readonly userName: string;
  readonly externalId?: string;
  readonly displayName?: string;
  readonly givenName?: string;
  readonly familyName?: string;
  readonly email?: string;
  readonly title?: string;
  readonly department?: string;
  readonly active?: boolean;
}

export async function createPerson(em: EntityManager, input: NewPerson): Promise<Person> {
  const now = new Date();
  const id = randomUUID();
  const active = input.active ?? true;
  const userName = normalizeUserName(input.userName);
  const person: Person = {
    id,
    userName,
    userNameKey: userNameKey(userName),
    externalId: input.externalId ?? null,
    displayName: input.displayName ?? null,
    givenName: input.givenName ?? null,
    familyName: input.familyName ?? null,
    email: input.email ?? null,
    title: input.title ?? null,
    department: input.department ?? null,
    active,
    handle: await issueHandle(em, baseHandle(userName), "person", id),
    createdAt: now,
    updatedAt: now,
    deactivatedAt: active ? null : now,
    version: 1,
    nickName: null,
    formattedName: null,
    userType: null,
    preferredLanguage: null,
    locale: null,
    timezone: null,
    employeeNumber: null,
    costCenter: null,
    organization: null,
    division: null,
    managerValue: null,
    formerExternalId: null,
    scimDoc: null,
    deletedAt: null,
  };
  await em.getRepository(PersonSchema).insert(person);
  return person;
}

export async function createGroup(
  em: EntityManager,
  input: { displayName: string; externalId?: string },
): Promise<Group> {
  const now = new Date();
  const group: Group = {
    id: randomUUID(),
    displayName: input.displayName,
    displayNameKey: input.displayName.toLowerCase(),
    externalId: input.externalId ?? null,
    createdAt: now,
    updatedAt: now,
    version: 1,
    scimDoc: null,
  };
  await em.getRepository(GroupSchema).insert(group);
  return group;
}

export async function addMembers(
  em: EntityManager,
  groupId: string,
  personIds: readonly string[],
): Promise<void> {
  if (personIds.length === 0) return;
  await em
    .getRepository(GroupMemberSchema)
    .createQueryBuilder()
    .insert()
    .values(personIds.map((personId) => ({ groupId, personId })))
    .orIgnore()
    .execute();
}

export interface DirectorySummary {
  readonly people: readonly Person[];
  readonly groups: readonly (Group & { members: number })[];
}

export async function directorySummary(em: EntityManager, limit = 50): Promise<DirectorySummary> {
  const people = await em.getRepository(PersonSchema).find({ order: { userNameKey: "ASC" }, take: limit });
  const groups = await em.getRepository(GroupSchema).find({ order: { displayNameKey: "ASC" }, take: limit });
  const counts = await em
    .getRepository(GroupMemberSchema)
    .createQueryBuilder("m")
    .select("m.groupId", "groupId")
    .addSelect("COUNT(*)", "n")
    .groupBy("m.groupId")
    .getRawMany<{ groupId: string; n: number | string }>();
  const byGroup = new Map(counts.map((c) => [c.groupId, Number(c.n)]));
  return { people, groups: groups.map((g) => ({ ...g, members: byGroup.get(g.id) ?? 0 })) };
}
