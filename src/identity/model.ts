/**
 * The Directory's language: what callers write, read and get refused (src/identity/directory.ts).
 * Exported again from directory.ts, which is what other folders import.
 */
import type { Group, Person } from "./entities.ts";
import type { Ordering } from "./query.ts";

/** Who changes the directory: recorded in the audit log and on every event. */
export interface Caller {
  /** `scim-token:okta`, `cli:root`, `system`. */
  readonly name: string;
  /** What drove the change: the first part of the audit action (`scim` → `scim.user.create`). */
  readonly via: string;
  readonly requestId?: string;
}

/** A person's attributes as the directory keeps them (userName in any Unicode spelling). */
export interface PersonFields {
  readonly userName: string;
  readonly externalId: string | null;
  readonly displayName: string | null;
  readonly givenName: string | null;
  readonly familyName: string | null;
  readonly formattedName: string | null;
  readonly nickName: string | null;
  readonly title: string | null;
  readonly userType: string | null;
  readonly preferredLanguage: string | null;
  readonly locale: string | null;
  readonly timezone: string | null;
  readonly employeeNumber: string | null;
  readonly costCenter: string | null;
  readonly organization: string | null;
  readonly division: string | null;
  readonly department: string | null;
  readonly managerValue: string | null;
}

export interface EmailAddress {
  readonly value: string;
  readonly type: string | null;
  readonly primary: boolean;
}

/** A person as written: a create, or the whole new state on an update. */
export interface PersonWrite {
  readonly fields: Partial<PersonFields> & { readonly userName: string };
  /** In the IdP's order; the primary one (or the first) is the person's address. */
  readonly emails: readonly EmailAddress[];
  /** The IdP's record as sent, kept whole so it reads back as written (null: none). */
  readonly document: Readonly<Record<string, unknown>> | null;
  /** Undefined is "not said": a create makes the person active, an update keeps their state. */
  readonly active: boolean | undefined;
}

export interface GroupWrite {
  readonly displayName: string;
  readonly externalId: string | null;
  readonly document: Readonly<Record<string, unknown>> | null;
}

export interface MemberInput {
  readonly personId: string;
  /** The display the IdP sent for this member, kept and returned. */
  readonly display: string | null;
}

/** A group a person is in. */
export interface GroupRef {
  readonly id: string;
  readonly displayName: string;
}

/** A member of a group, with the display to show (the IdP's, else the person's name). */
export interface MemberRef {
  readonly id: string;
  readonly display: string | null;
}

export interface PersonEntry {
  readonly person: Person;
  readonly groups: readonly GroupRef[];
}

export interface GroupEntry {
  readonly group: Group;
  /** Undefined when not asked for. */
  readonly members?: readonly MemberRef[];
}

export type Refusal =
  | { readonly ok: false; readonly reason: "not-found" }
  | { readonly ok: false; readonly reason: "user-name-taken"; readonly userName: string }
  | { readonly ok: false; readonly reason: "group-name-taken"; readonly displayName: string }
  /** A unique value was taken by a concurrent transaction. */
  | { readonly ok: false; readonly reason: "concurrent-change" }
  | { readonly ok: false; readonly reason: "nested-group" }
  | { readonly ok: false; readonly reason: "unknown-members"; readonly ids: readonly string[] }
  | { readonly ok: false; readonly reason: "bad-query"; readonly message: string };

export type Outcome<T> = ({ readonly ok: true } & T) | Refusal;

export interface ListRequest<C, S extends string> {
  readonly where?: C;
  /** Default: by creation, then id. */
  readonly orderBy?: Ordering<S>;
  /** 0-based. */
  readonly offset: number;
  /** 0: only the total. */
  readonly limit: number;
}

export interface DirectorySummary {
  readonly people: readonly Person[];
  readonly groups: readonly (Group & { members: number })[];
}
