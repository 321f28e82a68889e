/**
 * Freshness across processes (issue 13): a change made through one Herald process, and how long
 * until other processes answer with it. Used by test/cluster/freshness.test.ts (liveness, exact
 * answers) and bench/cluster.ts (the figures).
 *
 * What each change makes current, read on each observing process:
 * - a hire: `/api/verification?handle=…` says "active". (Its actor document and WebFinger come
 *   only after a worker has made its keys, which is key generation time, not freshness.)
 * - a leave (SCIM `active: false`): the verification API says "former" AND the actor document
 *   says `suspended: true`.
 *
 * Before each change every observer is asked the question twice, so the old answer sits in its
 * caches (the verification answers' and the document cache) when the change is made.
 */
import assert from "node:assert/strict";

export interface Scim {
  post(path: string, body: unknown): Promise<Response>;
  patch(path: string, body: unknown): Promise<Response>;
}

export function scimClient(origin: string, token: string): Scim {
  const call = (method: string) => (path: string, body: unknown) =>
    fetch(`${origin}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: JSON.stringify(body),
    });
  return { post: call("POST"), patch: call("PATCH") };
}

/** The verification API's status for a handle, as one process answers it. */
export async function verificationStatus(base: string, handle: string): Promise<string> {
  const res = await fetch(`${base}/api/verification?handle=${encodeURIComponent(handle)}`);
  if (res.status !== 200) throw new Error(`verification on ${base}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { status: string }).status;
}

/** The actor document's `suspended`, as one process serves it (undefined: not served, 404). */
export async function actorSuspended(base: string, actorId: string): Promise<boolean | undefined> {
  const res = await fetch(`${base}/ap/actors/${actorId}`, {
    headers: { accept: "application/activity+json" },
  });
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (res.status !== 200) throw new Error(`actor document on ${base}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { suspended?: boolean }).suspended === true;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Asks `probe` every `intervalMs` until it says yes; returns the milliseconds from `since` to the
 * answer that said yes (measured when that answer arrived), or throws after `timeoutMs`.
 */
export async function msUntil(
  probe: () => Promise<boolean>,
  since: number,
  { intervalMs = 20, timeoutMs = 5000, what = "the change" } = {},
): Promise<number> {
  for (;;) {
    if (await probe()) return performance.now() - since;
    if (performance.now() - since > timeoutMs) throw new Error(`not seen within ${timeoutMs} ms: ${what}`);
    await sleep(intervalMs);
  }
}

export interface Trial {
  /** Per observer, ms from the acknowledged change to its first answer showing it. */
  readonly perObserver: readonly number[];
  /** When all of them showed it (the slowest). */
  readonly all: number;
}

export interface Person {
  readonly id: string;
  readonly userName: string;
  readonly handle: string;
}

/**
 * Hires `userName` through `scim` (on the process that makes the change) and measures when each
 * observer's verification API answers "active" for the handle it will get (`handle`, known
 * beforehand: the lowercased local part of the userName). The clock starts when the SCIM answer
 * (201) arrives: the change is committed from then on.
 */
export async function hireTrial(
  scim: Scim,
  observers: readonly string[],
  userName: string,
  handle: string,
  options: { intervalMs?: number; timeoutMs?: number } = {},
): Promise<Trial & { personId: string }> {
  for (let i = 0; i < 2; i++)
    for (const base of observers) assert.equal(await verificationStatus(base, handle), "unknown");
  const res = await scim.post("/Users", {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
    userName,
    displayName: `Fresh ${userName}`,
  });
  const since = performance.now();
  assert.equal(res.status, 201, await res.clone().text());
  const personId = ((await res.json()) as { id: string }).id;
  const perObserver = await Promise.all(
    observers.map((base) =>
      msUntil(async () => (await verificationStatus(base, handle)) === "active", since, {
        ...options,
        what: `${base} to verify ${handle} as active`,
      }),
    ),
  );
  return { perObserver, all: Math.max(...perObserver), personId };
}

/**
 * Deactivates a person through `scim` and measures when each observer answers "former" on the
 * verification API and serves the actor document with `suspended: true`. Each observer has served
 * (and cached) both answers twice before the change.
 */
export async function leaveTrial(
  scim: Scim,
  observers: readonly string[],
  personId: string,
  handle: string,
  actorId: string,
  options: { intervalMs?: number; timeoutMs?: number } = {},
): Promise<Trial> {
  for (let i = 0; i < 2; i++)
    for (const base of observers) {
      assert.equal(await verificationStatus(base, handle), "active");
      assert.equal(await actorSuspended(base, actorId), false);
    }
  const res = await scim.patch(`/Users/${personId}`, {
    schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    Operations: [{ op: "replace", path: "active", value: false }],
  });
  const since = performance.now();
  assert.equal(res.status, 200, await res.clone().text());
  await res.body?.cancel();
  const perObserver = await Promise.all(
    observers.map((base) =>
      msUntil(
        async () => {
          const [status, suspended] = await Promise.all([
            verificationStatus(base, handle),
            actorSuspended(base, actorId),
          ]);
          return status === "former" && suspended === true;
        },
        since,
        { ...options, what: `${base} to answer "former" and suspended for ${handle}` },
      ),
    ),
  );
  return { perObserver, all: Math.max(...perObserver) };
}

/** The q-quantile (nearest rank) of `xs`. */
export function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export function summary(xs: readonly number[]): { p50: number; p99: number; max: number } {
  return { p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs) };
}
