/**
 * The admin directory's reads (/admin/directory): everyone ever provisioned — deleted people
 * included, since they are former employees whose handles stay reserved — searched by name,
 * userName, handle or e-mail and filtered by standing and group, a page at a time; and one
 * person's history from the domain events.
 *
 * Standing is `employmentStatus` (standing.ts) for each row shown; the filters say the same in
 * SQL (test/web/console.test.ts checks each filter's count): current = active and not
 * deleted, former = the rest. "pending" narrows current to people who have no account of their own
 * yet: no handle, or not in one of the groups HERALD_ACCOUNT_GROUPS names (eligibility.ts).
 */
import { type EntityManager, In, Like, MoreThanOrEqual } from "typeorm";
import type { Database } from "../db/database.ts";
import { GroupMemberSchema, GroupSchema, type Person, PersonEmailSchema, PersonSchema } from "./entities.ts";
import { DomainEventSchema, type StoredEvent } from "./events.ts";
import type { GroupRef } from "./model.ts";
import { groupsOf } from "./records.ts";
import { type EmploymentStatus, employmentStatus } from "./standing.ts";

export type RosterStanding = "current" | "former" | "pending";

export interface RosterQuery {
  /** Part of a display name, userName, handle or e-mail address (any letter case). */
  readonly search?: string;
  readonly standing?: RosterStanding;
  readonly groupId?: string;
  readonly offset: number;
  readonly limit: number;
}

export interface RosterEntry {
  readonly person: Person;
  readonly groups: readonly GroupRef[];
  readonly status: EmploymentStatus;
  /** Current, but without an account of their own yet. */
  readonly pending: boolean;
}

/** At most this many characters of a search are used (a bound on the LIKE pattern). */
export const MAX_SEARCH = 100;

/** A LIKE pattern for the text anywhere, its wildcards escaped with "!" (MySQL's "\\" is special). */
const likeOf = (text: string) => `%${text.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;

export type ScimChangeKind = "created" | "updated" | "deactivated";
const CHANGE_KINDS: Record<string, ScimChangeKind | undefined> = {
  "person.provisioned": "created",
  "person.updated": "updated",
  "person.reactivated": "updated",
  "person.deactivated": "deactivated",
  "person.deleted": "deactivated",
};
/** One change of one person counts once, as its strongest kind (a PATCH that deactivates: deactivated). */
const STRENGTH: Record<ScimChangeKind, number> = { updated: 0, deactivated: 1, created: 2 };
/** A bound on the events one chart reads (30 days of a large IdP's changes). */
const MAX_CHANGE_EVENTS = 200_000;

export function createRoster(db: Database, options: { readonly eligibleGroups: readonly string[] }) {
  /** Ids of the eligible groups (HERALD_ACCOUNT_GROUPS), read per query: groups come and go. */
  async function eligibleGroupIds(em: EntityManager): Promise<string[] | undefined> {
    if (options.eligibleGroups.length === 0) return undefined;
    const rows = await em
      .getRepository(GroupSchema)
      .findBy({ displayNameKey: In(options.eligibleGroups.map((g) => g.toLowerCase())) });
    return rows.map((g) => g.id);
  }

  return {
    async list(q: RosterQuery): Promise<{ total: number; entries: RosterEntry[] }> {
      return db.run(async (em) => {
        const eligible = await eligibleGroupIds(em);
        const qb = em.getRepository(PersonSchema).createQueryBuilder("p").where("1 = 1");
        const search = q.search?.trim().slice(0, MAX_SEARCH);
        if (search) {
          // Lower-cased on both sides: SQLite's LIKE folds ASCII only, MySQL's follows the collation.
          qb.andWhere(
            `(LOWER(p.display_name) LIKE :s ESCAPE '!' OR LOWER(p.user_name) LIKE :s ESCAPE '!' OR p.handle LIKE :s ESCAPE '!' OR EXISTS (SELECT 1 FROM person_email re WHERE re.person_id = p.id AND re.value_key LIKE :s ESCAPE '!'))`,
            { s: likeOf(search.replace(/^@/, "")) },
          );
        }
        const current = "p.active = :yes AND p.deleted_at IS NULL";
        if (q.standing === "former") qb.andWhere(`NOT (${current})`, { yes: true });
        if (q.standing === "current") qb.andWhere(current, { yes: true });
        if (q.standing === "pending") {
          qb.andWhere(current, { yes: true });
          if (eligible === undefined) qb.andWhere("p.handle IS NULL");
          else if (eligible.length === 0) qb.andWhere("1 = 1");
          else
            qb.andWhere(
              "(p.handle IS NULL OR NOT EXISTS (SELECT 1 FROM group_member eg WHERE eg.person_id = p.id AND eg.group_id IN (:...eligible)))",
              { eligible },
            );
        }
        if (q.groupId)
          qb.andWhere(
            "EXISTS (SELECT 1 FROM group_member gm WHERE gm.person_id = p.id AND gm.group_id = :g)",
            {
              g: q.groupId,
            },
          );
        const total = await qb.getCount();
        const people = await qb
          .orderBy("p.userNameKey", "ASC")
          .addOrderBy("p.id", "ASC")
          .offset(q.offset)
          .limit(q.limit)
          .getMany();
        const groups = await groupsOf(
          em,
          people.map((p) => p.id),
        );
        const member = new Set<string>();
        if (eligible && eligible.length > 0 && people.length > 0) {
          const rows = await em.getRepository(GroupMemberSchema).findBy({
            personId: In(people.map((p) => p.id)),
            groupId: In(eligible),
          });
          for (const r of rows) member.add(r.personId);
        }
        return {
          total,
          entries: people.map((person) => {
            const status = employmentStatus(person);
            const hasAccount = person.handle !== null && (eligible === undefined || member.has(person.id));
            return {
              person,
              groups: groups.get(person.id) ?? [],
              status,
              pending: status.kind === "active" && !hasAccount,
            };
          }),
        };
      });
    },

    /** The record (deleted people too), its groups and its addresses. */
    async person(id: string): Promise<{ person: Person; groups: GroupRef[]; emails: string[] } | null> {
      return db.run(async (em) => {
        const person = await em.getRepository(PersonSchema).findOneBy({ id });
        if (!person) return null;
        const groups = (await groupsOf(em, [id])).get(id) ?? [];
        const emails = (
          await em
            .getRepository(PersonEmailSchema)
            .find({ where: { personId: id }, order: { position: "ASC" } })
        ).map((e) => e.value);
        return { person, groups, emails };
      });
    },

    /** The person's domain events (provisioned, updated, deactivated …), oldest first. */
    async events(personId: string, limit = 200): Promise<StoredEvent[]> {
      return db.run((em) =>
        em.getRepository(DomainEventSchema).find({
          where: { subjectType: "person", subjectId: personId },
          order: { id: "DESC" },
          take: limit,
        }),
      );
    },

    /**
     * Per SCIM caller (`scim-token:<name>`) and UTC day (YYYY-MM-DD) since `since`: people
     * provisioned (hired or rehired), updated (every write of a record) and deactivated (or
     * deleted), from the domain events (indexed by time, migration 0022). What one request did to
     * one person counts once: a PATCH that deactivates appends person.updated and
     * person.deactivated in one change, and is one deactivation; a DELETE of an active person
     * (person.deactivated and person.deleted) too.
     */
    async scimChangesByDay(
      since: Date,
    ): Promise<{ actor: string; day: string; kind: ScimChangeKind; n: number }[]> {
      const rows = await db.run((em) =>
        em.getRepository(DomainEventSchema).find({
          select: { actor: true, type: true, occurredAt: true, subjectId: true, changeId: true },
          where: { subjectType: "person", actor: Like("scim-token:%"), occurredAt: MoreThanOrEqual(since) },
          take: MAX_CHANGE_EVENTS,
        }),
      );
      // Per change and person (rows from before migration 0014 have no change id: their time).
      const changes = new Map<string, { actor: string; day: string; kind: ScimChangeKind }>();
      for (const r of rows) {
        const kind = CHANGE_KINDS[r.type];
        if (!kind) continue;
        const key = `${r.changeId ?? `${r.actor} ${r.occurredAt.getTime()}`} ${r.subjectId}`;
        const prev = changes.get(key);
        if (!prev || STRENGTH[kind] > STRENGTH[prev.kind])
          changes.set(key, { actor: r.actor, day: r.occurredAt.toISOString().slice(0, 10), kind });
      }
      const out = new Map<string, { actor: string; day: string; kind: ScimChangeKind; n: number }>();
      for (const c of changes.values()) {
        const key = `${c.actor} ${c.day} ${c.kind}`;
        out.set(key, { ...c, n: (out.get(key)?.n ?? 0) + 1 });
      }
      return [...out.values()];
    },

    /** Every group, by name (the filter's choices). */
    async groups(): Promise<{ id: string; displayName: string }[]> {
      return db.run(async (em) =>
        (await em.getRepository(GroupSchema).find({ order: { displayNameKey: "ASC" }, take: 500 })).map(
          (g) => ({
            id: g.id,
            displayName: g.displayName,
          }),
        ),
      );
    },
  };
}

export type Roster = ReturnType<typeof createRoster>;
