/**
 * Who gets an account of their own (DESIGN rule 6): everyone active, unless the organization
 * restricts accounts to members of listed groups (HERALD_ACCOUNT_GROUPS). Read inside the caller's
 * transaction: the federation bridge creates the account in the one that reads this.
 */
import { type EntityManager, In } from "typeorm";
import { GroupMemberSchema, GroupSchema, type Person, PersonSchema } from "./entities.ts";
import { employmentStatus } from "./standing.ts";

export interface AccountCandidate {
  /** The record (null: no such person); also of people who are not eligible. */
  readonly person: Person | null;
  /** Active, not deleted, with a handle, and in an eligible group if the organization names some. */
  readonly eligible: boolean;
}

export async function accountCandidate(
  em: EntityManager,
  personId: string,
  eligibleGroups: readonly string[],
): Promise<AccountCandidate> {
  const person = await em.getRepository(PersonSchema).findOneBy({ id: personId });
  if (!person?.handle || employmentStatus(person).kind !== "active") return { person, eligible: false };
  if (eligibleGroups.length === 0) return { person, eligible: true };
  const ids = (
    await em
      .getRepository(GroupSchema)
      .find({ where: { displayNameKey: In(eligibleGroups.map((g) => g.toLowerCase())) } })
  ).map((g) => g.id);
  if (ids.length === 0) return { person, eligible: false };
  const member = await em.getRepository(GroupMemberSchema).countBy({ personId, groupId: In(ids) });
  return { person, eligible: member > 0 };
}
