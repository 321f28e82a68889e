/**
 * SCIM PATCH (RFC 7644 §3.5.2) over a resource document. Operations apply in order to a working
 * copy; the caller re-normalises the result exactly as for PUT, so PATCH can never store what a
 * PUT could not.
 *
 * What real IdPs send is handled: capitalised op names (Entra's "Replace"), no-path operations
 * whose value keys are themselves paths ("name.givenName", "urn:…:User:employeeNumber"),
 * value-filter paths (`emails[type eq "work"].value`) that create the element when an add or
 * replace finds none, and removals with a value list (`remove members` + `[{value}]`).
 */
import type { Filter } from "scim2-parse-filter";
import { isObject, type Json, type JsonObject } from "./documents.ts";
import { badRequest, ScimError } from "./errors.ts";
import { type AttributeDef, findAttr, PATCH_SCHEMA } from "./schemas.ts";
import { parseValueFilter } from "./filter.ts";

export type PatchOpName = "add" | "replace" | "remove";

export interface PatchOperation {
  readonly op: PatchOpName;
  readonly path: string | undefined;
  readonly value: Json | undefined;
}

/** Validates the PatchOp envelope; returns its operations with normalised op names. */
export function parsePatchRequest(body: unknown): PatchOperation[] {
  if (!isObject(body))
    throw badRequest("invalidSyntax", "The request body must be a SCIM PatchOp JSON object.");
  const schemas = body.schemas;
  if (
    schemas !== undefined &&
    !(Array.isArray(schemas) && schemas.some((s) => String(s).toLowerCase() === PATCH_SCHEMA.toLowerCase()))
  ) {
    throw badRequest("invalidSyntax", `A PATCH body's schemas must contain ${PATCH_SCHEMA}.`);
  }
  const opsKey = Object.keys(body).find((k) => k.toLowerCase() === "operations");
  const ops = opsKey ? body[opsKey] : undefined;
  if (!Array.isArray(ops) || ops.length === 0) {
    throw badRequest("invalidSyntax", "A PATCH body needs a non-empty Operations array (RFC 7644 §3.5.2).");
  }
  if (ops.length > 1000) throw new ScimError(413, "Too many operations in one PATCH (1,000 at most).");
  return ops.map((raw, i) => {
    if (!isObject(raw)) throw badRequest("invalidSyntax", `Operations[${i}] must be an object.`);
    const get = (name: string) => {
      const k = Object.keys(raw).find((key) => key.toLowerCase() === name);
      return k === undefined ? undefined : raw[k];
    };
    const rawOp = get("op");
    const op = typeof rawOp === "string" ? rawOp.toLowerCase() : "";
    if (op !== "add" && op !== "replace" && op !== "remove") {
      throw badRequest(
        "invalidSyntax",
        `Operations[${i}].op must be add, replace or remove; got ${JSON.stringify(get("op"))}.`,
      );
    }
    const path = get("path");
    if (path !== undefined && path !== null && (typeof path !== "string" || path.trim() === "")) {
      throw badRequest("invalidPath", `Operations[${i}].path must be a non-empty string.`);
    }
    const value = get("value");
    if (op !== "remove" && value === undefined) {
      throw badRequest("invalidSyntax", `Operations[${i}] (${op}) needs a value.`);
    }
    return { op, path: typeof path === "string" ? path.trim() : undefined, value: value as Json | undefined };
  });
}

// ---------------------------------------------------------------------------------------------
// Paths

export interface ParsedPath {
  /** Extension URN (canonical), or undefined for the core schema. */
  readonly urn: string | undefined;
  /** The attribute's canonical name (unknown names kept as written). */
  readonly attr: string;
  readonly def: AttributeDef | undefined;
  readonly filter: Filter | undefined;
  /** Sub-attribute after the filter or after a dot. */
  readonly sub: string | undefined;
  readonly subDef: AttributeDef | undefined;
}

export interface PatchSchema {
  /** Attributes of the core schema. */
  readonly core: readonly AttributeDef[];
  /** Known extensions: URN → attributes. */
  readonly extensions: Readonly<Record<string, readonly AttributeDef[]>>;
  readonly coreUrn: string;
}

export function parsePath(schema: PatchSchema, raw: string): ParsedPath {
  let rest = raw;
  let urn: string | undefined;
  let defs = schema.core;
  const lower = raw.toLowerCase();
  if (lower.startsWith(`${schema.coreUrn.toLowerCase()}:`)) {
    rest = raw.slice(schema.coreUrn.length + 1);
  } else {
    for (const [u, d] of Object.entries(schema.extensions)) {
      if (lower === u.toLowerCase())
        return { urn: u, attr: "", def: undefined, filter: undefined, sub: undefined, subDef: undefined };
      if (lower.startsWith(`${u.toLowerCase()}:`)) {
        urn = u;
        defs = d;
        rest = raw.slice(u.length + 1);
        break;
      }
    }
    if (!urn && lower.startsWith("urn:"))
      throw badRequest("invalidPath", `Unknown schema in path ${JSON.stringify(raw)}.`);
  }
  const m = /^([A-Za-z$][\w$-]*)(?:\[(.*)\])?(?:\.([A-Za-z$][\w$-]*))?$/s.exec(rest);
  if (!m)
    throw badRequest(
      "invalidPath",
      `${JSON.stringify(raw)} is not a valid attribute path (RFC 7644 §3.5.2).`,
    );
  const [, attrName, filterText, subName] = m;
  const def = findAttr(defs, attrName);
  let filter: Filter | undefined;
  if (filterText !== undefined) {
    if (def && !def.multiValued)
      throw badRequest("invalidPath", `${def.name} is single-valued; a [filter] does not apply.`);
    // The grammar, bounds and error answers of list filters (400 invalidFilter, RFC 7644 §3.12).
    filter = parseValueFilter(filterText);
  }
  const subDef = subName ? findAttr(def?.subAttributes, subName) : undefined;
  if (subName && def && def.type === "complex" && !subDef) {
    throw badRequest("invalidPath", `${def.name} has no sub-attribute ${JSON.stringify(subName)}.`);
  }
  return { urn, attr: def?.name ?? attrName, def, filter, sub: subDef?.name ?? subName, subDef };
}

// ---------------------------------------------------------------------------------------------
// Element filters (inside one multi-valued attribute), evaluated in memory on a single resource.

function elementValue(el: JsonObject, name: string): Json | undefined {
  const k = Object.keys(el).find((key) => key.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : el[k];
}

export function matches(el: Json, f: Filter, caseExactValue = false): boolean {
  if (!isObject(el)) return false;
  switch (f.op) {
    case "and":
      return f.filters.every((x) => matches(el, x, caseExactValue));
    case "or":
      return f.filters.some((x) => matches(el, x, caseExactValue));
    case "not":
      return !matches(el, f.filter, caseExactValue);
    case "[]":
      throw badRequest("invalidFilter", "Value filters cannot be nested.");
    case "pr": {
      const v = elementValue(el, f.attrPath);
      return v !== undefined && v !== null && v !== "";
    }
    default: {
      const actual = elementValue(el, f.attrPath);
      if (actual === undefined || actual === null) return f.op === "ne" && f.compValue !== null;
      const exact = caseExactValue && f.attrPath.toLowerCase() === "value";
      const norm = (v: unknown) => {
        if (typeof v === "boolean") return v;
        if (typeof v === "string" && /^(true|false)$/i.test(v) && typeof actual === "boolean")
          return v.toLowerCase() === "true";
        const str = String(v);
        return exact ? str : str.toLowerCase();
      };
      const a = norm(actual);
      const b = norm(f.compValue);
      switch (f.op) {
        case "eq":
          return a === b;
        case "ne":
          return a !== b;
        case "co":
          return String(a).includes(String(b));
        case "sw":
          return String(a).startsWith(String(b));
        case "ew":
          return String(a).endsWith(String(b));
        case "gt":
          return String(a) > String(b);
        case "ge":
          return String(a) >= String(b);
        case "lt":
          return String(a) < String(b);
        case "le":
          return String(a) <= String(b);
      }
      return false;
    }
  }
}

/** The attributes an eq-only filter pins down, to build the element an add/replace creates. */
function impliedElement(f: Filter): JsonObject | undefined {
  if (f.op === "eq" && typeof f.compValue !== "object") return { [f.attrPath]: f.compValue as Json };
  if (f.op === "and") {
    const out: JsonObject = {};
    for (const x of f.filters) {
      const part = impliedElement(x);
      if (!part) return undefined;
      Object.assign(out, part);
    }
    return out;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Applying operations

function container(doc: JsonObject, urn: string | undefined): JsonObject {
  if (!urn) return doc;
  const existing = doc[urn];
  if (isObject(existing)) return existing;
  const created: JsonObject = {};
  doc[urn] = created;
  return created;
}

function clone<T extends Json>(v: T): T {
  return structuredClone(v);
}

function asList(value: Json): Json[] {
  return Array.isArray(value) ? value : [value];
}

/**
 * What makes two elements of a multi-valued attribute the same: `value` (not caseExact) and
 * `type` when both have a value, else the whole element. A key, so that adding or removing n
 * values against a list of m is n + m work, not n × m (a 1 MiB body holds ~25,000 members).
 */
function elementKey(el: Json): string {
  if (isObject(el) && el.value !== undefined)
    return `v\u0000${String(el.value).toLowerCase()}\u0000${JSON.stringify(el.type ?? null)}`;
  return `j\u0000${JSON.stringify(el)}`;
}

function mergeInto(target: JsonObject, value: JsonObject): void {
  for (const [k, v] of Object.entries(value)) {
    const existing = Object.keys(target).find((key) => key.toLowerCase() === k.toLowerCase());
    if (existing !== undefined && existing !== k) delete target[existing];
    target[k] = clone(v);
  }
}

export interface ApplyOptions {
  readonly schema: PatchSchema;
  /** Attribute names (canonical) a PATCH may not touch: 400 mutability. */
  readonly readOnly: ReadonlySet<string>;
  /** Attribute names whose removal leaves the resource invalid: 400 invalidValue. */
  readonly required: ReadonlySet<string>;
  /** Multi-valued attributes whose element "value" is caseExact (e.g. members). */
  readonly caseExactValues?: ReadonlySet<string>;
}

/** Applies `ops` to a copy of `doc` and returns it. */
export function applyPatch(doc: JsonObject, ops: readonly PatchOperation[], opts: ApplyOptions): JsonObject {
  const out = clone(doc);
  for (const op of ops) applyOne(out, op, opts);
  return out;
}

function applyOne(doc: JsonObject, op: PatchOperation, opts: ApplyOptions): void {
  if (op.path === undefined) {
    if (op.op === "remove")
      throw badRequest("noTarget", "A remove operation needs a path (RFC 7644 §3.5.2.2).");
    if (!isObject(op.value))
      throw badRequest("invalidValue", `A ${op.op} without a path needs an object value.`);
    // Each key is itself a path (Entra sends "name.givenName" and URN-qualified keys).
    for (const [key, value] of Object.entries(op.value)) {
      // Read-only attributes inside a value are ignored, as on PUT (RFC 7643 §2.2): Okta renames a
      // group with {"id": <its id>, "displayName": …}. Naming one in a path is still an error.
      if (opts.readOnly.has(key) || [...opts.readOnly].some((r) => r.toLowerCase() === key.toLowerCase()))
        continue;
      const ext = Object.keys(opts.schema.extensions).find((u) => u.toLowerCase() === key.toLowerCase());
      if (ext && isObject(value)) {
        for (const [k, v] of Object.entries(value))
          applyOne(doc, { op: op.op, path: `${ext}:${k}`, value: v }, opts);
      } else {
        applyOne(doc, { op: op.op, path: key, value }, opts);
      }
    }
    return;
  }

  const path = parsePath(opts.schema, op.path);
  if (path.attr === "" && path.urn) {
    // The whole extension object.
    if (op.op === "remove") delete doc[path.urn];
    else if (isObject(op.value)) mergeInto(container(doc, path.urn), op.value);
    else throw badRequest("invalidValue", `${path.urn} must be set to an object.`);
    return;
  }
  if (!path.urn && opts.readOnly.has(path.attr)) {
    throw badRequest("mutability", `${path.attr} is read-only and cannot be changed with PATCH.`);
  }
  const target = container(doc, path.urn);
  const key = Object.keys(target).find((k) => k.toLowerCase() === path.attr.toLowerCase()) ?? path.attr;
  if (key !== path.attr && key in target) {
    target[path.attr] = target[key];
    delete target[key];
  }
  const attr = path.attr;
  const multi = path.def?.multiValued ?? Array.isArray(target[attr]);
  const caseExact = opts.caseExactValues?.has(attr) ?? false;

  if (op.op === "remove") {
    if (!path.urn && opts.required.has(attr) && !path.filter && !path.sub) {
      throw badRequest("invalidValue", `${attr} is required and cannot be removed.`);
    }
    if (!(attr in target)) return;
    if (path.filter) {
      const list = asList(target[attr]);
      if (path.sub) {
        for (const el of list) if (isObject(el) && matches(el, path.filter, caseExact)) delete el[path.sub];
      } else {
        target[attr] = list.filter((el) => !matches(el, path.filter!, caseExact));
      }
    } else if (path.sub) {
      const v = target[attr];
      if (isObject(v)) delete v[path.sub];
      else if (Array.isArray(v)) for (const el of v) if (isObject(el)) delete el[path.sub];
    } else if (multi && op.value !== undefined && op.value !== null) {
      // Remove the listed values only (Entra: remove members with [{"value": id}]).
      const drop = asList(op.value);
      const exactValues = new Set(drop.filter(isObject).map((d) => String(d.value)));
      const keys = new Set(drop.map(elementKey));
      target[attr] = asList(target[attr]).filter((el) =>
        caseExact && isObject(el) ? !exactValues.has(String(el.value)) : !keys.has(elementKey(el)),
      );
    } else {
      delete target[attr];
    }
    return;
  }

  const value = op.value as Json;
  if (path.filter) {
    const list = asList(target[attr] ?? []);
    const hits = list.filter((el) => matches(el, path.filter!, caseExact));
    if (hits.length === 0) {
      const implied = impliedElement(path.filter);
      if (!implied)
        throw badRequest("noTarget", `No ${attr} value matches the filter in ${JSON.stringify(op.path)}.`);
      const el: JsonObject = { ...implied };
      if (path.sub) el[path.sub] = clone(value);
      else if (isObject(value)) mergeInto(el, value);
      list.push(el);
    } else {
      for (const el of hits) {
        if (!isObject(el)) continue;
        if (path.sub) el[path.sub] = clone(value);
        else if (isObject(value)) mergeInto(el, value);
      }
    }
    target[attr] = list;
    return;
  }
  if (path.sub) {
    if (multi) {
      // "emails.value" without a filter: applies to every element (RFC 7644 §3.5.2.3).
      const list = asList(target[attr] ?? []);
      if (list.length === 0) list.push({});
      for (const el of list) if (isObject(el)) el[path.sub] = clone(value);
      target[attr] = list;
    } else {
      const obj = isObject(target[attr]) ? (target[attr] as JsonObject) : {};
      obj[path.sub] = clone(value);
      target[attr] = obj;
    }
    return;
  }
  if (multi) {
    const incoming = asList(clone(value));
    if (op.op === "replace") {
      target[attr] = incoming;
    } else {
      const list = asList(target[attr] ?? []);
      const present = new Set(list.map(elementKey));
      if (incoming.some((v) => isObject(v) && v.primary === true))
        for (const el of list) if (isObject(el)) el.primary = false;
      for (const v of incoming) {
        const key = elementKey(v);
        if (present.has(key)) continue;
        present.add(key);
        list.push(v);
      }
      target[attr] = list;
    }
    return;
  }
  if (path.def?.type === "complex" && isObject(value) && isObject(target[attr])) {
    mergeInto(target[attr] as JsonObject, value);
    return;
  }
  target[attr] = clone(value);
}
