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
import { type DataSource, type EntityManager, In, IsNull, MoreThan } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import { rawColumns } from "../db/raw.ts";
import type { Database } from "../db/database.ts";
import {
  type Group,
  GroupMemberSchema,
  GroupSchema,
  type Person,
  PersonEmailSchema,
  PersonSchema,
} from "./entities.ts";
import { appendEvents, type DirectoryEvent } from "./events.ts";
import { baseHandle, type HandleRule, handleSource, issueHandle } from "./handles.ts";
import type {
  Caller,
  DirectorySummary,
  GroupEntry,
  GroupRef,
  GroupWrite,
  ListRequest,
  MemberInput,
  MemberRef,
  Outcome,
  PersonEntry,
  PersonWrite,
  Refusal,
} from "./model.ts";
import {
  compileCondition,
  GROUP_CATALOGUE,
  type GroupCondition,
  type GroupSortField,
  PERSON_CATALOGUE,
  type PersonCondition,
  type PersonSortField,
  QueryError,
} from "./query.ts";
import {
  assertGroupNameFree,
  assertUserNameFree,
  auditDoc,
  deletedKey,
  entryOf,
  findGroup,
  findPerson,
  findRehire,
  groupEntry,
  groupsOf,
  isUniqueViolation,
  memberIds,
  membersOf,
  parseDoc,
  personColumns,
  personEvents,
  Refused,
  type RowLock,
  setMembers,
  writeEmails,
} from "./records.ts";
import { eraseRecord, type EraseResult } from "./erase.ts";
import { relinkHandle, type RelinkResult } from "./relink.ts";
import { type EmploymentStatus, employmentStatus } from "./standing.ts";
import { userNameKey } from "./user-names.ts";

export type { Group, Person } from "./entities.ts";
export type * from "./model.ts";

/** What a caller's one-statement read knows of its person: who, and their standing. */
const CALLER_FIELDS = ["id", "userName", "displayName", "active", "deactivatedAt", "deletedAt"] as const;
export type CallerPerson = Pick<Person, (typeof CALLER_FIELDS)[number]>;

/**
 * For a caller's one-statement read (the client API's per-call token lookup, src/api/oauth.ts,
 * through `Database.rows`): the person whose id is in `personIdColumn` and their groups, one row
 * per group, in the directory's order. `select` goes in the statement's select list, `joins`
 * after its FROM, `orderBy` as its ORDER BY; `person` and `groups` read them back from the rows,
 * starting at the select list's column `offset`.
 */
export function rawPersonAndGroups(ds: DataSource, personIdColumn: string) {
  const e = (s: string) => ds.driver.escape(s);
  const person = rawColumns(ds, PersonSchema, "jp", CALLER_FIELDS);
  const table = (schema: { options: { tableName?: string } }) => e(schema.options.tableName!);
  return {
    select: `${person.sql}, ${e("jg")}.${e("id")}, ${e("jg")}.${e("display_name")}`,
    width: person.width + 2,
    joins:
      `LEFT JOIN ${table(PersonSchema)} ${e("jp")} ON ${e("jp")}.${e("id")} = ${personIdColumn} ` +
      `LEFT JOIN ${table(GroupMemberSchema)} ${e("jm")} ON ${e("jm")}.${e("person_id")} = ${personIdColumn} ` +
      `LEFT JOIN ${table(GroupSchema)} ${e("jg")} ON ${e("jg")}.${e("id")} = ${e("jm")}.${e("group_id")}`,
    orderBy: `${e("jg")}.${e("display_name_key")}`,
    person: (row: readonly unknown[], offset: number): CallerPerson | null => person.read(row, offset),
    groups: (rows: readonly (readonly unknown[])[], offset: number): GroupRef[] =>
      rows.flatMap((r) => {
        const id = r[offset + person.width];
        return id === null || id === undefined
          ? []
          : [{ id: String(id), displayName: String(r[offset + person.width + 1] ?? "") }];
      }),
  };
}

export function createDirectory(
  db: Database,
  options: {
    /** HERALD_HANDLE_FROM: what a new person's handle is made of. */
    readonly handleFrom?: HandleRule;
    /** After every committed change (caches, the event dispatcher). */
    readonly onChange?: () => void;
  } = {},
) {
  const lock: RowLock | undefined = db.dialect === "mysql" ? { mode: "pessimistic_write" } : undefined;

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
      const before = await findPerson(em, id, lock);
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
          const before = await findPerson(em, id, lock);
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
          const person = await findPerson(em, id, lock);
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
          const before = await findGroup(em, id, lock);
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
          const group = await findGroup(em, id, lock);
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

    /** `herald person erase` (erase.ts): a former employee's record emptied, its handle kept. */
    async erase(input: {
      readonly who: string;
      readonly by: string;
      readonly handleDomain: string;
      readonly requestId?: string;
    }): Promise<EraseResult> {
      const r = await eraseRecord(db, input);
      if (r.ok && !r.already) options.onChange?.();
      return r;
    },

    // Reads ---------------------------------------------------------------------------------------

    /** The record, also of a deleted person (public surfaces answer "former" for them). */
    async personById(id: string): Promise<Person | null> {
      return db.run((em) => em.getRepository(PersonSchema).findOneBy({ id }));
    },

    /** A page of active people's ids, in id order after `after` (walks a large directory). */
    async activePersonIds(after: string, limit: number): Promise<string[]> {
      const rows = await db.run((em) =>
        em.getRepository(PersonSchema).find({
          select: { id: true },
          where: { id: MoreThan(after), active: true, deletedAt: IsNull() },
          order: { id: "ASC" },
          take: limit,
        }),
      );
      return rows.map((r) => r.id);
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
