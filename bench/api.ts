/**
 * bench/api — the Mastodon client API under load (#15): home-timeline reads and status creation
 * at 64 keep-alive connections against Herald (`src/main.ts` in a child process), beside a bare
 * Koa 3 route (another child process) answering the same bytes as Herald's home timeline, in the
 * same run. Target: the home timeline at ≥ 0.5 of the bare route's answers per second. A second
 * baseline, GET /api/v1/lists (it answers [] after only the per-call auth: token, standing,
 * Casbin), is the ceiling of any authenticated endpoint here; the timeline is shown against both.
 * The timeline is read twice: all connections with one token (one scheduling tool), and with a
 * token per connection (64 apps: no two calls of one token at once).
 *
 * Herald is seeded in this process through the composition root (a person, her account's keys, a
 * client-API token), then shut down and started as `node src/main.ts` on the same database; the
 * home timeline holds 40 of her posts and is read 20 at a time (Mastodon's default page). The API
 * rate limit is raised out of the way (HERALD_API_RATE_PER_SECOND); on MySQL/MariaDB the limiter
 * keeps its default store there (the database). Load: undici's Agent, 64 connections, each a
 * loop of requests for `--seconds` (10; --quick 3) after a warm-up. Prints answers/s, p50/p99 in
 * ms, the ratio to the bare route, and the CPU seconds per second of Herald.
 *
 *   node bench/api.ts [--quick] [--seconds=N] [--rounds=N] [--only=home|post] [--profile=DIR]
 *
 * --rounds=N (3; --quick 1): the bare route and the timeline are measured N times in pairs, one
 * right after the other, and the median pair is reported (with every round's ratio).
 *
 * --profile=DIR: Herald runs with --cpu-prof, its profile written to DIR when it stops.
 *   DATABASE_URL=mysql://root@127.0.0.1:3306/test node bench/api.ts   (a fresh database beside it)
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { appTokenCreate } from "../src/api/cli.ts";
import { parseConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { freePort, testEnv } from "../test/helpers/env.ts";
import { type Child, cpuSeconds, startChild, stop } from "./children.ts";

const argv = process.argv.slice(2);
const SECONDS = Number(
  argv.find((a) => a.startsWith("--seconds="))?.slice(10) ?? (argv.includes("--quick") ? 3 : 10),
);
const WARMUP = Math.min(2, SECONDS);
const ROUNDS = Math.max(
  1,
  Number(argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? (argv.includes("--quick") ? 1 : 3)),
);
const CONNECTIONS = 64;
const out = (s = "") => process.stdout.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- the baseline: a bare Koa route (this file, --role=koa, answering BENCH_BODY's bytes) -------

if (argv.includes("--role=koa") || argv.includes("--role=koa-db")) {
  const { default: Koa } = await import("koa");
  const body = readFileSync(process.env.BENCH_BODY ?? "", "utf8");
  const app = new Koa();
  // --role=koa-db: the same, after one indexed read of Herald's database per request (a primary-key
  // lookup of one small row) through the driver Herald uses — the floor of any endpoint that must
  // ask the database on every call, as the client API's per-call decision must on MySQL.
  const read = argv.includes("--role=koa-db")
    ? await oneRead(process.env.BENCH_DATABASE_URL ?? "")
    : undefined;
  app.use(async (ctx) => {
    if (read) await read();
    ctx.set("Cache-Control", "no-store");
    ctx.type = "application/json; charset=utf-8";
    ctx.body = body;
  });
  const server = app.listen(Number(process.env.PORT), "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
} else {
  await main();
}

/** One primary-key read of the api_sequence row, on SQLite (better-sqlite3) or MySQL (a mysql2 pool of 10, as TypeORM's). */
async function oneRead(url: string): Promise<() => Promise<unknown>> {
  const sql = "SELECT value FROM api_sequence WHERE name = 'id'";
  if (url.startsWith("sqlite:")) {
    const { default: Sqlite } = await import("better-sqlite3");
    const stmt = new Sqlite(url.slice("sqlite:".length), { readonly: true }).prepare(sql);
    return async () => stmt.get();
  }
  const mysql = await import("mysql2/promise");
  const pool = mysql.createPool({ uri: url, connectionLimit: 10 });
  return () => pool.query(sql);
}

// --- load ----------------------------------------------------------------------------------------

interface Load {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly unexpected: number;
  /** CPU seconds per second of the server under load. */
  readonly cpu: number;
}

interface Shot {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Per connection, instead of `headers` (a token per connection). */
  readonly headersOf?: (connection: number) => Record<string, string>;
  readonly body?: (i: number) => string;
  readonly expect: number;
}

async function load(server: Child, shot: Shot, seconds: number): Promise<Load> {
  const dispatcher = new Agent({ connections: CONNECTIONS, pipelining: 1 });
  const latencies: number[] = [];
  let unexpected = 0;
  let sent = 0;
  const end = performance.now() + seconds * 1000;
  const cpu0 = cpuSeconds(server.child.pid);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, connection) => {
      const headers = shot.headersOf?.(connection) ?? shot.headers;
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          const res = await request(server.url + shot.path, {
            method: shot.method,
            headers,
            body: shot.body?.(sent++),
            dispatcher,
          });
          await res.body.dump();
          if (res.statusCode === shot.expect) latencies.push(performance.now() - t0);
          else unexpected++;
        } catch {
          unexpected++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = (cpuSeconds(server.child.pid) - cpu0) / elapsed;
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  return { perSecond: latencies.length / elapsed, p50: pct(0.5), p99: pct(0.99), unexpected, cpu };
}

async function measure(server: Child, shot: Shot): Promise<Load> {
  await load(server, shot, WARMUP);
  return load(server, shot, SECONDS);
}

// --- the run -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-api-"));
  const given = process.env.DATABASE_URL;
  const mysqlDb = given?.startsWith("mysql")
    ? `herald_bench_api_${randomBytes(4).toString("hex")}`
    : undefined;
  let databaseUrl = `sqlite:${path.join(dir, "herald.sqlite")}`;
  if (given && mysqlDb) {
    const mysql = await import("mysql2/promise");
    const c = await mysql.createConnection(given);
    await c.query(`CREATE DATABASE \`${mysqlDb}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await c.end();
    const u = new URL(given);
    u.pathname = `/${mysqlDb}`;
    databaseUrl = u.href;
  }
  const port = await freePort();
  const env = testEnv({
    DATABASE_URL: databaseUrl,
    HERALD_DATA_DIR: dir,
    PORT: String(port),
    HERALD_ORIGIN: `http://127.0.0.1:${port}`,
    HERALD_API_RATE_PER_SECOND: "1000000",
    HERALD_API_BURST: "1000000",
  }) as Record<string, string>;
  let koa: Child | undefined;
  let koaDb: Child | undefined;
  let herald: Child | undefined;
  try {
    // Seed through the composition root, then serve from a process of its own.
    const seeding = await startServer(parseConfig(env));
    const s = seeding.services;
    await s.scim.createUser({ userName: "jane@bench.example", displayName: "Jane" }, { name: "bench" });
    for (
      const deadline = Date.now() + 60_000;
      !(await s.accounts.byHandle("jane"))?.keysReadyAt;
      await sleep(50)
    )
      if (Date.now() > deadline) throw new Error("jane's keys did not appear in 60 s");
    const issued = await appTokenCreate(s, { userName: "jane@bench.example", account: "jane", by: "bench" });
    if (!issued.ok) throw new Error(issued.message);
    // A token per connection too: 64 apps of one person (no two calls of one token at once).
    const perConnection: string[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const t = await appTokenCreate(s, { userName: "jane@bench.example", account: "jane", by: "bench" });
      if (!t.ok) throw new Error(t.message);
      perConnection.push(t.token);
    }
    await seeding.shutdown("bench");

    const profile = argv.find((a) => a.startsWith("--profile="))?.slice(10);
    herald = await startChild(
      [...(profile ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(profile)}`] : []), "src/main.ts"],
      env,
      "/healthz",
    );
    const auth = { authorization: `Bearer ${issued.token}` };
    const post: Shot = {
      method: "POST",
      path: "/api/v1/statuses",
      headers: { ...auth, "content-type": "application/json" },
      body: (i) => JSON.stringify({ status: `Bench post ${i}: we are hiring engineers in Lyon. #hiring` }),
      expect: 200,
    };
    for (let i = 0; i < 40; i++) {
      const r = await request(herald.url + post.path, {
        method: "POST",
        headers: post.headers,
        body: post.body!(i),
      });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`seeding a post: ${r.statusCode}`);
    }
    const home: Shot = { method: "GET", path: "/api/v1/timelines/home", headers: auth, expect: 200 };
    const page = await fetch(herald.url + home.path, { headers: auth });
    const bytes = await page.text();
    const items = (JSON.parse(bytes) as unknown[]).length;
    const bodyFile = path.join(dir, "home.json");
    writeFileSync(bodyFile, bytes);
    const koaPort = await freePort();
    koa = await startChild(
      [fileURLToPath(import.meta.url), "--role=koa"],
      { PORT: String(koaPort), BENCH_BODY: bodyFile },
      "/",
    );

    const koaDbPort = await freePort();
    koaDb = await startChild(
      [fileURLToPath(import.meta.url), "--role=koa-db"],
      { PORT: String(koaDbPort), BENCH_BODY: bodyFile, BENCH_DATABASE_URL: databaseUrl },
      "/",
    );

    const only = argv.find((a) => a.startsWith("--only="))?.slice(7);
    const none: Load = { perSecond: NaN, p50: NaN, p99: NaN, unexpected: 0, cpu: NaN };
    const tokens: Shot = {
      ...home,
      headersOf: (connection) => ({ authorization: `Bearer ${perConnection[connection]}` }),
    };
    // Paired rounds: each round measures the bare route and then the timeline right after it, so a
    // ratio compares two loads a few seconds apart, not the start of the run with its end (this
    // machine's throughput drifts by a third within minutes). The figures below are the median
    // round's; every round's ratio is printed too.
    const rounds: { bare: Load; timeline: Load; tokens: Load }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const bare = await measure(koa, { method: "GET", path: "/", expect: 200 });
      rounds.push({
        bare,
        timeline: only === "post" ? none : await measure(herald, home),
        tokens: only === "post" ? none : await measure(herald, tokens),
      });
    }
    const median = <T>(xs: T[], by: (x: T) => number): T =>
      [...xs].sort((a, b) => by(a) - by(b))[Math.floor((xs.length - 1) / 2)]!;
    const ratio = (x: { bare: Load; timeline: Load }) => x.timeline.perSecond / x.bare.perSecond;
    const tokenRatio = (x: { bare: Load; tokens: Load }) => x.tokens.perSecond / x.bare.perSecond;
    const mid = median(rounds, ratio);
    const bare = mid.bare;
    const timeline = mid.timeline;
    const tokenRound = median(rounds, tokenRatio);
    const timelineTokens = tokenRound.tokens;
    const bareRead = await measure(koaDb, { method: "GET", path: "/", expect: 200 });
    // The second baseline: GET /api/v1/lists answers [] after only the per-call auth (the token,
    // its person's standing and account, Casbin; src/api/auth.ts) — the most any authenticated
    // endpoint can answer here.
    const authOnly = only === "post" ? none : await measure(herald, { ...home, path: "/api/v1/lists" });
    const created = only === "home" ? none : await measure(herald, post);

    const db = mysqlDb ? "MariaDB/MySQL" : "SQLite";
    const row = (name: string, l: Load, ...ratios: [string, Load][]) =>
      out(
        `  ${name.padEnd(34)} ${l.perSecond.toFixed(0).padStart(7)}/s  p50 ${l.p50.toFixed(1).padStart(6)} ms  p99 ${l.p99.toFixed(1).padStart(6)} ms` +
          `  cpu ${l.cpu.toFixed(2)} s/s${ratios.map(([n, base]) => `  ÷ ${n} ${(l.perSecond / base.perSecond).toFixed(2)}`).join("")}${l.unexpected ? `  (${l.unexpected} unexpected)` : ""}`,
      );
    out(`bench/api: ${db}, ${CONNECTIONS} connections, ${SECONDS} s each after ${WARMUP} s warm-up`);
    out(`  home page: ${items} statuses, ${bytes.length} bytes (the bare route answers the same bytes)`);
    row("bare Koa route", bare);
    row("bare Koa + one database read", bareRead, ["bare", bare]);
    row("GET /api/v1/lists (auth only)", authOnly, ["bare", bare]);
    row(
      "GET /api/v1/timelines/home",
      timeline,
      ["bare", bare],
      ["one read", bareRead],
      ["auth-only", authOnly],
    );
    row(
      "  the same, a token per connection",
      timelineTokens,
      ["bare", tokenRound.bare],
      ["one read", bareRead],
      ["auth-only", authOnly],
    );
    row("POST /api/v1/statuses", created, ["bare", bare], ["auth-only", authOnly]);
    out(
      `  timeline ÷ bare, round by round: ${rounds.map((x) => ratio(x).toFixed(2)).join(", ")} (one token); ` +
        `${rounds.map((x) => tokenRatio(x).toFixed(2)).join(", ")} (a token per connection); the rows above are the median round's`,
    );
    out(
      `  target: timeline ≥ 0.5 of the bare route: ${timeline.perSecond / bare.perSecond >= 0.5 ? "met" : "NOT met"}` +
        ` (one token); ${tokenRatio(tokenRound) >= 0.5 ? "met" : "NOT met"} (a token per connection)`,
    );
  } finally {
    await stop(koa);
    await stop(koaDb);
    await stop(herald);
    if (given && mysqlDb) {
      const mysql = await import("mysql2/promise");
      const c = await mysql.createConnection(given);
      await c.query(`DROP DATABASE IF EXISTS \`${mysqlDb}\``);
      await c.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
