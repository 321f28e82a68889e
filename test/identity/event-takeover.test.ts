/**
 * A cluster consumer moving between processes (issue 13: "killing the lease holder: another process
 * takes the cluster-once consumers over, and nothing is handled twice"). Two dispatchers on one
 * database, as two processes would run them, each with its own lease holder; the clock is the test's,
 * so the term runs out exactly when the test says.
 *
 * The hard case is a holder that stalls inside a handler (a long GC pause, a partition) until its
 * term has passed: the other process takes the lease and goes on from the saved cursor. When the
 * stalled one wakes, its handler finishes, but the cursor it then saves would move the successor's
 * cursor back, and the successor would hand the later changes out again. The fence (the lease read
 * in the cursor's transaction) refuses that save: the change that was in flight is the only one
 * handled twice (at least once, as documented), and nothing after it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLeases } from "../../src/db/leases.ts";
import {
  appendEvents,
  type Change,
  createEventDispatcher,
  type DomainEvent,
  type EventConsumer,
  DomainEventSchema,
  EventCursorSchema,
} from "../../src/identity/events.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

const LEASE = "events.takeover-test";
const TERM = 1000;

describe(`a cluster consumer taken over by another process (${TEST_DB})`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  test("a holder that stalls past its term: the successor goes on; the stalled save is refused; only the change in flight runs twice", async () => {
    let clock = 1_000_000;
    const now = () => clock;
    const leases = createLeases(t.db, now);

    /** One process: its lease holder, how long it believes it holds, and its dispatcher. */
    const handled: { process: string; firstId: number }[] = [];
    /** Where A stalls (the first id of a change; 0: nowhere), and the hooks around the stall. */
    const stall = { at: 0, release: () => {}, reached: () => {} };
    const member = (name: string) => {
      let heldUntil = 0;
      const consumer: EventConsumer = {
        name: "takeover-test",
        kind: "cluster",
        async handleChange(change: Change) {
          const firstId = change.events[0].id;
          handled.push({ process: name, firstId });
          if (name === "A" && firstId === stall.at) {
            await new Promise<void>((resolve) => {
              stall.release = resolve;
              stall.reached();
            });
          }
        },
      };
      const dispatcher = createEventDispatcher(t.db, [consumer], {
        now,
        lease: {
          held: () => clock < heldUntil,
          fence: (em) => leases.holds(em, LEASE, name),
        },
      });
      return {
        dispatcher,
        /** What a lease keeper's round does: take or renew, and believe it for the term. */
        async acquire(): Promise<boolean> {
          const ok = await leases.acquire(LEASE, name, TERM);
          heldUntil = ok ? clock + TERM : 0;
          return ok;
        },
      };
    };
    const a = member("A");
    const b = member("B");

    // Five changes, one transaction each.
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const event: DomainEvent = { type: "person.updated", personId: `takeover-${i}` };
      await t.db.transaction((em) => appendEvents(em, "test", [event]));
    }
    const rows = await t.db.run((em) =>
      em.getRepository(DomainEventSchema).find({ order: { id: "DESC" }, take: 5 }),
    );
    ids.push(...rows.map((r) => Number(r.id)).reverse());
    // Only these five: the cursor starts just before them.
    await t.db.run((em) =>
      em
        .getRepository(EventCursorSchema)
        .save({ consumer: "takeover-test", lastId: ids[0] - 1, updatedAt: new Date() }),
    );

    assert.equal(await a.acquire(), true, "A takes the lease");
    assert.equal(await b.acquire(), false, "B does not while A's term runs");

    // A handles the first two changes, then stalls inside the third.
    const atStall = new Promise<void>((r) => (stall.reached = r));
    stall.at = ids[2];
    const aRound = a.dispatcher.drain();
    await atStall;

    // A's term runs out while it stalls; B takes the lease and goes on from the saved cursor.
    clock += TERM + 1;
    assert.equal(await b.acquire(), true, "B takes the lease once A's term has passed");
    await b.dispatcher.drain();

    // A wakes: its handler finishes, its cursor save is refused (LeaseLost, logged), it stops.
    stall.release();
    await aRound;
    // B's next rounds: nothing left to hand out (without the fence, A's save would have moved the
    // cursor back to the third change, and B would hand out the fourth and fifth again).
    await b.dispatcher.drain();
    await b.dispatcher.drain();

    const by = (p: string) => handled.filter((h) => h.process === p).map((h) => h.firstId);
    assert.deepEqual(by("A"), [ids[0], ids[1], ids[2]]);
    assert.deepEqual(by("B"), [ids[2], ids[3], ids[4]]);
    const counts = ids.map((id) => handled.filter((h) => h.firstId === id).length);
    assert.deepEqual(counts, [1, 1, 2, 1, 1], "each change once; the one in flight at the takeover twice");
    const cursor = await t.db.run((em) =>
      em.getRepository(EventCursorSchema).findOneBy({ consumer: "takeover-test" }),
    );
    assert.equal(Number(cursor?.lastId), ids[4], "the cursor is B's: past the fifth change");
  });
});
