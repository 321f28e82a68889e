/**
 * Normalising SCIM resource documents against the schemas: attribute names are case-insensitive
 * (RFC 7643 §2.1), so known names are rewritten to their canonical spelling; values are coerced to
 * their declared type where a real client sends a near miss (Entra's "True"/"False" strings,
 * numbers for strings); read-only and write-only attributes are dropped (RFC 7644 §3.3: ignored on
 * input); unknown attributes and extensions are kept as sent, so they round-trip.
 */
import { badRequest } from "./errors.ts";
import { type AttributeDef, findAttr } from "./schemas.ts";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Coerces one scalar to the attribute's type, or throws 400 invalidValue. */
export function coerceScalar(def: AttributeDef, value: Json, where: string): Json {
  if (value === null) return null;
  switch (def.type) {
    case "boolean":
      if (typeof value === "boolean") return value;
      if (typeof value === "string" && /^(true|false)$/i.test(value.trim())) {
        return value.trim().toLowerCase() === "true";
      }
      throw badRequest(
        "invalidValue",
        `${where} must be a boolean (true or false), got ${JSON.stringify(value)}`,
      );
    case "integer":
      if (typeof value === "number" && Number.isInteger(value)) return value;
      if (typeof value === "string" && /^-?\d+$/.test(value)) return Number(value);
      throw badRequest("invalidValue", `${where} must be an integer, got ${JSON.stringify(value)}`);
    case "decimal":
      if (typeof value === "number") return value;
      throw badRequest("invalidValue", `${where} must be a number, got ${JSON.stringify(value)}`);
    case "dateTime":
      if (typeof value === "string" && !Number.isNaN(Date.parse(value))) return value;
      throw badRequest("invalidValue", `${where} must be an xsd:dateTime, got ${JSON.stringify(value)}`);
    case "complex":
      throw badRequest("invalidValue", `${where} must be an object`);
    default:
      if (typeof value === "string") return value;
      if (typeof value === "number" || typeof value === "boolean") return String(value);
      throw badRequest(
        "invalidValue",
        `${where} must be a string, got ${Array.isArray(value) ? "an array" : "an object"}`,
      );
  }
}

/** Normalises the value of one attribute (any multiplicity) against its definition. */
export function normalizeValue(def: AttributeDef, value: Json, where: string): Json | undefined {
  if (value === null) return undefined;
  if (def.multiValued) {
    const list = Array.isArray(value) ? value : [value];
    const out: Json[] = [];
    for (const [i, item] of list.entries()) {
      const v = normalizeSingle(def, item, `${where}[${i}]`);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
  if (Array.isArray(value)) {
    throw badRequest("invalidValue", `${where} is single-valued, but an array was given`);
  }
  return normalizeSingle(def, value, where);
}

function normalizeSingle(def: AttributeDef, value: Json, where: string): Json | undefined {
  if (value === null) return undefined;
  if (def.type !== "complex") return coerceScalar(def, value, where);
  if (!isObject(value)) {
    // A bare value for a complex attribute with a "value" sub-attribute is that value: Entra sets
    // the enterprise manager as a plain id string; some clients send members as bare ids.
    if (findAttr(def.subAttributes, "value") && (typeof value === "string" || typeof value === "number")) {
      return { value: String(value) };
    }
    throw badRequest("invalidValue", `${where} must be an object`);
  }
  return normalizeObject(def.subAttributes ?? [], value, where, { keepReadOnly: false });
}

/**
 * Canonicalises the keys of `obj` against `defs`. Unknown keys are kept verbatim; read-only and
 * write-only attributes are dropped unless `keepReadOnly`.
 */
export function normalizeObject(
  defs: readonly AttributeDef[],
  obj: JsonObject,
  where: string,
  { keepReadOnly }: { keepReadOnly: boolean },
): JsonObject {
  const out: JsonObject = {};
  for (const [key, raw] of Object.entries(obj)) {
    const def = findAttr(defs, key);
    if (!def) {
      if (raw !== null) out[key] = raw;
      continue;
    }
    if (!keepReadOnly && (def.mutability === "readOnly" || def.mutability === "writeOnly")) continue;
    const v = normalizeValue(def, raw, where ? `${where}.${def.name}` : def.name);
    if (v !== undefined) out[def.name] = v;
  }
  return out;
}

/** RFC 7643 §2.4: "primary" true at most once; the last one marked wins (RFC 7644 §3.5.2). */
export function singlePrimary(list: Json[] | undefined): void {
  if (!list) return;
  let seen = false;
  for (let i = list.length - 1; i >= 0; i--) {
    const item = list[i];
    if (isObject(item) && item.primary === true) {
      if (seen) item.primary = false;
      seen = true;
    }
  }
}

/** A non-empty string no longer than `max`, or 400 invalidValue. */
export function boundedString(value: Json | undefined, where: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw badRequest("invalidValue", `${where} must be a string`);
  if (value.length > max) throw badRequest("invalidValue", `${where} is longer than ${max} characters`);
  return value;
}
