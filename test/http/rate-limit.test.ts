/**
 * Rate limiting (src/http/rate-limit.ts): how a token bucket maps onto the shared store's fixed
 * windows and its answers onto Retry-After (tables), the per-process bucket, and on MySQL the
 * shared store itself: an exact count, refusals answered from memory, a failing table falling
 * back to a per-process count with one warning, expired rows swept.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  createRateLimits,
  decisionFrom,
  fixedWindow,
  RATE_LIMIT_TABLE,
  storeKey,
  tokenBucket,
} from "../../src/http/rate-limit.ts";
import { migratedDatabase, TEST_DB, type TestDb, waitFor } from "../helpers/env.ts";

describe("a token bucket as a fixed window", () => {
  // [rate/s, burst] → [points, window ms]: the burst at once, the same long-run rate.
  const cases: [string, number, number, number, number][] = [
    ["SCIM per token (defaults)", 1000, 2000, 2000, 2000],
    ["verification API per address (defaults)", 20, 40, 40, 2000],
    ["inbox per address (defaults)", 100, 500, 500, 5000],
    ["SAML per address (defaults)", 5, 30, 30, 6000],
    ["email lookups, 10 a minute", 10 / 60, 5, 5, 30_000],
    ["SCIM authentication failures", 5, 50, 50, 10_000],
    ["a burst smaller than a second's rate", 1000, 1, 1, 1],
    ["a window under a millisecond rounds up to one", 100_000, 1, 1, 1],
    ["a third of a second rounds to whole milliseconds", 3, 1, 1, 333],
  ];
  for (const [name, ratePerSecond, burst, points, durationMs] of cases) {
    test(name, () => {
      assert.deepEqual(fixedWindow({ ratePerSecond, burst }), { points, durationMs });
    });
  }
});

describe("the store's answer as a decision", () => {
  // [allowed, ms before the window ends] → Retry-After seconds (whole, at least 1 when refused).
  const cases: [boolean, number, number][] = [
    [true, 1500, 0],
    [false, 1, 1],
    [false, 999, 1],
    [false, 1000, 1],
    [false, 1001, 2],
    [false, 29_500, 30],
    [false, 0, 1],
    [false, -1, 1],
  ];
  for (const [allowed, ms, retryAfterSeconds] of cases) {
    test(`${allowed ? "allowed" : "refused"}, ${ms} ms left → Retry-After ${retryAfterSeconds}`, () => {
      assert.deepEqual(decisionFrom(allowed, ms), { allowed, retryAfterSeconds });
    });
  }

  test("keys longer than the column are hashed; others are kept", () => {
    assert.equal(storeKey("203.0.113.9"), "203.0.113.9");
    const long = storeKey("x".repeat(500));
    assert.match(long, /^sha256:[A-Za-z0-9_-]{43}$/);
    assert.equal(storeKey("x".repeat(500)), long);
    assert.notEqual(storeKey("y".repeat(500)), long);
  });
});

describe("the per-process token bucket", () => {
  test("burst at once, then refusals with Retry-After until the rate refills", () => {
    let t = 0;
    const bucket = tokenBucket({ ratePerSecond: 2, burst: 3 }, () => t);
    const taken = [1, 2, 3, 4].map(() => bucket.take("a").allowed);
    assert.deepEqual(taken, [true, true, true, false]);
    assert.deepEqual(bucket.take("a"), { allowed: false, retryAfterSeconds: 1 });
    assert.equal(bucket.take("b").allowed, true, "another key has its own bucket");
    t = 500;
    assert.equal(bucket.take("a").allowed, true, "one token after half a second at 2/s");
    assert.equal(bucket.take("a").allowed, false);
  });
});

describe(`the shared store (${TEST_DB})`, { skip: TEST_DB !== "mysql" && "MySQL/MariaDB only" }, () => {
  let t: TestDb;
  const records: LogRecord[] = [];
  before(async () => {
    t = await migratedDatabase();
    await configure({
      reset: true,
      sinks: { memory: (record) => records.push(record) },
      loggers: [
        { category: ["herald", "http", "rate-limit"], lowestLevel: "info", sinks: ["memory"] },
        { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["memory"] },
      ],
    });
  });
  after(async () => {
    await reset();
    await t?.close();
  });
  const rows = () =>
    t.db.query<{ key: string; points: number }>(
      `SELECT \`key\`, points FROM ${RATE_LIMIT_TABLE} ORDER BY \`key\``,
    );
  const warnings = () => records.filter((r) => r.level === "warning").length;

  test("counts in the table: exactly the burst, then 429s; refused keys are answered from memory", async () => {
    const limits = createRateLimits("database", t.db);
    const limiter = limits.limiter("count", { ratePerSecond: 1, burst: 3 });
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push(await limiter.take("203.0.113.1"));
    assert.deepEqual(
      decisions.map((d) => d.allowed),
      [true, true, true, false, false],
    );
    for (const d of decisions.slice(3)) assert.ok(d.retryAfterSeconds >= 1 && d.retryAfterSeconds <= 3);
    // The fourth take reached the table; the fifth was refused from memory and did not.
    assert.deepEqual(await rows(), [{ key: "count:203.0.113.1", points: 4 }]);
    // With the table gone, the refused key is still refused at once (the fallback count, which
    // never saw it, would allow it) and nothing is logged: no store was asked.
    await t.db.query(`RENAME TABLE ${RATE_LIMIT_TABLE} TO ${RATE_LIMIT_TABLE}_away`);
    try {
      assert.equal((await limiter.take("203.0.113.1")).allowed, false);
      assert.equal(warnings(), 0);
    } finally {
      await t.db.query(`RENAME TABLE ${RATE_LIMIT_TABLE}_away TO ${RATE_LIMIT_TABLE}`);
    }
  });

  test("a failing table falls back to a per-process count: never throws, warns once", async () => {
    const limits = createRateLimits("database", t.db);
    const limiter = limits.limiter("fallback", { ratePerSecond: 1, burst: 2 });
    const other = limits.limiter("fallback-other", { ratePerSecond: 1, burst: 2 });
    const before = warnings();
    await t.db.query(`RENAME TABLE ${RATE_LIMIT_TABLE} TO ${RATE_LIMIT_TABLE}_away`);
    try {
      const allowed = [];
      for (let i = 0; i < 4; i++) allowed.push((await limiter.take("198.51.100.7")).allowed);
      assert.deepEqual(allowed, [true, true, false, false]);
      assert.equal((await other.take("198.51.100.7")).allowed, true);
    } finally {
      await t.db.query(`RENAME TABLE ${RATE_LIMIT_TABLE}_away TO ${RATE_LIMIT_TABLE}`);
    }
    assert.equal(warnings() - before, 1, "one warning for the episode, whichever limiter met it");
    assert.match(String(records.at(-1)?.message.join("")), /counted per process/);
    // Back to the table: the key's count there starts afresh.
    assert.equal((await limiter.take("198.51.100.7")).allowed, true);
    assert.deepEqual(
      (await rows()).filter((r) => r.key.startsWith("fallback:")),
      [{ key: "fallback:198.51.100.7", points: 1 }],
    );
  });

  test("expired rows are swept, at most every five minutes per process; live ones stay", async () => {
    let now = Date.now();
    const limits = createRateLimits("database", t.db, () => now);
    const limiter = limits.limiter("sweep", { ratePerSecond: 1, burst: 60 });
    await t.db.query(`INSERT INTO ${RATE_LIMIT_TABLE} VALUES (?, ?, ?), (?, ?, ?)`, [
      "sweep:old-1",
      5,
      Date.now() - 1000,
      "sweep:old-2",
      1,
      Date.now() - 60_000,
    ]);
    await limiter.take("live");
    const keys = async () => (await rows()).map((r) => r.key).filter((k) => k.startsWith("sweep:"));
    assert.deepEqual(
      await keys(),
      ["sweep:live", "sweep:old-1", "sweep:old-2"],
      "not yet: no sweep at start",
    );
    now += 5 * 60_000 + 1;
    await limiter.take("live");
    await waitFor(async () => ((await keys()).length === 1 ? true : undefined), { what: "the sweep" });
    assert.deepEqual(await keys(), ["sweep:live"]);
  });
});
