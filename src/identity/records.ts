/**
 * The Directory's rows inside a transaction: reading, locking and writing people, their addresses,
 * groups and memberships (src/identity/directory.ts composes these into commands and reads). Only
 * identity/ uses this module.
 */
import { type EntityManager, In, IsNull } from "typeorm";
import {
  type Group,
  GroupMemberSchema,
  GroupSchema,
  type Person,
  type PersonEmail,
  PersonEmailSchema,
  PersonSchema,
} from "./entities.ts";
import type { DirectoryEvent } from "./events.ts";
import type {
  GroupEntry,
  GroupRef,
  MemberInput,
  MemberRef,
  PersonEntry,
  PersonWrite,
  Refusal,
} from "./model.ts";
import { normalizeUserName, userNameKey } from "./user-names.ts";

/** A row lock for read-modify-write (MySQL; SQLite transactions are serial anyway). */
export type RowLock = { readonly mode: "pessimistic_write" };

/** Thrown inside a transaction to roll it back; the command answers it as a value. */
export class Refused extends Error {
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    super(refusal.reason);
    this.refusal = refusal;
  }
}

/** Marks a deleted person's userName key so the name is free for a new hire (not the handle). */
export const deletedKey = (id: string) => `\u0001deleted:${id}`;

export { isUniqueViolation } from "../db/errors.ts";

export const parseDoc = (text: string | null): Record<string, unknown> =>
  text ? (JSON.parse(text) as Record<string, unknown>) : {};

/** Events that follow from the change of one person. */
export function personEvents(before: Person, after: Person): DirectoryEvent[] {
  const events: DirectoryEvent[] = [];
  if (before.userName !== after.userName) {
    events.push({
      type: "person.updated",
      personId: after.id,
      renamed: { from: before.userName, to: after.userName },
    });
  } else {
    events.push({ type: "person.updated", personId: after.id });
  }
  if (before.active && !after.active) events.push({ type: "person.deactivated", personId: after.id });
  if (!before.active && after.active) events.push({ type: "person.reactivated", personId: after.id });
  return events;
}

/** The columns a write sets (userName in NFC, its key, the primary address). */
export function personColumns(w: PersonWrite) {
  const f = w.fields;
  const userName = normalizeUserName(f.userName);
  const primary = w.emails.find((e) => e.primary) ?? w.emails[0];
  return {
    userName,
    userNameKey: userNameKey(userName),
    externalId: f.externalId ?? null,
    displayName: f.displayName ?? null,
    givenName: f.givenName ?? null,
    familyName: f.familyName ?? null,
    formattedName: f.formattedName ?? null,
    nickName: f.nickName ?? null,
    title: f.title ?? null,
    userType: f.userType ?? null,
    preferredLanguage: f.preferredLanguage ?? null,
    locale: f.locale ?? null,
    timezone: f.timezone ?? null,
    email: primary?.value ?? null,
    employeeNumber: f.employeeNumber ?? null,
    costCenter: f.costCenter ?? null,
    organization: f.organization ?? null,
    division: f.division ?? null,
    department: f.department ?? null,
    managerValue: f.managerValue ?? null,
    scimDoc: w.document ? JSON.stringify(w.document) : null,
  } satisfies Partial<Person>;
}

/** What the audit log keeps of a write: the IdP's record, or the fields when there is none. */
export const auditDoc = (w: PersonWrite) => w.document ?? w.fields;

export async function groupsOf(
  em: EntityManager,
  personIds: readonly string[],
): Promise<Map<string, GroupRef[]>> {
  const out = new Map<string, GroupRef[]>();
  if (personIds.length === 0) return out;
  const rows = await em
    .getRepository(GroupMemberSchema)
    .createQueryBuilder("m")
    .innerJoin(GroupSchema.options.tableName!, "g", "g.id = m.group_id")
    .select(["m.person_id AS personId", "g.id AS id", "g.display_name AS displayName"])
    .where("m.person_id IN (:...ids)", { ids: personIds })
    .orderBy("g.display_name_key")
    .getRawMany<{ personId: string; id: string; displayName: string }>();
  for (const r of rows) {
    const list = out.get(r.personId) ?? [];
    list.push({ id: r.id, displayName: r.displayName });
    out.set(r.personId, list);
  }
  return out;
}

export async function membersOf(
  em: EntityManager,
  groupIds: readonly string[],
): Promise<Map<string, MemberRef[]>> {
  const out = new Map<string, MemberRef[]>();
  for (const id of groupIds) out.set(id, []);
  if (groupIds.length === 0) return out;
  const rows = await em
    .getRepository(GroupMemberSchema)
    .createQueryBuilder("m")
    .innerJoin(PersonSchema.options.tableName!, "u", "u.id = m.person_id")
    .select([
      "m.group_id AS groupId",
      "m.display AS memberDisplay",
      "u.id AS id",
      "u.display_name AS displayName",
      "u.user_name AS userName",
    ])
    .where("m.group_id IN (:...ids)", { ids: groupIds })
    .orderBy("u.user_name_key")
    .getRawMany<{
      groupId: string;
      memberDisplay: string | null;
      id: string;
      displayName: string | null;
      userName: string;
    }>();
  for (const r of rows)
    out.get(r.groupId)?.push({ id: r.id, display: r.memberDisplay ?? r.displayName ?? r.userName });
  return out;
}

/** A person who is in the directory (not deleted), locked for the update on MySQL. */
export async function findPerson(em: EntityManager, id: string, lock?: RowLock): Promise<Person> {
  const person = await em.getRepository(PersonSchema).findOne({
    where: { id, deletedAt: IsNull() },
    ...(lock ? { lock } : {}),
  });
  if (!person) throw new Refused({ ok: false, reason: "not-found" });
  return person;
}

export async function findGroup(em: EntityManager, id: string, lock?: RowLock): Promise<Group> {
  const group = await em.getRepository(GroupSchema).findOne({
    where: { id },
    ...(lock ? { lock } : {}),
  });
  if (!group) throw new Refused({ ok: false, reason: "not-found" });
  return group;
}

export async function entryOf(em: EntityManager, person: Person): Promise<PersonEntry> {
  return { person, groups: (await groupsOf(em, [person.id])).get(person.id) ?? [] };
}

export async function groupEntry(em: EntityManager, group: Group, withMembers = true): Promise<GroupEntry> {
  return withMembers ? { group, members: (await membersOf(em, [group.id])).get(group.id) } : { group };
}

export async function assertUserNameFree(em: EntityManager, key: string, userName: string, selfId?: string) {
  const byName = await em.getRepository(PersonSchema).findOneBy({ userNameKey: key });
  if (byName && byName.id !== selfId) throw new Refused({ ok: false, reason: "user-name-taken", userName });
  // externalId is not checked: RFC 7643 §3.1 leaves its uniqueness to the client
  // (docs/decisions/0003-scim-external-id.md).
}

export async function assertGroupNameFree(em: EntityManager, displayName: string, selfId?: string) {
  const byName = await em.getRepository(GroupSchema).findOneBy({ displayNameKey: displayName.toLowerCase() });
  if (byName && byName.id !== selfId)
    throw new Refused({ ok: false, reason: "group-name-taken", displayName });
}

export async function writeEmails(
  em: EntityManager,
  personId: string,
  w: PersonWrite,
  fresh = false,
): Promise<void> {
  const repo = em.getRepository(PersonEmailSchema);
  if (!fresh) await repo.delete({ personId });
  const rows: PersonEmail[] = w.emails.map((e, position) => ({
    personId,
    position,
    value: e.value,
    valueKey: e.value.toLowerCase(),
    type: e.type,
    isPrimary: e.primary,
  }));
  // In chunks: one INSERT of every address would pass the drivers' bound-parameter limits
  // (SQLite 32,766; MySQL 65,535) at a few thousand addresses, which a 1 MiB body can hold.
  for (let i = 0; i < rows.length; i += 500) await repo.insert(rows.slice(i, i + 500));
}

/**
 * The deleted person a create restores (DESIGN rule 6): one whose externalId is the new one's
 * AND whose userName or primary email is too. An externalId alone is not enough: IdPs reuse
 * them (Entra maps mailNickname to externalId by default, and aliases get reused), and the
 * handle must not go to someone else. Only an unambiguous match counts.
 */
export async function findRehire(
  em: EntityManager,
  columns: ReturnType<typeof personColumns>,
): Promise<{ former: Person | null; matchedOn?: "userName" | "email"; unmatched: string[] }> {
  if (columns.externalId === null) return { former: null, unmatched: [] };
  const candidates = await em
    .getRepository(PersonSchema)
    .find({ where: { formerExternalId: columns.externalId }, order: { deletedAt: "DESC" }, take: 50 });
  const email = columns.email?.toLowerCase() ?? null;
  const matches: { person: Person; on: "userName" | "email" }[] = [];
  const unmatched: string[] = [];
  for (const c of candidates) {
    if (userNameKey(c.userName) === columns.userNameKey) matches.push({ person: c, on: "userName" });
    else if (email !== null && c.email?.toLowerCase() === email) matches.push({ person: c, on: "email" });
    else unmatched.push(c.id);
  }
  if (matches.length !== 1)
    return { former: null, unmatched: [...unmatched, ...matches.map((m) => m.person.id)] };
  return { former: matches[0].person, matchedOn: matches[0].on, unmatched };
}

export async function resolveMembers(em: EntityManager, ids: readonly string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return [];
  const found = new Set<string>();
  for (let i = 0; i < unique.length; i += 500) {
    const chunk = unique.slice(i, i + 500);
    const rows = await em.getRepository(PersonSchema).find({
      select: { id: true },
      where: { id: In(chunk), deletedAt: IsNull() },
    });
    for (const r of rows) found.add(r.id);
  }
  const missing = unique.filter((id) => !found.has(id));
  if (missing.length > 0) {
    const groups = await em.getRepository(GroupSchema).countBy({ id: In(missing.slice(0, 100)) });
    throw new Refused(
      groups > 0
        ? { ok: false, reason: "nested-group" }
        : { ok: false, reason: "unknown-members", ids: missing },
    );
  }
  return unique;
}

export async function setMembers(
  em: EntityManager,
  groupId: string,
  add: readonly MemberInput[],
  remove: readonly string[],
): Promise<{ added: string[]; removed: string[] }> {
  const repo = em.getRepository(GroupMemberSchema);
  const toRemove = [...new Set(remove)];
  const removed: string[] = [];
  for (let i = 0; i < toRemove.length; i += 500) {
    const chunk = toRemove.slice(i, i + 500);
    const existing = await repo.find({ where: { groupId, personId: In(chunk) } });
    if (existing.length > 0) {
      await repo.delete({ groupId, personId: In(existing.map((e) => e.personId)) });
      removed.push(...existing.map((e) => e.personId));
    }
  }
  const toAdd = await resolveMembers(
    em,
    add.map((m) => m.personId),
  );
  const displays = new Map(add.map((m) => [m.personId, m.display]));
  const added: string[] = [];
  for (let i = 0; i < toAdd.length; i += 500) {
    const chunk = toAdd.slice(i, i + 500);
    const existing = new Set(
      (await repo.find({ where: { groupId, personId: In(chunk) } })).map((e) => e.personId),
    );
    const fresh = chunk.filter((id) => !existing.has(id));
    if (fresh.length > 0) {
      await repo.insert(
        fresh.map((personId) => ({ groupId, personId, display: displays.get(personId) ?? null })),
      );
      added.push(...fresh);
    }
  }
  return { added, removed };
}

export async function memberIds(em: EntityManager, groupId: string): Promise<string[]> {
  return (await em.getRepository(GroupMemberSchema).findBy({ groupId })).map((m) => m.personId);
}
