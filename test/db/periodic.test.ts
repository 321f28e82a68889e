/**
 * The lease-guarded timer the archive's maintenance, the scheduled-status publisher and the media
 * sweeper share (src/db/periodic.ts): rounds run only while the lease is held, one at a time; a
 * failed round is reported and the next still runs; stop() waits for the round in flight and no
 * round starts after it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createPeriodic } from "../../src/db/periodic.ts";
import { waitFor } from "../helpers/env.ts";

test("rounds run only while held, survive a failure, and stop() waits for the one in flight", async () => {
  let held = false;
  let asked = 0;
  let started = 0;
  let running = 0;
  let overlapped = false;
  const errors: unknown[] = [];
  let release: (() => void) | undefined;
  const periodic = createPeriodic({
    intervalMs: 5,
    held: () => {
      asked++;
      return held;
    },
    run: async () => {
      started++;
      running++;
      if (running > 1) overlapped = true;
      try {
        if (started === 1) throw new Error("round one fails");
        if (started === 3) await new Promise<void>((r) => (release = r));
      } finally {
        running--;
      }
    },
    onError: (error) => errors.push(error),
  });
  periodic.start();
  // Not held: three ticks ask and run nothing.
  await waitFor(() => (asked >= 3 ? true : undefined), { what: "three ticks" });
  assert.equal(started, 0);

  held = true;
  // Round one throws; rounds two and three still come. Round three waits for release.
  await waitFor(() => (release ? true : undefined), { what: "the third round" });
  assert.equal(started, 3);
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, "round one fails");

  let stopped = false;
  const stopping = periodic.stop().then(() => (stopped = true));
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(stopped, false, "stop() returned while a round was still running");
  release!();
  await stopping;
  assert.equal(running, 0);
  const after = { started, asked };
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual({ started, asked }, after, "a tick came after stop()");
  assert.equal(overlapped, false);
});
