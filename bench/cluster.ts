/**
 * bench/cluster — Herald as several processes on one MariaDB database (issue 13), measured in one
 * run on this machine.
 *
 * 1. Freshness across processes. A (`herald all`: it takes the SCIM changes and runs the worker's
 *    side), B and C (`herald web`), all child processes. For each trial a hire through A's SCIM,
 *    then (once its keys exist) its deactivation; before each change every process has served,
 *    and cached, the old answer twice. A, B and C are then polled every 20 ms until they answer
 *    with the change: a hire is "active" on the verification API; a leave is "former" there AND
 *    `suspended: true` in the actor document. The clock starts when A's SCIM answer arrives. The
 *    baseline is A itself (the process that made the change: its caches drop at commit); "B and
 *    C" is the slower of the two per trial. Target (the issue): ≤ 1000 ms worst of 20.
 * 2. Consumer failover. Two `herald worker` processes; the one holding the cluster lease is
 *    SIGKILLed, and the clock runs until the other holds it (the lease row names it), beside
 *    HERALD_LEASE_MS. A renewal comes every third of the term and a contender tries as often, so
 *    a takeover lands between about 2/3 and 4/3 of the term after the kill. The kill comes at a
 *    random moment of a renewal period; the killed worker is started again for the next trial.
 * 3. Errors during a rolling restart. nginx (Debian's) in front of three `herald all` processes,
 *    8 clients creating SCIM Users through it while each process in turn gets SIGTERM and is
 *    started again (test/helpers/rolling-restart.ts, which test/cluster/rolling-restart.test.ts
 *    runs with Okta's suite and zero failures required). Baseline: a fixed upstream, nginx
 *    learning of a restart from refused connections only; then with deploy/nginx-readyz.sh taking
 *    a draining process out of rotation. Counted: creates that did not answer 201, answers 5xx,
 *    acknowledged creates missing afterwards. `--rounds` restarts of all three per variant.
 *
 *   node bench/cluster.ts [--trials=20] [--failovers=5] [--lease-ms=5000] [--rounds=2] [--only=1,2,3] [--quick]
 *
 * --quick: 5 trials, 2 failovers, 1 round. MariaDB at MYSQL_URL (default mysql://root@127.0.0.1:3306/test);
 * each part makes and drops its own database.
 */
process.env.HERALD_TEST_DB = "mysql";
const { freePort, freshDatabaseUrl, testConfig, testEnv, waitFor } = await import("../test/helpers/env.ts");
const { runCli, startServerProcess } = await import("../test/helpers/process.ts");
const { hireTrial, leaveTrial, scimClient, summary } = await import("../test/helpers/freshness.ts");
const { createDatabase } = await import("../src/db/database.ts");
const { createLeases } = await import("../src/db/leases.ts");
const { CLUSTER_LEASE } = await import("../src/server.ts");
const { entities } = await import("../src/services.ts");
const { rollingRestart } = await import("../test/helpers/rolling-restart.ts");
type ServerProcess = Awaited<ReturnType<typeof startServerProcess>>;

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const option = (name: string, fallback: number) => {
  const v = argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  return v === undefined ? fallback : Number(v);
};
const TRIALS = option("trials", QUICK ? 5 : 20);
const FAILOVERS = option("failovers", QUICK ? 2 : 5);
const LEASE_MS = option("lease-ms", 5000);
const ROUNDS = option("rounds", QUICK ? 1 : 2);
/** `--only=3`: only that part (1, 2 or 3; comma-separated for several). */
const ONLY = argv
  .find((a) => a.startsWith("--only="))
  ?.split("=")[1]
  ?.split(",");
const part = (n: number) => !ONLY || ONLY.includes(String(n));

const ms = (x: number) => `${Math.round(x)} ms`.padStart(8);
const out = (line = "") => process.stdout.write(`${line}\n`);

async function stopAll(children: readonly ServerProcess[]): Promise<void> {
  for (const c of children)
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGTERM");
  await Promise.all(children.map((c) => c.exited));
}

// ---------------------------------------------------------------------------------------------
// 1. Freshness
// ---------------------------------------------------------------------------------------------

async function freshness(): Promise<void> {
  const fresh = await freshDatabaseUrl();
  const portA = await freePort();
  const origin = `http://127.0.0.1:${portA}`;
  const env = {
    DATABASE_URL: fresh.url,
    HERALD_DATA_DIR: fresh.dir,
    HERALD_ORIGIN: origin,
    // Polled every 20 ms from one address: above the per-client verification budget.
    HERALD_VERIFY_RATE_PER_SECOND: "100000",
    HERALD_QUEUE_POLL_MS: "100",
  };
  const procs: ServerProcess[] = [];
  try {
    procs.push(await startServerProcess(env, portA, fresh.dir, { role: "all", ready: true }));
    for (let i = 0; i < 2; i++)
      procs.push(await startServerProcess(env, await freePort(), fresh.dir, { role: "web", ready: true }));
    const [a, b, c] = procs;
    const token = await runCli(["token", "create", "bench"], testEnv(env));
    if (token.code !== 0) throw new Error(`herald token create: ${token.stderr}`);
    const scim = scimClient(origin, token.stdout.trim().split("\n").at(-1)!.trim());
    const domain = new URL(origin).host;
    const observers = [a.url, b.url, c.url];

    const hires = { self: [] as number[], others: [] as number[] };
    const leaves = { self: [] as number[], others: [] as number[] };
    const started = performance.now();
    for (let i = 0; i < TRIALS; i++) {
      const user = `bench${i}`;
      const handle = `@${user}@${domain}`;
      const hire = await hireTrial(scim, observers, `${user}@corp.example`, handle, { timeoutMs: 30_000 });
      hires.self.push(hire.perObserver[0]);
      hires.others.push(Math.max(hire.perObserver[1], hire.perObserver[2]));
      // The actor is served once a worker (A) has made its keys: WebFinger names it then.
      const actorUrl = await waitFor(
        async () => {
          const r = await fetch(`${a.url}/.well-known/webfinger?resource=acct:${user}@${domain}`);
          if (r.status !== 200) return void (await r.body?.cancel());
          const links = ((await r.json()) as { links: { rel: string; href: string }[] }).links;
          return links.find((l) => l.rel === "self")?.href;
        },
        { what: `keys for ${handle}`, timeoutMs: 60_000, intervalMs: 20 },
      );
      const actorId = new URL(actorUrl).pathname.split("/").at(-1)!;
      const leave = await leaveTrial(scim, observers, hire.personId, handle, actorId, { timeoutMs: 30_000 });
      leaves.self.push(leave.perObserver[0]);
      leaves.others.push(Math.max(leave.perObserver[1], leave.perObserver[2]));
      process.stderr.write(".");
    }
    process.stderr.write("\n");

    out(
      `1. freshness across processes: ${TRIALS} hires and ${TRIALS} leaves through A (herald all), ` +
        `observed on A itself and on B and C (herald web); ms from A's SCIM answer (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
    out(
      `   ${"".padEnd(48)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"max".padStart(8)}   ratio p50 / max to A`,
    );
    for (const [label, r] of [
      ["hire → verification active", hires],
      ["leave → former + actor suspended", leaves],
    ] as const) {
      const self = summary(r.self);
      const others = summary(r.others);
      out(`   ${`${label}, A (baseline)`.padEnd(48)} ${ms(self.p50)} ${ms(self.p99)} ${ms(self.max)}`);
      out(
        `   ${`${label}, B and C`.padEnd(48)} ${ms(others.p50)} ${ms(others.p99)} ${ms(others.max)}   ` +
          `${(others.p50 / Math.max(1, self.p50)).toFixed(1)}× / ${(others.max / Math.max(1, self.max)).toFixed(1)}×` +
          `   target max ≤ 1000 ms: ${others.max <= 1000 ? "met" : "MISSED"}`,
      );
    }
  } finally {
    await stopAll(procs);
    await fresh.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Consumer failover
// ---------------------------------------------------------------------------------------------

async function failover(): Promise<void> {
  const fresh = await freshDatabaseUrl();
  const env = {
    DATABASE_URL: fresh.url,
    HERALD_DATA_DIR: fresh.dir,
    HERALD_ORIGIN: "http://127.0.0.1:3999",
    HERALD_LEASE_MS: String(LEASE_MS),
  };
  const db = await createDatabase(testConfig(fresh.url, fresh.dir).database, { entities });
  const leases = createLeases(db);
  let workers: ServerProcess[] = [];
  const holderPid = async () => {
    const info = await leases.info(CLUSTER_LEASE);
    return info && info.expiresAt > Date.now() ? Number(info.holder.split(":").at(-2)) : undefined;
  };
  const times: number[] = [];
  try {
    for (let i = 0; i < 2; i++)
      workers.push(
        await startServerProcess(env, await freePort(), fresh.dir, { role: "worker", ready: true }),
      );
    for (let i = 0; i < FAILOVERS; i++) {
      const pid = await waitFor(holderPid, { what: "a lease holder", timeoutMs: 3 * LEASE_MS + 5000 });
      const holder = workers.find((w) => w.child.pid === pid);
      if (!holder) throw new Error(`the lease holder ${pid} is none of the workers`);
      const other = workers.find((w) => w !== holder)!;
      // At a random moment of the holder's renewal period, not in step with the previous trial.
      await new Promise((r) => setTimeout(r, Math.random() * (LEASE_MS / 3)));
      holder.child.kill("SIGKILL");
      const killedAt = performance.now();
      await waitFor(async () => ((await holderPid()) === other.child.pid ? true : undefined), {
        what: "the other worker to take the lease",
        timeoutMs: 3 * LEASE_MS + 5000,
        intervalMs: 10,
      });
      times.push(performance.now() - killedAt);
      await holder.exited;
      workers = [
        other,
        await startServerProcess(env, await freePort(), fresh.dir, { role: "worker", ready: true }),
      ];
      process.stderr.write(".");
    }
    process.stderr.write("\n");
    const s = summary(times);
    out(
      `2. consumer failover: SIGKILL of the lease holder (herald worker) → the other worker holds it; ${FAILOVERS} trials`,
    );
    out(`   HERALD_LEASE_MS ${LEASE_MS}: ${times.map((x) => Math.round(x)).join(", ")} ms`);
    out(
      `   p50 ${Math.round(s.p50)} ms, max ${Math.round(s.max)} ms = ${(s.p50 / LEASE_MS).toFixed(2)}× / ${(s.max / LEASE_MS).toFixed(2)}× the term ` +
        `(expected between about 0.67× and 1.33×)`,
    );
  } finally {
    await stopAll(workers);
    await db.close();
    await fresh.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Errors during a rolling restart
// ---------------------------------------------------------------------------------------------

async function rolling(): Promise<void> {
  out(
    `3. errors during a rolling restart: nginx, 3 processes, 8 clients creating Users, ${ROUNDS} round(s) per variant`,
  );
  for (const readyz of [false, true]) {
    let creates = 0;
    let failed = 0;
    let fiveXX = 0;
    let absent = 0;
    let perSecond = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const run = await rollingRestart({ readyz, okta: false });
      try {
        creates += run.answers.length;
        failed += run.answers.filter((a) => a.status !== 201).length;
        fiveXX += run.nginx.fiveXX;
        absent += (await run.present()).absent;
        perSecond += run.answers.length / run.seconds / ROUNDS;
      } finally {
        await run.stop(false);
      }
      process.stderr.write(".");
    }
    process.stderr.write("\n");
    out(
      `   ${readyz ? "with nginx-readyz.sh     " : "fixed upstream (baseline)"}: ${creates} creates (${Math.round(perSecond)}/s), ` +
        `${failed} failed (${((failed / Math.max(1, creates)) * 1000).toFixed(2)} per 1,000), ${fiveXX} answered 5xx by nginx, ${absent} acknowledged but missing`,
    );
  }
}

out(
  `cluster: MariaDB, ${TRIALS} freshness trials, ${FAILOVERS} failovers, ${ROUNDS} rolling-restart round(s)${QUICK ? " (quick)" : ""}`,
);
if (part(1)) await freshness();
if (part(2)) await failover();
if (part(3)) await rolling();
