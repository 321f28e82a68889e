/**
 * The Directory: the only owner of people, groups, memberships and handles (DESIGN rule 1,
 * docs/decisions/0009-directory-owns-people.md). SCIM, SAML matching, the demo seed, the CLI,
 * sessions, authorization, verification and the web pages all read and change the directory
 * through this service; none of them touches its tables.
 *
 * Every command runs in one transaction with its audit record and its domain events (the outbox
 * in events.ts), and tells what it refused as a value. A person's handle is issued in the
 * transaction that creates them (rule 6); handles are never recycled (rule 3).
 */
import { randomUUID } from "node:crypto";
import { type EntityManager, In, IsNull } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import {
  type Group,
  GroupMemberSchema,
  GroupSchema,
  type Person,
  type PersonEmail,
  PersonEmailSchema,
  PersonSchema,
} from "./entities.ts";
import { appendEvents, type DirectoryEvent } from "./events.ts";
import { baseHandle, type HandleRule, handleSource, issueHandle } from "./handles.ts";
import {
  compileCondition,
  GROUP_CATALOGUE,
  type GroupCondition,
  type GroupSortField,
  type Ordering,
  PERSON_CATALOGUE,
  type PersonCondition,
  type PersonSortField,
  QueryError,
} from "./query.ts";
import { relinkHandle, type RelinkResult } from "./relink.ts";
import { type EmploymentStatus, employmentStatus } from "./standing.ts";
import { normalizeUserName, userNameKey } from "./user-names.ts";

export type { Group, Person } from "./entities.ts";

/** Who changes the directory: recorded in the audit log and on every event. */
export interface Caller {
  /** `scim-token:okta`, `cli:root`, `system`. */
  readonly name: string;
  /** What drove the change: the first part of the audit action (`scim` → `scim.user.create`). */
  readonly via: string;
  readonly requestId?: string;
}

/** A person's attributes as the directory keeps them (userName in any Unicode spelling). */
export interface PersonFields {
  readonly userName: string;
  readonly externalId: string | null;
  readonly displayName: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
  readonly formattedName: string | null;
  readonly nickName: string | null;
  readonly title: string | null;
  readonly userType: string | null;
  readonly preferredLanguage: string | null;
  readonly locale: string | null;
  readonly timezone: string | null;
  readonly employeeNumber: string | null;
  readonly costCenter: string | null;
  readonly organization: string | null;
  readonly division: string | null;
  readonly department: string | null;
  readonly managerValue: string | null;
}

export interface EmailAddress {
  readonly value: string;
  readonly type: string | null;
  readonly primary: boolean;
}

/** A person as written: a create, or the whole new state on an update. */
export interface PersonWrite {
  readonly fields: Partial<PersonFields> & { readonly userName: string };
  /** In the IdP's order; the primary one (or the first) is the person's address. */
  readonly emails: readonly EmailAddress[];
  /** The IdP's record as sent, kept whole so it reads back as written (null: none). */
  readonly document: Readonly<Record<string, unknown>> | null;
  /** Undefined is "not said": a create makes the person active, an update keeps their state. */
  readonly active: boolean | undefined;
}

export interface GroupWrite {
  readonly displayName: string;
  readonly externalId: string | null;
  readonly document: Readonly<Record<string, unknown>> | null;
}

export interface MemberInput {
  readonly personId: string;
  /** The display the IdP sent for this member, kept and returned. */
  readonly display: string | null;
}

/** A group a person is in. */
export interface GroupRef {
  readonly id: string;
  readonly displayName: string;
}

/** A member of a group, with the display to show (the IdP's, else the person's name). */
export interface MemberRef {
  readonly id: string;
  readonly display: string | null;
}

export interface PersonEntry {
  readonly person: Person;
  readonly groups: readonly GroupRef[];
}

export interface GroupEntry {
  readonly group: Group;
  /** Undefined when not asked for. */
  readonly members?: readonly MemberRef[];
}

export type Refusal =
  | { readonly ok: false; readonly reason: "not-found" }
  | { readonly ok: false; readonly reason: "user-name-taken"; readonly userName: string }
  | { readonly ok: false; readonly reason: "group-name-taken"; readonly displayName: string }
  /** A unique value was taken by a concurrent transaction. */
  | { readonly ok: false; readonly reason: "concurrent-change" }
  | { readonly ok: false; readonly reason: "nested-group" }
  | { readonly ok: false; readonly reason: "unknown-members"; readonly ids: readonly string[] }
  | { readonly ok: false; readonly reason: "bad-query"; readonly message: string };

export type Outcome<T> = ({ readonly ok: true } & T) | Refusal;

export interface ListRequest<C, S extends string> {
  readonly where?: C;
  /** Default: by creation, then id. */
  readonly orderBy?: Ordering<S>;
  /** 0-based. */
  readonly offset: number;
  /** 0: only the total. */
  readonly limit: number;
}

export interface DirectorySummary {
  readonly people: readonly Person[];
  readonly groups: readonly (Group & { members: number })[];
}

/** Thrown inside a transaction to roll it back; the command answers it as a value. */
class Refused extends Error {
  readonly refusal: Refusal;
  constructor(refusal: Refusal) {
    super(refusal.reason);
    this.refusal = refusal;
  }
}

/** Marks a deleted person's userName key so the name is free for a new hire (not the handle). */
const deletedKey = (id: string) => `\u0001deleted:${id}`;

function isUniqueViolation(err: unknown): boolean {
  return /UNIQUE constraint|Duplicate entry|ER_DUP_ENTRY/i.test(String((err as Error)?.message ?? err));
}

const parseDoc = (text: string | null): Record<string, unknown> =>
  text ? (JSON.parse(text) as Record<string, unknown>) : {};

/** Events that follow from the change of one person. */
function personEvents(before: Person, after: Person): DirectoryEvent[] {
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
function personColumns(w: PersonWrite) {
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
const auditDoc = (w: PersonWrite) => w.document ?? w.fields;

export function createDirectory(
  db: Database,
  options: {
    /** HERALD_HANDLE_FROM: what a new person's handle is made of. */
    readonly handleFrom?: HandleRule;
    /** After every committed change (caches, the event dispatcher). */
    readonly onChange?: () => void;
  } = {},
) {
  const lock = db.dialect === "mysql" ? ({ mode: "pessimistic_write" } as const) : undefined;

  async function commit<T>(fn: (em: EntityManager) => Promise<T>): Promise<T | Refusal> {
    let result: T;
    try {
      result = await db.transaction(fn);
    } catch (err) {
      if (err instanceof Refused) return err.refusal;
      if (isUniqueViolation(err)) return { ok: false, reason: "concurrent-change" };
      throw err;
    }
    options.onChange?.();
    return result;
  }

  type Runner = <T>(fn: (em: EntityManager) => Promise<T>) => Promise<T | Refusal>;

  const audit = (
    em: EntityManager,
    by: Caller,
    action: string,
    type: "person" | "group",
    id: string,
    detail: Record<string, unknown>,
  ) =>
    recordAudit(em, {
      actor: by.name,
      action: `${by.via}.${type === "person" ? "user" : "group"}.${action}`,
      targetType: type,
      targetId: id,
      detail,
      requestId: by.requestId,
    });

  // --- reads inside a transaction -------------------------------------------------------------

  async function groupsOf(em: EntityManager, personIds: readonly string[]): Promise<Map<string, GroupRef[]>> {
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

  async function membersOf(
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
  async function findPerson(em: EntityManager, id: string, forUpdate = false): Promise<Person> {
    const person = await em.getRepository(PersonSchema).findOne({
      where: { id, deletedAt: IsNull() },
      ...(forUpdate && lock ? { lock } : {}),
    });
    if (!person) throw new Refused({ ok: false, reason: "not-found" });
    return person;
  }

  async function findGroup(em: EntityManager, id: string, forUpdate = false): Promise<Group> {
    const group = await em.getRepository(GroupSchema).findOne({
      where: { id },
      ...(forUpdate && lock ? { lock } : {}),
    });
    if (!group) throw new Refused({ ok: false, reason: "not-found" });
    return group;
  }

  async function entryOf(em: EntityManager, person: Person): Promise<PersonEntry> {
    return { person, groups: (await groupsOf(em, [person.id])).get(person.id) ?? [] };
  }

  async function groupEntry(em: EntityManager, group: Group, withMembers = true): Promise<GroupEntry> {
    return withMembers ? { group, members: (await membersOf(em, [group.id])).get(group.id) } : { group };
  }

  async function assertUserNameFree(em: EntityManager, key: string, userName: string, selfId?: string) {
    const byName = await em.getRepository(PersonSchema).findOneBy({ userNameKey: key });
    if (byName && byName.id !== selfId) throw new Refused({ ok: false, reason: "user-name-taken", userName });
    // externalId is not checked: RFC 7643 §3.1 leaves its uniqueness to the client
    // (docs/decisions/0003-scim-external-id.md).
  }

  async function assertGroupNameFree(em: EntityManager, displayName: string, selfId?: string) {
    const byName = await em
      .getRepository(GroupSchema)
      .findOneBy({ displayNameKey: displayName.toLowerCase() });
    if (byName && byName.id !== selfId)
      throw new Refused({ ok: false, reason: "group-name-taken", displayName });
  }

  async function writeEmails(
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
  async function findRehire(
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

  async function saveUser(
    em: EntityManager,
    before: Person,
    w: PersonWrite,
    by: Caller,
    action: string,
  ): Promise<PersonEntry> {
    const now = new Date();
    const columns = personColumns(w);
    await assertUserNameFree(em, columns.userNameKey, columns.userName, before.id);
    // Only an explicit active=true reactivates: an update that does not say keeps the person as
    // they are (docs/scim.md, "active").
    const active = w.active ?? before.active;
    const after: Person = {
      ...before,
      ...columns,
      active,
      deactivatedAt: active ? null : (before.deactivatedAt ?? now),
      updatedAt: now,
      version: before.version + 1,
    };
    await em.getRepository(PersonSchema).save(after);
    await writeEmails(em, before.id, w);
    await appendEvents(em, by.name, personEvents(before, after));
    await audit(em, by, action, "person", before.id, {
      before: parseDoc(before.scimDoc),
      after: auditDoc(w),
    });
    return entryOf(em, after);
  }

  /** Deactivation and reactivation alone: the rest of the record stays as the IdP wrote it. */
  async function setActive(
    run: Runner,
    id: string,
    active: boolean,
    by: Caller,
  ): Promise<Outcome<PersonEntry>> {
    return run(async (em) => {
      const before = await findPerson(em, id, true);
      const now = new Date();
      const after: Person = {
        ...before,
        active,
        deactivatedAt: active ? null : (before.deactivatedAt ?? now),
        updatedAt: now,
        version: before.version + 1,
      };
      await em.getRepository(PersonSchema).update(
        { id },
        {
          active,
          deactivatedAt: after.deactivatedAt,
          updatedAt: now,
          version: after.version,
        },
      );
      if (before.active !== active) await appendEvents(em, by.name, personEvents(before, after));
      await audit(em, by, active ? "reactivate" : "deactivate", "person", id, {
        before: { active: before.active },
        after: { active },
      });
      return { ok: true as const, ...(await entryOf(em, after)) };
    });
  }

  async function resolveMembers(em: EntityManager, ids: readonly string[]): Promise<string[]> {
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

  async function setMembers(
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

  async function memberIds(em: EntityManager, groupId: string): Promise<string[]> {
    return (await em.getRepository(GroupMemberSchema).findBy({ groupId })).map((m) => m.personId);
  }

  // --- commands -----------------------------------------------------------------------------------

  /** The commands, each run by `run`: its own transaction, or a step of a batch's. */
  function commands(run: Runner) {
    const self = {
      /**
       * Hires a person: a new record with a new handle, or — the rehire rule — the deleted record
       * of the same person back, with their handle (findRehire). Emits `person.provisioned`.
       */
      async createPerson(w: PersonWrite, by: Caller): Promise<Outcome<PersonEntry & { rehired: boolean }>> {
        const active = w.active ?? true;
        const columns = personColumns(w);
        return run(async (em) => {
          await assertUserNameFree(em, columns.userNameKey, columns.userName);
          const repo = em.getRepository(PersonSchema);
          const now = new Date();
          const rehire = await findRehire(em, columns);
          const former = rehire.former;
          const newHandle = (id: string) =>
            issueHandle(
              em,
              baseHandle(handleSource(options.handleFrom ?? "userName", columns)),
              "person",
              id,
            );
          let person: Person;
          if (former) {
            person = {
              ...former,
              ...columns,
              active,
              // A handle relinked away from the old record (`herald person relink`) stays with
              // whoever has it now: the rehire gets a new one.
              handle: former.handle ?? (await newHandle(former.id)),
              formerExternalId: null,
              deletedAt: null,
              deactivatedAt: active ? null : now,
              updatedAt: now,
              version: former.version + 1,
            };
            await repo.save(person);
          } else {
            const id = randomUUID();
            person = {
              id,
              ...columns,
              active,
              handle: await newHandle(id),
              createdAt: now,
              updatedAt: now,
              deactivatedAt: active ? null : now,
              deletedAt: null,
              formerExternalId: null,
              version: 1,
            };
            await repo.insert(person);
          }
          await writeEmails(em, person.id, w, !former);
          await appendEvents(em, by.name, [
            {
              type: "person.provisioned",
              personId: person.id,
              userName: person.userName,
              handle: person.handle,
              active: person.active,
            },
          ]);
          await audit(em, by, former ? "rehire" : "create", "person", person.id, {
            after: auditDoc(w),
            handle: person.handle,
            // For the admin deciding on `herald person relink`: deleted people with this
            // externalId whose userName and email did not match (so their handles stayed theirs).
            ...(rehire.unmatched.length > 0 ? { sameExternalIdAs: rehire.unmatched } : {}),
            ...(rehire.matchedOn ? { rehireMatchedOn: rehire.matchedOn } : {}),
          });
          // A new person belongs to no group yet: no query needed for the answer.
          const entry = former ? await entryOf(em, person) : { person, groups: [] };
          return { ok: true as const, rehired: former !== null, ...entry };
        });
      },

      /**
       * Rewrites a person. `change` gets the current record (locked) and returns the whole new
       * state; what it throws (a precondition, a bad patch) rolls the transaction back and
       * propagates. `action` names the audit record (`replace`, `patch`).
       */
      async updatePerson(
        id: string,
        change: (current: Person) => PersonWrite | Promise<PersonWrite>,
        by: Caller,
        action = "update",
      ): Promise<Outcome<PersonEntry>> {
        return run(async (em) => {
          const before = await findPerson(em, id, true);
          const w = await change(before);
          return { ok: true as const, ...(await saveUser(em, before, w, by, action)) };
        });
      },

      /** The person leaves: sessions end, accounts are suspended (events); the record stays. */
      deactivatePerson: (id: string, by: Caller) => setActive(run, id, false, by),
      /** The person is back (the same record, handle and account). */
      reactivatePerson: (id: string, by: Caller) => setActive(run, id, true, by),

      /**
       * Deletes a person: out of every group, the userName freed for a new hire, the externalId
       * kept aside for the rehire rule, the handle reserved for them forever (rule 3).
       * `check` sees the record first (a precondition) and may throw.
       */
      async deletePerson(
        id: string,
        by: Caller,
        check?: (current: Person) => void,
      ): Promise<Outcome<object>> {
        return run(async (em) => {
          const person = await findPerson(em, id, true);
          check?.(person);
          const memberships = await em.getRepository(GroupMemberSchema).findBy({ personId: id });
          await em.getRepository(GroupMemberSchema).delete({ personId: id });
          const now = new Date();
          await em.getRepository(PersonSchema).update(
            { id },
            {
              deletedAt: now,
              active: false,
              deactivatedAt: person.deactivatedAt ?? now,
              userNameKey: deletedKey(id),
              formerExternalId: person.externalId,
              externalId: null,
              updatedAt: now,
              version: person.version + 1,
            },
          );
          const events: DirectoryEvent[] = memberships.map((m) => ({
            type: "group.membership_changed",
            groupId: m.groupId,
            added: [],
            removed: [id],
          }));
          if (person.active) events.push({ type: "person.deactivated", personId: id });
          events.push({ type: "person.deleted", personId: id });
          await appendEvents(em, by.name, events);
          await audit(em, by, "delete", "person", id, {
            before: parseDoc(person.scimDoc),
            userName: person.userName,
          });
          return { ok: true as const };
        });
      },

      async createGroup(
        w: GroupWrite & { readonly members?: readonly MemberInput[] },
        by: Caller,
      ): Promise<Outcome<GroupEntry>> {
        return run(async (em) => {
          await assertGroupNameFree(em, w.displayName);
          const now = new Date();
          const group: Group = {
            id: randomUUID(),
            displayName: w.displayName,
            displayNameKey: w.displayName.toLowerCase(),
            externalId: w.externalId,
            scimDoc: w.document ? JSON.stringify(w.document) : null,
            createdAt: now,
            updatedAt: now,
            version: 1,
          };
          await em.getRepository(GroupSchema).insert(group);
          const { added } = await setMembers(em, group.id, w.members ?? [], []);
          const events: DirectoryEvent[] = [
            { type: "group.created", groupId: group.id, displayName: group.displayName },
          ];
          if (added.length > 0)
            events.push({ type: "group.membership_changed", groupId: group.id, added, removed: [] });
          await appendEvents(em, by.name, events);
          await audit(em, by, "create", "group", group.id, {
            after: w.document ?? { displayName: w.displayName },
            added,
          });
          return { ok: true as const, ...(await groupEntry(em, group)) };
        });
      },

      /**
       * Rewrites a group. `change` gets the current record (locked) and its members' ids and returns
       * the new state, with `members` the whole new member list (undefined: members unchanged).
       */
      async updateGroup(
        id: string,
        change: (
          current: Group,
          memberIds: readonly string[],
        ) =>
          | { readonly group: GroupWrite; readonly members?: readonly MemberInput[] }
          | Promise<{ readonly group: GroupWrite; readonly members?: readonly MemberInput[] }>,
        by: Caller,
        action = "update",
      ): Promise<Outcome<GroupEntry>> {
        return run(async (em) => {
          // The row lock serialises concurrent changes of one group, so both of two concurrent
          // member additions land (MySQL; SQLite transactions are serial anyway).
          const before = await findGroup(em, id, true);
          const current = await memberIds(em, id);
          const next = await change(before, current);
          const w = next.group;
          await assertGroupNameFree(em, w.displayName, id);
          let diff = { added: [] as string[], removed: [] as string[] };
          if (next.members !== undefined) {
            const now = new Set(current);
            const wanted = new Set(next.members.map((m) => m.personId));
            diff = await setMembers(
              em,
              id,
              next.members.filter((m) => !now.has(m.personId)),
              current.filter((m) => !wanted.has(m)),
            );
          }
          const at = new Date();
          const after: Group = {
            ...before,
            displayName: w.displayName,
            displayNameKey: w.displayName.toLowerCase(),
            externalId: w.externalId,
            scimDoc: w.document ? JSON.stringify(w.document) : null,
            updatedAt: at,
            version: before.version + 1,
          };
          await em.getRepository(GroupSchema).save(after);
          const events: DirectoryEvent[] = [];
          if (before.displayName !== after.displayName) {
            events.push({
              type: "group.updated",
              groupId: before.id,
              renamed: { from: before.displayName, to: after.displayName },
            });
          } else if (before.scimDoc !== after.scimDoc) {
            events.push({ type: "group.updated", groupId: before.id });
          }
          if (diff.added.length > 0 || diff.removed.length > 0) {
            events.push({ type: "group.membership_changed", groupId: before.id, ...diff });
          }
          await appendEvents(em, by.name, events);
          await audit(em, by, action, "group", before.id, {
            before: parseDoc(before.scimDoc),
            after: w.document ?? { displayName: w.displayName },
            added: diff.added,
            removed: diff.removed,
          });
          return { ok: true as const, ...(await groupEntry(em, after)) };
        });
      },

      /** Adds people to a group (membership only; the group's record stays as it is). */
      async addMembers(
        groupId: string,
        personIds: readonly string[],
        by: Caller,
      ): Promise<Outcome<GroupEntry>> {
        return self.updateGroup(
          groupId,
          (g, current) => ({
            group: {
              displayName: g.displayName,
              externalId: g.externalId,
              document: g.scimDoc ? parseDoc(g.scimDoc) : null,
            },
            members: [
              ...current.map((personId) => ({ personId, display: null })),
              ...personIds.map((personId) => ({ personId, display: null })),
            ],
          }),
          by,
          "members",
        );
      },

      async deleteGroup(id: string, by: Caller, check?: (current: Group) => void): Promise<Outcome<object>> {
        return run(async (em) => {
          const group = await findGroup(em, id, true);
          check?.(group);
          const members = await memberIds(em, id);
          await em.getRepository(GroupMemberSchema).delete({ groupId: id });
          await em.getRepository(GroupSchema).delete({ id });
          const events: DirectoryEvent[] = [];
          if (members.length > 0)
            events.push({ type: "group.membership_changed", groupId: id, added: [], removed: members });
          events.push({ type: "group.deleted", groupId: id, displayName: group.displayName });
          await appendEvents(em, by.name, events);
          await audit(em, by, "delete", "group", id, { before: parseDoc(group.scimDoc), removed: members });
          return { ok: true as const };
        });
      },
    };
    return self;
  }

  const directory = {
    ...commands(commit),

    /**
     * Several commands in one transaction (the demo seed): all of them or none. A refusal rolls
     * everything back and is the answer.
     */
    async batch<T>(fn: (d: ReturnType<typeof commands>) => Promise<T>): Promise<T | Refusal> {
      return commit((em) => fn(commands((step) => step(em))));
    },

    /** `herald person relink` (relink.ts): a deleted record's reserved handle to a returning person. */
    async relink(input: {
      readonly userName: string;
      readonly handle: string;
      readonly by: string;
      readonly handleDomain: string;
    }): Promise<RelinkResult> {
      const r = await relinkHandle(db, input);
      if (r.ok) options.onChange?.();
      return r;
    },

    // Reads ---------------------------------------------------------------------------------------

    /** The record, also of a deleted person (public surfaces answer "former" for them). */
    async personById(id: string): Promise<Person | null> {
      return db.run((em) => em.getRepository(PersonSchema).findOneBy({ id }));
    },

    /** A person in the directory (not deleted) with their groups. */
    async personEntry(id: string): Promise<PersonEntry | null> {
      return db.run(async (em) => {
        const person = await em.getRepository(PersonSchema).findOneBy({ id, deletedAt: IsNull() });
        return person ? entryOf(em, person) : null;
      });
    },

    /**
     * By userName, in any Unicode spelling and letter case (user-names.ts). Finds current and
     * deactivated people: a deleted person's name is free for someone else.
     */
    async personByUserName(userName: string): Promise<Person | null> {
      return db.run((em) => em.getRepository(PersonSchema).findOneBy({ userNameKey: userNameKey(userName) }));
    },

    /** People in the directory (not deleted) with this address among theirs, any letter case. */
    async peopleByEmail(email: string): Promise<Person[]> {
      return db.run(async (em) => {
        const rows = await em.getRepository(PersonEmailSchema).findBy({ valueKey: email.toLowerCase() });
        const ids = [...new Set(rows.map((r) => r.personId))];
        if (ids.length === 0) return [];
        return em.getRepository(PersonSchema).findBy({ id: In(ids), deletedAt: IsNull() });
      });
    },

    /** People in the directory (not deleted) with this externalId (the IdP's, exact). */
    async peopleByExternalId(externalId: string): Promise<Person[]> {
      return db.run((em) => em.getRepository(PersonSchema).findBy({ externalId, deletedAt: IsNull() }));
    },

    /** The person a handle was issued to and who still carries it. */
    async personByHandle(handle: string): Promise<Person | null> {
      return db.run((em) => em.getRepository(PersonSchema).findOneBy({ handle: handle.toLowerCase() }));
    },

    /** Where this person stands (standing.ts): active, former since D, or unknown. */
    async status(personId: string): Promise<EmploymentStatus> {
      return employmentStatus(await directory.personById(personId));
    },

    /** Current employees by userName (the development IdP's sign-in list). */
    async activePeople(limit = 200): Promise<Person[]> {
      return db.run((em) =>
        em.getRepository(PersonSchema).find({
          where: { active: true, deletedAt: IsNull() },
          order: { userName: "ASC" },
          take: limit,
        }),
      );
    },

    /** No person was ever recorded (deleted ones count). */
    async isEmpty(): Promise<boolean> {
      return db.run(
        async (em) =>
          (await em.getRepository(PersonSchema).find({ select: { id: true }, take: 1 })).length === 0,
      );
    },

    /**
     * The IdP's hot path (`userName eq "…"`): two prepared statements and TypeORM's own value
     * conversion, without building queries per request (bench/scim.ts measures it).
     */
    async lookupUserName(userName: string): Promise<PersonEntry | null> {
      const meta = db.dataSource.getMetadata(PersonSchema);
      const driver = db.dataSource.driver;
      const rows = await db.query<Record<string, unknown>>(
        "SELECT * FROM person WHERE user_name_key = ? AND deleted_at IS NULL",
        [userNameKey(userName)],
      );
      if (rows.length === 0) return null;
      const person = {} as Record<string, unknown>;
      for (const c of meta.columns)
        person[c.propertyName] = driver.prepareHydratedValue(rows[0][c.databaseName], c);
      const groups = await db.query<{ id: string; display_name: string }>(
        "SELECT g.id, g.display_name FROM group_member m JOIN directory_group g ON g.id = m.group_id WHERE m.person_id = ? ORDER BY g.display_name_key",
        [person.id],
      );
      return {
        person: person as unknown as Person,
        groups: groups.map((g) => ({ id: g.id, displayName: g.display_name })),
      };
    },

    /** People in the directory (not deleted) matching `where`, a page of them and the total. */
    async listPeople(
      q: ListRequest<PersonCondition, PersonSortField>,
    ): Promise<Outcome<{ total: number; entries: PersonEntry[] }>> {
      return list("person", q, async (em, rows) => {
        const people = rows as Person[];
        const groups = await groupsOf(
          em,
          people.map((p) => p.id),
        );
        return people.map((person) => ({ person, groups: groups.get(person.id) ?? [] }));
      });
    },

    /** Groups matching `where`, a page of them and the total (members unless told not to). */
    async listGroups(
      q: ListRequest<GroupCondition, GroupSortField> & { readonly withMembers?: boolean },
    ): Promise<Outcome<{ total: number; entries: GroupEntry[] }>> {
      return list("group", q, async (em, rows) => {
        const groups = rows as Group[];
        if (q.withMembers === false) return groups.map((group) => ({ group }));
        const members = await membersOf(
          em,
          groups.map((g) => g.id),
        );
        return groups.map((group) => ({ group, members: members.get(group.id) }));
      });
    },

    async groupEntry(id: string, withMembers = true): Promise<GroupEntry | null> {
      return db.run(async (em) => {
        const group = await em.getRepository(GroupSchema).findOneBy({ id });
        return group ? groupEntry(em, group, withMembers) : null;
      });
    },

    /** By display name, any letter case. */
    async groupByName(displayName: string): Promise<Group | null> {
      return db.run((em) =>
        em.getRepository(GroupSchema).findOneBy({ displayNameKey: displayName.toLowerCase() }),
      );
    },

    /** The groups a person is in now (never cached: authorization reads it per decision). */
    async groupsOf(personId: string): Promise<GroupRef[]> {
      return db.run(async (em) => (await groupsOf(em, [personId])).get(personId) ?? []);
    },

    async groupMembers(groupId: string): Promise<MemberRef[]> {
      return db.run(async (em) => (await membersOf(em, [groupId])).get(groupId) ?? []);
    },

    /** The demo directory's overview (the home page on the demo database). */
    async summary(limit = 50): Promise<DirectorySummary> {
      return db.run(async (em) => {
        const people = await em
          .getRepository(PersonSchema)
          .find({ order: { userNameKey: "ASC" }, take: limit });
        const groups = await em
          .getRepository(GroupSchema)
          .find({ order: { displayNameKey: "ASC" }, take: limit });
        const counts = await em
          .getRepository(GroupMemberSchema)
          .createQueryBuilder("m")
          .select("m.groupId", "groupId")
          .addSelect("COUNT(*)", "n")
          .groupBy("m.groupId")
          .getRawMany<{ groupId: string; n: number | string }>();
        const byGroup = new Map(counts.map((c) => [c.groupId, Number(c.n)]));
        return { people, groups: groups.map((g) => ({ ...g, members: byGroup.get(g.id) ?? 0 })) };
      });
    },
  };

  async function list<T>(
    kind: "person" | "group",
    q: ListRequest<PersonCondition | GroupCondition, string>,
    entries: (em: EntityManager, rows: unknown[]) => Promise<T[]>,
  ): Promise<Outcome<{ total: number; entries: T[] }>> {
    const catalogue = kind === "person" ? PERSON_CATALOGUE : GROUP_CATALOGUE;
    let where;
    try {
      where = q.where === undefined ? undefined : compileCondition(catalogue, q.where, db.dialect);
    } catch (err) {
      if (err instanceof QueryError) return { ok: false, reason: "bad-query", message: err.message };
      throw err;
    }
    return db.run(async (em) => {
      const qb =
        kind === "person"
          ? em.getRepository(PersonSchema).createQueryBuilder("p").where("p.deleted_at IS NULL")
          : em.getRepository(GroupSchema).createQueryBuilder("p").where("1 = 1");
      if (where) qb.andWhere(where.sql, where.params);
      if (q.orderBy) {
        const col = catalogue.sortable[q.orderBy.field];
        if (!col) throw new Error(`not sortable: ${q.orderBy.field}`);
        qb.orderBy(col, q.orderBy.descending ? "DESC" : "ASC").addOrderBy("p.id", "ASC");
      } else qb.orderBy("p.createdAt", "ASC").addOrderBy("p.id", "ASC");
      // The page first: when it starts at the beginning and is not full, it *is* every match,
      // and the count query (a second pass over the index) is not needed — the common case of
      // IdP lookups.
      let total: number | undefined;
      if (q.limit === 0) total = await qb.getCount();
      else qb.offset(q.offset).limit(q.limit);
      const rows = q.limit === 0 ? [] : await qb.getMany();
      if (total === undefined) {
        total =
          q.offset === 0 && rows.length < q.limit
            ? rows.length
            : await qb.clone().offset(undefined).limit(undefined).orderBy().getCount();
      }
      if (q.limit === 0 || rows.length === 0) return { ok: true as const, total, entries: [] };
      return { ok: true as const, total, entries: await entries(em, rows) };
    });
  }

  return directory;
}

export type Directory = ReturnType<typeof createDirectory>;
