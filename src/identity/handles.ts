/**
 * Handles (DESIGN rule 6): by default the lowercased local part of userName, characters outside
 * [a-z0-9_] turned into `_`, runs collapsed; on collision a numeric suffix (jdoe2) — never an
 * error. Every handle ever issued stays in the `handle` table, so none is ever recycled (rule 3).
 */
import { type EntityManager, In } from "typeorm";
import { isUniqueViolation } from "../db/errors.ts";
import { type HandleOwnerKind, HandleSchema, PersonSchema } from "./entities.ts";

export const MAX_HANDLE_LENGTH = 30;

/** Names that no person or shared account may take: they would mislead or collide with routes. */
export const RESERVED_HANDLES: ReadonlySet<string> = new Set([
  "abuse",
  "admin",
  "administrator",
  "api",
  "herald",
  "help",
  "hostmaster",
  "inbox",
  "info",
  "mail",
  "me",
  "nobody",
  "noreply",
  "no_reply",
  "nodeinfo",
  "null",
  "outbox",
  "postmaster",
  "root",
  "saml",
  "scim",
  "security",
  "staff",
  "system",
  "undefined",
  "users",
  "verify",
  "webmaster",
  "www",
]);

export type HandleRule = "userName" | "email" | "name";

/**
 * The text a person's handle is derived from (HERALD_HANDLE_FROM): the userName (default), the
 * local part of their e-mail address, or "given family" name — each falling back to the userName.
 */
export function handleSource(
  rule: HandleRule,
  p: { userName: string; email?: string | null; givenName?: string | null; familyName?: string | null },
): string {
  if (rule === "email" && p.email) return p.email;
  if (rule === "name" && p.givenName && p.familyName) return `${p.givenName}_${p.familyName}`;
  return p.userName;
}

/** The handle a userName asks for, before collision handling. */
export function baseHandle(userName: string): string {
  const local = userName.split("@")[0] ?? "";
  const ascii = local.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  let h = ascii
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_+|_+$/g, "");
  // Leave room for a numeric suffix within the limit.
  h = h.slice(0, MAX_HANDLE_LENGTH - 4).replace(/_+$/, "");
  return h === "" ? "user" : h;
}

export function isValidHandle(handle: string): boolean {
  return /^[a-z0-9_]{1,30}$/.test(handle) && !/^_|_$/.test(handle);
}

/**
 * Issues the first free handle among `base`, `base2`, `base3`… inside the caller's transaction.
 * Reserved names start at `base2`. A concurrent transaction taking the same candidate makes the
 * insert fail on the primary key; the next candidate is tried.
 */
export async function issueHandle(
  em: EntityManager,
  base: string,
  ownerKind: HandleOwnerKind,
  ownerId: string | null,
): Promise<string> {
  const repo = em.getRepository(HandleSchema);
  // Candidates are probed by primary key, twenty at a time: no prefix scan, however large the
  // directory or however common the name.
  for (let start = 1; start < 100_000; start += 20) {
    const candidates = Array.from({ length: 20 }, (_, i) =>
      start + i === 1 ? base : `${base}${start + i}`,
    ).filter((c) => !RESERVED_HANDLES.has(c));
    const taken = new Set(
      (await repo.find({ select: { handle: true }, where: { handle: In(candidates) } })).map((r) => r.handle),
    );
    for (const candidate of candidates) {
      if (taken.has(candidate)) continue;
      try {
        await repo.insert({ handle: candidate, ownerKind, ownerId, issuedAt: new Date() });
        return candidate;
      } catch (err) {
        // A concurrent transaction took it first: try the next one.
        if (!isUniqueViolation(err)) throw err;
      }
    }
  }
  throw new Error(`no free handle for base ${base}`);
}

/**
 * Issues exactly `handle` to an owner inside the caller's transaction (an operator's rename or new
 * shared account asks for one name, not the first free one like it); false if it was ever issued.
 * A person's claimed handle becomes their current one, in the same transaction.
 */
export async function claimHandle(
  em: EntityManager,
  handle: string,
  owner: { readonly kind: Exclude<HandleOwnerKind, "reserved">; readonly id: string },
): Promise<boolean> {
  const repo = em.getRepository(HandleSchema);
  if (await repo.findOneBy({ handle })) return false;
  try {
    await repo.insert({ handle, ownerKind: owner.kind, ownerId: owner.id, issuedAt: new Date() });
  } catch (err) {
    // A concurrent transaction issued it first.
    if (isUniqueViolation(err)) return false;
    throw err;
  }
  if (owner.kind === "person") await em.getRepository(PersonSchema).update({ id: owner.id }, { handle });
  return true;
}
