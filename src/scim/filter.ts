/**
 * SCIM filters (RFC 7644 §3.4.2.2) → SQL over an allow-list of attributes. Parsing is
 * scim2-parse-filter's, after two repairs (RUNTIME.md): unquoted comparison values that real
 * clients send are quoted, and `attr[filter].sub op value` is rewritten to
 * `attr[(filter) and sub op value]` so that both conditions must hold for the SAME list element
 * (the library reads it as an AND that can match different elements).
 *
 * Every leaf is NULL-safe (a missing attribute compares false, so `not (…)` includes it), and
 * nothing is ever filtered in memory: an attribute outside the allow-list is a 400 invalidFilter.
 */
import { type Filter, parse } from "scim2-parse-filter";
import type { Dialect } from "../db/columns.ts";
import { userNameKey } from "../identity/user-names.ts";
import { badRequest } from "./errors.ts";
import { ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from "./schemas.ts";

type ScalarType = "string" | "boolean" | "dateTime";

/**
 * How a scalar attribute is stored: `exact` (caseExact: id, externalId), `ci` (compared
 * lowercased), `key` (the column already holds the lowercased value, indexed).
 */
interface Scalar {
  readonly kind: "scalar";
  readonly col: string;
  readonly type: ScalarType;
  readonly mode: "exact" | "ci" | "key";
  /** For `key`: how the column's value was made from the attribute (default: lowercased). */
  readonly key?: (value: string) => string;
}

interface Multi {
  readonly kind: "multi";
  readonly table: string;
  /** SQL joining the element table (alias `{a}`) to its owner row `p`. */
  readonly join: string;
  readonly subs: Readonly<Record<string, Scalar>>;
}

type Field = Scalar | Multi;

export interface ResourceFilterSpec {
  readonly name: "User" | "Group";
  readonly coreSchema: string;
  readonly fields: Readonly<Record<string, Field>>;
  /** Attribute → entity property path (alias p) to order by. */
  readonly sortable: Readonly<Record<string, string>>;
}

const s = (col: string, mode: Scalar["mode"] = "ci", type: ScalarType = "string"): Scalar => ({
  kind: "scalar",
  col,
  type,
  mode,
});

const EMAILS: Multi = {
  kind: "multi",
  table: "person_email",
  join: "{a}.person_id = p.id",
  subs: {
    value: s("{a}.value_key", "key"),
    type: s("{a}.type"),
    primary: s("{a}.is_primary", "exact", "boolean"),
  },
};

const ENT = ENTERPRISE_SCHEMA.toLowerCase();

export const USER_FILTER: ResourceFilterSpec = {
  name: "User",
  coreSchema: USER_SCHEMA,
  fields: {
    id: s("p.id", "exact"),
    externalid: s("p.external_id", "exact"),
    // NFC, then lowercased: either spelling of a name finds the person (identity/user-names.ts).
    username: { ...s("p.user_name_key", "key"), key: userNameKey },
    displayname: s("p.display_name"),
    nickname: s("p.nick_name"),
    title: s("p.title"),
    usertype: s("p.user_type"),
    preferredlanguage: s("p.preferred_language"),
    locale: s("p.locale"),
    timezone: s("p.timezone"),
    active: s("p.active", "exact", "boolean"),
    "name.givenname": s("p.given_name"),
    "name.familyname": s("p.family_name"),
    "name.formatted": s("p.formatted_name"),
    "meta.created": s("p.created_at", "exact", "dateTime"),
    "meta.lastmodified": s("p.updated_at", "exact", "dateTime"),
    emails: EMAILS,
    [`${ENT}:employeenumber`]: s("p.employee_number"),
    [`${ENT}:costcenter`]: s("p.cost_center"),
    [`${ENT}:organization`]: s("p.organization"),
    [`${ENT}:division`]: s("p.division"),
    [`${ENT}:department`]: s("p.department"),
    [`${ENT}:manager.value`]: s("p.manager_value", "exact"),
    [`${ENT}:manager`]: s("p.manager_value", "exact"),
  },
  sortable: {
    id: "p.id",
    externalid: "p.externalId",
    username: "p.userNameKey",
    displayname: "p.displayName",
    title: "p.title",
    "name.givenname": "p.givenName",
    "name.familyname": "p.familyName",
    emails: "p.email",
    "emails.value": "p.email",
    active: "p.active",
    "meta.created": "p.createdAt",
    "meta.lastmodified": "p.updatedAt",
    [`${ENT}:employeenumber`]: "p.employeeNumber",
    [`${ENT}:department`]: "p.department",
  },
};

export const GROUP_FILTER: ResourceFilterSpec = {
  name: "Group",
  coreSchema: GROUP_SCHEMA,
  fields: {
    id: s("p.id", "exact"),
    externalid: s("p.external_id", "exact"),
    displayname: s("p.display_name_key", "key"),
    "meta.created": s("p.created_at", "exact", "dateTime"),
    "meta.lastmodified": s("p.updated_at", "exact", "dateTime"),
    members: {
      kind: "multi",
      table: "group_member",
      join: "{a}.group_id = p.id",
      subs: { value: s("{a}.person_id", "exact") },
    },
  },
  sortable: {
    id: "p.id",
    externalid: "p.externalId",
    displayname: "p.displayNameKey",
    "meta.created": "p.createdAt",
    "meta.lastmodified": "p.updatedAt",
  },
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

export interface SqlFragment {
  readonly sql: string;
  readonly params: Record<string, unknown>;
}

function normalizePath(spec: ResourceFilterSpec, attrPath: string): string {
  let path = attrPath.toLowerCase();
  const core = `${spec.coreSchema.toLowerCase()}:`;
  if (path.startsWith(core)) path = path.slice(core.length);
  return path;
}

class Translator {
  readonly params: Record<string, unknown> = {};
  #n = 0;
  #aliases = 0;
  readonly spec: ResourceFilterSpec;
  readonly dialect: Dialect;

  constructor(spec: ResourceFilterSpec, dialect: Dialect) {
    this.spec = spec;
    this.dialect = dialect;
  }

  param(value: unknown): string {
    const name = `f${this.#n++}`;
    this.params[name] = value;
    return `:${name}`;
  }

  /** Resolves a path to its field: scalar, or a multi-valued attribute with a sub-attribute. */
  resolve(attrPath: string): { field: Scalar } | { multi: Multi; sub: string | undefined; name: string } {
    const path = normalizePath(this.spec, attrPath);
    const direct = this.spec.fields[path];
    if (direct?.kind === "scalar") return { field: direct };
    if (direct?.kind === "multi") return { multi: direct, sub: undefined, name: path };
    const dot = path.lastIndexOf(".");
    if (dot > 0) {
      const parent = this.spec.fields[path.slice(0, dot)];
      const sub = path.slice(dot + 1);
      if (parent?.kind === "multi" && parent.subs[sub])
        return { multi: parent, sub, name: path.slice(0, dot) };
    }
    // Extension attributes may be named without their URN when unambiguous.
    const ext = this.spec.fields[`${ENTERPRISE_SCHEMA.toLowerCase()}:${path}`];
    if (ext?.kind === "scalar") return { field: ext };
    const allowed = Object.keys(this.spec.fields).join(", ");
    throw badRequest(
      "invalidFilter",
      `Filtering ${this.spec.name}s on "${attrPath}" is not supported. Filterable attributes: ${allowed}.`,
    );
  }

  translate(f: Filter, scope?: { multi: Multi; alias: string; name: string }): string {
    switch (f.op) {
      case "and":
      case "or":
        return `(${f.filters.map((x) => this.translate(x, scope)).join(` ${f.op.toUpperCase()} `)})`;
      case "not":
        return `(NOT ${this.translate(f.filter, scope)})`;
      case "[]": {
        if (scope) throw badRequest("invalidFilter", "Value filters cannot be nested.");
        const r = this.resolve(f.attrPath);
        if (!("multi" in r) || r.sub !== undefined) {
          throw badRequest(
            "invalidFilter",
            `"${f.attrPath}" is not a multi-valued attribute; [ ] filters need one.`,
          );
        }
        const alias = `v${this.#aliases++}`;
        const inner = this.translate(f.valFilter, { multi: r.multi, alias, name: r.name });
        return this.exists(r.multi, alias, inner);
      }
      default: {
        let field: Scalar;
        let wrap: ((cond: string) => string) | undefined;
        if (scope) {
          const sub = normalizePath(this.spec, f.attrPath).replace(`${scope.name}.`, "");
          const scalar = scope.multi.subs[sub];
          if (!scalar)
            throw badRequest("invalidFilter", `"${f.attrPath}" is not a sub-attribute of ${scope.name}.`);
          field = { ...scalar, col: scalar.col.replaceAll("{a}", scope.alias) };
        } else {
          const r = this.resolve(f.attrPath);
          if ("field" in r) {
            field = r.field;
          } else {
            const alias = `v${this.#aliases++}`;
            const multi = r.multi;
            if (f.op === "pr" && r.sub === undefined) return this.exists(multi, alias, "1 = 1");
            const scalar = multi.subs[r.sub ?? "value"];
            field = { ...scalar, col: scalar.col.replaceAll("{a}", alias) };
            wrap = (cond) => this.exists(multi, alias, cond);
          }
        }
        const cond = this.compare(field, f.op, "compValue" in f ? f.compValue : undefined, f.attrPath);
        return wrap ? wrap(cond) : cond;
      }
    }
  }

  exists(multi: Multi, alias: string, cond: string): string {
    return `EXISTS (SELECT 1 FROM ${multi.table} ${alias} WHERE ${multi.join.replaceAll("{a}", alias)} AND ${cond})`;
  }

  /** One NULL-safe comparison. */
  compare(
    field: Scalar,
    op: string,
    raw: boolean | null | number | string | undefined,
    attr: string,
  ): string {
    const col = field.col;
    if (op === "pr") {
      return field.type === "string" ? `(${col} IS NOT NULL AND ${col} <> '')` : `(${col} IS NOT NULL)`;
    }
    if (raw === null) {
      if (op === "eq") return `(${col} IS NULL)`;
      if (op === "ne") return `(${col} IS NOT NULL)`;
      throw badRequest("invalidFilter", `"${op} null" is not meaningful for ${attr}.`);
    }
    switch (field.type) {
      case "boolean": {
        let v: boolean;
        if (typeof raw === "boolean") v = raw;
        else if (typeof raw === "string" && /^(true|false)$/i.test(raw)) v = raw.toLowerCase() === "true";
        else throw badRequest("invalidFilter", `${attr} is a boolean; compare it with true or false.`);
        if (op === "eq") return `(${col} IS NOT NULL AND ${col} = ${this.param(v)})`;
        if (op === "ne") return `(${col} IS NULL OR ${col} <> ${this.param(v)})`;
        throw badRequest(
          "invalidFilter",
          `${attr} is a boolean: only eq, ne and pr apply (RFC 7644 §3.4.2.2).`,
        );
      }
      case "dateTime": {
        const ms = typeof raw === "string" ? Date.parse(raw) : Number.NaN;
        if (Number.isNaN(ms))
          throw badRequest("invalidFilter", `${attr} is a dateTime; ${JSON.stringify(raw)} is not one.`);
        const p = this.param(this.dateParam(new Date(ms)));
        const sqlOp = { eq: "=", ne: "<>", gt: ">", ge: ">=", lt: "<", le: "<=" }[op];
        if (!sqlOp) throw badRequest("invalidFilter", `${op} does not apply to the dateTime ${attr}.`);
        if (op === "ne") return `(${col} IS NULL OR ${col} <> ${p})`;
        return `(${col} IS NOT NULL AND ${col} ${sqlOp} ${p})`;
      }
      default: {
        const text = String(raw);
        const exact = field.mode === "exact";
        const value = exact ? text : (field.key ?? ((v: string) => v.toLowerCase()))(text);
        const target = field.mode === "ci" ? `LOWER(${col})` : col;
        const guard = (cond: string) => `(${col} IS NOT NULL AND ${cond})`;
        switch (op) {
          case "eq":
            return guard(`${target} = ${this.param(value)}`);
          case "ne":
            return `(${col} IS NULL OR ${target} <> ${this.param(value)})`;
          case "gt":
            return guard(`${target} > ${this.param(value)}`);
          case "ge":
            return guard(`${target} >= ${this.param(value)}`);
          case "lt":
            return guard(`${target} < ${this.param(value)}`);
          case "le":
            return guard(`${target} <= ${this.param(value)}`);
          case "co":
          case "sw":
          case "ew": {
            if (exact) {
              // LIKE is case-insensitive on SQLite: compare caseExact attributes by position.
              const p = this.param(value);
              if (op === "co") return guard(`INSTR(${col}, ${p}) > 0`);
              if (op === "sw") return guard(`SUBSTR(${col}, 1, LENGTH(${p})) = ${p}`);
              return guard(`SUBSTR(${col}, -LENGTH(${p})) = ${p}`);
            }
            const escaped = value.replace(/[!%_]/g, "!$&");
            const pattern = op === "co" ? `%${escaped}%` : op === "sw" ? `${escaped}%` : `%${escaped}`;
            return guard(`${target} LIKE ${this.param(pattern)} ESCAPE '!'`);
          }
          default:
            throw badRequest("invalidFilter", `Unknown operator ${op}.`);
        }
      }
    }
  }

  dateParam(d: Date): unknown {
    // TypeORM stores SQLite datetimes as UTC text "YYYY-MM-DD HH:MM:SS.SSS"; mysql2 binds Dates.
    return this.dialect === "sqlite" ? d.toISOString().replace("T", " ").replace("Z", "") : d;
  }
}

/** Translates a parsed filter into a WHERE fragment over alias `p` with named parameters. */
export function filterToSql(spec: ResourceFilterSpec, filter: Filter, dialect: Dialect): SqlFragment {
  const t = new Translator(spec, dialect);
  const sql = t.translate(filter);
  return { sql, params: t.params };
}

/** The column to sort by, or 400 invalidValue for an unsortable attribute. */
export function sortColumn(spec: ResourceFilterSpec, sortBy: string): string {
  const col = spec.sortable[normalizePath(spec, sortBy)];
  if (!col) {
    throw badRequest(
      "invalidValue",
      `Sorting ${spec.name}s by "${sortBy}" is not supported. Sortable attributes: ${Object.keys(spec.sortable).join(", ")}.`,
    );
  }
  return col;
}
