/**
 * bench/federation — read throughput of Herald's public ActivityPub surfaces, and one post's
 * fan-out to many followers, measured in one run on this machine.
 *
 * 1. Reads, 64 concurrent keep-alive connections: a bare Koa 3 app answering a small JSON document
 *    on one route (the baseline), then Herald's WebFinger answer and actor document. Requests/s,
 *    p50 and p99 latency, and Herald's ratio to the baseline (target ≥ 0.6×, p99 < 20 ms).
 * 2. Fan-out: FOLLOWERS follower rows inserted straight into Herald's database, 20 per shared
 *    inbox, all on a loopback receiver (a child process) that verifies every HTTP signature with
 *    Fedify and counts deliveries per inbox. `herald post` is run; the clock starts when the CLI
 *    exits and stops when every shared inbox has the Create (target < 60 s, one delivery per
 *    shared inbox).
 *
 * Herald runs as a child process (`src/main.ts`, SQLite in a temporary directory, test secrets).
 * The load generator is autocannon when it is installed outside the repo (it is tried from
 * $HERALD_BENCH_TOOLS or <tmpdir>/herald-bench-tools, and installed there with npm if absent),
 * else a built-in one on node:http with a keep-alive Agent; the output says which.
 *
 *   node bench/federation.ts [--quick] [--workers=4,16] [--posts=2] [--client=autocannon|node] [--keep]
 *
 * --quick: 3 s per read run, 1,000 followers on 50 shared inboxes, workers 4 only.
 * --workers: HERALD_QUEUE_WORKERS for each fan-out run (default 4,16; the reads use the first).
 * --posts: posts per worker setting (default 2, quick 1), each timed on its own.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { createServer as createNetServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SELF = fileURLToPath(import.meta.url);
const SECRETS = path.join(ROOT, "test/fixtures/secrets");
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];

/** A small JSON document, about the size of Herald's WebFinger answer. */
const BASELINE_DOC = {
  subject: "acct:recruiting@example.com",
  aliases: ["https://example.com/ap/actors/00000000-0000-4000-8000-000000000000"],
  links: [
    {
      rel: "self",
      type: "application/activity+json",
      href: "https://example.com/ap/actors/00000000-0000-4000-8000-000000000000",
    },
    {
      rel: "http://webfinger.net/rel/profile-page",
      type: "text/html",
      href: "https://example.com/@recruiting",
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// Child roles: the baseline Koa app and the signature-verifying receiver (this same file).
// ---------------------------------------------------------------------------------------------

async function koaMain(): Promise<void> {
  const { default: Koa } = await import("koa");
  const app = new Koa();
  const body = JSON.stringify(BASELINE_DOC);
  app.use(async (ctx, next) => {
    if (ctx.method !== "GET" || ctx.path !== "/doc") return next();
    ctx.type = "application/json";
    ctx.body = body;
  });
  const server = app.listen(0, "127.0.0.1", () => {
    process.send!({ port: (server.address() as { port: number }).port });
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
  process.on("disconnect", () => process.exit(0));
}

/** What the receiver reports for each POST it gets. */
interface Delivery {
  readonly t: number;
  readonly path: string;
  readonly activityId: string | null;
  readonly type: string | null;
  readonly verified: boolean;
  readonly reason?: string;
}

async function receiverMain(): Promise<void> {
  const { verifyRequestDetailed } = await import("@fedify/fedify");
  const { getDocumentLoader } = await import("@fedify/vocab-runtime");
  const loader = getDocumentLoader({ allowPrivateAddress: true });
  // Keys are cached as a real server does (Mastodon keeps them); failures are not cached.
  const keys = new Map<string, unknown>();
  const keyCache = {
    async get(id: URL) {
      return keys.get(id.href) as never;
    },
    async set(id: URL, key: unknown) {
      if (key) keys.set(id.href, key);
    },
  };
  let port = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      if (req.method !== "POST") {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const headers = new Headers();
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
      let verified = false;
      let reason: string | undefined;
      try {
        const request = new Request(`http://127.0.0.1:${port}${req.url}`, { method: "POST", headers, body });
        const r = await verifyRequestDetailed(request, {
          documentLoader: loader,
          contextLoader: loader,
          keyCache,
        });
        verified = r.verified;
        if (!r.verified) reason = r.reason.type;
      } catch (error) {
        reason = `exception: ${String(error)}`;
      }
      let activityId: string | null = null;
      let type: string | null = null;
      try {
        const a = JSON.parse(body.toString("utf8")) as { id?: string; type?: string };
        activityId = a.id ?? null;
        type = a.type ?? null;
      } catch {
        reason ??= "body is not JSON";
      }
      const d: Delivery = { t: Date.now(), path: req.url ?? "", activityId, type, verified, reason };
      process.send!(d);
      res.writeHead(verified ? 202 : 401).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, "127.0.0.1", () => {
    port = (server.address() as { port: number }).port;
    process.send!({ port });
  });
  process.on("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
  process.on("disconnect", () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// The measuring process.
// ---------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ=100)
  } catch {
    return Number.NaN;
  }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(t);
}

/** Spawns this file in a child role and waits for the port it reports over IPC. */
async function startRole(role: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [SELF, `--role=${role}`], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NODE_ENV: "production" },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${role} did not start in 30 s`)), 30_000);
    child.once("exit", (code) => reject(new Error(`${role} exited with ${code}`)));
    child.on("message", (m: { port?: number }) => {
      if (m.port) {
        clearTimeout(t);
        resolve(m.port);
      }
    });
  });
  return { child, port };
}

interface Herald {
  readonly child: ChildProcess;
  readonly url: string;
  readonly env: Record<string, string>;
  readonly log: string[];
}

function heraldEnv(dir: string, port: number, workers: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    NODE_ENV: "test",
    HERALD_LOG_LEVEL: "warning",
    HERALD_LOG_FORMAT: "json",
    HERALD_SESSION_SECRET_FILE: path.join(SECRETS, "session.txt"),
    HERALD_ORG_SIGNING_KEY_FILE: path.join(SECRETS, "org-ed25519.pem"),
    HERALD_SAML_SP_KEY_FILE: path.join(SECRETS, "saml-sp.key"),
    HERALD_SAML_SP_CERT_FILE: path.join(SECRETS, "saml-sp.crt"),
    DATABASE_URL: `sqlite:${path.join(dir, "h.sqlite")}`,
    HERALD_DATA_DIR: dir,
    HERALD_ORIGIN: `http://127.0.0.1:${port}`,
    HERALD_INBOX_RATE_PER_SECOND: "1000000",
    HERALD_INBOX_BURST: "1000000",
    HERALD_VERIFY_RATE_PER_SECOND: "1000000",
    HERALD_VERIFY_BURST: "1000000",
    HERALD_QUEUE_WORKERS: String(workers),
    PORT: String(port),
  };
}

async function startHerald(env: Record<string, string>): Promise<Herald> {
  const log: string[] = [];
  const child = spawn(process.execPath, [path.join(ROOT, "src/main.ts")], {
    cwd: env.HERALD_DATA_DIR,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let partial = "";
  child.stderr!.on("data", (d: Buffer) => {
    const lines = (partial + d.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    for (const l of lines) if (log.length < 10_000) log.push(l);
  });
  const url = env.HERALD_ORIGIN;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`Herald exited with ${child.exitCode}:\n${log.join("\n")}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`Herald did not become healthy in 60 s:\n${log.join("\n")}`);
    }
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(20);
  }
  return { child, url, env, log };
}

function runCli(args: string[], env: Record<string, string>) {
  return new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
    started: number;
    exited: number;
  }>((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [path.join(ROOT, "bin/herald.js"), ...args], {
      cwd: env.HERALD_DATA_DIR,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const exited = Date.now();
      child.on("close", () => resolve({ code, stdout, stderr, started, exited }));
    });
  });
}

// --- load generation ------------------------------------------------------------------------

interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  readonly bad: number;
  readonly errors: number;
  /** Requests not answered within 10 s (autocannon's timeout). */
  readonly timeouts: number;
  readonly serverCpu: number;
}

type LoadFn = (
  url: string,
  headers: Record<string, string>,
  seconds: number,
  connections: number,
) => Promise<Omit<LoadResult, "serverCpu">>;

async function builtinLoad(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  connections: number,
): Promise<Omit<LoadResult, "serverCpu">> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const u = new URL(url);
  const latencies: number[] = [];
  let ok = 0;
  let bad = 0;
  let errors = 0;
  const one = () =>
    new Promise<number>((resolve) => {
      const req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname + u.search, agent, headers },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", () => resolve(0));
      req.end();
    });
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const status = await one();
      const dt = performance.now() - t0;
      if (status >= 200 && status < 300) {
        ok++;
        latencies.push(dt);
      } else if (status === 0) errors++;
      else bad++;
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  return { rps: ok / elapsed, p50: pct(0.5), p99: pct(0.99), ok, bad, errors, timeouts: 0 };
}

/** autocannon from outside the repo, installed into a temporary tools directory when missing. */
function loadAutocannon(): LoadFn | undefined {
  const dir = process.env.HERALD_BENCH_TOOLS ?? path.join(tmpdir(), "herald-bench-tools");
  const pkg = path.join(dir, "node_modules/autocannon/package.json");
  if (!existsSync(pkg)) {
    mkdirSync(dir, { recursive: true });
    const r = spawnSync(
      "npm",
      ["install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error", "autocannon@9"],
      { stdio: "ignore", timeout: 180_000 },
    );
    if (r.status !== 0 || !existsSync(pkg)) return undefined;
  }
  const autocannon = createRequire(pkg)("autocannon") as (opts: object) => Promise<{
    "2xx": number;
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
    latency: { p50: number; p99: number };
  }>;
  return async (url, headers, seconds, connections) => {
    const r = await autocannon({ url, headers, connections, duration: seconds });
    return {
      rps: r["2xx"] / r.duration,
      p50: r.latency.p50,
      p99: r.latency.p99,
      ok: r["2xx"],
      bad: r.non2xx,
      errors: r.errors - r.timeouts,
      timeouts: r.timeouts,
    };
  };
}

// --- fan-out --------------------------------------------------------------------------------

interface FanoutResult {
  readonly workers: number;
  readonly nth: number;
  readonly cliMs: number;
  readonly firstMs: number;
  readonly allMs: number | null;
  readonly drainedMs: number | null;
  readonly sharedGot: number;
  readonly duplicates: number;
  readonly personalInboxes: number;
  readonly deliveries: number;
  readonly failures: Map<string, number>;
  readonly heraldCpu: number;
  readonly receiverCpu: number;
}

async function main(): Promise<void> {
  // autocannon's timer library warns about negative delays when the event loop lags: noise here.
  process.removeAllListeners("warning");
  process.on("warning", (w) => {
    if (w.name !== "TimeoutNegativeWarning") process.stderr.write(`${w.name}: ${w.message}\n`);
  });
  const git = (...a: string[]) => spawnSync("git", a, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  const commit = `${git("rev-parse", "--short", "HEAD") || "?"}${git("status", "--porcelain", "--", "src") ? " + uncommitted changes in src/" : ""}`;
  const QUICK = flag("quick");
  const SECONDS = QUICK ? 3 : 10;
  const WARMUP = QUICK ? 1 : 2;
  const CONNECTIONS = 64;
  const FOLLOWERS = QUICK ? 1_000 : 10_000;
  const PER_INBOX = 20;
  const GROUPS = FOLLOWERS / PER_INBOX;
  const WORKERS = (option("workers") ?? (QUICK ? "4" : "4,16")).split(",").map(Number);
  const REPS = Number(option("posts") ?? (QUICK ? 1 : 2));
  const FANOUT_TIMEOUT_MS = QUICK ? 120_000 : 300_000;

  let load: LoadFn = builtinLoad;
  let client = `built-in node:http client (keep-alive Agent, maxSockets ${CONNECTIONS})`;
  if (option("client") !== "node") {
    const ac = loadAutocannon();
    if (ac) {
      load = ac;
      client = "autocannon 9 (in the measuring process)";
    }
  }

  const { parseConfig } = await import("../src/config.ts");
  const { createDatabase } = await import("../src/db/database.ts");
  const { FollowerSchema, iriHash } = await import("../src/federation/entities.ts");
  const { entities } = await import("../src/services.ts");

  const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-fed-"));
  const children: (ChildProcess | undefined)[] = [];
  let herald: Herald | undefined;
  const logs: string[] = [];
  const out = (s = "") => process.stdout.write(`${s}\n`);

  /** Warm-up, then a measured run with the server's CPU use over it. */
  async function measure(url: string, headers: Record<string, string>, pid: number | undefined) {
    await load(url, headers, WARMUP, CONNECTIONS);
    const cpu0 = cpuSeconds(pid);
    const r = await load(url, headers, SECONDS, CONNECTIONS);
    return { ...r, serverCpu: (cpuSeconds(pid) - cpu0) / SECONDS };
  }

  try {
    // 1. Reads ---------------------------------------------------------------------------------
    const koa = await startRole("koa");
    children.push(koa.child);
    const baseline = await measure(`http://127.0.0.1:${koa.port}/doc`, {}, koa.child.pid);
    await stop(koa.child);

    const port = await freePort();
    herald = await startHerald(heraldEnv(dir, port, WORKERS[0]));
    children.push(herald.child);
    const created = await runCli(
      ["shared-account", "create", "recruiting", "--name", "Recruiting"],
      herald.env,
    );
    if (created.code !== 0) throw new Error(`shared-account create failed: ${created.stderr}`);
    const host = new URL(herald.url).host;
    const wfUrl = `${herald.url}/.well-known/webfinger?resource=acct:recruiting@${host}`;
    let actorUrl = "";
    for (let i = 0; i < 300 && !actorUrl; i++) {
      const res = await fetch(wfUrl);
      if (res.status === 200) {
        const jrd = (await res.json()) as { links?: { rel: string; href?: string }[] };
        actorUrl = jrd.links?.find((l) => l.rel === "self")?.href ?? "";
      } else await sleep(100);
    }
    if (!actorUrl) throw new Error("WebFinger never answered for @recruiting");
    const actorId = new URL(actorUrl).pathname.split("/").at(-1)!;
    const ap = { Accept: "application/activity+json" };
    const check = await fetch(actorUrl, { headers: ap });
    if (check.status !== 200) throw new Error(`actor document answered ${check.status}`);

    const webfinger = await measure(wfUrl, {}, herald.child.pid);
    const actor = await measure(actorUrl, ap, herald.child.pid);
    const verifyUrl = `${herald.url}/api/verification?handle=${encodeURIComponent(`@recruiting@${host}`)}`;
    const vcheck = await fetch(verifyUrl);
    if (vcheck.status !== 200 || ((await vcheck.json()) as { status?: string }).status !== "active") {
      throw new Error("the verification API did not answer active for @recruiting");
    }
    const verification = await measure(verifyUrl, {}, herald.child.pid);

    // 2. Fan-out -------------------------------------------------------------------------------
    const receiver = await startRole("receiver");
    children.push(receiver.child);
    const rport = receiver.port;
    const deliveries: Delivery[] = [];
    receiver.child.on("message", (m: Delivery | { port: number }) => {
      if ("path" in m) deliveries.push(m);
    });

    const config = parseConfig(herald.env);
    const db = await createDatabase(config.database, { entities });
    try {
      const now = new Date();
      for (let start = 0; start < FOLLOWERS; start += 500) {
        const rows = Array.from({ length: Math.min(500, FOLLOWERS - start) }, (_, i) => {
          const n = start + i;
          const iri = `http://127.0.0.1:${rport}/users/${n}`;
          return {
            actorId,
            followerHash: iriHash(iri),
            followerIri: iri,
            inboxIri: `http://127.0.0.1:${rport}/inbox/${n}`,
            sharedInboxIri: `http://127.0.0.1:${rport}/shared/${Math.floor(n / PER_INBOX)}`,
            followIri: null,
            status: "accepted" as const,
            createdAt: now,
          };
        });
        await db.transaction((em) => em.getRepository(FollowerSchema).insert(rows));
      }
      const [{ n: stored }] = await db.query<{ n: number }>(
        "SELECT COUNT(*) AS n FROM follower WHERE actor_id = ?",
        [actorId],
      );
      if (Number(stored) !== FOLLOWERS)
        throw new Error(`inserted ${stored} followers, expected ${FOLLOWERS}`);

      const fanouts: FanoutResult[] = [];
      let running = WORKERS[0];
      for (const [i, workers] of WORKERS.flatMap((w) => Array<number>(REPS).fill(w)).entries()) {
        if (workers !== running) {
          running = workers;
          await stop(herald.child);
          logs.push(...herald.log);
          herald = await startHerald(heraldEnv(dir, port, workers));
          children.push(herald.child);
        }
        const before = deliveries.length;
        const cpuH0 = cpuSeconds(herald.child.pid);
        const cpuR0 = cpuSeconds(receiver.child.pid);
        const posted = await runCli(
          [
            "post",
            "recruiting",
            `Fan-out benchmark with ${workers} queue workers: hello, ${FOLLOWERS} followers.`,
          ],
          herald.env,
        );
        if (posted.code !== 0) throw new Error(`herald post failed: ${posted.stderr}`);
        const createId = `${posted.stdout.trim().split("\n").at(-1)}#create`;
        const mine = () => deliveries.slice(before).filter((d) => d.activityId === createId);
        const sharedFirst = new Map<string, number>();
        let seen = 0;
        const deadline = Date.now() + FANOUT_TIMEOUT_MS;
        while (Date.now() < deadline) {
          for (; seen < deliveries.length; seen++) {
            const d = deliveries[seen];
            if (seen < before || d.activityId !== createId || !d.verified) continue;
            if (d.path.startsWith("/shared/") && !sharedFirst.has(d.path)) sharedFirst.set(d.path, d.t);
          }
          if (sharedFirst.size >= GROUPS) break;
          await sleep(20);
        }
        const complete = sharedFirst.size >= GROUPS;
        // Then until Herald's queue is empty (retries, stragglers), and a moment for late duplicates.
        let drainedAt: number | null = null;
        const drainDeadline = Date.now() + 60_000;
        while (Date.now() < drainDeadline) {
          const [{ n }] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue");
          if (Number(n) === 0) {
            drainedAt = Date.now();
            break;
          }
          await sleep(100);
        }
        await sleep(1000);
        const heraldCpu = cpuSeconds(herald.child.pid) - cpuH0;
        const receiverCpu = cpuSeconds(receiver.child.pid) - cpuR0;
        const got = mine();
        const perInbox = new Map<string, number>();
        const failures = new Map<string, number>();
        for (const d of deliveries.slice(before)) {
          if (!d.verified) failures.set(d.reason ?? "?", (failures.get(d.reason ?? "?") ?? 0) + 1);
        }
        for (const d of got) if (d.verified) perInbox.set(d.path, (perInbox.get(d.path) ?? 0) + 1);
        const times = [...sharedFirst.values()];
        fanouts.push({
          workers,
          nth: (i % REPS) + 1,
          cliMs: posted.exited - posted.started,
          firstMs: times.length ? Math.min(...times) - posted.exited : Number.NaN,
          allMs: complete ? Math.max(...times) - posted.exited : null,
          drainedMs: drainedAt === null ? null : drainedAt - posted.exited,
          sharedGot: sharedFirst.size,
          duplicates: [...perInbox.values()].filter((c) => c > 1).length,
          personalInboxes: [...perInbox.keys()].filter((p) => p.startsWith("/inbox/")).length,
          deliveries: got.length,
          failures,
          heraldCpu,
          receiverCpu,
        });
      }

      // Report ---------------------------------------------------------------------------------
      const ms = (x: number) => `${x.toFixed(x < 10 ? 1 : 0)} ms`;
      out(
        `federation: ${QUICK ? "QUICK " : ""}reads at ${CONNECTIONS} connections, ${SECONDS} s each after ${WARMUP} s warm-up ` +
          `(SQLite, NODE_ENV=test, log level warning; ${cpus().length} CPUs, Node ${process.version})`,
      );
      out(`  Herald at ${commit}; load generator: ${client}`);
      out(
        `  ${"".padEnd(44)} ${"req/s".padStart(8)} ${"p50".padStart(9)} ${"p99".padStart(9)} ${"× baseline".padStart(11)}  server CPU  non-2xx/errors/timeouts`,
      );
      const row = (name: string, r: LoadResult) =>
        out(
          `  ${name.padEnd(44)} ${r.rps.toFixed(0).padStart(8)} ${ms(r.p50).padStart(9)} ${ms(r.p99).padStart(9)} ` +
            `${`${(r.rps / baseline.rps).toFixed(2)}×`.padStart(11)}  ${`${(r.serverCpu * 100).toFixed(0)}%`.padStart(10)}  ${r.bad}/${r.errors}/${r.timeouts}`,
        );
      row("bare Koa 3, GET /doc JSON (baseline)", baseline);
      row("Herald WebFinger (acct:recruiting@…)", webfinger);
      row("Herald actor document (activity+json)", actor);
      row("Herald verification API (signed answer)", verification);
      const verdict = (r: LoadResult) =>
        `${r.rps / baseline.rps >= 0.6 ? "meets" : "MISSES"} ≥ 0.6×, p99 ${r.p99 < 20 ? "meets" : "MISSES"} < 20 ms`;
      out(`  targets: WebFinger ${verdict(webfinger)}; actor ${verdict(actor)}`);
      out(
        `  target (verification): ${verification.rps / baseline.rps >= 0.5 ? "meets" : "MISSES"} ≥ 0.5× bare Koa`,
      );
      out();
      out(
        `fan-out: one public post to ${FOLLOWERS.toLocaleString("en")} followers on ${GROUPS} shared inboxes ` +
          `(${PER_INBOX} each, loopback receiver verifying every HTTP signature), HERALD_QUEUE_POLL_MS=500 (default)`,
      );
      for (const f of fanouts) {
        const fails = [...f.failures].map(([k, v]) => `${v}× ${k}`).join(", ") || "none";
        out(
          `  HERALD_QUEUE_WORKERS=${f.workers}${f.workers === 4 ? " (default)" : ""}, post ${f.nth} of ${REPS}` +
            (f.nth === 1
              ? f.workers === WORKERS[0]
                ? " (on the server that served the reads)"
                : " (server restarted with this setting)"
              : ""),
        );
        out(`    herald post (CLI spawn → exit)               ${ms(f.cliMs).padStart(10)}`);
        out(`    CLI exit → first shared inbox has the Create ${ms(f.firstMs).padStart(10)}`);
        out(
          `    CLI exit → all ${String(GROUPS).padEnd(4)} shared inboxes have it   ${(f.allMs === null ? `INCOMPLETE (${f.sharedGot}/${GROUPS} after ${FANOUT_TIMEOUT_MS / 1000} s)` : ms(f.allMs)).padStart(10)}` +
            (f.allMs === null
              ? ""
              : `   ${(GROUPS / (f.allMs / 1000)).toFixed(0)} deliveries/s   target < 60 s: ${f.allMs < 60_000 ? "meets" : "MISSES"}`),
        );
        out(
          `    CLI exit → Herald's delivery queue empty     ${(f.drainedMs === null ? "not within 60 s" : ms(f.drainedMs)).padStart(10)}`,
        );
        out(
          `    verified deliveries of the Create: ${f.deliveries} (expected ${GROUPS}); inboxes that got it twice: ${f.duplicates}; ` +
            `personal inboxes used instead of shared: ${f.personalInboxes}; rejected deliveries: ${fails}`,
        );
        out(
          `    CPU over the fan-out: Herald ${f.heraldCpu.toFixed(1)} s, receiver ${f.receiverCpu.toFixed(1)} s`,
        );
      }
    } finally {
      await db.close();
    }
  } finally {
    for (const c of children) await stop(c);
    if (herald) logs.push(...herald.log);
    const problems = new Map<string, number>();
    for (const line of logs) {
      if (!line.trim()) continue;
      let key = line.slice(0, 200);
      try {
        const j = JSON.parse(line) as { level?: string; logger?: string; message?: string };
        key = `${j.level ?? "?"} ${j.logger ?? ""}: ${(j.message ?? "").slice(0, 160)}`;
      } catch {
        // not JSON
      }
      problems.set(key, (problems.get(key) ?? 0) + 1);
    }
    if (problems.size > 0) {
      out();
      out(`Herald's warnings and errors (stderr, grouped):`);
      for (const [k, n] of [...problems].sort((a, b) => b[1] - a[1]).slice(0, 15))
        out(`  ${String(n).padStart(6)}× ${k}`);
    }
    if (flag("keep")) out(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

// Dispatch last: module-level constants above must be initialised before main() runs.
if (flag("role=koa")) {
  await koaMain();
} else if (flag("role=receiver")) {
  await receiverMain();
} else {
  await main();
}
