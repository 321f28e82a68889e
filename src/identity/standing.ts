/**
 * One rule for what the public learns about an account and the person behind it. Verification
 * answers, profile pages and actor documents all ask `publicIdentity`; before, each had its own
 * test, and a former employee's name and title stayed on `/@handle` and in the actor document
 * while verification hid them.
 *
 * The directory decides (DESIGN rule 1): a person account is current while its person is active
 * and not deleted, whatever the actor's federation state (which follows a moment later). Former
 * employees show only the fact and the date they left: no name, title, department or photo
 * (DESIGN rule 7; the handle itself stays, reserved, so it can be answered "former").
 */
import type { Person } from "./entities.ts";

/**
 * Where a person stands with the organization: the one answer every surface gives (DESIGN rule 2).
 * `former` says since when (null only for a record that never said when it was deactivated) and
 * how they left; `unknown` is no such person (never in the directory, or erased).
 */
export type EmploymentStatus =
  | { readonly kind: "active" }
  | { readonly kind: "former"; readonly since: Date | null; readonly how: "deactivated" | "deleted" }
  | { readonly kind: "unknown" };

/** A person's employment status, from the directory record alone (`null`: no such person). */
export function employmentStatus(
  person: Pick<Person, "active" | "deletedAt" | "deactivatedAt"> | null | undefined,
): EmploymentStatus {
  if (!person) return { kind: "unknown" };
  if (person.deletedAt)
    return { kind: "former", since: person.deactivatedAt ?? person.deletedAt, how: "deleted" };
  if (!person.active) return { kind: "former", since: person.deactivatedAt, how: "deactivated" };
  return { kind: "active" };
}

/**
 * `employmentStatus(person).kind === "active"` as an SQL condition on a column holding a person
 * id, for lists that filter by it in the database and must count what they list (the
 * organization's verified roster). Kept beside employmentStatus and checked against its decision
 * table (test/identity/employment-status.test.ts); the table's name stays inside identity/.
 */
export function currentPersonSql(personIdColumn: string): {
  readonly sql: string;
  readonly params: Readonly<Record<string, unknown>>;
} {
  if (!/^[a-z_]+\.[a-z_]+$/.test(personIdColumn)) throw new Error(`not a column: ${personIdColumn}`);
  return {
    sql: `EXISTS (SELECT 1 FROM person cp WHERE cp.id = ${personIdColumn} AND cp.active = :currentPersonYes AND cp.deleted_at IS NULL)`,
    params: { currentPersonYes: true },
  };
}

/** The fields of an account this rule reads (a federation actor row fits). */
export interface AccountFacts {
  readonly kind: "person" | "shared" | "org";
  readonly displayName: string;
  readonly suspendedAt: Date | null;
  readonly deletedAt: Date | null;
}

export interface PublicIdentity {
  /** "former": a person who left, or an account of the organization that was closed. */
  readonly status: "active" | "former";
  /** When they left or the account closed, if known. */
  readonly since: Date | null;
  /** Null for former employees. */
  readonly displayName: string | null;
  readonly title: string | null;
  readonly department: string | null;
  /** An https photo the directory sent (SCIM photos), for current employees only. */
  readonly photoUrl: string | null;
}

/** What any public surface may show of `account` and its person (`null` if none or erased). */
export function publicIdentity(account: AccountFacts, person: Person | null): PublicIdentity {
  const former = (since: Date | null): PublicIdentity => ({
    status: "former",
    since,
    displayName: null,
    title: null,
    department: null,
    photoUrl: null,
  });
  if (account.kind !== "person") {
    if (account.deletedAt || account.suspendedAt) return former(account.deletedAt ?? account.suspendedAt);
    return {
      status: "active",
      since: null,
      displayName: account.displayName,
      title: null,
      department: null,
      photoUrl: null,
    };
  }
  // A person account whose person is gone (erased: "unknown") is a former employee's all the same.
  const status = employmentStatus(person);
  if (status.kind !== "active" || !person)
    return former(
      (status.kind === "former" ? status.since : null) ?? account.suspendedAt ?? account.deletedAt,
    );
  if (account.deletedAt) return former(account.deletedAt);
  return {
    status: "active",
    since: null,
    displayName: person.displayName ?? account.displayName,
    title: person.title,
    department: person.department,
    photoUrl: photoOf(person),
  };
}

/** The primary (or first "photo") https picture of the person's SCIM record. */
function photoOf(person: Person): string | null {
  if (!person.scimDoc) return null;
  let photos: unknown;
  try {
    photos = (JSON.parse(person.scimDoc) as { photos?: unknown }).photos;
  } catch {
    return null;
  }
  if (!Array.isArray(photos)) return null;
  const list = photos.filter(
    (p): p is { value: string; type?: unknown; primary?: unknown } =>
      typeof p === "object" && p !== null && typeof (p as { value?: unknown }).value === "string",
  );
  const photo = list.find((p) => p.primary === true) ?? list.find((p) => p.type === "photo") ?? list[0];
  return photo && /^https:\/\//.test(photo.value) ? photo.value : null;
}
