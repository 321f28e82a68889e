/**
 * Authority as a decision table (cases/decisions.json) run through `authz.decide` against the real
 * rbac/model.conf and rbac/policy.csv: every role × every action, on the account the role is held
 * on, on another shared account and on the organization; org roles; one's own account and someone
 * else's; people without grants, deactivated and deleted. The table is the spec: it is written out
 * by hand, so changing any line of policy.csv (or the model) flips at least one cell here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { ACCOUNT_ROLES, ACTIONS, type Action, ORG, ORG_ROLES } from "../../src/authz/authz.ts";
import type { ActorRow } from "../../src/federation/entities.ts";
import { PersonSchema } from "../../src/identity/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface Case {
  who: string;
  on: string[];
  /** role (or "own") → the rule's prefix, in the order decide tries the person's subjects. */
  allow: Record<string, string>;
  deny: string;
  note?: string;
}

interface Oddity {
  who: string;
  action: string;
  on: string;
  rule: string;
  note?: string;
}

interface Table {
  actions: string[];
  roles: Record<string, string[]>;
  ownAccount: string[];
  sharedAccounts: Record<string, string>;
  people: string[];
  groups: Record<string, string[]>;
  grants: [string, string, string][];
  deactivated: string[];
  deleted: string[];
  cases: Case[];
  oddities: Oddity[];
  /** Roles held organization-wide meet a person's own account: others read at most. */
  personal: { who: string; on: string; action: string; allow: boolean; rule: string; note?: string }[];
}

const table = JSON.parse(readFileSync(new URL("./cases/decisions.json", import.meta.url), "utf8")) as Table;

const scimActor = { name: "scim-token:test" };
const userName = (who: string) => `${who}@corp.example`;
const handleOf = (who: string) => who.replace(/[^a-z0-9_]+/g, "_");
const where = (on: string) => (on === ORG ? "the organization" : `@${on}`);
const fill = (template: string, action: string, on: string) =>
  template.replaceAll("{action}", action).replaceAll("{where}", where(on));

/** What the table says decide must answer, one line per action. */
function expected(c: Case, on: string): string[] {
  return table.actions.map((action) => {
    const role = Object.keys(c.allow).find((r) =>
      (r === "own" ? table.ownAccount : table.roles[r]).includes(action),
    );
    if (role === undefined) return `${action}: deny - | ${fill(c.deny, action, on)}`;
    if (role === "own") return `${action}: allow - | ${c.allow.own}`;
    return `${action}: allow ${role} | ${c.allow[role]}; rbac/policy.csv: p, ${role}, *, ${action}`;
  });
}

describe(`authority decisions (cases/decisions.json) on ${TEST_DB}`, () => {
  let s: TestServer;
  const ids: Record<string, string> = {};
  const accounts = new Map<string, ActorRow | typeof ORG>([[ORG, ORG]]);

  async function account(on: string): Promise<ActorRow | typeof ORG> {
    const known = accounts.get(on);
    if (known) return known;
    const actor = await s.services.accounts.byHandle(on);
    assert.ok(actor, `no account @${on}`);
    return actor;
  }

  before(async () => {
    s = await startTestServer();
    for (const who of table.people)
      ids[who] = String(
        (await s.services.scim.createUser({ userName: userName(who), displayName: who }, scimActor)).id,
      );
    for (const [displayName, members] of Object.entries(table.groups))
      await s.services.scim.createGroup(
        { displayName, members: members.map((m) => ({ value: ids[m] })) },
        scimActor,
      );
    for (const [handle, name] of Object.entries(table.sharedAccounts)) {
      const r = await s.services.accounts.createShared(handle, name, "test");
      assert.ok(r.ok, `createShared ${handle}`);
      accounts.set(handle, r.actor);
    }
    for (const [subjectText, role, on] of table.grants) {
      const subject = await s.services.authz.resolveSubject(subjectText);
      assert.ok(!("error" in subject), `${subjectText}: ${JSON.stringify(subject)}`);
      const r = await s.services.authz.grant(subject, role, await account(on), "test");
      assert.ok(r.ok, `grant ${subjectText} ${role} ${on}: ${r.ok ? "" : r.message}`);
    }
    // People's own accounts appear in the background; they must exist before anyone leaves.
    await waitFor(
      async () => {
        for (const who of table.people)
          if (!(await s.services.accounts.byHandle(handleOf(who)))) return undefined;
        return true;
      },
      { timeoutMs: 30_000, what: "everyone's own account" },
    );
    for (const who of table.deactivated)
      await s.services.scim.patchUser(
        ids[who],
        [{ op: "replace", path: undefined, value: { active: false } }],
        scimActor,
      );
    for (const who of table.deleted) await s.services.scim.deleteUser(ids[who], scimActor);
  });

  after(async () => {
    await s?.close();
  });

  test("the table names exactly Herald's actions and roles", () => {
    assert.deepEqual([...table.actions], [...ACTIONS]);
    assert.deepEqual(Object.keys(table.roles), [...ACCOUNT_ROLES, ...ORG_ROLES]);
    for (const [role, actions] of Object.entries(table.roles))
      for (const a of actions) assert.ok(table.actions.includes(a), `${role}: unknown action ${a}`);
    for (const a of table.ownAccount) assert.ok(table.actions.includes(a), `own account: unknown ${a}`);
  });

  test("the table covers every role, held by a group and by one person", () => {
    const refusedElsewhere = (who: string) =>
      table.cases.some(
        (d) =>
          d.who === who && Object.keys(d.allow).length === 0 && ["pr", ORG].every((o) => d.on.includes(o)),
      );
    const held = (role: string, on: string, kind: "group:" | "user:") =>
      table.cases.some(
        (c) =>
          c.on.includes(on) &&
          Object.keys(c.allow).length === 1 &&
          c.allow[role]?.startsWith(kind) &&
          refusedElsewhere(c.who),
      );
    for (const role of ACCOUNT_ROLES) {
      assert.ok(held(role, "recruiting", "group:"), `${role} via a group on @recruiting`);
      assert.ok(held(role, "recruiting", "user:"), `${role} via user:USERNAME on @recruiting`);
    }
    for (const role of ORG_ROLES)
      for (const on of ["recruiting", "pr", ORG])
        assert.ok(
          table.cases.some((c) => c.on.includes(on) && c.allow[role] !== undefined),
          `${role} on ${on}`,
        );
    assert.ok(
      table.cases.some((c) => c.allow.own !== undefined),
      "a person on their own account",
    );
  });

  for (const c of table.cases)
    for (const on of c.on)
      test(`${userName(c.who)} on ${where(on)}: ${Object.keys(c.allow).join(" + ") || "nothing"}${c.note ? ` (${c.note})` : ""}`, async () => {
        const acct = await account(on);
        const actual: string[] = [];
        for (const action of table.actions) {
          const d = await s.services.authz.decide(ids[c.who], action as Action, acct);
          actual.push(`${action}: ${d.allow ? "allow" : "deny"} ${d.role ?? "-"} | ${d.rule}`);
        }
        assert.deepEqual(actual, expected(c, on));
      });

  for (const c of table.personal)
    test(`${c.who} ${c.allow ? "may" : "may not"} ${c.action} on @${c.on}, a person's own account${c.note ? ` (${c.note})` : ""}`, async () => {
      const d = await s.services.authz.decide(ids[c.who], c.action as Action, await account(c.on));
      assert.deepEqual({ allow: d.allow, rule: d.rule }, { allow: c.allow, rule: c.rule });
    });

  for (const o of table.oddities)
    test(`${o.who} asking "${o.action}" on ${where(o.on)} is refused${o.note ? ` (${o.note})` : ""}`, async () => {
      // Unknown actions from outside (a table, the CLI) reach decide() as strings.
      const d = await s.services.authz.decide(ids[o.who], o.action as Action, await account(o.on));
      assert.deepEqual(d, { allow: false, rule: o.rule });
    });

  test("a person id that is in no directory is refused everything", async () => {
    for (const action of table.actions)
      assert.deepEqual(
        await s.services.authz.decide("00000000-0000-4000-8000-000000000000", action as Action, ORG),
        {
          allow: false,
          rule: "no such person in the directory",
        },
      );
  });

  test("decide takes a Person row as well as an id, and reads the groups now either way", async () => {
    const person = await s.services.db.run((em) =>
      em.getRepository(PersonSchema).findOneByOrFail({ id: ids["g.publisher"] }),
    );
    const d = await s.services.authz.decide(person, "post", await account("recruiting"));
    assert.equal(d.allow, true);
    assert.equal(d.role, "publisher");
  });
});
