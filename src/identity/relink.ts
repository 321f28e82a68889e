/**
 * `herald person relink <userName> <old handle>` (DESIGN rule 6): an admin who knows that a new
 * person is a former employee come back gives them their old handle, which the automatic rehire
 * rule did not (it needs the externalId and the userName or primary email to match).
 *
 * Only a handle reserved for a person who was deleted from the directory moves: never a current
 * or deactivated person's (the IdP still knows them), a shared account's, the organization's or
 * a reserved name. The person's previous handle stays theirs (handles are never recycled, rule 3);
 * the accounts capability turns it into an alias of the account that now carries the old handle
 * (the `person.relinked` event). One transaction: handle registry, both person rows, event, audit.
 */
import type { EntityManager } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { HandleSchema, type Person, PersonSchema } from "./entities.ts";
import { appendEvents } from "./events.ts";
import { isValidHandle } from "./handles.ts";
import { userNameKey } from "./user-names.ts";

export type RelinkRefusal =
  | "bad-handle"
  | "no-person"
  | "never-issued"
  | "not-a-person"
  | "already-theirs"
  | "current-owner"
  | "deactivated-owner";

export type RelinkResult =
  | {
      readonly ok: true;
      readonly person: Person;
      readonly handle: string;
      /** The handle the person had until now (it stays theirs, as an alias). */
      readonly previousHandle: string | null;
      /** The former person the handle was reserved for. */
      readonly fromPersonId: string;
      readonly fromUserName: string | null;
    }
  | { readonly ok: false; readonly reason: RelinkRefusal; readonly message: string };

const OWNER_NAMES: Record<string, string> = {
  shared: "a shared account",
  org: "the organization's account",
  reserved: "a reserved name",
};

export async function relinkHandle(
  db: Database,
  input: {
    readonly userName: string;
    readonly handle: string;
    readonly by: string;
    readonly handleDomain: string;
  },
): Promise<RelinkResult> {
  const refuse = (reason: RelinkRefusal, message: string): RelinkResult => ({ ok: false, reason, message });
  // `jdoe`, `@jdoe` or `@jdoe@<our handle domain>`.
  const m = /^@?([^@\s]+)(?:@(\S+))?$/.exec(input.handle.trim());
  const h = m?.[1].toLowerCase() ?? "";
  if (
    !m ||
    !isValidHandle(h) ||
    (m[2] !== undefined && m[2].toLowerCase() !== input.handleDomain.toLowerCase())
  )
    return refuse(
      "bad-handle",
      `"${input.handle}" is not a handle of this organization: give it as jdoe or @jdoe@${input.handleDomain}.`,
    );
  const lock = db.dialect === "mysql" ? ({ mode: "pessimistic_write" } as const) : undefined;

  return db.transaction(async (em: EntityManager): Promise<RelinkResult> => {
    const people = em.getRepository(PersonSchema);
    // Deleted people have a freed key, so this finds current and deactivated people only.
    const person = await people.findOne({
      where: { userNameKey: userNameKey(input.userName) },
      ...(lock ? { lock } : {}),
    });
    if (!person || person.deletedAt)
      return refuse("no-person", `No person with userName ${input.userName} in the directory.`);
    const record = await em
      .getRepository(HandleSchema)
      .findOne({ where: { handle: h }, ...(lock ? { lock } : {}) });
    if (!record)
      return refuse(
        "never-issued",
        `@${h} was never issued: relink gives back a former employee's handle, it does not make new ones.`,
      );
    if (record.ownerKind !== "person")
      return refuse(
        "not-a-person",
        `@${h} belongs to ${OWNER_NAMES[record.ownerKind] ?? record.ownerKind}, not to a former employee: it cannot be relinked.`,
      );
    if (record.ownerId === person.id)
      return refuse("already-theirs", `@${h} is already ${person.userName}'s handle: nothing to do.`);
    // No row left for the handle: treated as an erased record (erase.ts keeps the row, though).
    const former = record.ownerId
      ? await people.findOne({ where: { id: record.ownerId }, ...(lock ? { lock } : {}) })
      : null;
    if (former && !former.deletedAt && former.active)
      return refuse(
        "current-owner",
        `@${h} belongs to ${former.userName}, a current employee: a handle is never taken from its person.`,
      );
    if (former && !former.deletedAt)
      return refuse(
        "deactivated-owner",
        `@${h} belongs to ${former.userName}, deactivated but still in the directory (the IdP may reactivate them): delete that user in the IdP first, then relink.`,
      );

    const previousHandle = person.handle;
    // person.handle is unique: the former record lets go first.
    if (former && former.handle === h) await people.update({ id: former.id }, { handle: null });
    await em.getRepository(HandleSchema).update({ handle: h }, { ownerId: person.id });
    await people.update({ id: person.id }, { handle: h });
    const fromPersonId = record.ownerId ?? "";
    // An erased record has no name to tell (erase.ts).
    const fromUserName = former && !former.erasedAt ? former.userName : null;
    await appendEvents(em, input.by, [
      { type: "person.relinked", personId: person.id, handle: h, previousHandle, fromPersonId },
    ]);
    await recordAudit(em, {
      actor: input.by,
      action: "person.relink",
      targetType: "person",
      targetId: person.id,
      detail: {
        userName: person.userName,
        handle: h,
        previousHandle,
        fromPersonId,
        fromUserName,
      },
    });
    return {
      ok: true,
      person: { ...person, handle: h },
      handle: h,
      previousHandle,
      fromPersonId,
      fromUserName,
    };
  });
}
