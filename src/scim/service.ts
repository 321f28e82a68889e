/**
 * The SCIM service: Users and Groups on the wire (RFC 7643/7644) over the Directory
 * (src/identity/directory.ts), which owns people and groups, their lifecycle, the audit records
 * and the domain events. This file keeps SCIM's part: documents ↔ the directory's writes, filters
 * and sorting (filter.ts), PATCH semantics (patch.ts), ETags and SCIM errors. Routes call this;
 * it knows nothing of HTTP beyond ScimError.
 */
import type { Caller, Directory, MemberInput as DirectoryMember, Refusal } from "../identity/directory.ts";
import { isObject, type Json, type JsonObject } from "./documents.ts";
import { badRequest, conflict, notFound, preconditionFailed, ScimError } from "./errors.ts";
import {
  groupCondition,
  groupSortField,
  MAX_FILTER_LENGTH,
  parseFilter,
  userCondition,
  userSortField,
} from "./filter.ts";
import { type MemberInput, memberInputs, normalizeGroup, toScimGroup } from "./groups.ts";
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
import { etagOf, normalizeUser, toScimUser } from "./users.ts";

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

const docOf = (scimDoc: string | null): JsonObject => (scimDoc ? (JSON.parse(scimDoc) as JsonObject) : {});

/** What the Directory refused, as the SCIM error RFC 7644 §3.12 pairs with it. */
function scimError(r: Refusal, resource: "User" | "Group", id?: string): ScimError {
  switch (r.reason) {
    case "not-found":
      return notFound(`${resource} ${id} not found`);
    case "user-name-taken":
      return conflict(`A User with userName "${r.userName}" already exists.`);
    case "group-name-taken":
      return conflict(`A Group named "${r.displayName}" already exists.`);
    case "concurrent-change":
      return conflict("A resource with the same unique attribute was created concurrently.");
    case "nested-group":
      return new ScimError(400, "Nested groups are not supported: members must be Users.", "invalidValue");
    case "unknown-members":
      return new ScimError(
        400,
        `No User with id ${r.ids.slice(0, 5).join(", ")}${r.ids.length > 5 ? " …" : ""}.`,
        "invalidValue",
      );
    case "bad-query":
      return badRequest("invalidFilter", r.message);
  }
}

const directoryMembers = (members: readonly MemberInput[]): DirectoryMember[] =>
  members.map((m) => ({ personId: m.value, display: m.display }));

export function createScimService(directory: Directory, options: { baseUrl: string }) {
  const base = options.baseUrl;
  const caller = (client: ScimClient): Caller => ({
    name: client.name,
    via: "scim",
    requestId: client.requestId,
  });

  // The IdP's hot path (`filter=userName eq "…"`, the first page): the Directory's prepared
  // statements, without building a query per request.
  const USERNAME_EQ = /^\s*userName\s+eq\s+"((?:[^"\\]|\\["\\])*)"\s*$/i;

  async function listUsers(q: ListQuery): Promise<ListResult> {
    const fast =
      !q.sortBy &&
      q.startIndex === 1 &&
      q.count > 0 &&
      q.filter !== undefined &&
      q.filter.length <= MAX_FILTER_LENGTH
        ? USERNAME_EQ.exec(q.filter)
        : null;
    if (fast) {
      const entry = await directory.lookupUserName(fast[1].replace(/\\(["\\])/g, "$1"));
      return entry
        ? { total: 1, resources: [toScimUser(entry.person, entry.groups, base)] }
        : { total: 0, resources: [] };
    }
    const where =
      q.filter !== undefined && q.filter.trim() !== "" ? userCondition(parseFilter(q.filter)) : undefined;
    const r = await directory.listPeople({
      where,
      orderBy: q.sortBy
        ? { field: userSortField(q.sortBy), descending: q.sortOrder === "descending" }
        : undefined,
      offset: q.startIndex - 1,
      limit: q.count,
    });
    if (!r.ok) throw scimError(r, "User");
    return { total: r.total, resources: r.entries.map((e) => toScimUser(e.person, e.groups, base)) };
  }

  async function listGroups(q: ListQuery): Promise<ListResult> {
    const where =
      q.filter !== undefined && q.filter.trim() !== "" ? groupCondition(parseFilter(q.filter)) : undefined;
    const r = await directory.listGroups({
      where,
      orderBy: q.sortBy
        ? { field: groupSortField(q.sortBy), descending: q.sortOrder === "descending" }
        : undefined,
      offset: q.startIndex - 1,
      limit: q.count,
      withMembers: q.withMembers,
    });
    if (!r.ok) throw scimError(r, "Group");
    return { total: r.total, resources: r.entries.map((e) => toScimGroup(e.group, e.members, base)) };
  }

  return {
    baseUrl: base,

    async getUser(id: string): Promise<JsonObject> {
      const entry = await directory.personEntry(id);
      if (!entry) throw notFound(`User ${id} not found`);
      return toScimUser(entry.person, entry.groups, base);
    },

    listUsers,
    listGroups,

    async createUser(body: unknown, client: ScimClient): Promise<JsonObject> {
      const r = await directory.createPerson(normalizeUser(body), caller(client));
      if (!r.ok) throw scimError(r, "User");
      return toScimUser(r.person, r.groups, base);
    },

    async replaceUser(id: string, body: unknown, client: ScimClient, ifMatch?: string): Promise<JsonObject> {
      const w = normalizeUser(body);
      const r = await directory.updatePerson(
        id,
        (before) => {
          checkIfMatch(ifMatch, before.version);
          return w;
        },
        caller(client),
        "replace",
      );
      if (!r.ok) throw scimError(r, "User", id);
      return toScimUser(r.person, r.groups, base);
    },

    async patchUser(
      id: string,
      ops: readonly PatchOperation[],
      client: ScimClient,
      ifMatch?: string,
    ): Promise<JsonObject> {
      const r = await directory.updatePerson(
        id,
        (before) => {
          checkIfMatch(ifMatch, before.version);
          const current: JsonObject = {
            ...docOf(before.scimDoc),
            userName: before.userName,
            active: before.active,
          };
          if (before.externalId !== null) current.externalId = before.externalId;
          const patched = applyPatch(current, ops, {
            schema: USER_PATCH_SCHEMA,
            readOnly: new Set(["id", "meta", "groups", "schemas"]),
            required: new Set(["userName"]),
          });
          return normalizeUser(patched);
        },
        caller(client),
        "patch",
      );
      if (!r.ok) throw scimError(r, "User", id);
      return toScimUser(r.person, r.groups, base);
    },

    async deleteUser(id: string, client: ScimClient, ifMatch?: string): Promise<void> {
      const r = await directory.deletePerson(id, caller(client), (p) => checkIfMatch(ifMatch, p.version));
      if (!r.ok) throw scimError(r, "User", id);
    },

    async getGroup(id: string, withMembers = true): Promise<JsonObject> {
      const entry = await directory.groupEntry(id, withMembers);
      if (!entry) throw notFound(`Group ${id} not found`);
      return toScimGroup(entry.group, entry.members, base);
    },

    async createGroup(body: unknown, client: ScimClient): Promise<JsonObject> {
      const w = normalizeGroup(body);
      const r = await directory.createGroup(
        {
          displayName: w.displayName,
          externalId: w.externalId,
          document: w.doc,
          members: directoryMembers(w.members ?? []),
        },
        caller(client),
      );
      if (!r.ok) throw scimError(r, "Group");
      return toScimGroup(r.group, r.members, base);
    },

    async replaceGroup(id: string, body: unknown, client: ScimClient, ifMatch?: string): Promise<JsonObject> {
      const w = normalizeGroup(body);
      const r = await directory.updateGroup(
        id,
        (before) => {
          checkIfMatch(ifMatch, before.version);
          // A PUT without members leaves the group empty (RFC 7644 §3.5.1: a replacement).
          return {
            group: { displayName: w.displayName, externalId: w.externalId, document: w.doc },
            members: directoryMembers(w.members ?? []),
          };
        },
        caller(client),
        "replace",
      );
      if (!r.ok) throw scimError(r, "Group", id);
      return toScimGroup(r.group, r.members, base);
    },

    async patchGroup(
      id: string,
      ops: readonly PatchOperation[],
      client: ScimClient,
      ifMatch?: string,
    ): Promise<JsonObject> {
      const r = await directory.updateGroup(
        id,
        (before, memberIds) => {
          checkIfMatch(ifMatch, before.version);
          const { memberOps, otherOps } = splitMemberOps(ops);
          let members: MemberInput[] | undefined;
          if (memberOps.length > 0) {
            const current: JsonObject[] = memberIds.map((value) => ({ value }));
            const patched = applyPatch({ members: current }, memberOps, {
              schema: GROUP_PATCH_SCHEMA,
              readOnly: new Set(),
              required: new Set(),
              caseExactValues: new Set(["members"]),
            });
            members = memberInputs((patched.members as Json | undefined) ?? []);
          }
          const doc: JsonObject = { ...docOf(before.scimDoc), displayName: before.displayName };
          if (before.externalId !== null) doc.externalId = before.externalId;
          const patchedDoc = otherOps.length
            ? applyPatch(doc, otherOps, {
                schema: GROUP_PATCH_SCHEMA,
                readOnly: new Set(["id", "meta", "schemas"]),
                required: new Set(["displayName"]),
              })
            : doc;
          const w = normalizeGroup(patchedDoc);
          return {
            group: { displayName: w.displayName, externalId: w.externalId, document: w.doc },
            members: members && directoryMembers(members),
          };
        },
        caller(client),
        "patch",
      );
      if (!r.ok) throw scimError(r, "Group", id);
      return toScimGroup(r.group, r.members, base);
    },

    async deleteGroup(id: string, client: ScimClient, ifMatch?: string): Promise<void> {
      const r = await directory.deleteGroup(id, caller(client), (g) => checkIfMatch(ifMatch, g.version));
      if (!r.ok) throw scimError(r, "Group", id);
    },
  };
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
