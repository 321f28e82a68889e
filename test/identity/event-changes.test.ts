/**
 * How the dispatcher hands events out (src/identity/events.ts): what one transaction appended is
 * one change, delivered whole even across a batch boundary; `cluster` consumers keep their cursor
 * in the database, `process` consumers in memory from the newest event on.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  appendEvents,
  type Change,
  createEventDispatcher,
  type DomainEvent,
  type EventConsumer,
  DomainEventSchema,
  EventCursorSchema,
} from "../../src/identity/events.ts";
import { migratedDatabase, TEST_DB, type TestDb, waitFor } from "../helpers/env.ts";

const updated = (personId: string): DomainEvent => ({ type: "person.updated", personId });

describe(`changes and consumer kinds on ${TEST_DB}`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  /** Appends each list in its own transaction, as `actor`. */
  async function commit(actor: string, events: DomainEvent[]): Promise<void> {
    await t.db.transaction((em) => appendEvents(em, actor, events));
  }

  function recorder(name: string, kind: EventConsumer["kind"]) {
    const changes: Change[] = [];
    const consumer: EventConsumer = {
      name,
      kind,
      async handleChange(change) {
        changes.push(change);
      },
    };
    return { consumer, changes, types: () => changes.map((c) => c.events.map((e) => e.event.type)) };
  }

  test("one transaction's events are one change; the next transaction is another", async () => {
    const r = recorder("changes-a", "cluster");
    await commit("scim-token:a", [updated("p1"), { type: "person.deactivated", personId: "p1" }]);
    await commit("scim-token:b", [{ type: "person.reactivated", personId: "p1" }]);
    await createEventDispatcher(t.db, [r.consumer]).drain();
    assert.deepEqual(r.types(), [["person.updated", "person.deactivated"], ["person.reactivated"]]);
    assert.deepEqual(
      r.changes.map((c) => c.actor),
      ["scim-token:a", "scim-token:b"],
    );
  });

  test("two transactions by the same caller in the same second are two changes", async (tc) => {
    const r = recorder("changes-same-second", "cluster");
    const d = createEventDispatcher(t.db, [r.consumer]);
    await d.drain(); // past what earlier tests appended
    r.changes.length = 0;
    // One SCIM token updates a person, then deactivates them, within one second (MySQL's
    // DATETIME keeps whole seconds, so time and caller alone cannot tell the two apart).
    tc.mock.timers.enable({ apis: ["Date"], now: Math.floor(Date.now() / 1000) * 1000 });
    try {
      await commit("scim-token:same", [updated("s1")]);
      await commit("scim-token:same", [{ type: "person.deactivated", personId: "s1" }]);
    } finally {
      tc.mock.timers.reset();
    }
    await d.drain();
    assert.deepEqual(r.types(), [["person.updated"], ["person.deactivated"]]);
  });

  test("a change that a full batch would cut is delivered whole, in the next batch", async () => {
    const r = recorder("changes-b", "cluster");
    const d = createEventDispatcher(t.db, [r.consumer]);
    await d.drain(); // past what earlier tests appended
    r.changes.length = 0;
    // 99 single-event changes, then a two-event change whose first event is the 100th row after
    // the cursor: the first batch (100 rows) ends inside it.
    for (let i = 0; i < 99; i++) await commit(`actor-${i}`, [updated(`q${i}`)]);
    await commit("actor-pair", [updated("pair"), { type: "person.deactivated", personId: "pair" }]);
    await d.drain();
    assert.equal(r.changes.length, 100);
    assert.deepEqual(r.types().at(-1), ["person.updated", "person.deactivated"]);
    assert.equal(r.changes.filter((c) => c.actor === "actor-pair").length, 1);
  });

  test("a process consumer starts at the newest event, keeps no cursor row, and sees what follows", async () => {
    await commit("before", [updated("old")]);
    const p = recorder("cache-test", "process");
    const d = createEventDispatcher(t.db, [p.consumer]);
    await d.drain();
    assert.equal(p.changes.length, 0);
    await commit("after", [updated("new")]);
    await d.drain();
    assert.deepEqual(
      p.changes.map((c) => c.actor),
      ["after"],
    );
    const row = await t.db.run((em) =>
      em.getRepository(EventCursorSchema).findOneBy({ consumer: "cache-test" }),
    );
    assert.equal(row, null);
  });

  test('start("process") runs only the process consumers', async () => {
    const cluster = recorder("only-cluster", "cluster");
    const proc = recorder("only-process", "process");
    const d = createEventDispatcher(t.db, [cluster.consumer, proc.consumer], { pollMs: 20 });
    await d.drain(); // the process consumer's cursor: now
    const clusterBefore = cluster.changes.length;
    d.start("process");
    await commit("started", [updated("s")]);
    d.notify();
    await waitFor(() => (proc.changes.length > 0 ? true : undefined), { what: "the process consumer" });
    await d.stop();
    assert.deepEqual(
      proc.changes.map((c) => c.actor),
      ["started"],
    );
    assert.equal(cluster.changes.length, clusterBefore);
  });

  async function newestId(): Promise<number> {
    const row = (await t.db.run((em) =>
      em.getRepository(DomainEventSchema).createQueryBuilder("e").select("MAX(e.id)", "max").getRawOne(),
    )) as { max: number | string };
    return Number(row.max);
  }

  /** An event row with a chosen id, as a transaction that took that id would commit it. */
  async function commitWithId(id: number, actor: string, personId: string): Promise<void> {
    await t.db.run((em) =>
      em.getRepository(DomainEventSchema).insert({
        id,
        type: "person.updated",
        subjectType: "person",
        subjectId: personId,
        payload: JSON.stringify(updated(personId)),
        actor,
        occurredAt: new Date(),
        changeId: `change-${id}`,
      }),
    );
  }

  test("a hole in the ids (a transaction still open) holds the later events until it fills", async () => {
    let clock = 0;
    const r = recorder("holes-fill", "cluster");
    const d = createEventDispatcher(t.db, [r.consumer], { gapWaitMs: 5000, now: () => clock });
    await d.drain(); // past what earlier tests appended
    r.changes.length = 0;
    const top = await newestId();
    // id top+1 is taken by a transaction that has not committed; top+2 committed first.
    await commitWithId(top + 2, "later", "h2");
    await d.drain();
    assert.deepEqual(r.changes.length, 0, "nothing past the hole yet");
    clock += 4000;
    await d.drain();
    assert.deepEqual(r.changes.length, 0, "still within the wait");
    await commitWithId(top + 1, "earlier", "h1");
    await d.drain();
    assert.deepEqual(
      r.changes.map((c) => c.actor),
      ["earlier", "later"],
    );
  });

  test("a hole that never fills (a rollback) is passed after the wait", async () => {
    let clock = 0;
    const r = recorder("holes-skip", "cluster");
    const d = createEventDispatcher(t.db, [r.consumer], { gapWaitMs: 5000, now: () => clock });
    await d.drain();
    r.changes.length = 0;
    const top = await newestId();
    await commitWithId(top + 2, "after-rollback", "r2");
    await d.drain();
    assert.equal(r.changes.length, 0);
    clock += 5001;
    await d.drain();
    assert.deepEqual(
      r.changes.map((c) => c.actor),
      ["after-rollback"],
    );
  });
});
