/**
 * Who may speak for which account (DESIGN rule 4), decided by Casbin from `rbac/model.conf` and
 * `rbac/policy.csv` plus the grants in the database.
 *
 * - One enforcer per process, rebuilt only when the grants change: every decision reads the
 *   policy version (one indexed row), so a grant or revocation made by another process (the CLI,
 *   another server) counts on the next request.
 * - Group membership is never cached: every decision reads the person's current groups, so a SCIM
 *   PATCH that removes someone from Recruiting refuses their very next request.
 * - A person who is not a current employee (employmentStatus: deactivated, deleted, unknown) is
 *   refused everything, whatever the grants.
 * - A person's own account is theirs to use (posting as yourself needs no grant).
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Enforcer, newEnforcer, newModelFromString, StringAdapter } from "casbin";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { type ActorRow, ActorSchema } from "../federation/entities.ts";
import { type EntityManager, IsNull } from "typeorm";
import type { CallerPerson, Directory, GroupRef, Person } from "../identity/directory.ts";
import { appendEvents } from "../identity/events.ts";
import { employmentStatus } from "../identity/standing.ts";
import { AuthzStateSchema, type GrantRow, GrantSchema, type SubjectKind } from "./entities.ts";

export const ACCOUNT_ROLES = ["owner", "admin", "publisher", "drafter", "analyst", "compliance"] as const;
export const ORG_ROLES = ["org-admin", "compliance-officer"] as const;
export const ACTIONS = [
  "post",
  "reply",
  "delete",
  "draft",
  "approve",
  "view-inbox",
  "edit-profile",
  "manage-grants",
  "view-archive",
  "manage-accounts",
  "view-audit",
  "view-reports",
  "connect-idp",
  "view-insights",
  "view-directory",
  "manage-people",
  "view-provisioning",
] as const;
export type Action = (typeof ACTIONS)[number];

/** A string from outside (the CLI, a form) as an action, if it is one. */
export function asAction(value: string): Action | undefined {
  return (ACTIONS as readonly string[]).includes(value) ? (value as Action) : undefined;
}

/** The actions that concern one account (the rest are organization-wide). */
const ACCOUNT_ACTIONS = ACTIONS.filter(
  (a) =>
    ![
      "manage-accounts",
      "view-audit",
      "view-reports",
      "connect-idp",
      "view-directory",
      "manage-people",
      "view-provisioning",
    ].includes(a),
);

/** What a person may do with their own account without any grant. */
const OWN_ACCOUNT: ReadonlySet<Action> = new Set<Action>([
  "post",
  "reply",
  "delete",
  "draft",
  "view-inbox",
  "edit-profile",
  "view-archive",
]);

/** What someone other than its owner may ever do with a person's own account (compliance). */
const READ_ONLY: ReadonlySet<Action> = new Set<Action>(["view-archive", "view-inbox"]);

/** The organization as a whole: the domain of organization-wide roles and actions. */
export const ORG = "org";

export interface Decision {
  readonly allow: boolean;
  /** Why, in words: the grant and the policy line that allowed, or what was missing. */
  readonly rule: string;
  /** The role that allowed, if any. */
  readonly role?: string;
}

export interface Subject {
  readonly kind: SubjectKind;
  readonly id: string;
  readonly label: string;
}

export type GrantResult =
  { readonly ok: true; readonly grant: GrantRow } | { readonly ok: false; readonly message: string };

const RBAC_DIR = fileURLToPath(new URL("../../rbac/", import.meta.url));

function readPolicy(dir: string): { model: string; policy: string } {
  const model = readFileSync(`${dir}/model.conf`, "utf8");
  const policy = readFileSync(`${dir}/policy.csv`, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .join("\n");
  return { model, policy };
}

/** One person's decisions, bound to what was read about them (see `decider`). */
/** A role a person holds: on which account (`@handle` or ORG), through which group (null: to them). */
export interface HeldRole {
  readonly role: string;
  readonly account: string;
  readonly group: string | null;
}

export type Decider = (action: Action, account: ActorRow | typeof ORG) => Promise<Decision>;

/** Who is asking, read afresh for each request: a refusal (string) or this. */
interface PersonContext {
  readonly person: CallerPerson;
  readonly enforcer: Enforcer;
  readonly subjects: readonly { sub: string; label: string }[];
}

export function createAuthz(deps: {
  db: Database;
  directory: Directory;
  rbacDir?: string;
  onChange?: () => void;
}) {
  const { db, directory } = deps;
  const files = readPolicy(deps.rbacDir ?? RBAC_DIR);
  let loaded: { version: number; enforcer: Enforcer } | undefined;
  let loading: { version: number; promise: Promise<Enforcer> } | undefined;

  async function policyVersion(): Promise<number> {
    const row = await db.run((em) => em.getRepository(AuthzStateSchema).findOneBy({ id: 1 }));
    return row?.version ?? 0;
  }

  /**
   * The enforcer for the current policy version (rebuilt once per change, never per request).
   * A caller only joins a reload that read at least the version it saw: a reload started for an
   * older version may have read grants from before a revocation this caller must honour.
   */
  async function enforcer(known?: number): Promise<Enforcer> {
    const version = known ?? (await policyVersion());
    if (loaded && loaded.version >= version) return loaded.enforcer;
    if (loading && loading.version >= version) return loading.promise;
    const promise = (async () => {
      const grants = await db.run((em) => em.getRepository(GrantSchema).find());
      const lines = grants.map((g) => `g, ${g.subjectKind}:${g.subjectId}, ${g.role}, ${g.accountId}`);
      const e = await newEnforcer(
        newModelFromString(files.model),
        new StringAdapter([files.policy, ...lines].join("\n")),
      );
      if (!loaded || loaded.version < version) loaded = { version, enforcer: e };
      return e;
    })();
    loading = { version, promise };
    try {
      return await promise;
    } finally {
      if (loading?.promise === promise) loading = undefined;
    }
  }

  const handleOf = (a: ActorRow) => `@${a.handle}`;

  /**
   * Everything a decision needs about a person, read now: their state, the subjects they are
   * (themselves and each group they are in right now) and the enforcer of the current policy.
   */
  async function contextFor(person: CallerPerson | string): Promise<PersonContext | string> {
    const p = typeof person === "string" ? await directory.personById(person) : person;
    // The inactive-person rule: only a current employee (standing.ts) acts at all.
    const status = employmentStatus(p);
    if (!p || status.kind === "unknown" || (status.kind === "former" && status.how === "deleted"))
      return "no such person in the directory";
    if (status.kind === "former") return `${p.userName} is deactivated in the directory`;
    const [e, groups] = await Promise.all([enforcer(), directory.groupsOf(p.id)]);
    return contextOf(p, groups, e);
  }

  function contextOf(p: CallerPerson, groups: readonly GroupRef[], e: Enforcer): PersonContext {
    const subjects: { sub: string; label: string }[] = [
      { sub: `user:${p.id}`, label: `user:${p.userName}` },
      ...groups.map((g) => ({ sub: `group:${g.id}`, label: `group:${g.displayName}` })),
    ];
    return { person: p, enforcer: e, subjects };
  }

  async function check(c: PersonContext, action: Action, account: ActorRow | typeof ORG): Promise<Decision> {
    const p = c.person;
    if (!(ACTIONS as readonly string[]).includes(action))
      return { allow: false, rule: `unknown action "${action}"` };
    const dom = account === ORG ? ORG : account.id;
    if (account !== ORG) {
      if (account.deletedAt) return { allow: false, rule: `${handleOf(account)} is closed` };
      if (account.kind === "person" && account.personId === p.id && OWN_ACCOUNT.has(action))
        return { allow: true, rule: `${handleOf(account)} is ${p.userName}'s own account` };

      if (account.suspendedAt) return { allow: false, rule: `${handleOf(account)} is suspended` };
    }
    for (const s of c.subjects) {
      const [ok, explain] = await c.enforcer.enforceEx(s.sub, dom, action);
      if (!ok) continue;
      const role = explain[0];
      // Nobody else speaks as a person, not even an org admin; compliance may still read.
      if (account !== ORG && account.kind === "person" && !READ_ONLY.has(action))
        return {
          allow: false,
          rule: `${s.label} holds ${role}, but only its owner acts as ${handleOf(account)}, a person's own account`,
        };
      // Which grant carried the role: on this account, or organization-wide.
      const onAccount = account !== ORG && (await c.enforcer.hasGroupingPolicy(s.sub, role, dom));
      const scope = onAccount ? handleOf(account as ActorRow) : "the organization";
      return {
        allow: true,
        role,
        rule: `${s.label} holds ${role} on ${scope}; rbac/policy.csv: p, ${explain.join(", ")}`,
      };
    }
    const where = account === ORG ? "the organization" : handleOf(account);
    return {
      allow: false,
      rule: `no role held by ${c.subjects.map((s) => s.label).join(" or ")} allows ${action} on ${where}`,
    };
  }

  /**
   * Decisions for one person: their state, groups and the policy are read once, now, and every
   * question asked of the result uses them (one request's worth: a page that asks many).
   */
  async function decider(person: CallerPerson | string): Promise<Decider> {
    const c = await contextFor(person);
    return (action, account) =>
      typeof c === "string" ? Promise.resolve({ allow: false, rule: c }) : check(c, action, account);
  }

  /**
   * Decisions for a current employee from what the caller read in the same request (their groups
   * and the policy's version, e.g. in the client API's one query per call): the same rules as
   * `decider`, no further reads unless the policy changed since this process loaded it. The caller
   * has checked the person's standing.
   */
  async function deciderFrom(read: {
    person: CallerPerson;
    groups: readonly GroupRef[];
    policyVersion: number;
  }): Promise<Decider> {
    const c = contextOf(read.person, read.groups, await enforcer(read.policyVersion));
    return (action, account) => check(c, action, account);
  }

  /**
   * May this person do this on this account (an actor, or ORG for organization-wide actions)?
   * Reads the person's state and groups now, every time.
   */
  async function decide(
    person: CallerPerson | string,
    action: Action,
    account: ActorRow | typeof ORG,
  ): Promise<Decision> {
    return (await decider(person))(action, account);
  }

  async function bump(em: EntityManager): Promise<void> {
    await em.getRepository(AuthzStateSchema).increment({ id: 1 }, "version", 1);
  }

  return {
    decide,
    decider,
    deciderFrom,

    /** A renamed account keeps who may act for it (accounts.onRename). */
    async moveAccount(em: EntityManager, fromId: string, toId: string): Promise<void> {
      const moved = await em.getRepository(GrantSchema).update({ accountId: fromId }, { accountId: toId });
      if ((moved.affected ?? 0) > 0) await bump(em);
    },

    /** Builds the enforcer now (at boot), so the first request does not pay for it. */
    async warm(): Promise<void> {
      await enforcer();
    },

    /**
     * The accounts this person may act for, with what they may do on each: their own account
     * first, then shared accounts where any role applies (the staff app's account switcher).
     */
    async actingAccounts(
      person: Person,
      can?: Decider,
    ): Promise<{ actor: ActorRow; actions: Set<Action> }[]> {
      if (employmentStatus(person).kind !== "active") return [];
      const decideFor = can ?? (await decider(person));
      const candidates = await db.run((em) =>
        em.getRepository(ActorSchema).find({
          where: [
            { kind: "shared", deletedAt: IsNull(), suspendedAt: IsNull() },
            { kind: "person", personId: person.id, deletedAt: IsNull(), suspendedAt: IsNull() },
          ],
          order: { handle: "ASC" },
        }),
      );
      const out: { actor: ActorRow; actions: Set<Action> }[] = [];
      for (const actor of candidates) {
        if (!actor.keysReadyAt) continue;
        const actions = new Set<Action>();
        for (const action of ACCOUNT_ACTIONS) if ((await decideFor(action, actor)).allow) actions.add(action);
        if (actions.size > 0) out.push({ actor, actions });
      }
      // Their own account first, then shared accounts by handle.
      return out.sort((a, b) => Number(b.actor.kind === "person") - Number(a.actor.kind === "person"));
    },

    /**
     * The roles a person holds now, for people to read (the development IdP's "who is who"):
     * each grant to them or to a group they are in right now, with the account it is on
     * (`@handle`, or ORG) and the group it came through. Decisions never use this; they ask Casbin.
     */
    async rolesOf(person: Person): Promise<HeldRole[]> {
      const c = await contextFor(person);
      if (typeof c === "string") return [];
      const bySub = new Map(c.subjects.map((s) => [s.sub, s.label]));
      const rows = await db.run((em) =>
        em.getRepository(GrantSchema).find({
          where: c.subjects.map((s) => {
            const [kind, id] = s.sub.split(/:(.*)/s);
            return { subjectKind: kind as SubjectKind, subjectId: id };
          }),
          order: { createdAt: "ASC" },
        }),
      );
      const out: HeldRole[] = [];
      for (const g of rows) {
        const actor =
          g.accountId === ORG
            ? null
            : await db.run((em) => em.getRepository(ActorSchema).findOneBy({ id: g.accountId }));
        if (g.accountId !== ORG && (!actor || actor.deletedAt)) continue;
        const label = bySub.get(`${g.subjectKind}:${g.subjectId}`) ?? "";
        out.push({
          role: g.role,
          account: actor ? `@${actor.handle}` : ORG,
          group: g.subjectKind === "group" ? label.replace(/^group:/, "") : null,
        });
      }
      return out;
    },

    /** `group:NAME`, a bare NAME (a group) or `user:USERNAME`, resolved to an id now. */
    async resolveSubject(text: string): Promise<Subject | { error: string }> {
      const m = /^(group:|user:)?(.+)$/.exec(text.trim());
      const kind: SubjectKind = m?.[1] === "user:" ? "user" : "group";
      const name = (m?.[2] ?? "").trim();
      if (name === "") return { error: "name a group (group:NAME) or a person (user:USERNAME)" };
      if (kind === "user") {
        const p = await directory.personByUserName(name);
        if (!p || p.deletedAt) return { error: `no person with userName ${name} in the directory` };
        return { kind, id: p.id, label: p.userName };
      }
      const g = await directory.groupByName(name);
      if (!g) return { error: `no group named ${name} in the directory (groups come from SCIM)` };
      return { kind, id: g.id, label: g.displayName };
    },

    async grant(
      subject: Subject,
      role: string,
      account: ActorRow | typeof ORG,
      by: string,
    ): Promise<GrantResult> {
      const orgRole = (ORG_ROLES as readonly string[]).includes(role);
      if (!orgRole && !(ACCOUNT_ROLES as readonly string[]).includes(role))
        return {
          ok: false,
          message: `unknown role "${role}"; account roles: ${ACCOUNT_ROLES.join(", ")}; organization roles: ${ORG_ROLES.join(", ")}`,
        };
      if (orgRole !== (account === ORG))
        return {
          ok: false,
          message: orgRole
            ? `${role} is an organization-wide role: grant it on "org"`
            : `${role} is granted on a shared account, not on "org"`,
        };
      if (account !== ORG && (account.kind !== "shared" || account.deletedAt))
        return {
          ok: false,
          message: `@${account.handle} is not a shared account (people's own accounts take no grants)`,
        };
      const accountId = account === ORG ? ORG : account.id;
      const result = await db.transaction(async (em) => {
        const repo = em.getRepository(GrantSchema);
        const existing = await repo.findOneBy({
          subjectKind: subject.kind,
          subjectId: subject.id,
          role,
          accountId,
        });
        if (existing) return { ok: true, grant: existing } as const;
        const grant: GrantRow = {
          id: randomUUID(),
          subjectKind: subject.kind,
          subjectId: subject.id,
          subjectLabel: subject.label,
          role,
          accountId,
          createdBy: by,
          createdAt: new Date(),
        };
        await repo.insert(grant);
        await bump(em);
        // Other processes drop answers that show roles (verification) on this event.
        await appendEvents(em, by, [{ type: "account.grants_changed", actorId: accountId }]);
        await recordAudit(em, {
          actor: by,
          action: "grant.add",
          targetType: account === ORG ? "org" : "actor",
          targetId: accountId,
          detail: { subject: `${subject.kind}:${subject.label}`, subjectId: subject.id, role },
        });
        return { ok: true, grant } as const;
      });
      // After the commit: answers cached in this process (verification roles) die with the change.
      deps.onChange?.();
      return result;
    },

    async revoke(
      subject: Subject,
      role: string,
      account: ActorRow | typeof ORG,
      by: string,
    ): Promise<boolean> {
      const accountId = account === ORG ? ORG : account.id;
      const removed = await db.transaction(async (em) => {
        const r = await em
          .getRepository(GrantSchema)
          .delete({ subjectKind: subject.kind, subjectId: subject.id, role, accountId });
        if ((r.affected ?? 0) === 0) return false;
        await bump(em);
        await appendEvents(em, by, [{ type: "account.grants_changed", actorId: accountId }]);
        await recordAudit(em, {
          actor: by,
          action: "grant.revoke",
          targetType: account === ORG ? "org" : "actor",
          targetId: accountId,
          detail: { subject: `${subject.kind}:${subject.label}`, subjectId: subject.id, role },
        });
        return true;
      });
      if (removed) deps.onChange?.();
      return removed;
    },

    async grants(accountId?: string): Promise<GrantRow[]> {
      return db.run((em) =>
        em.getRepository(GrantSchema).find({
          where: accountId ? { accountId } : {},
          order: { accountId: "ASC", role: "ASC", subjectLabel: "ASC" },
        }),
      );
    },
  };
}

export type Authz = ReturnType<typeof createAuthz>;
