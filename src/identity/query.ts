/**
 * Searching the directory: a small query language over people and groups, compiled here to SQL
 * over identity's own tables. Callers (SCIM's filters, src/scim/filter.ts) translate their wire
 * syntax into these conditions by domain field name; no table or column name leaves identity/
 * (docs/decisions/0009-directory-owns-people.md).
 *
 * Every comparison is NULL-safe (a missing value compares false, so `not (…)` includes it) and
 * every value is a bound parameter. A comparison that does not fit its field (a boolean compared
 * with "yes", `gt null`) is a refusal with a message naming the field as the caller spelled it.
 */
import type { Dialect } from "../db/columns.ts";
import { userNameKey } from "./user-names.ts";

export type Comparison = "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";
export type QueryValue = string | number | boolean | null;

/** One comparison; `label` is how the caller named the field (used in refusals). */
export type Leaf<F extends string> =
  | { readonly field: F; readonly op: Comparison; readonly value: QueryValue; readonly label?: string }
  | { readonly field: F; readonly op: "present"; readonly label?: string };

export interface And<C> {
  readonly and: readonly C[];
}
export interface Or<C> {
  readonly or: readonly C[];
}
export interface Not<C> {
  readonly not: C;
}

/** A condition on one element of a multi-valued field (an e-mail address, a member). */
export type ElementCondition<F extends string> =
  Leaf<F> | And<ElementCondition<F>> | Or<ElementCondition<F>> | Not<ElementCondition<F>>;

/** Some element of list `L` satisfies `where` (or, without `where`, the list is not empty). */
export interface Some<L extends string, F extends string> {
  readonly some: L;
  readonly where?: ElementCondition<F>;
}

export type PersonField =
  | "id"
  | "externalId"
  | "userName"
  | "displayName"
  | "nickName"
  | "title"
  | "userType"
  | "preferredLanguage"
  | "locale"
  | "timezone"
  | "active"
  | "givenName"
  | "familyName"
  | "formattedName"
  | "createdAt"
  | "updatedAt"
  | "employeeNumber"
  | "costCenter"
  | "organization"
  | "division"
  | "department"
  | "managerValue";
export type EmailField = "value" | "type" | "primary";
export type PersonCondition =
  | Leaf<PersonField>
  | And<PersonCondition>
  | Or<PersonCondition>
  | Not<PersonCondition>
  | Some<"emails", EmailField>;

export type GroupField = "id" | "externalId" | "displayName" | "createdAt" | "updatedAt";
export type MemberField = "personId";
export type GroupCondition =
  | Leaf<GroupField>
  | And<GroupCondition>
  | Or<GroupCondition>
  | Not<GroupCondition>
  | Some<"members", MemberField>;

export type PersonSortField =
  | "id"
  | "externalId"
  | "userName"
  | "displayName"
  | "title"
  | "givenName"
  | "familyName"
  | "email"
  | "active"
  | "createdAt"
  | "updatedAt"
  | "employeeNumber"
  | "department";
export type GroupSortField = "id" | "externalId" | "displayName" | "createdAt" | "updatedAt";

export interface Ordering<S extends string> {
  readonly field: S;
  readonly descending?: boolean;
}

/** A condition the directory cannot evaluate as asked (the caller's mistake, not a bug). */
export class QueryError extends Error {}

// ---------------------------------------------------------------------------------------------
// How each field is stored

type ScalarType = "string" | "boolean" | "dateTime";

/**
 * `exact`: compared as stored (ids); `ci`: compared lowercased; `key`: the column already holds
 * the lowercased (or otherwise keyed) value, indexed.
 */
interface Column {
  readonly col: string;
  readonly type: ScalarType;
  readonly mode: "exact" | "ci" | "key";
  /** For `key`: how the column's value was made from the field's (default: lowercased). */
  readonly key?: (value: string) => string;
}

interface ListTable {
  readonly table: string;
  /** SQL joining the element table (alias `{a}`) to its owner row `p`. */
  readonly join: string;
  readonly fields: Readonly<Record<string, Column>>;
}

export interface Catalogue {
  readonly fields: Readonly<Record<string, Column>>;
  readonly lists: Readonly<Record<string, ListTable>>;
  /** Sort field → entity property path (alias p). */
  readonly sortable: Readonly<Record<string, string>>;
}

const c = (col: string, mode: Column["mode"] = "ci", type: ScalarType = "string"): Column => ({
  col,
  type,
  mode,
});

export const PERSON_CATALOGUE: Catalogue = {
  fields: {
    id: c("p.id", "exact"),
    externalId: c("p.external_id", "exact"),
    // NFC, then lowercased: either spelling of a name finds the person (user-names.ts).
    userName: { ...c("p.user_name_key", "key"), key: userNameKey },
    displayName: c("p.display_name"),
    nickName: c("p.nick_name"),
    title: c("p.title"),
    userType: c("p.user_type"),
    preferredLanguage: c("p.preferred_language"),
    locale: c("p.locale"),
    timezone: c("p.timezone"),
    active: c("p.active", "exact", "boolean"),
    givenName: c("p.given_name"),
    familyName: c("p.family_name"),
    formattedName: c("p.formatted_name"),
    createdAt: c("p.created_at", "exact", "dateTime"),
    updatedAt: c("p.updated_at", "exact", "dateTime"),
    employeeNumber: c("p.employee_number"),
    costCenter: c("p.cost_center"),
    organization: c("p.organization"),
    division: c("p.division"),
    department: c("p.department"),
    managerValue: c("p.manager_value", "exact"),
  } satisfies Record<PersonField, Column>,
  lists: {
    emails: {
      table: "person_email",
      join: "{a}.person_id = p.id",
      fields: {
        value: c("{a}.value_key", "key"),
        type: c("{a}.type"),
        primary: c("{a}.is_primary", "exact", "boolean"),
      } satisfies Record<EmailField, Column>,
    },
  },
  sortable: {
    id: "p.id",
    externalId: "p.externalId",
    userName: "p.userNameKey",
    displayName: "p.displayName",
    title: "p.title",
    givenName: "p.givenName",
    familyName: "p.familyName",
    email: "p.email",
    active: "p.active",
    createdAt: "p.createdAt",
    updatedAt: "p.updatedAt",
    employeeNumber: "p.employeeNumber",
    department: "p.department",
  } satisfies Record<PersonSortField, string>,
};

export const GROUP_CATALOGUE: Catalogue = {
  fields: {
    id: c("p.id", "exact"),
    externalId: c("p.external_id", "exact"),
    displayName: c("p.display_name_key", "key"),
    createdAt: c("p.created_at", "exact", "dateTime"),
    updatedAt: c("p.updated_at", "exact", "dateTime"),
  } satisfies Record<GroupField, Column>,
  lists: {
    members: {
      table: "group_member",
      join: "{a}.group_id = p.id",
      fields: { personId: c("{a}.person_id", "exact") } satisfies Record<MemberField, Column>,
    },
  },
  sortable: {
    id: "p.id",
    externalId: "p.externalId",
    displayName: "p.displayNameKey",
    createdAt: "p.createdAt",
    updatedAt: "p.updatedAt",
  } satisfies Record<GroupSortField, string>,
};

// ---------------------------------------------------------------------------------------------
// Compilation

export interface SqlFragment {
  readonly sql: string;
  readonly params: Record<string, unknown>;
}

type AnyCondition =
  Leaf<string> | And<AnyCondition> | Or<AnyCondition> | Not<AnyCondition> | Some<string, string>;

class Compiler {
  readonly params: Record<string, unknown> = {};
  #n = 0;
  #aliases = 0;
  readonly catalogue: Catalogue;
  readonly dialect: Dialect;

  constructor(catalogue: Catalogue, dialect: Dialect) {
    this.catalogue = catalogue;
    this.dialect = dialect;
  }

  param(value: unknown): string {
    const name = `f${this.#n++}`;
    this.params[name] = value;
    return `:${name}`;
  }

  compile(q: AnyCondition, scope?: { list: ListTable; alias: string }): string {
    if ("and" in q) return `(${q.and.map((x) => this.compile(x, scope)).join(" AND ")})`;
    if ("or" in q) return `(${q.or.map((x) => this.compile(x, scope)).join(" OR ")})`;
    if ("not" in q) return `(NOT ${this.compile(q.not, scope)})`;
    if ("some" in q) {
      const list = this.catalogue.lists[q.some];
      if (!list || scope) throw new Error(`not a list of this resource: ${q.some}`);
      const alias = `v${this.#aliases++}`;
      const inner = q.where ? this.compile(q.where, { list, alias }) : "1 = 1";
      return `EXISTS (SELECT 1 FROM ${list.table} ${alias} WHERE ${list.join.replaceAll("{a}", alias)} AND ${inner})`;
    }
    const fields = scope ? scope.list.fields : this.catalogue.fields;
    const column = fields[q.field];
    // Callers name fields from the exported types: an unknown one is a bug, not a refusal.
    if (!column) throw new Error(`unknown field: ${q.field}`);
    const field = scope ? { ...column, col: column.col.replaceAll("{a}", scope.alias) } : column;
    return this.compare(field, q, q.label ?? q.field);
  }

  /** One NULL-safe comparison. */
  compare(field: Column, leaf: Leaf<string>, name: string): string {
    const col = field.col;
    if (leaf.op === "present") {
      return field.type === "string" ? `(${col} IS NOT NULL AND ${col} <> '')` : `(${col} IS NOT NULL)`;
    }
    const { op, value: raw } = leaf;
    if (raw === null) {
      if (op === "eq") return `(${col} IS NULL)`;
      if (op === "ne") return `(${col} IS NOT NULL)`;
      throw new QueryError(`"${op} null" is not meaningful for ${name}.`);
    }
    switch (field.type) {
      case "boolean": {
        let v: boolean;
        if (typeof raw === "boolean") v = raw;
        else if (typeof raw === "string" && /^(true|false)$/i.test(raw)) v = raw.toLowerCase() === "true";
        else throw new QueryError(`${name} is a boolean; compare it with true or false.`);
        if (op === "eq") return `(${col} IS NOT NULL AND ${col} = ${this.param(v)})`;
        if (op === "ne") return `(${col} IS NULL OR ${col} <> ${this.param(v)})`;
        throw new QueryError(`${name} is a boolean: only eq, ne and pr apply (RFC 7644 §3.4.2.2).`);
      }
      case "dateTime": {
        const ms = typeof raw === "string" ? Date.parse(raw) : Number.NaN;
        if (Number.isNaN(ms))
          throw new QueryError(`${name} is a dateTime; ${JSON.stringify(raw)} is not one.`);
        const p = this.param(this.dateParam(new Date(ms)));
        const sqlOp = { eq: "=", ne: "<>", gt: ">", ge: ">=", lt: "<", le: "<=" }[op as string];
        if (!sqlOp) throw new QueryError(`${op} does not apply to the dateTime ${name}.`);
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
              // LIKE is case-insensitive on SQLite: compare exact fields by position.
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
            throw new QueryError(`Unknown operator ${op}.`);
        }
      }
    }
  }

  dateParam(d: Date): unknown {
    // TypeORM stores SQLite datetimes as UTC text "YYYY-MM-DD HH:MM:SS.SSS"; mysql2 binds Dates.
    return this.dialect === "sqlite" ? d.toISOString().replace("T", " ").replace("Z", "") : d;
  }
}

/** A WHERE fragment over alias `p` with named parameters. Throws QueryError on a misfit value. */
export function compileCondition(
  catalogue: Catalogue,
  condition: PersonCondition | GroupCondition,
  dialect: Dialect,
): SqlFragment {
  const compiler = new Compiler(catalogue, dialect);
  const sql = compiler.compile(condition as AnyCondition);
  return { sql, params: compiler.params };
}
