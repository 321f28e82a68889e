/**
 * Leases (src/db/leases.ts) on a real database, with the clock in the test's hands: one holder at
 * a time, renewal by the holder, takeover only after the term, fencing inside a transaction, and
 * release for a clean handover.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createLeases } from "../../src/db/leases.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

describe(`leases on ${TEST_DB}`, () => {
  let t: TestDb;
  let clock = 1_000_000;
  const now = () => clock;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  test("one holder at a time; the holder renews; another takes over only after the term", async () => {
    const leases = createLeases(t.db, now);
    clock = 1_000_000;
    assert.equal(await leases.acquire("x", "a", 5000), true, "a takes a lease never taken");
    assert.equal(await leases.acquire("x", "b", 5000), false, "b cannot while a holds it");
    clock += 3000;
    assert.equal(await leases.acquire("x", "a", 5000), true, "a renews (until +8000)");
    clock += 4000;
    assert.equal(await leases.acquire("x", "b", 5000), false, "renewed: still a's at +7000");
    clock += 1001;
    assert.equal(await leases.acquire("x", "b", 5000), true, "expired: b takes it over");
    assert.equal(await leases.acquire("x", "a", 5000), false, "a, back from a pause, cannot renew");
    assert.equal((await leases.info("x"))?.holder, "b");
  });

  test("fencing: only the current holder's transaction sees the lease as held", async () => {
    const leases = createLeases(t.db, now);
    clock = 2_000_000;
    assert.equal(await leases.acquire("y", "a", 5000), true);
    assert.equal(await t.db.transaction((em) => leases.holds(em, "y", "a")), true);
    assert.equal(await t.db.transaction((em) => leases.holds(em, "y", "b")), false);
    clock += 5001;
    assert.equal(await t.db.transaction((em) => leases.holds(em, "y", "a")), false, "expired: a no longer");
  });

  test("release hands the lease over at once", async () => {
    const leases = createLeases(t.db, now);
    clock = 3_000_000;
    assert.equal(await leases.acquire("z", "a", 5000), true);
    await leases.release("z", "b"); // not b's to release
    assert.equal(await leases.acquire("z", "b", 5000), false);
    await leases.release("z", "a");
    assert.equal(await leases.acquire("z", "b", 5000), true);
  });

  test("two processes racing for a new lease: exactly one wins", async () => {
    const leases = createLeases(t.db, now);
    clock = 4_000_000;
    const won = await Promise.all(Array.from({ length: 8 }, (_, i) => leases.acquire("race", `p${i}`, 5000)));
    assert.equal(won.filter(Boolean).length, 1);
  });
});
