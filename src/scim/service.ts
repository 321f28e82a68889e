/**
 * The SCIM service: reads and writes of Users and Groups, each write in one transaction with its
 * audit record (who, what, before/after) and its domain events. Routes call this; it knows
 * nothing of HTTP beyond ScimError.
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
  PersonEmailSchema,
  PersonSchema,
} from "../identity/entities.ts";
import { appendEvents, type DirectoryEvent } from "../identity/events.ts";
import { baseHandle, type HandleRule, handleSource, issueHandle } from "../identity/handles.ts";
import { userNameKey } from "../identity/user-names.ts";
import { isObject, type Json, type JsonObject } from "./documents.ts";
import { conflict, notFound, preconditionFailed, ScimError } from "./errors.ts";
import {
  filterToSql,
  GROUP_FILTER,
  MAX_FILTER_LENGTH,
  parseFilter,
  type ResourceFilterSpec,
  sortColumn,
  USER_FILTER,
} from "./filter.ts";
import {
  type GroupWrite,
  type MemberInput,
  memberInputs,
  type MemberRef,
  normalizeGroup,
  toScimGroup,
} from "./groups.ts";
import { applyPatch, type PatchOperation, type PatchSchema } from "./patch.ts";
import {
  COMMON_ATTRIBUTES,
  ENTERPRISE_ATTRIBUTES,
  ENTERPRISE_SCHEMA,
  GROUP_ATTRIBUTES,
  GROUP_SCHEMA,
  USER_ATTRIBUTES,
  USER_SCHEMA,
} from "./schemas.ts";
import { etagOf, type GroupRef, normalizeUser, toScimUser, type UserWrite } from "./users.ts";

/** Who is calling: the SCIM token the IdP authenticated with (not an ActivityPub actor). */
export interface ScimClient {
  /** `scim-token:<name>` */
  readonly name: string;
  readonly requestId?: string;
}

export interface ListQuery {
  readonly filter?: string;
  readonly startIndex: number;
  readonly count: number;
  readonly sortBy?: string;
  readonly sortOrder?: "ascending" | "descending";
  /** Groups only: skip loading members (excludedAttributes=members). */
  readonly withMembers?: boolean;
}

export interface ListResult {
  readonly total: number;
  readonly resources: JsonObject[];
}

const USER_PATCH_SCHEMA: PatchSchema = {
  core: [...COMMON_ATTRIBUTES, ...USER_ATTRIBUTES],
  extensions: { [ENTERPRISE_SCHEMA]: ENTERPRISE_ATTRIBUTES },
  coreUrn: USER_SCHEMA,
};
const GROUP_PATCH_SCHEMA: PatchSchema = {
  core: [...COMMON_ATTRIBUTES, ...GROUP_ATTRIBUTES],
  extensions: {},
  coreUrn: GROUP_SCHEMA,
};

/** Marks a deleted person's userName key so the name is free for a new hire (rule: not the handle). */
const deletedKey = (id: string) => `\u0001deleted:${id}`;

function checkIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined || ifMatch.trim() === "*") return;
  const current = etagOf(version);
  const ok = ifMatch
    .split(",")
    .map((t) => t.trim())
    .some((t) => t === current || t === current.slice(2));
  if (!ok)
    throw preconditionFailed(`The resource has changed (now ${current}); fetch it again before modifying.`);
}

function isUniqueViolation(err: unknown): boolean {
  return /UNIQUE constraint|Duplicate entry|ER_DUP_ENTRY/i.test(String((err as Error)?.message ?? err));
}

function docOf(p: Person): JsonObject {
  return p.scimDoc ? (JSON.parse(p.scimDoc) as JsonObject) : {};
}

export function createScimService(
  db: Database,
  options: { baseUrl: string; onEvents?: () => void; handleFrom?: HandleRule },
) {
  const base = options.baseUrl;
  const lock = db.dialect === "mysql" ? ({ mode: "pessimistic_write" } as const) : undefined;

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

  async function findPerson(em: EntityManager, id: string, forUpdate = false): Promise<Person> {
    const person = await em.getRepository(PersonSchema).findOne({
      where: { id, deletedAt: IsNull() },
      ...(forUpdate && lock ? { lock } : {}),
    });
    if (!person) throw notFound(`User ${id} not found`);
    return person;
  }

  async function findGroup(em: EntityManager, id: string, forUpdate = false): Promise<Group> {
    const group = await em.getRepository(GroupSchema).findOne({
      where: { id },
      ...(forUpdate && lock ? { lock } : {}),
    });
    if (!group) throw notFound(`Group ${id} not found`);
    return group;
  }

  async function renderUser(em: EntityManager, person: Person): Promise<JsonObject> {
    const groups = (await groupsOf(em, [person.id])).get(person.id) ?? [];
    return toScimUser(person, groups, base);
  }

  async function renderGroup(em: EntityManager, group: Group, withMembers = true): Promise<JsonObject> {
    const members = withMembers ? (await membersOf(em, [group.id])).get(group.id) : undefined;
    return toScimGroup(group, members, base);
  }

  async function assertUserUnique(
    em: EntityManager,
    w: UserWrite,
    selfId: string | undefined,
  ): Promise<void> {
    const repo = em.getRepository(PersonSchema);
    const byName = await repo.findOneBy({ userNameKey: w.columns.userNameKey });
    if (byName && byName.id !== selfId)
      throw conflict(`A User with userName "${w.columns.userName}" already exists.`);
    // externalId is not checked: RFC 7643 §3.1 leaves its uniqueness to the client
    // (docs/decisions/0003-scim-external-id.md).
  }

  async function writeEmails(
    em: EntityManager,
    personId: string,
    w: UserWrite,
    fresh = false,
  ): Promise<void> {
    const repo = em.getRepository(PersonEmailSchema);
    if (!fresh) await repo.delete({ personId });
    // In chunks: one INSERT of every address would pass the drivers' bound-parameter limits
    // (SQLite 32,766; MySQL 65,535) at a few thousand addresses, which a 1 MiB body can hold.
    for (let i = 0; i < w.emails.length; i += 500)
      await repo.insert(w.emails.slice(i, i + 500).map((e) => ({ ...e, personId })));
  }

  function personColumns(w: UserWrite): Partial<Person> {
    return { ...w.columns, scimDoc: JSON.stringify(w.doc) };
  }

  /**
   * The deleted person a create restores (DESIGN rule 6): one whose externalId is the new one's
   * AND whose userName or primary email is too. An externalId alone is not enough: IdPs reuse
   * them (Entra maps mailNickname to externalId by default, and aliases get reused), and the
   * handle must not go to someone else. Only an unambiguous match counts.
   */
  async function findRehire(
    em: EntityManager,
    w: UserWrite,
  ): Promise<{ former: Person | null; matchedOn?: "userName" | "email"; unmatched: string[] }> {
    if (w.columns.externalId === null) return { former: null, unmatched: [] };
    const candidates = await em
      .getRepository(PersonSchema)
      .find({ where: { formerExternalId: w.columns.externalId }, order: { deletedAt: "DESC" }, take: 50 });
    const email = w.columns.email?.toLowerCase() ?? null;
    const matches: { person: Person; on: "userName" | "email" }[] = [];
    const unmatched: string[] = [];
    for (const c of candidates) {
      if (userNameKey(c.userName) === w.columns.userNameKey) matches.push({ person: c, on: "userName" });
      else if (email !== null && c.email?.toLowerCase() === email) matches.push({ person: c, on: "email" });
      else unmatched.push(c.id);
    }
    if (matches.length !== 1)
      return { former: null, unmatched: [...unmatched, ...matches.map((m) => m.person.id)] };
    return { former: matches[0].person, matchedOn: matches[0].on, unmatched };
  }

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

  async function commit<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    try {
      const result = await db.transaction(fn);
      options.onEvents?.();
      return result;
    } catch (err) {
      if (isUniqueViolation(err))
        throw conflict("A resource with the same unique attribute was created concurrently.");
      throw err;
    }
  }

  // The IdP's hot path (`filter=userName eq "…"`, the first page): two prepared statements and
  // TypeORM's own value conversion, without building queries per request.
  const personMeta = () => db.dataSource.getMetadata(PersonSchema);
  const USERNAME_EQ = /^\s*userName\s+eq\s+"((?:[^"\\]|\\["\\])*)"\s*$/i;

  async function lookupByUserName(userName: string): Promise<ListResult> {
    const meta = personMeta();
    const driver = db.dataSource.driver;
    const rows = await db.query<Record<string, unknown>>(
      "SELECT * FROM person WHERE user_name_key = ? AND deleted_at IS NULL",
      [userNameKey(userName)],
    );
    if (rows.length === 0) return { total: 0, resources: [] };
    const person = {} as Record<string, unknown>;
    for (const c of meta.columns)
      person[c.propertyName] = driver.prepareHydratedValue(rows[0][c.databaseName], c);
    const groups = await db.query<{ id: string; display_name: string }>(
      "SELECT g.id, g.display_name FROM group_member m JOIN directory_group g ON g.id = m.group_id WHERE m.person_id = ? ORDER BY g.display_name_key",
      [person.id],
    );
    const refs = groups.map((g) => ({ id: g.id, displayName: g.display_name }));
    return { total: 1, resources: [toScimUser(person as unknown as Person, refs, base)] };
  }

  async function list(spec: ResourceFilterSpec, q: ListQuery): Promise<ListResult> {
    const fast =
      spec === USER_FILTER &&
      !q.sortBy &&
      q.startIndex === 1 &&
      q.count > 0 &&
      q.filter !== undefined &&
      q.filter.length <= MAX_FILTER_LENGTH
        ? USERNAME_EQ.exec(q.filter)
        : null;
    if (fast) return lookupByUserName(fast[1].replace(/\\(["\\])/g, "$1"));
    return db.run(async (em) => {
      const isUser = spec === USER_FILTER;
      const qb = isUser
        ? em.getRepository(PersonSchema).createQueryBuilder("p").where("p.deleted_at IS NULL")
        : em.getRepository(GroupSchema).createQueryBuilder("p").where("1 = 1");
      if (q.filter !== undefined && q.filter.trim() !== "") {
        const frag = filterToSql(spec, parseFilter(q.filter), db.dialect);
        qb.andWhere(frag.sql, frag.params);
      }
      const order = q.sortOrder === "descending" ? "DESC" : "ASC";
      if (q.sortBy) qb.orderBy(sortColumn(spec, q.sortBy), order).addOrderBy("p.id", "ASC");
      else qb.orderBy("p.createdAt", "ASC").addOrderBy("p.id", "ASC");
      // The page first: when it starts at 1 and is not full, it *is* every match, and the count
      // query (a second pass over the index) is not needed — the common case of IdP lookups.
      let total: number | undefined;
      if (q.count === 0) total = await qb.getCount();
      else qb.offset(q.startIndex - 1).limit(q.count);
      const rows = q.count === 0 ? [] : await qb.getMany();
      if (total === undefined) {
        total =
          q.startIndex === 1 && rows.length < q.count
            ? rows.length
            : await qb.clone().offset(undefined).limit(undefined).orderBy().getCount();
      }
      if (q.count === 0 || rows.length === 0) return { total, resources: [] };
      if (isUser) {
        const people = rows as Person[];
        const groups = await groupsOf(
          em,
          people.map((p) => p.id),
        );
        return { total, resources: people.map((p) => toScimUser(p, groups.get(p.id) ?? [], base)) };
      }
      const groups = rows as Group[];
      const members =
        q.withMembers === false
          ? undefined
          : await membersOf(
              em,
              groups.map((g) => g.id),
            );
      return { total, resources: groups.map((g) => toScimGroup(g, members?.get(g.id), base)) };
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
      throw new ScimError(
        400,
        groups > 0
          ? "Nested groups are not supported: members must be Users."
          : `No User with id ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? " …" : ""}.`,
        "invalidValue",
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
      add.map((m) => m.value),
    );
    const displays = new Map(add.map((m) => [m.value, m.display]));
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

  async function assertGroupUnique(
    em: EntityManager,
    w: GroupWrite,
    selfId: string | undefined,
  ): Promise<void> {
    const repo = em.getRepository(GroupSchema);
    const byName = await repo.findOneBy({ displayNameKey: w.displayName.toLowerCase() });
    if (byName && byName.id !== selfId) throw conflict(`A Group named "${w.displayName}" already exists.`);
  }

  const audit = (
    em: EntityManager,
    client: ScimClient,
    action: string,
    type: string,
    id: string,
    detail: Record<string, unknown>,
  ) =>
    recordAudit(em, {
      actor: client.name,
      action,
      targetType: type,
      targetId: id,
      detail,
      requestId: client.requestId,
    });

  return {
    baseUrl: base,

    async getUser(id: string): Promise<JsonObject> {
      return db.run(async (em) => renderUser(em, await findPerson(em, id)));
    },

    listUsers: (q: ListQuery) => list(USER_FILTER, q),
    listGroups: (q: ListQuery) => list(GROUP_FILTER, q),

    async createUser(body: unknown, client: ScimClient): Promise<JsonObject> {
      const w = normalizeUser(body);
      const active = w.active ?? true;
      return commit(async (em) => {
        await assertUserUnique(em, w, undefined);
        const repo = em.getRepository(PersonSchema);
        const now = new Date();
        const rehire = await findRehire(em, w);
        const former = rehire.former;
        const newHandle = (id: string) =>
          issueHandle(
            em,
            baseHandle(
              handleSource(options.handleFrom ?? "userName", {
                userName: w.columns.userName,
                email: w.columns.email,
                givenName: w.columns.givenName,
                familyName: w.columns.familyName,
              }),
            ),
            "person",
            id,
          );
        let person: Person;
        if (former) {
          person = {
            ...former,
            ...personColumns(w),
            active,
            // A handle relinked away from the old record (`herald person relink`) stays with
            // whoever has it now: the rehire gets a new one.
            handle: former.handle ?? (await newHandle(former.id)),
            formerExternalId: null,
            deletedAt: null,
            deactivatedAt: active ? null : now,
            updatedAt: now,
            version: former.version + 1,
          } as Person;
          await repo.save(person);
        } else {
          const id = randomUUID();
          person = {
            id,
            ...personColumns(w),
            active,
            handle: await newHandle(id),
            createdAt: now,
            updatedAt: now,
            deactivatedAt: active ? null : now,
            deletedAt: null,
            formerExternalId: null,
            version: 1,
          } as Person;
          await repo.insert(person);
        }
        await writeEmails(em, person.id, w, !former);
        await appendEvents(em, client.name, [
          {
            type: "person.provisioned",
            personId: person.id,
            userName: person.userName,
            handle: person.handle,
            active: person.active,
          },
        ]);
        await audit(em, client, former ? "scim.user.rehire" : "scim.user.create", "person", person.id, {
          after: w.doc,
          handle: person.handle,
          // For the admin deciding on `herald person relink`: deleted people with this
          // externalId whose userName and email did not match (so their handles stayed theirs).
          ...(rehire.unmatched.length > 0 ? { sameExternalIdAs: rehire.unmatched } : {}),
          ...(rehire.matchedOn ? { rehireMatchedOn: rehire.matchedOn } : {}),
        });
        // A new person belongs to no group yet: no query needed for the answer.
        return former ? renderUser(em, person) : toScimUser(person, [], base);
      });
    },

    async replaceUser(id: string, body: unknown, client: ScimClient, ifMatch?: string): Promise<JsonObject> {
      const w = normalizeUser(body);
      return commit(async (em) => {
        const before = await findPerson(em, id, true);
        checkIfMatch(ifMatch, before.version);
        await assertUserUnique(em, w, id);
        return saveUser(em, before, w, client, "scim.user.replace");
      });
    },

    async patchUser(
      id: string,
      ops: readonly PatchOperation[],
      client: ScimClient,
      ifMatch?: string,
    ): Promise<JsonObject> {
      return commit(async (em) => {
        const before = await findPerson(em, id, true);
        checkIfMatch(ifMatch, before.version);
        const current: JsonObject = { ...docOf(before), userName: before.userName, active: before.active };
        if (before.externalId !== null) current.externalId = before.externalId;
        const patched = applyPatch(current, ops, {
          schema: USER_PATCH_SCHEMA,
          readOnly: new Set(["id", "meta", "groups", "schemas"]),
          required: new Set(["userName"]),
        });
        const w = normalizeUser(patched);
        await assertUserUnique(em, w, id);
        return saveUser(em, before, w, client, "scim.user.patch");
      });
    },

    async deleteUser(id: string, client: ScimClient, ifMatch?: string): Promise<void> {
      await commit(async (em) => {
        const person = await findPerson(em, id, true);
        checkIfMatch(ifMatch, person.version);
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
        // The handle stays issued to this person forever (DESIGN rule 3): nothing to release.
        const events: DirectoryEvent[] = memberships.map((m) => ({
          type: "group.membership_changed",
          groupId: m.groupId,
          added: [],
          removed: [id],
        }));
        if (person.active) events.push({ type: "person.deactivated", personId: id });
        events.push({ type: "person.deleted", personId: id });
        await appendEvents(em, client.name, events);
        await audit(em, client, "scim.user.delete", "person", id, {
          before: docOf(person),
          userName: person.userName,
        });
      });
    },

    async getGroup(id: string, withMembers = true): Promise<JsonObject> {
      return db.run(async (em) => renderGroup(em, await findGroup(em, id), withMembers));
    },

    async createGroup(body: unknown, client: ScimClient): Promise<JsonObject> {
      const w = normalizeGroup(body);
      return commit(async (em) => {
        await assertGroupUnique(em, w, undefined);
        const now = new Date();
        const group: Group = {
          id: randomUUID(),
          displayName: w.displayName,
          displayNameKey: w.displayName.toLowerCase(),
          externalId: w.externalId,
          scimDoc: JSON.stringify(w.doc),
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
        await appendEvents(em, client.name, events);
        await audit(em, client, "scim.group.create", "group", group.id, { after: w.doc, added });
        return renderGroup(em, group);
      });
    },

    async replaceGroup(id: string, body: unknown, client: ScimClient, ifMatch?: string): Promise<JsonObject> {
      const w = normalizeGroup(body);
      return commit(async (em) => {
        const before = await findGroup(em, id, true);
        checkIfMatch(ifMatch, before.version);
        await assertGroupUnique(em, w, id);
        const current = new Set(
          (await em.getRepository(GroupMemberSchema).findBy({ groupId: id })).map((m) => m.personId),
        );
        const wanted = w.members ?? [];
        const wantedIds = new Set(wanted.map((m) => m.value));
        const diff = await setMembers(
          em,
          id,
          wanted.filter((m) => !current.has(m.value)),
          [...current].filter((m) => !wantedIds.has(m)),
        );
        return saveGroup(em, before, w, diff, client, "scim.group.replace");
      });
    },

    async patchGroup(
      id: string,
      ops: readonly PatchOperation[],
      client: ScimClient,
      ifMatch?: string,
    ): Promise<JsonObject> {
      return commit(async (em) => {
        // The row lock serialises concurrent PATCHes of one group, so both of two concurrent
        // member additions land (MySQL; SQLite transactions are serial anyway).
        const before = await findGroup(em, id, true);
        checkIfMatch(ifMatch, before.version);
        const { memberOps, otherOps } = splitMemberOps(ops);
        let diff = { added: [] as string[], removed: [] as string[] };
        if (memberOps.length > 0) {
          const current: JsonObject[] = (
            await em.getRepository(GroupMemberSchema).findBy({ groupId: id })
          ).map((m) => ({
            value: m.personId,
          }));
          const patched = applyPatch({ members: current }, memberOps, {
            schema: GROUP_PATCH_SCHEMA,
            readOnly: new Set(),
            required: new Set(),
            caseExactValues: new Set(["members"]),
          });
          const next = memberInputs((patched.members as Json | undefined) ?? []);
          const now = new Set(current.map((m) => String(m.value)));
          const nextIds = new Set(next.map((m) => m.value));
          diff = await setMembers(
            em,
            id,
            next.filter((m) => !now.has(m.value)),
            [...now].filter((m) => !nextIds.has(m)),
          );
        }
        const doc: JsonObject = {
          ...(before.scimDoc ? JSON.parse(before.scimDoc) : {}),
          displayName: before.displayName,
        };
        if (before.externalId !== null) doc.externalId = before.externalId;
        const patchedDoc = otherOps.length
          ? applyPatch(doc, otherOps, {
              schema: GROUP_PATCH_SCHEMA,
              readOnly: new Set(["id", "meta", "schemas"]),
              required: new Set(["displayName"]),
            })
          : doc;
        const w = normalizeGroup(patchedDoc);
        await assertGroupUnique(em, w, id);
        return saveGroup(em, before, w, diff, client, "scim.group.patch");
      });
    },

    async deleteGroup(id: string, client: ScimClient, ifMatch?: string): Promise<void> {
      await commit(async (em) => {
        const group = await findGroup(em, id, true);
        checkIfMatch(ifMatch, group.version);
        const members = (await em.getRepository(GroupMemberSchema).findBy({ groupId: id })).map(
          (m) => m.personId,
        );
        await em.getRepository(GroupMemberSchema).delete({ groupId: id });
        await em.getRepository(GroupSchema).delete({ id });
        const events: DirectoryEvent[] = [];
        if (members.length > 0)
          events.push({ type: "group.membership_changed", groupId: id, added: [], removed: members });
        events.push({ type: "group.deleted", groupId: id, displayName: group.displayName });
        await appendEvents(em, client.name, events);
        await audit(em, client, "scim.group.delete", "group", id, {
          before: group.scimDoc ? JSON.parse(group.scimDoc) : {},
          removed: members,
        });
      });
    },
  };

  async function saveUser(
    em: EntityManager,
    before: Person,
    w: UserWrite,
    client: ScimClient,
    action: string,
  ): Promise<JsonObject> {
    const now = new Date();
    // Only an explicit active=true reactivates: a PUT without `active`, a PATCH that removes it
    // or sets it to null keeps the person as they are (docs/scim.md, "active").
    const active = w.active ?? before.active;
    const after: Person = {
      ...before,
      ...personColumns(w),
      active,
      deactivatedAt: active ? null : (before.deactivatedAt ?? now),
      updatedAt: now,
      version: before.version + 1,
    } as Person;
    await em.getRepository(PersonSchema).save(after);
    await writeEmails(em, before.id, w);
    await appendEvents(em, client.name, personEvents(before, after));
    await audit(em, client, action, "person", before.id, { before: docOf(before), after: w.doc });
    return renderUser(em, after);
  }

  async function saveGroup(
    em: EntityManager,
    before: Group,
    w: GroupWrite,
    diff: { added: string[]; removed: string[] },
    client: ScimClient,
    action: string,
  ): Promise<JsonObject> {
    const now = new Date();
    const after: Group = {
      ...before,
      displayName: w.displayName,
      displayNameKey: w.displayName.toLowerCase(),
      externalId: w.externalId,
      scimDoc: JSON.stringify(w.doc),
      updatedAt: now,
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
    await appendEvents(em, client.name, events);
    await audit(em, client, action, "group", before.id, {
      before: before.scimDoc ? JSON.parse(before.scimDoc) : {},
      after: w.doc,
      added: diff.added,
      removed: diff.removed,
    });
    return renderGroup(em, after);
  }
}

const MEMBERS_PATH = /^(urn:ietf:params:scim:schemas:core:2\.0:group:)?members(\[|\.|$)/i;

/**
 * Splits a Group PATCH into the part about members (applied to the membership table) and the
 * rest (applied to the document). A no-path op whose value carries `members` contributes to both.
 */
function splitMemberOps(ops: readonly PatchOperation[]): {
  memberOps: PatchOperation[];
  otherOps: PatchOperation[];
} {
  const memberOps: PatchOperation[] = [];
  const otherOps: PatchOperation[] = [];
  for (const op of ops) {
    if (op.path !== undefined) {
      (MEMBERS_PATH.test(op.path) ? memberOps : otherOps).push(op);
      continue;
    }
    if (!isObject(op.value)) {
      otherOps.push(op);
      continue;
    }
    const rest: JsonObject = {};
    for (const [k, v] of Object.entries(op.value)) {
      if (k.toLowerCase() === "members") memberOps.push({ op: op.op, path: "members", value: v });
      else rest[k] = v;
    }
    if (Object.keys(rest).length > 0) otherOps.push({ ...op, value: rest });
  }
  return { memberOps, otherOps };
}

export type ScimService = ReturnType<typeof createScimService>;
