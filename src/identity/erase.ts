/**
 * `herald person erase <userName|@handle>` (DESIGN rule 7): a former employee's record is emptied
 * on request. What stays is what verification needs to keep answering for the handle — the row's
 * id, the reserved handle (never recycled, rule 3) and the dates that make it answer "former
 * employee since D" — and nothing else: names, title, department, e-mail addresses, the IdP's
 * record (photos, phone numbers, addresses), the externalId and the group memberships go.
 *
 * Only a former employee's record is erased: a current one's is the IdP's to change (deactivate
 * or delete them there first). The record is also marked deleted, so the IdP no longer finds it
 * and a rehire is a new person with a new handle (nothing is left to match a rehire on). The
 * `person.erased` event ends what is left elsewhere: sessions, app tokens, uploads no post carries
 * (src/media/erasure.ts), and the account's name and bio (the federation bridge; a live actor
 * becomes a tombstone, as on a SCIM DELETE). What they left waiting to be said goes with the
 * record, in its transaction: pending drafts and scheduled statuses are discarded, each saying
 * why (their archive records stay).
 * The directory's own past events lose the userNames they carried. The audit log and the
 * archive keep their records (they are append-only, kept for their retention: docs/archive.md).
 *
 * Idempotent: erasing an erased record changes nothing and says so. One transaction: record,
 * addresses, memberships, drafts, scheduled statuses, events, audit.
 */
import { type EntityManager, In } from "typeorm";
import { ScheduledSchema } from "../api/records.ts";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { DraftSchema } from "../federation/draft-entities.ts";
import { GroupMemberSchema, HandleSchema, type Person, PersonEmailSchema, PersonSchema } from "./entities.ts";
import { appendEvents, DomainEventSchema, type DirectoryEvent } from "./events.ts";
import { isValidHandle } from "./handles.ts";
import { deletedKey } from "./records.ts";
import { userNameKey } from "./user-names.ts";

/** What an erased record shows where a name was. */
export const ERASED_NAME = "(erased)";

/** Why a discarded draft or scheduled status was not published (shown and kept with it). */
export const DISCARDED_ON_ERASURE = "Discarded: the author's record was erased.";

export type EraseRefusal = "no-person" | "ambiguous" | "current";

export type EraseResult =
  | {
      readonly ok: true;
      /** The record as it now is (erased). */
      readonly person: Person;
      /** It was erased before: nothing changed. */
      readonly already: boolean;
      /** When they left (what verification answers), if known. */
      readonly formerSince: Date | null;
    }
  | { readonly ok: false; readonly reason: EraseRefusal; readonly message: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The columns an erasure empties (everything personal the directory keeps about someone). */
const EMPTIED = {
  externalId: null,
  formerExternalId: null,
  displayName: null,
  givenName: null,
  familyName: null,
  formattedName: null,
  nickName: null,
  email: null,
  title: null,
  department: null,
  userType: null,
  preferredLanguage: null,
  locale: null,
  timezone: null,
  employeeNumber: null,
  costCenter: null,
  organization: null,
  division: null,
  managerValue: null,
  scimDoc: null,
} as const satisfies Partial<Person>;

export async function eraseRecord(
  db: Database,
  input: {
    /** A userName (any spelling), `@handle` / `@handle@domain`, or the record's id. */
    readonly who: string;
    readonly by: string;
    readonly handleDomain: string;
    readonly requestId?: string;
  },
): Promise<EraseResult> {
  const refuse = (reason: EraseRefusal, message: string): EraseResult => ({ ok: false, reason, message });
  const lock = db.dialect === "mysql" ? ({ mode: "pessimistic_write" } as const) : undefined;

  return db.transaction(async (em: EntityManager): Promise<EraseResult> => {
    const found = await findRecord(em, input.who, input.handleDomain);
    if (found === "ambiguous")
      return refuse(
        "ambiguous",
        `Several deleted records have the userName ${input.who}: give the handle instead (herald person erase @handle).`,
      );
    if (typeof found === "string") return refuse("no-person", found);
    const people = em.getRepository(PersonSchema);
    const person = await people.findOne({ where: { id: found.id }, ...(lock ? { lock } : {}) });
    if (!person) return refuse("no-person", `No person ${input.who} in the directory.`);
    const formerSince = person.deactivatedAt ?? person.deletedAt;
    if (person.erasedAt) return { ok: true, person, already: true, formerSince };
    if (person.active && !person.deletedAt)
      return refuse(
        "current",
        `${person.userName} is a current employee: only a former employee's record is erased. Deactivate or delete them in the identity provider first.`,
      );

    const now = new Date();
    const memberships = await em.getRepository(GroupMemberSchema).findBy({ personId: person.id });
    await em.getRepository(GroupMemberSchema).delete({ personId: person.id });
    await em.getRepository(PersonEmailSchema).delete({ personId: person.id });
    const after: Person = {
      ...person,
      ...EMPTIED,
      userName: ERASED_NAME,
      userNameKey: deletedKey(person.id),
      active: false,
      deactivatedAt: formerSince ?? now,
      deletedAt: person.deletedAt ?? now,
      erasedAt: now,
      updatedAt: now,
      version: person.version + 1,
    };
    await people.save(after);
    await forgetNamesInEvents(em, person.id);
    const left = await discardWhatWaits(em, person.id, now);
    const events: DirectoryEvent[] = memberships.map((m) => ({
      type: "group.membership_changed",
      groupId: m.groupId,
      added: [],
      removed: [person.id],
    }));
    // Out of the IdP's sight as a SCIM DELETE puts them (the account becomes a tombstone).
    if (!person.deletedAt) events.push({ type: "person.deleted", personId: person.id });
    events.push({ type: "person.erased", personId: person.id });
    await appendEvents(em, input.by, events);
    await recordAudit(em, {
      actor: input.by,
      action: "person.erase",
      targetType: "person",
      targetId: person.id,
      // No name here either: the handle and the date are all that is left to say.
      detail: {
        handle: person.handle,
        formerSince: (formerSince ?? now).toISOString(),
        groupsLeft: memberships.length,
        ...left,
      },
      requestId: input.requestId,
    });
    return { ok: true, person: after, already: false, formerSince: formerSince ?? now };
  });
}

/**
 * Nobody publishes for an erased person any more: their pending drafts and scheduled statuses are
 * discarded, saying why (the rows stay, as the archive's records of the drafts do). Returns how many.
 */
async function discardWhatWaits(
  em: EntityManager,
  personId: string,
  now: Date,
): Promise<{ draftsDiscarded: number; scheduledDiscarded: number }> {
  const drafts = await em
    .getRepository(DraftSchema)
    .update(
      { authorPersonId: personId, status: "pending" },
      { status: "discarded", decidedAt: now, comment: DISCARDED_ON_ERASURE },
    );
  const scheduled = await em
    .getRepository(ScheduledSchema)
    .update(
      { personId, state: "scheduled" },
      { state: "discarded", outcome: DISCARDED_ON_ERASURE, finishedAt: now },
    );
  return { draftsDiscarded: drafts.affected ?? 0, scheduledDiscarded: scheduled.affected ?? 0 };
}

/** The record `who` names: its id, or a sentence saying why none (or "ambiguous"). */
async function findRecord(
  em: EntityManager,
  who: string,
  handleDomain: string,
): Promise<{ id: string } | string> {
  const text = who.trim();
  const people = em.getRepository(PersonSchema);
  if (UUID.test(text)) {
    const p = await people.findOneBy({ id: text.toLowerCase() });
    return p ? { id: p.id } : `No person with id ${text} in the directory.`;
  }
  const handle = /^@([^@\s]+)(?:@(\S+))?$/.exec(text);
  if (handle) {
    const h = handle[1].toLowerCase();
    if (
      !isValidHandle(h) ||
      (handle[2] !== undefined && handle[2].toLowerCase() !== handleDomain.toLowerCase())
    )
      return `${text} is not a handle of this organization: give it as @jdoe or @jdoe@${handleDomain}.`;
    const carrier = await people.findOneBy({ handle: h });
    if (carrier) return { id: carrier.id };
    // A handle relinked away keeps naming its first person in the registry only.
    const record = await em.getRepository(HandleSchema).findOneBy({ handle: h, ownerKind: "person" });
    return record?.ownerId ? { id: record.ownerId } : `No person has the handle @${h}.`;
  }
  const key = userNameKey(text);
  const live = await people.findOneBy({ userNameKey: key });
  if (live) return { id: live.id };
  // A deleted record's key was freed for new hires: look for its name among deleted, unerased ones.
  const deleted = (
    await people
      .createQueryBuilder("p")
      .select(["p.id", "p.userName"])
      .where("p.deleted_at IS NOT NULL AND p.erased_at IS NULL AND LOWER(p.user_name) = :name", {
        name: text.normalize("NFC").toLowerCase(),
      })
      .limit(10)
      .getMany()
  ).filter((p) => userNameKey(p.userName) === key);
  if (deleted.length > 1) return "ambiguous";
  if (deleted.length === 1) return { id: deleted[0].id };
  return `No person with userName ${text} in the directory (an erased record keeps no name: give its handle).`;
}

/** The directory's past events of the person keep what happened, without the names they carried. */
async function forgetNamesInEvents(em: EntityManager, personId: string): Promise<void> {
  const repo = em.getRepository(DomainEventSchema);
  const rows = await repo.find({
    select: { id: true, payload: true },
    where: { subjectType: "person", subjectId: personId, type: In(["person.provisioned", "person.updated"]) },
  });
  for (const r of rows) {
    if (!r.payload) continue;
    const e = JSON.parse(r.payload) as Record<string, unknown>;
    if (!("userName" in e) && !("renamed" in e)) continue;
    delete e.renamed;
    if ("userName" in e) e.userName = ERASED_NAME;
    await repo.update({ id: r.id }, { payload: JSON.stringify(e) });
  }
}
