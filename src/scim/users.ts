/**
 * SCIM User ↔ the Directory's person. The document the IdP sent is kept whole (normalised) as the
 * person's record; the fields the directory searches and sorts by are projections of it.
 */
import type { GroupRef, Person, PersonFields, PersonWrite } from "../identity/directory.ts";
import { normalizeUserName } from "../identity/user-names.ts";
import {
  boundedString,
  isObject,
  type Json,
  type JsonObject,
  normalizeObject,
  normalizeValue,
  singlePrimary,
} from "./documents.ts";
import { badRequest } from "./errors.ts";
import {
  COMMON_ATTRIBUTES,
  ENTERPRISE_ATTRIBUTES,
  ENTERPRISE_SCHEMA,
  findAttr,
  USER_ATTRIBUTES,
  USER_SCHEMA,
} from "./schemas.ts";

const USER_DEFS = [...COMMON_ATTRIBUTES, ...USER_ATTRIBUTES];
const ENTERPRISE_LOWER = ENTERPRISE_SCHEMA.toLowerCase();

/** Attributes that are not part of the stored document: the server owns them. */
const SERVER_OWNED = new Set(["id", "meta", "schemas", "groups", "password"]);

/** A User as sent, normalised: the directory's write, with the document it keeps. */
export interface UserWrite extends PersonWrite {
  readonly fields: PersonFields;
  /** The stored document: canonical names, no server-owned attributes. */
  readonly document: JsonObject;
}

/**
 * Normalises a User document as sent on POST/PUT (or produced by PATCH). Throws ScimError 400 on
 * anything unusable; never trusts `id`, `meta`, `groups` or `password`.
 */
export function normalizeUser(input: unknown): UserWrite {
  if (!isObject(input))
    throw badRequest("invalidSyntax", "The request body must be a JSON object (a SCIM User).");
  const core: JsonObject = {};
  let enterprise: JsonObject | undefined;
  const extensions: JsonObject = {};
  for (const [key, value] of Object.entries(input)) {
    const lower = key.toLowerCase();
    if (lower === ENTERPRISE_LOWER) {
      if (value === null) continue;
      if (!isObject(value)) throw badRequest("invalidValue", `${ENTERPRISE_SCHEMA} must be an object`);
      enterprise = {
        ...enterprise,
        ...normalizeObject(ENTERPRISE_ATTRIBUTES, value, "enterprise", { keepReadOnly: true }),
      };
    } else if (lower.startsWith(`${ENTERPRISE_LOWER}:`)) {
      // A flattened extension attribute ("urn:…:User:employeeNumber": "42").
      const def = findAttr(ENTERPRISE_ATTRIBUTES, key.slice(ENTERPRISE_SCHEMA.length + 1));
      if (!def) throw badRequest("invalidValue", `Unknown enterprise attribute ${key}`);
      const v = normalizeValue(def, value as Json, def.name);
      enterprise = { ...enterprise };
      if (v !== undefined) enterprise[def.name] = v;
    } else if (lower.startsWith("urn:")) {
      if (value !== null) extensions[key] = value as Json;
    } else {
      const def = findAttr(USER_DEFS, key);
      if (def && SERVER_OWNED.has(def.name)) continue;
      if (key.toLowerCase() === "meta" || key.toLowerCase() === "schemas") continue;
      Object.assign(core, normalizeObject(USER_DEFS, { [key]: value as Json }, "", { keepReadOnly: false }));
    }
  }
  for (const list of [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
  ]) {
    singlePrimary(core[list] as Json[] | undefined);
  }

  // One spelling for one name (identity/user-names.ts): checked for length after normalising.
  const sent = typeof core.userName === "string" ? normalizeUserName(core.userName) : core.userName;
  const userName = boundedString(sent, "userName", 255);
  if (userName === null || userName.trim() === "") {
    throw badRequest("invalidValue", "userName is required and must not be empty.");
  }
  core.userName = userName;
  const name = isObject(core.name) ? core.name : {};
  const ent = enterprise ?? {};
  const manager = isObject(ent.manager) ? ent.manager : {};

  const emails: { value: string; type: string | null; primary: boolean }[] = [];
  for (const [position, item] of ((core.emails as Json[] | undefined) ?? []).entries()) {
    if (!isObject(item)) continue;
    const value = boundedString(item.value, `emails[${position}].value`, 320);
    if (value === null) continue;
    emails.push({
      value,
      type: boundedString(item.type, `emails[${position}].type`, 64),
      primary: item.primary === true,
    });
  }

  const doc: JsonObject = { ...core };
  if (enterprise && Object.keys(enterprise).length > 0) doc[ENTERPRISE_SCHEMA] = enterprise;
  Object.assign(doc, extensions);

  const fields: PersonFields = {
    userName,
    externalId: boundedString(core.externalId, "externalId", 255),
    displayName: boundedString(core.displayName, "displayName", 255),
    givenName: boundedString(name.givenName, "name.givenName", 255),
    familyName: boundedString(name.familyName, "name.familyName", 255),
    formattedName: boundedString(name.formatted, "name.formatted", 512),
    nickName: boundedString(core.nickName, "nickName", 255),
    title: boundedString(core.title, "title", 255),
    userType: boundedString(core.userType, "userType", 255),
    preferredLanguage: boundedString(core.preferredLanguage, "preferredLanguage", 64),
    locale: boundedString(core.locale, "locale", 64),
    timezone: boundedString(core.timezone, "timezone", 64),
    employeeNumber: boundedString(ent.employeeNumber, `${ENTERPRISE_SCHEMA}:employeeNumber`, 255),
    costCenter: boundedString(ent.costCenter, `${ENTERPRISE_SCHEMA}:costCenter`, 255),
    organization: boundedString(ent.organization, `${ENTERPRISE_SCHEMA}:organization`, 255),
    division: boundedString(ent.division, `${ENTERPRISE_SCHEMA}:division`, 255),
    department: boundedString(ent.department, `${ENTERPRISE_SCHEMA}:department`, 255),
    managerValue: boundedString(manager.value, `${ENTERPRISE_SCHEMA}:manager.value`, 255),
  };
  // Absent (or null) is "not said": a create makes the person active, a PUT or PATCH keeps the
  // state they are in. Never read as true: a `remove active` would otherwise rehire a leaver.
  const active = core.active === undefined ? undefined : core.active === true;
  return { document: doc, fields, emails, active };
}

export function userLocation(base: string, id: string): string {
  return `${base}/Users/${id}`;
}

export function etagOf(version: number): string {
  return `W/"${version}"`;
}

/** The SCIM representation of a person. */
export function toScimUser(person: Person, groups: readonly GroupRef[], base: string): JsonObject {
  const doc: JsonObject = person.scimDoc ? (JSON.parse(person.scimDoc) as JsonObject) : fallbackDoc(person);
  const schemas = [USER_SCHEMA];
  for (const key of Object.keys(doc)) if (key.startsWith("urn:")) schemas.push(key);
  const out: JsonObject = { schemas, id: person.id };
  if (person.externalId !== null) out.externalId = person.externalId;
  for (const [k, v] of Object.entries(doc)) if (k !== "externalId") out[k] = v;
  out.userName = person.userName;
  out.active = person.active;
  out.groups = groups.map((g) => ({
    value: g.id,
    $ref: `${base}/Groups/${g.id}`,
    display: g.displayName,
    type: "direct",
  }));
  out.meta = {
    resourceType: "User",
    created: person.createdAt.toISOString(),
    lastModified: person.updatedAt.toISOString(),
    location: userLocation(base, person.id),
    version: etagOf(person.version),
  };
  return out;
}

/** People created before SCIM (the demo seed) have no stored document: build one. */
function fallbackDoc(p: Person): JsonObject {
  const doc: JsonObject = { userName: p.userName };
  if (p.externalId) doc.externalId = p.externalId;
  const name: JsonObject = {};
  if (p.givenName) name.givenName = p.givenName;
  if (p.familyName) name.familyName = p.familyName;
  if (Object.keys(name).length > 0) doc.name = name;
  if (p.displayName) doc.displayName = p.displayName;
  if (p.title) doc.title = p.title;
  if (p.email) doc.emails = [{ value: p.email, type: "work", primary: true }];
  if (p.department) doc[ENTERPRISE_SCHEMA] = { department: p.department };
  return doc;
}
