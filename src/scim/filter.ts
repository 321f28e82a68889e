/**
 * SCIM filters (RFC 7644 §3.4.2.2) → the Directory's query conditions over an allow-list of
 * attributes (src/identity/query.ts compiles them to SQL over identity's own tables). Parsing is
 * scim2-parse-filter's, after two repairs (RUNTIME.md): unquoted comparison values that real
 * clients send are quoted, and `attr[filter].sub op value` is rewritten to
 * `attr[(filter) and sub op value]` so that both conditions must hold for the SAME list element
 * (the library reads it as an AND that can match different elements).
 *
 * Every leaf is NULL-safe in the Directory (a missing attribute compares false, so `not (…)`
 * includes it), and nothing is ever filtered in memory: an attribute outside the allow-list is a
 * 400 invalidFilter, and so is a value the attribute's type cannot take.
 */
import { type Filter, parse } from "scim2-parse-filter";
import type {
  Comparison,
  GroupCondition,
  GroupSortField,
  PersonCondition,
  PersonSortField,
  QueryValue,
} from "../identity/query.ts";
import { badRequest } from "./errors.ts";
import { ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from "./schemas.ts";

/** A single-valued attribute: the directory field it is. */
interface Scalar {
  readonly kind: "scalar";
  readonly field: string;
}

/** A multi-valued attribute: the directory list, and its sub-attributes' fields. */
interface Multi {
  readonly kind: "multi";
  readonly list: string;
  readonly subs: Readonly<Record<string, string>>;
}

type Attribute = Scalar | Multi;

export interface ResourceFilterSpec {
  readonly name: "User" | "Group";
  readonly coreSchema: string;
  /** Lowercased attribute path → what it is in the directory. */
  readonly fields: Readonly<Record<string, Attribute>>;
  /** Lowercased attribute path → the directory's sort field. */
  readonly sortable: Readonly<Record<string, string>>;
}

const f = (field: string): Scalar => ({ kind: "scalar", field });

const ENT = ENTERPRISE_SCHEMA.toLowerCase();

export const USER_FILTER: ResourceFilterSpec = {
  name: "User",
  coreSchema: USER_SCHEMA,
  fields: {
    id: f("id"),
    externalid: f("externalId"),
    // Either Unicode spelling of a name finds the person: the directory compares keys.
    username: f("userName"),
    displayname: f("displayName"),
    nickname: f("nickName"),
    title: f("title"),
    usertype: f("userType"),
    preferredlanguage: f("preferredLanguage"),
    locale: f("locale"),
    timezone: f("timezone"),
    active: f("active"),
    "name.givenname": f("givenName"),
    "name.familyname": f("familyName"),
    "name.formatted": f("formattedName"),
    "meta.created": f("createdAt"),
    "meta.lastmodified": f("updatedAt"),
    emails: { kind: "multi", list: "emails", subs: { value: "value", type: "type", primary: "primary" } },
    [`${ENT}:employeenumber`]: f("employeeNumber"),
    [`${ENT}:costcenter`]: f("costCenter"),
    [`${ENT}:organization`]: f("organization"),
    [`${ENT}:division`]: f("division"),
    [`${ENT}:department`]: f("department"),
    [`${ENT}:manager.value`]: f("managerValue"),
    [`${ENT}:manager`]: f("managerValue"),
  },
  sortable: {
    id: "id",
    externalid: "externalId",
    username: "userName",
    displayname: "displayName",
    title: "title",
    "name.givenname": "givenName",
    "name.familyname": "familyName",
    emails: "email",
    "emails.value": "email",
    active: "active",
    "meta.created": "createdAt",
    "meta.lastmodified": "updatedAt",
    [`${ENT}:employeenumber`]: "employeeNumber",
    [`${ENT}:department`]: "department",
  } satisfies Record<string, PersonSortField>,
};

export const GROUP_FILTER: ResourceFilterSpec = {
  name: "Group",
  coreSchema: GROUP_SCHEMA,
  fields: {
    id: f("id"),
    externalid: f("externalId"),
    displayname: f("displayName"),
    "meta.created": f("createdAt"),
    "meta.lastmodified": f("updatedAt"),
    members: { kind: "multi", list: "members", subs: { value: "personId" } },
  },
  sortable: {
    id: "id",
    externalid: "externalId",
    displayname: "displayName",
    "meta.created": "createdAt",
    "meta.lastmodified": "updatedAt",
  } satisfies Record<string, GroupSortField>,
};

// ---------------------------------------------------------------------------------------------
// Repairs before parsing

interface Token {
  readonly kind: "str" | "word" | "open" | "close" | "lbr" | "rbr";
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < input.length && input[j] !== '"') j += input[j] === "\\" ? 2 : 1;
      if (j >= input.length) throw badRequest("invalidFilter", "Unterminated string in filter");
      tokens.push({ kind: "str", text: input.slice(i, j + 1), start: i, end: j + 1 });
      i = j + 1;
    } else if ("()[]".includes(c)) {
      const kind = c === "(" ? "open" : c === ")" ? "close" : c === "[" ? "lbr" : "rbr";
      tokens.push({ kind, text: c, start: i, end: i + 1 });
      i++;
    } else {
      let j = i;
      while (j < input.length && !/[\s()[\]"]/.test(input[j])) j++;
      tokens.push({ kind: "word", text: input.slice(i, j), start: i, end: j });
      i = j;
    }
  }
  return tokens;
}

const COMPARE = new Set(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"]);
const LITERAL = /^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)$/i;

/** Quotes bare comparison values (`meta.created gt 2015-10-10T14:38:21Z`, `userType eq Employee`). */
export function quoteBareValues(input: string): string {
  const tokens = tokenize(input);
  let out = "";
  let last = 0;
  for (let i = 2; i < tokens.length; i++) {
    const v = tokens[i];
    const op = tokens[i - 1];
    if (v.kind !== "word" || op.kind !== "word" || !COMPARE.has(op.text.toLowerCase())) continue;
    if (tokens[i - 2].kind !== "word" && tokens[i - 2].kind !== "rbr") continue;
    if (LITERAL.test(v.text)) continue;
    out += `${input.slice(last, v.start)}${JSON.stringify(v.text)}`;
    last = v.end;
  }
  return out + input.slice(last);
}

/** `emails[type eq "work"].value eq "x"` → `emails[(type eq "work") and value eq "x"]`. */
export function foldValuePathSubAttributes(input: string): string {
  let text = input;
  for (let guard = 0; guard < 20; guard++) {
    const tokens = tokenize(text);
    const stack: number[] = [];
    let rewritten = false;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.kind === "lbr") stack.push(i);
      if (t.kind !== "rbr") continue;
      const open = stack.pop();
      const sub = tokens[i + 1];
      if (
        open === undefined ||
        !sub ||
        sub.kind !== "word" ||
        sub.start !== t.end ||
        !sub.text.startsWith(".")
      )
        continue;
      const op = tokens[i + 2];
      if (!op || op.kind !== "word")
        throw badRequest("invalidFilter", `Expected an operator after ${sub.text}`);
      const isPresent = op.text.toLowerCase() === "pr";
      const value = isPresent ? undefined : tokens[i + 3];
      if (!isPresent && (!value || (value.kind !== "str" && value.kind !== "word"))) {
        throw badRequest("invalidFilter", `Expected a value after ${sub.text} ${op.text}`);
      }
      const end = value ? value.end : op.end;
      const inner = text.slice(tokens[open].end, t.start);
      const cond = `${sub.text.slice(1)} ${op.text}${value ? ` ${value.text}` : ""}`;
      text = `${text.slice(0, tokens[open].end)}(${inner}) and ${cond}]${text.slice(end)}`;
      rewritten = true;
      break;
    }
    if (!rewritten) return text;
  }
  return text;
}

/** Bounds on a filter, so that parsing, translation and the SQL built from it stay small. */
export const MAX_FILTER_LENGTH = 4000;
/** Parentheses, brackets and `not`, nested: real IdPs send two or three levels. */
export const MAX_FILTER_DEPTH = 32;
/** Comparisons in one filter (each is a bound parameter, some a subquery). */
export const MAX_FILTER_TERMS = 200;

/** Refuses what is too long or nested too deep before the (recursive) parser sees it. */
function checkBounds(input: string, what: string): void {
  if (input.length > MAX_FILTER_LENGTH)
    throw badRequest("invalidFilter", `The ${what} is too long (4,000 characters at most).`);
  let depth = 0;
  for (const t of tokenize(input)) {
    if (t.kind === "open" || t.kind === "lbr") {
      if (++depth > MAX_FILTER_DEPTH)
        throw badRequest(
          "invalidFilter",
          `The ${what} nests parentheses and brackets deeper than ${MAX_FILTER_DEPTH} levels.`,
        );
    } else if (t.kind === "close" || t.kind === "rbr") {
      if (--depth < 0)
        throw badRequest("invalidFilter", `The ${what} closes a parenthesis or bracket it never opened.`);
    }
  }
  if (depth !== 0) throw badRequest("invalidFilter", `The ${what} leaves a parenthesis or bracket open.`);
}

const ATTR_PATH = /^[A-Za-z][\w$.:-]*$/;

/**
 * Checks the shape of what scim2-parse-filter returned. The library is lenient: it reads
 * `a pr not (b pr)` as a binary "not" with two operands, which RFC 7644 §3.4.2.2 does not have
 * (`not` is a prefix), and would take any word as an attribute path. Anything outside the grammar
 * is a 400 invalidFilter here, before translation or evaluation relies on the shape.
 */
function checkShape(f: Filter, what: string, insideValuePath: boolean): void {
  let terms = 0;
  const visit = (node: Filter, depth: number, inValuePath: boolean): void => {
    const bad = (why: string) =>
      badRequest("invalidFilter", `The ${what} is not valid SCIM filter syntax (RFC 7644 §3.4.2.2): ${why}.`);
    if (depth > MAX_FILTER_DEPTH)
      throw badRequest("invalidFilter", `The ${what} is nested deeper than ${MAX_FILTER_DEPTH} levels.`);
    const n = node as unknown as Record<string, unknown>;
    switch (node.op) {
      case "and":
      case "or": {
        const list = n.filters;
        if (!Array.isArray(list) || list.length < 2) throw bad(`"${node.op}" needs a condition on each side`);
        for (const x of list as Filter[]) visit(x, depth + 1, inValuePath);
        return;
      }
      case "not":
        // The binary reading ("x not y") leaves `filters`, not `filter`.
        if (n.filters !== undefined || typeof n.filter !== "object" || n.filter === null)
          throw bad('"not" is written before a parenthesised condition, as in `a pr and not (b pr)`');
        visit(n.filter as Filter, depth + 1, inValuePath);
        return;
      case "[]":
        if (inValuePath) throw badRequest("invalidFilter", "Value filters cannot be nested.");
        if (typeof n.attrPath !== "string" || !ATTR_PATH.test(n.attrPath))
          throw bad(`${JSON.stringify(n.attrPath)} is not an attribute path`);
        if (typeof n.valFilter !== "object" || n.valFilter === null) throw bad("an empty value filter");
        visit(n.valFilter as Filter, depth + 1, true);
        return;
      case "pr":
      case "eq":
      case "ne":
      case "co":
      case "sw":
      case "ew":
      case "gt":
      case "ge":
      case "lt":
      case "le": {
        if (++terms > MAX_FILTER_TERMS)
          throw badRequest("invalidFilter", `The ${what} has more than ${MAX_FILTER_TERMS} comparisons.`);
        if (typeof n.attrPath !== "string" || !ATTR_PATH.test(n.attrPath))
          throw bad(`${JSON.stringify(n.attrPath)} is not an attribute path`);
        if (node.op === "pr") return;
        const v = n.compValue;
        if (!(v === null || ["string", "number", "boolean"].includes(typeof v)))
          throw bad(`"${node.op}" needs a string, number, boolean or null to compare with`);
        return;
      }
      default:
        throw bad(`unknown operator ${JSON.stringify(n.op)}`);
    }
  };
  visit(f, 0, insideValuePath);
}

function parseBounded(input: string, what: string, insideValuePath: boolean): Filter {
  checkBounds(input, what);
  let parsed: Filter;
  try {
    parsed = parse(foldValuePathSubAttributes(quoteBareValues(input)));
  } catch (err) {
    if ((err as { status?: number }).status === 400) throw err;
    throw badRequest(
      "invalidFilter",
      `The ${what} ${JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}…` : input)} is not valid SCIM filter syntax (RFC 7644 §3.4.2.2).`,
    );
  }
  checkShape(parsed, what, insideValuePath);
  return parsed;
}

/** A list filter (`filter=`, RFC 7644 §3.4.2.2), bounded and checked; 400 invalidFilter otherwise. */
export function parseFilter(input: string): Filter {
  return parseBounded(input, "filter", false);
}

/**
 * The filter inside a PATCH value path (`emails[type eq "work"]`, RFC 7644 §3.5.2): the same
 * grammar and bounds; a filter inside it cannot hold another value filter.
 */
export function parseValueFilter(input: string): Filter {
  return parseBounded(input, "value filter", true);
}

// ---------------------------------------------------------------------------------------------
// Translation

type Condition =
  | { readonly field: string; readonly op: Comparison; readonly value: QueryValue; readonly label: string }
  | { readonly field: string; readonly op: "present"; readonly label: string }
  | { readonly and: readonly Condition[] }
  | { readonly or: readonly Condition[] }
  | { readonly not: Condition }
  | { readonly some: string; readonly where?: Condition };

function normalizePath(spec: ResourceFilterSpec, attrPath: string): string {
  let path = attrPath.toLowerCase();
  const core = `${spec.coreSchema.toLowerCase()}:`;
  if (path.startsWith(core)) path = path.slice(core.length);
  return path;
}

/** Resolves a path to its attribute: scalar, or a multi-valued attribute with a sub-attribute. */
function resolve(
  spec: ResourceFilterSpec,
  attrPath: string,
): { scalar: Scalar } | { multi: Multi; sub: string | undefined; name: string } {
  const path = normalizePath(spec, attrPath);
  const direct = spec.fields[path];
  if (direct?.kind === "scalar") return { scalar: direct };
  if (direct?.kind === "multi") return { multi: direct, sub: undefined, name: path };
  const dot = path.lastIndexOf(".");
  if (dot > 0) {
    const parent = spec.fields[path.slice(0, dot)];
    const sub = path.slice(dot + 1);
    if (parent?.kind === "multi" && parent.subs[sub]) return { multi: parent, sub, name: path.slice(0, dot) };
  }
  // Extension attributes may be named without their URN when unambiguous.
  const ext = spec.fields[`${ENTERPRISE_SCHEMA.toLowerCase()}:${path}`];
  if (ext?.kind === "scalar") return { scalar: ext };
  const allowed = Object.keys(spec.fields).join(", ");
  throw badRequest(
    "invalidFilter",
    `Filtering ${spec.name}s on "${attrPath}" is not supported. Filterable attributes: ${allowed}.`,
  );
}

function translate(spec: ResourceFilterSpec, f: Filter, scope?: { multi: Multi; name: string }): Condition {
  switch (f.op) {
    case "and":
      return { and: f.filters.map((x) => translate(spec, x, scope)) };
    case "or":
      return { or: f.filters.map((x) => translate(spec, x, scope)) };
    case "not":
      return { not: translate(spec, f.filter, scope) };
    case "[]": {
      if (scope) throw badRequest("invalidFilter", "Value filters cannot be nested.");
      const r = resolve(spec, f.attrPath);
      if (!("multi" in r) || r.sub !== undefined) {
        throw badRequest(
          "invalidFilter",
          `"${f.attrPath}" is not a multi-valued attribute; [ ] filters need one.`,
        );
      }
      return { some: r.multi.list, where: translate(spec, f.valFilter, { multi: r.multi, name: r.name }) };
    }
    default: {
      // The shape was checked (checkShape): a comparison or `pr`, with a scalar to compare.
      const leaf = (field: string): Condition =>
        f.op === "pr"
          ? { field, op: "present", label: f.attrPath }
          : {
              field,
              op: f.op as Comparison,
              value: (f as { compValue: QueryValue }).compValue,
              label: f.attrPath,
            };
      if (scope) {
        const sub = normalizePath(spec, f.attrPath).replace(`${scope.name}.`, "");
        const field = scope.multi.subs[sub];
        if (!field)
          throw badRequest("invalidFilter", `"${f.attrPath}" is not a sub-attribute of ${scope.name}.`);
        return leaf(field);
      }
      const r = resolve(spec, f.attrPath);
      if ("scalar" in r) return leaf(r.scalar.field);
      // `emails pr`: any address at all; `emails eq "x"` compares the value.
      if (f.op === "pr" && r.sub === undefined) return { some: r.multi.list };
      return { some: r.multi.list, where: leaf(r.multi.subs[r.sub ?? "value"]) };
    }
  }
}

/** A parsed Users filter as the Directory's condition (400 invalidFilter for what is not allowed). */
export function userCondition(filter: Filter): PersonCondition {
  return translate(USER_FILTER, filter) as PersonCondition;
}

/** A parsed Groups filter as the Directory's condition. */
export function groupCondition(filter: Filter): GroupCondition {
  return translate(GROUP_FILTER, filter) as GroupCondition;
}

/** The directory field to sort Users by, or 400 invalidValue for an unsortable attribute. */
export const userSortField = (sortBy: string) => sortField(USER_FILTER, sortBy) as PersonSortField;
/** The directory field to sort Groups by, or 400 invalidValue. */
export const groupSortField = (sortBy: string) => sortField(GROUP_FILTER, sortBy) as GroupSortField;

function sortField(spec: ResourceFilterSpec, sortBy: string): string {
  const field = spec.sortable[normalizePath(spec, sortBy)];
  if (!field) {
    throw badRequest(
      "invalidValue",
      `Sorting ${spec.name}s by "${sortBy}" is not supported. Sortable attributes: ${Object.keys(spec.sortable).join(", ")}.`,
    );
  }
  return field;
}
