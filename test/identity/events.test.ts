import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createEventDispatcher, type DirectoryEvent, type EventConsumer } from "../../src/identity/events.ts";
import { createDirectory } from "../../src/identity/directory.ts";
import { createScimService } from "../../src/scim/service.ts";
import { migratedDatabase, TEST_DB, type TestDb, waitFor } from "../helpers/env.ts";

const actor = { name: "scim-token:test" };

describe(`directory event delivery on ${TEST_DB}`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  test("consumers receive events in order, each through its own cursor, and resume after a restart", async () => {
    const scim = createScimService(createDirectory(t.db), { baseUrl: "https://h.test/scim/v2" });
    const u = await scim.createUser({ userName: "ev1@corp.example" }, actor);
    await scim.patchUser(String(u.id), [{ op: "replace", path: "active", value: false }], actor);

    const seen: string[] = [];
    const consumer: EventConsumer = {
      name: "test-a",
      kind: "cluster",
      async handle(e: DirectoryEvent) {
        seen.push(e.type);
      },
    };
    const d1 = createEventDispatcher(t.db, [consumer], { pollMs: 20 });
    d1.start();
    await waitFor(() => seen.length >= 3, { what: "three events" });
    await d1.stop();
    assert.deepEqual(seen, ["person.provisioned", "person.updated", "person.deactivated"]);

    // After a "restart", only new events arrive.
    await scim.deleteUser(String(u.id), actor);
    const d2 = createEventDispatcher(t.db, [consumer], { pollMs: 20 });
    d2.start();
    await waitFor(() => seen.length >= 4, { what: "the delete" });
    await d2.stop();
    assert.deepEqual(seen.slice(3), ["person.deleted"]);

    // A second consumer starts from the beginning.
    const other: string[] = [];
    const d3 = createEventDispatcher(
      t.db,
      [{ name: "test-b", kind: "cluster", handle: async (e) => void other.push(e.type) }],
      { pollMs: 20 },
    );
    await d3.drain();
    assert.deepEqual(other, seen);
  });

  test("a failing handler holds its cursor and retries: nothing is skipped", async () => {
    const scim = createScimService(createDirectory(t.db), { baseUrl: "https://h.test/scim/v2" });
    let failures = 2;
    const got: string[] = [];
    const d = createEventDispatcher(
      t.db,
      [
        {
          name: "flaky",
          kind: "cluster",
          async handle(e) {
            if (failures > 0) {
              failures--;
              throw new Error("temporary outage");
            }
            got.push(e.type);
          },
        },
      ],
      { pollMs: 20 },
    );
    await scim.createUser({ userName: "ev2@corp.example" }, actor);
    await d.drain(); // fails on the first event
    assert.deepEqual(got, []);
    await d.drain(); // fails again
    assert.deepEqual(got, []);
    await d.drain(); // recovers and catches up on everything, in order
    const all = await t.db.query<{ type: string }>("SELECT type FROM domain_event ORDER BY id");
    assert.deepEqual(
      got,
      all.map((r) => r.type),
    );
    assert.equal(got.at(-1), "person.provisioned");
  });
});
