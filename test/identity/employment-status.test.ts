/**
 * employmentStatus (src/identity/standing.ts) as a decision table: active, former since D (and
 * how they left), or unknown for no such person. Every surface asks it (verification, profile,
 * actor, home page, sessions, authorization, the CLI); test/identity/demo.test.ts checks that
 * they agree on a running server.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { employmentStatus } from "../../src/identity/standing.ts";

interface Case {
  name: string;
  person: { active: boolean; deactivatedAt: string | null; deletedAt: string | null } | null;
  expect: { kind: string; since?: string | null; how?: string };
}

const table = JSON.parse(readFileSync(new URL("cases/employment-status.json", import.meta.url), "utf8")) as {
  cases: Case[];
};
const date = (s: string | null) => (s === null ? null : new Date(s));

describe("employmentStatus: the decision table", () => {
  for (const c of table.cases) {
    test(c.name, () => {
      const person = c.person && {
        active: c.person.active,
        deactivatedAt: date(c.person.deactivatedAt),
        deletedAt: date(c.person.deletedAt),
      };
      const expected =
        c.expect.kind === "former"
          ? { kind: "former", since: date(c.expect.since ?? null), how: c.expect.how }
          : { kind: c.expect.kind };
      assert.deepEqual(employmentStatus(person), expected);
    });
  }
});
