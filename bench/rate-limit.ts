/**
 * bench/rate-limit — what sharing rate limits through the database costs (#13; decision 0011).
 *
 * 1. HTTP, 64 keep-alive connections, GET /api/verification for a verified handle (the hot,
 *    rate-limited public answer; Herald serves it from its in-memory answer cache): a bare Koa 3
 *    route answering a document of the same size (the baseline), then Herald (`src/main.ts`) on a
 *    fresh MariaDB database, once with HERALD_RATE_LIMIT_STORE=memory and once with =database.
 *    Three loads each:
 *    - "1 address": every request from one client address, limits raised so all are allowed —
 *      with the database store every request is a round trip, all on one row;
 *    - "64 addresses": X-Forwarded-For cycling through 64 addresses (HERALD_TRUST_PROXY), limits
 *      raised — 64 rows;
 *    - "refused": one address at the default limits (20/s, burst 40): after the first window
 *      nearly every answer is a 429, which the database store answers from memory.
 *    Answers/s of the expected status (200, or 429 for "refused"), p50/p99 latency, the ratio to
 *    the baseline and database/memory, CPU seconds per second of Herald and of MariaDB.
 * 2. The limiter alone, in this process: 64 concurrent callers on 64 keys calling take() — the
 *    memory token bucket, the database store (Herald's createRateLimits on its own pool), and
 *    rate-limiter-flexible's RateLimiterRedis with the same window on Redis (127.0.0.1:6379,
 *    ioredis installed outside the repository like autocannon; skipped if either is missing).
 *
 *   node bench/rate-limit.ts [--quick] [--client=autocannon|node]
 *
 * --quick: 3 s per run (10 s otherwise). Env: MYSQL_URL (default mysql://root@127.0.0.1:3306/test),
 * REDIS_URL (default redis://127.0.0.1:6379), HERALD_BENCH_TOOLS (default <tmpdir>/herald-bench-tools).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import { freePort, testEnv } from "../test/helpers/env.ts";
import { type Child, cpuSeconds, startChild, stop } from "./children.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const CLIENT = argv.find((a) => a.startsWith("--client="))?.slice("--client=".length) ?? "autocannon";
const SECONDS = QUICK ? 3 : 10;
const WARMUP = QUICK ? 1 : 2;
const CONNECTIONS = 64;
const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const TOOLS = process.env.HERALD_BENCH_TOOLS ?? path.join(tmpdir(), "herald-bench-tools");
const out = (s = "") => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the baseline: a bare Koa route (this file, --role=koa) --------------------------------------

async function koaMain(): Promise<void> {
  const { default: Koa } = await import("koa");
  const body = JSON.stringify({
    handle: "@recruiting@127.0.0.1",
    status: "active",
    displayName: "Recruiting",
    roles: [],
    checkedAt: new Date().toISOString(),
    officialDomain: "127.0.0.1",
    attestation: "x".repeat(400),
  });
  const app = new Koa();
  app.use((ctx) => {
    ctx.set("Access-Control-Allow-Origin", "*");
    ctx.set("Cache-Control", "no-store");
    ctx.type = "application/json; charset=utf-8";
    ctx.body = body;
  });
  const server = app.listen(Number(process.env.PORT), "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

// --- load ----------------------------------------------------------------------------------------

interface Load {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** Answers with another status than the expected one, and connection errors. */
  readonly unexpected: number;
}

/** `addresses` client addresses in turn (X-Forwarded-For), 64 connections, `seconds` long. */
type LoadFn = (url: string, addresses: number, expect: number, seconds: number) => Promise<Load>;

const forwardedFor = (n: number) => `10.64.${Math.floor(n / 250)}.${(n % 250) + 1}`;

function builtinLoad(): LoadFn {
  return async (url, addresses, expect, seconds) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const u = new URL(url);
    const latencies: number[] = [];
    let unexpected = 0;
    let sent = 0;
    const end = performance.now() + seconds * 1000;
    const one = (address: string) =>
      new Promise<number>((resolve) => {
        const req = http.request(
          {
            host: u.hostname,
            port: u.port,
            path: u.pathname + u.search,
            agent,
            headers: { "x-forwarded-for": address },
          },
          (res) => res.resume().on("end", () => resolve(res.statusCode ?? 0)),
        );
        req.on("error", () => resolve(0));
        req.end();
      });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          const status = await one(forwardedFor(sent++ % addresses));
          if (status === expect) latencies.push(performance.now() - t0);
          else unexpected++;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    agent.destroy();
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
    return { perSecond: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), unexpected };
  };
}

/** autocannon from the tools directory (installed there with npm when missing). */
function toolsRequire(pkg: string, version: string): NodeJS.Require | undefined {
  const manifest = path.join(TOOLS, "node_modules", pkg, "package.json");
  if (!existsSync(manifest)) {
    mkdirSync(TOOLS, { recursive: true });
    spawnSync(
      "npm",
      ["install", "--prefix", TOOLS, "--no-audit", "--no-fund", "--loglevel=error", `${pkg}@${version}`],
      {
        stdio: "ignore",
        timeout: 180_000,
      },
    );
    if (!existsSync(manifest)) return undefined;
  }
  return createRequire(manifest);
}

function autocannonLoad(): LoadFn | undefined {
  const autocannon = toolsRequire("autocannon", "9")?.("autocannon") as
    | ((opts: object) => Promise<{
        duration: number;
        errors: number;
        statusCodeStats: Record<string, { count: number }>;
        latency: { p50: number; p99: number };
      }>)
    | undefined;
  if (!autocannon) return undefined;
  return async (url, addresses, expect, seconds) => {
    let sent = 0;
    const r = await autocannon({
      url,
      connections: CONNECTIONS,
      duration: seconds,
      requests: [
        {
          setupRequest: (req: { headers?: Record<string, string> }) => ({
            ...req,
            headers: { ...req.headers, "x-forwarded-for": forwardedFor(sent++ % addresses) },
          }),
        },
      ],
    });
    const counts = Object.entries(r.statusCodeStats);
    const expected = counts.find(([code]) => Number(code) === expect)?.[1].count ?? 0;
    const all = counts.reduce((n, [, s]) => n + s.count, 0);
    // autocannon's percentiles cover every answer; with one status dominating that is its own.
    return {
      perSecond: expected / r.duration,
      p50: r.latency.p50,
      p99: r.latency.p99,
      unexpected: all - expected + r.errors,
    };
  };
}

interface RedisClient {
  ping(): Promise<string>;
  quit(): Promise<unknown>;
}

// --- the measuring process -----------------------------------------------------------------------

async function main(): Promise<void> {
  process.removeAllListeners("warning");
  const ac = CLIENT === "autocannon" ? autocannonLoad() : undefined;
  const load = ac ?? builtinLoad();
  const client = ac ? "autocannon 9 (in this process)" : "built-in node:http (keep-alive Agent)";
  const mariadb =
    Number(spawnSync("pidof", ["mariadbd"], { encoding: "utf8" }).stdout.trim().split(" ")[0]) || undefined;
  const git = (...a: string[]) => spawnSync("git", a, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  out(
    `bench/rate-limit — ${new Date().toISOString().slice(0, 10)}, commit ${git("rev-parse", "--short", "HEAD")}, ${SECONDS} s runs after ${WARMUP} s warm-up, ${CONNECTIONS} connections, client ${client}`,
  );

  const name = `herald_bench_rl_${randomBytes(4).toString("hex")}`;
  const admin = await mysql.createConnection(MYSQL_URL);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const dbUrl = new URL(MYSQL_URL);
  dbUrl.pathname = `/${name}`;
  const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-rl-"));
  let herald: Child | undefined;
  let koa: Child | undefined;
  try {
    const measure = async (c: Child, url: string, addresses: number, expect: number) => {
      await load(url, addresses, expect, WARMUP);
      const [h0, m0] = [cpuSeconds(c.child.pid), cpuSeconds(mariadb)];
      const r = await load(url, addresses, expect, SECONDS);
      return {
        ...r,
        cpu: (cpuSeconds(c.child.pid) - h0) / SECONDS,
        dbCpu: (cpuSeconds(mariadb) - m0) / SECONDS,
      };
    };

    // 1. HTTP -------------------------------------------------------------------------------------
    koa = await startChild(
      [fileURLToPath(import.meta.url), "--role=koa"],
      { PORT: String(await freePort()) },
      "/",
    );
    const baseline = await measure(koa, `${koa.url}/api/verification`, 1, 200);
    await stop(koa);

    const port = await freePort();
    // The test-only secrets (test/fixtures), as the other benches use.
    const env = (store: string, raised: boolean) =>
      testEnv({
        PORT: String(port),
        HERALD_ORIGIN: `http://127.0.0.1:${port}`,
        DATABASE_URL: dbUrl.toString(),
        HERALD_DATA_DIR: dir,
        HERALD_LOG_LEVEL: "warning",
        HERALD_LOG_FORMAT: "json",
        HERALD_TRUST_PROXY: "true",
        HERALD_RATE_LIMIT_STORE: store,
        ...(raised ? { HERALD_VERIFY_RATE_PER_SECOND: "1000000", HERALD_VERIFY_BURST: "1000000" } : {}),
      }) as Record<string, string>;
    const verifyPath = `/api/verification?handle=${encodeURIComponent(`@recruiting@127.0.0.1:${port}`)}`;
    const stderr: string[] = [];
    const loads = [
      { label: "1 address, all allowed", addresses: 1, raised: true, expect: 200 },
      { label: "64 addresses, all allowed", addresses: 64, raised: true, expect: 200 },
      { label: "1 address, refused (20/s, burst 40)", addresses: 1, raised: false, expect: 429 },
    ];
    const rows: { store: string; label: string; r: Awaited<ReturnType<typeof measure>> }[] = [];
    for (const store of ["memory", "database"]) {
      for (const raised of [true, false]) {
        herald = await startChild([path.join(ROOT, "src/main.ts")], env(store, raised), "/healthz");
        if (rows.length === 0) {
          const cli = spawnSync(
            process.execPath,
            [
              path.join(ROOT, "bin/herald.js"),
              "shared-account",
              "create",
              "recruiting",
              "--name",
              "Recruiting",
            ],
            {
              cwd: ROOT,
              env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env(store, raised) },
              encoding: "utf8",
            },
          );
          if (cli.status !== 0) throw new Error(`herald shared-account create failed:\n${cli.stderr}`);
        }
        // The answer is active once the account's keys exist (made in the background).
        for (let i = 0; ; i++) {
          const res = await fetch(herald.url + verifyPath, { headers: { "x-forwarded-for": "192.0.2.1" } });
          if (res.status === 200 && ((await res.json()) as { status?: string }).status === "active") break;
          if (i > 300) throw new Error(`the verification API never answered active (${res.status})`);
          await sleep(100);
        }
        for (const l of loads.filter((x) => x.raised === raised))
          rows.push({
            store,
            label: l.label,
            r: await measure(herald, herald.url + verifyPath, l.addresses, l.expect),
          });
        await stop(herald);
        stderr.push(...herald.stderr);
        herald = undefined;
      }
    }
    const [count] = await admin.query(`SELECT COUNT(*) AS n FROM \`${name}\`.rate_limit`);

    out();
    out("GET /api/verification (cached answer), 64 connections");
    out(
      "  run                                          answers/s   p50 ms   p99 ms   × Koa   db/memory   Herald CPU   MariaDB CPU   other",
    );
    const line = (label: string, r: typeof baseline, ratio?: number) =>
      out(
        `  ${label.padEnd(44)} ${r.perSecond.toFixed(0).padStart(9)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ` +
          `${(r.perSecond / baseline.perSecond).toFixed(2).padStart(7)} ${ratio === undefined ? "".padStart(11) : ratio.toFixed(2).padStart(11)} ` +
          `${r.cpu.toFixed(2).padStart(12)} ${r.dbCpu.toFixed(2).padStart(13)} ${String(r.unexpected).padStart(7)}`,
      );
    line("bare Koa 3, same body (baseline)", baseline);
    for (const l of loads)
      for (const store of ["memory", "database"]) {
        const r = rows.find((x) => x.store === store && x.label === l.label)!.r;
        const memory = rows.find((x) => x.store === "memory" && x.label === l.label)!.r;
        line(
          `${store.padEnd(8)} ${l.label}`,
          r,
          store === "database" ? r.perSecond / memory.perSecond : undefined,
        );
      }
    if (stderr.join("").trim())
      out(`Herald's stderr (warnings and errors):\n${stderr.join("").slice(0, 4000)}`);
    out(
      `  ("answers/s" counts the expected status: 200, or 429 for the refused load; "other" is the rest. rate_limit rows after the runs: ${(count as { n: number }[])[0].n})`,
    );

    // 2. The limiter alone ------------------------------------------------------------------------
    out();
    out(
      `take() alone, ${CONNECTIONS} concurrent callers on ${CONNECTIONS} keys, in this process (window: 1,000,000 points per second)`,
    );
    out("  store                                        takes/s   p50 ms   p99 ms   × memory");
    const { createDatabase } = await import("../src/db/database.ts");
    const { createRateLimits, fixedWindow } = await import("../src/http/rate-limit.ts");
    const limit = { ratePerSecond: 1_000_000, burst: 1_000_000 };
    const db = await createDatabase({ kind: "mysql", url: dbUrl.toString() });
    const micro: [string, (key: string) => Promise<unknown>][] = [
      ["memory (token bucket, per process)", createRateLimits("memory", db).limiter("bench", limit).take],
      ["database (RateLimiterMySQL, shared)", createRateLimits("database", db).limiter("bench", limit).take],
    ];
    const redisRequire = toolsRequire("ioredis", "5");
    let redis: RedisClient | undefined;
    let redisNote = "";
    if (redisRequire) {
      const Redis = redisRequire("ioredis") as new (url: string, options: object) => RedisClient;
      redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      const pong = await redis.ping().catch((e: unknown) => String(e));
      if (pong === "PONG") {
        const { RateLimiterRedis } = await import("rate-limiter-flexible");
        const { points, durationMs } = fixedWindow(limit);
        const rl = new RateLimiterRedis({
          storeClient: redis,
          keyPrefix: `herald-bench-${randomBytes(3).toString("hex")}`,
          points,
          duration: durationMs / 1000,
          inMemoryBlockOnConsumed: points + 1,
        });
        micro.push(["Redis (RateLimiterRedis, ioredis)", (key) => rl.consume(key)]);
      } else redisNote = `Redis not measured: ${REDIS_URL} answered ${pong}`;
    } else redisNote = "Redis not measured: ioredis could not be installed into the tools directory";
    let memoryRate = Number.NaN;
    for (const [label, take] of micro) {
      const run = async (seconds: number) => {
        const latencies: number[] = [];
        const end = performance.now() + seconds * 1000;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: CONNECTIONS }, async (_, i) => {
            while (performance.now() < end) {
              const t0 = performance.now();
              await take(`k${i}`);
              latencies.push(performance.now() - t0);
            }
          }),
        );
        latencies.sort((a, b) => a - b);
        const pct = (p: number) => latencies[Math.floor(latencies.length * p)];
        return {
          rate: latencies.length / ((performance.now() - started) / 1000),
          p50: pct(0.5),
          p99: pct(0.99),
        };
      };
      await run(WARMUP);
      const r = await run(SECONDS);
      if (Number.isNaN(memoryRate)) memoryRate = r.rate;
      out(
        `  ${label.padEnd(44)} ${r.rate.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${(r.rate / memoryRate).toFixed(3).padStart(10)}`,
      );
    }
    if (redisNote) out(`  ${redisNote}`);
    await redis?.quit();
    await db.close();
  } finally {
    await stop(herald);
    await stop(koa);
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Last: the constants above are initialised before either role runs.
if (argv.includes("--role=koa")) await koaMain();
else await main();
