import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createDirectory } from "../../src/identity/directory.ts";
import { PersonSchema } from "../../src/identity/entities.ts";
import { baseHandle, handleSource, issueHandle } from "../../src/identity/handles.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

describe("baseHandle (DESIGN rule 6)", () => {
  const cases: [string, string][] = [
    ["jane@careers.corp.example", "jane"],
    ["Jane.Doe@corp.example", "jane_doe"],
    ["j--doe..x@corp", "j_doe_x"],
    ["José.Núñez@corp", "jose_nunez"],
    ["no-at-sign", "no_at_sign"],
    ["__x__@corp", "x"],
    ["@corp", "user"],
    ["山田@corp", "user"],
    ["a".repeat(60), "a".repeat(26)],
  ];
  for (const [userName, expected] of cases) {
    test(`${userName.slice(0, 30)} → ${expected.slice(0, 30)}`, () =>
      assert.equal(baseHandle(userName), expected));
  }
});

describe(`handles on ${TEST_DB}`, () => {
  let t: TestDb;
  /** A person hired through the Directory, as SCIM hires them. */
  let hire: (userName: string) => Promise<{ id: string; handle: string | null }>;
  before(async () => {
    t = await migratedDatabase();
    const directory = createDirectory(t.db);
    hire = async (userName) => {
      const r = await directory.createPerson(
        { fields: { userName }, emails: [], document: null, active: true },
        { name: "test", via: "test" },
      );
      assert.ok(r.ok);
      return r.person;
    };
  });
  after(async () => {
    await t.close();
  });

  test("collisions get numeric suffixes, never an error", async () => {
    const handles = [];
    for (const u of ["jdoe@a.example", "JDoe@b.example", "j.doe@c.example", "jdoe@d.example"]) {
      handles.push((await hire(u)).handle);
    }
    assert.deepEqual(handles, ["jdoe", "jdoe2", "j_doe", "jdoe3"]);
  });

  test("reserved names are skipped", async () => {
    const p = await hire("admin@corp.example");
    assert.equal(p.handle, "admin2");
  });

  test("a handle is never recycled, even after its person is gone", async () => {
    const p = await hire("leaver@corp.example");
    assert.equal(p.handle, "leaver");
    await t.db.transaction((em) => em.getRepository(PersonSchema).delete({ id: p.id }));
    const q = await hire("leaver@other.example");
    assert.equal(q.handle, "leaver2");
  });

  test("concurrent issues of one base all succeed with distinct handles", async () => {
    const issued = await Promise.all(
      Array.from({ length: 8 }, () => t.db.transaction((em) => issueHandle(em, "busy", "person", null))),
    );
    assert.equal(new Set(issued).size, 8);
    assert.ok(issued.includes("busy"));
  });
});

describe("HERALD_HANDLE_FROM", () => {
  const p = {
    userName: "u12345@corp.example",
    email: "jane.doe@corp.example",
    givenName: "Jane",
    familyName: "Doe",
  };
  const cases: [Parameters<typeof handleSource>[0], typeof p | { userName: string }, string][] = [
    ["userName", p, "u12345"],
    ["email", p, "jane_doe"],
    ["name", p, "jane_doe"],
    ["email", { userName: "u1@corp" }, "u1"],
    ["name", { userName: "u2@corp" }, "u2"],
  ];
  for (const [rule, person, expected] of cases) {
    test(`${rule}: ${JSON.stringify(person).slice(0, 50)} → ${expected}`, () =>
      assert.equal(baseHandle(handleSource(rule, person)), expected));
  }
});
