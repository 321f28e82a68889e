import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ScimError } from "../../src/scim/errors.ts";
import { foldValuePathSubAttributes, quoteBareValues } from "../../src/scim/filter.ts";
import { TEST_DB } from "../helpers/env.ts";
import { cases, expand, type Seeded, seedUsers, withIds } from "./helpers.ts";

const table = expand(cases("filters.json")) as {
  order: string[];
  users: [string, string[], string?][];
  invalid: [string, string][];
  sort: [string, "ascending" | "descending", string[]][];
};

const short = (text: string) => (text.length > 80 ? `${text.slice(0, 77)}…` : text);

describe(`SCIM filters → SQL on ${TEST_DB} (cases/filters.json)`, () => {
  let s: Seeded;
  before(async () => {
    s = await seedUsers(table.order);
  });
  after(async () => {
    await s.t.close();
  });

  const names = (resources: { id?: unknown }[]) => resources.map((r) => s.byId.get(String(r.id)) ?? "?");

  for (const [filter, expected, why] of table.users) {
    test(`${short(filter)}${why ? ` — ${why}` : ""}`, async () => {
      const r = await s.scim.listUsers({ filter: withIds(filter, s.ids), startIndex: 1, count: 100 });
      assert.deepEqual(names(r.resources).sort(), [...expected].sort());
      assert.equal(r.total, expected.length);
    });
  }

  for (const [filter, why] of table.invalid) {
    test(`400 invalidFilter: ${short(filter)} (${why})`, async () => {
      await assert.rejects(s.scim.listUsers({ filter, startIndex: 1, count: 100 }), (err: unknown) => {
        assert.ok(err instanceof ScimError, String(err));
        assert.equal(err.status, 400);
        assert.equal(err.scimType, "invalidFilter");
        return true;
      });
    });
  }

  for (const [sortBy, sortOrder, expected] of table.sort) {
    test(`sortBy=${sortBy} sortOrder=${sortOrder}`, async () => {
      const r = await s.scim.listUsers({ sortBy, sortOrder, startIndex: 1, count: 100 });
      assert.deepEqual(names(r.resources), expected);
    });
  }

  test("an unsortable attribute is 400 invalidValue", async () => {
    await assert.rejects(s.scim.listUsers({ sortBy: "password", startIndex: 1, count: 10 }), {
      status: 400,
      scimType: "invalidValue",
    });
  });

  test("pagination: startIndex is 1-based; totalResults counts all matches", async () => {
    const page = await s.scim.listUsers({ sortBy: "userName", startIndex: 2, count: 2 });
    assert.equal(page.total, 5);
    assert.deepEqual(names(page.resources), ["bob", "carol"]);
    const past = await s.scim.listUsers({ startIndex: 9, count: 2 });
    assert.equal(past.total, 5);
    assert.deepEqual(past.resources, []);
    const none = await s.scim.listUsers({ startIndex: 1, count: 0 });
    assert.equal(none.total, 5);
    assert.deepEqual(none.resources, []);
  });
});

describe("filter repairs before parsing", () => {
  const cases: [string, string][] = [
    [
      "meta.created gt 2015-10-10T14:38:21.8617979-07:00",
      'meta.created gt "2015-10-10T14:38:21.8617979-07:00"',
    ],
    ["userType eq Employee and active eq true", 'userType eq "Employee" and active eq true'],
    ["emails.value co example.com", 'emails.value co "example.com"'],
    ['userName eq "already quoted"', 'userName eq "already quoted"'],
    ["count eq 42", "count eq 42"],
    ["x eq null", "x eq null"],
  ];
  for (const [input, expected] of cases) {
    test(`quote: ${input}`, () => assert.equal(quoteBareValues(input), expected));
  }
  const folds: [string, string][] = [
    ['emails[type eq "work"].value eq "x"', 'emails[(type eq "work") and value eq "x"]'],
    ['emails[type eq "work"].value pr', 'emails[(type eq "work") and value pr]'],
    ['emails[type eq "work"] and userName eq "a"', 'emails[type eq "work"] and userName eq "a"'],
    ['a eq "x]" or emails[type eq "w"].value co "y"', 'a eq "x]" or emails[(type eq "w") and value co "y"]'],
  ];
  for (const [input, expected] of folds) {
    test(`fold: ${input}`, () => assert.equal(foldValuePathSubAttributes(input), expected));
  }
});
