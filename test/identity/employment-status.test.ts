/**
 * employmentStatus (src/identity/standing.ts) as a decision table: active, former since D (and
 * how they left), or unknown for no such person. Every surface asks it (verification, profile,
 * actor, home page, sessions, authorization, the CLI); test/identity/demo.test.ts checks that
 * they agree on a running server.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { createDirectory } from "../../src/identity/directory.ts";
import { PersonSchema } from "../../src/identity/entities.ts";
import { currentPersonSql, employmentStatus } from "../../src/identity/standing.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

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

/**
 * The same table in SQL (currentPersonSql, used where a list is filtered and counted in the
 * database): each recorded person is stored as the case says and must pass the condition exactly
 * when employmentStatus answers active.
 */
describe(`currentPersonSql agrees with the decision table on ${TEST_DB}`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  for (const [i, c] of table.cases.entries()) {
    if (!c.person) continue;
    const person = c.person;
    test(c.name, async () => {
      const directory = createDirectory(t.db);
      const made = await directory.createPerson(
        { fields: { userName: `case${i}@corp.example` }, emails: [], document: null, active: true },
        { name: "test", via: "test" },
      );
      assert.ok(made.ok, JSON.stringify(made));
      const id = made.person.id;
      await t.db.run((em) =>
        em.getRepository(PersonSchema).update(
          { id },
          {
            active: person.active,
            deactivatedAt: date(person.deactivatedAt),
            deletedAt: date(person.deletedAt),
          },
        ),
      );
      const current = currentPersonSql("x.id");
      const rows = await t.db.run((em) =>
        em
          .getRepository(PersonSchema)
          .createQueryBuilder("x")
          .select("x.id", "id")
          .where("x.id = :pid", { pid: id })
          .andWhere(current.sql, current.params)
          .getRawMany(),
      );
      assert.equal(rows.length === 1, c.expect.kind === "active");
    });
  }
});
