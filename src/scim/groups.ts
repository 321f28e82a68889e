/**
 * SCIM Group ↔ Herald group. Members live in `group_member` (so that concurrent PATCHes that add
 * different members both land, and large groups need no document rewrite); every other attribute
 * the IdP sends is kept in `directory_group.scim_doc`.
 */
import type { Group, MemberRef } from "../identity/directory.ts";
import { boundedString, isObject, type Json, type JsonObject, normalizeObject } from "./documents.ts";
import { badRequest } from "./errors.ts";
import { COMMON_ATTRIBUTES, GROUP_ATTRIBUTES, GROUP_SCHEMA } from "./schemas.ts";
import { etagOf } from "./users.ts";

const GROUP_DEFS = [...COMMON_ATTRIBUTES, ...GROUP_ATTRIBUTES];

export interface GroupWrite {
  readonly doc: JsonObject;
  readonly displayName: string;
  readonly externalId: string | null;
  /** Members as sent (undefined when the document has no members attribute). */
  readonly members: MemberInput[] | undefined;
}

export interface MemberInput {
  readonly value: string;
  /** The display the client sent (kept and returned; RFC 7643 §4.2). */
  readonly display: string | null;
}

export function memberInputs(value: Json | undefined, where = "members"): MemberInput[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  const out: MemberInput[] = [];
  for (const [i, m] of list.entries()) {
    // Some clients send bare ids; RFC 7643 §4.2 says objects with "value".
    const id = isObject(m) ? (Object.entries(m).find(([k]) => k.toLowerCase() === "value")?.[1] ?? null) : m;
    if (typeof id !== "string" || id === "") {
      throw badRequest("invalidValue", `${where}[${i}].value must be the id of a User`);
    }
    let display: string | null = null;
    if (isObject(m)) {
      const d = Object.entries(m).find(
        ([k]) => k.toLowerCase() === "display" || k.toLowerCase() === "displayname",
      )?.[1];
      if (typeof d === "string") display = d.slice(0, 255);
    }
    out.push({ value: id, display });
  }
  return out;
}

export function normalizeGroup(input: unknown): GroupWrite {
  if (!isObject(input))
    throw badRequest("invalidSyntax", "The request body must be a JSON object (a SCIM Group).");
  const doc: JsonObject = {};
  let members: MemberInput[] | undefined;
  for (const [key, value] of Object.entries(input)) {
    const lower = key.toLowerCase();
    if (lower === "id" || lower === "meta" || lower === "schemas") continue;
    if (lower === "members") {
      members = memberInputs(value as Json);
      continue;
    }
    if (lower.startsWith("urn:")) {
      if (value !== null) doc[key] = value as Json;
      continue;
    }
    Object.assign(doc, normalizeObject(GROUP_DEFS, { [key]: value as Json }, "", { keepReadOnly: false }));
  }
  const displayName = boundedString(doc.displayName, "displayName", 255);
  if (displayName === null || displayName.trim() === "") {
    throw badRequest("invalidValue", "displayName is required and must not be empty.");
  }
  return { doc, displayName, externalId: boundedString(doc.externalId, "externalId", 255), members };
}

export function toScimGroup(
  group: Group,
  members: readonly MemberRef[] | undefined,
  base: string,
): JsonObject {
  const doc: JsonObject = group.scimDoc ? (JSON.parse(group.scimDoc) as JsonObject) : {};
  const schemas = [GROUP_SCHEMA];
  for (const key of Object.keys(doc)) if (key.startsWith("urn:")) schemas.push(key);
  const out: JsonObject = { schemas, id: group.id };
  if (group.externalId !== null) out.externalId = group.externalId;
  for (const [k, v] of Object.entries(doc)) if (k !== "externalId") out[k] = v;
  out.displayName = group.displayName;
  if (members !== undefined) {
    out.members = members.map((m) => {
      const ref: JsonObject = { value: m.id, $ref: `${base}/Users/${m.id}`, type: "User" };
      if (m.display !== null) ref.display = m.display;
      return ref;
    });
  }
  out.meta = {
    resourceType: "Group",
    created: group.createdAt.toISOString(),
    lastModified: group.updatedAt.toISOString(),
    location: `${base}/Groups/${group.id}`,
    version: etagOf(group.version),
  };
  return out;
}
