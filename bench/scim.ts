/**
 * bench/scim — SCIM provisioning throughput: Herald against a reference peer.
 *
 * Starts, in one run on this machine, Herald (`src/main.ts` on a fresh SQLite file, or on a fresh
 * MySQL/MariaDB database with --mysql) and the scimmy-based reference peer from
 * ../shared/scim-peers (in-memory; installed once into a cache directory outside the repository),
 * then drives both over HTTP on 127.0.0.1 with the same workloads:
 *
 *   1. sequential User creates (1,000), 2. concurrent User creates (10,000 by 8 clients),
 *   3. `filter=userName eq "…"` lookups, sequential and by 8 clients, at 1k users and again after
 *      growing the directory to 100k users (the peer is grown only as far as a time budget allows),
 *   4. with --mysql, a mixed workload on Herald only (70% reads by id or filter, 20% PATCH of
 *      title, 10% creates) by 8 clients for 20 s.
 *
 * Every answer is checked (creates 201, lookups exactly one result, reads 200, patches 200) and
 * errors are counted and printed. Prints absolute rates and the ratio Herald/peer.
 *
 *   node bench/scim.ts [--quick] [--mysql] [--grow=<users>]
 *
 * --quick divides every count by 10 (and shortens the time budgets) for a smoke run.
 * Env: MYSQL_URL (default mysql://root@127.0.0.1:3306/test), SCIM_PEERS_DIR (default
 * ../shared/scim-peers from the repository root), HERALD_BENCH_PEER_DIR (peer install cache,
 * default /tmp/herald-bench-peer), PEER_GROW_BUDGET_S (default 240, quick 30).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SECRETS = path.join(ROOT, "test/fixtures/secrets");
const args = process.argv.slice(2);
const QUICK = args.includes("--quick");
const MYSQL = args.includes("--mysql");
const growArg = args.find((a) => a.startsWith("--grow="));
for (const a of args) {
  if (a !== "--quick" && a !== "--mysql" && !a.startsWith("--grow=")) {
    process.stderr.write(
      `unknown argument ${a}\nusage: node bench/scim.ts [--quick] [--mysql] [--grow=<users>]\n`,
    );
    process.exit(2);
  }
}
const SCALE = QUICK ? 10 : 1;
const N_SEQ_CREATES = 1_000 / SCALE;
const N_CONC_CREATES = 10_000 / SCALE;
const N_LOOKUPS = 2_000 / SCALE;
const GROW_TO = growArg ? Number(growArg.slice("--grow=".length)) : 100_000 / SCALE;
const CONCURRENCY = 8;
const MIXED_SECONDS = QUICK ? 5 : 20;
const PEER_GROW_BUDGET_MS = Number(process.env.PEER_GROW_BUDGET_S ?? (QUICK ? 30 : 240)) * 1000;
/** No lookup measurement runs longer than this (the in-memory peer scans every user per filter). */
const LOOKUP_BUDGET_MS = QUICK ? 10_000 : 60_000;
const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
const PEERS_DIR = path.resolve(process.env.SCIM_PEERS_DIR ?? path.join(ROOT, "../shared/scim-peers"));
const PEER_CACHE = path.resolve(process.env.HERALD_BENCH_PEER_DIR ?? "/tmp/herald-bench-peer");
const SCIM_TYPE = "application/scim+json";
const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

// --- processes --------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitHealthy(child: ChildProcess, url: string, what: string, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}):\n${tail(logFile, 30)}`);
    }
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${what} did not become healthy at ${url}:\n${tail(logFile, 30)}`);
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Installs the scimmy peer into PEER_CACHE the way run-suite.sh does (once), copies the server file. */
function installPeer(): void {
  const source = path.join(PEERS_DIR, "peer/peer-scimmy.mjs");
  if (!existsSync(source)) throw new Error(`peer not found at ${source} (set SCIM_PEERS_DIR)`);
  if (!existsSync(path.join(PEER_CACHE, "node_modules/scimmy-routers"))) {
    mkdirSync(PEER_CACHE, { recursive: true });
    const pkg = path.join(PEER_CACHE, "package.json");
    if (!existsSync(pkg)) writeFileSync(pkg, '{"private":true,"type":"module"}\n');
    process.stderr.write(`installing the scimmy peer into ${PEER_CACHE} …\n`);
    const r = spawnSync(
      "npm",
      ["install", "--no-save", "--loglevel=error", "scimmy@1.3.5", "scimmy-routers@1.3.2", "express@4.21.2"],
      {
        cwd: PEER_CACHE,
        stdio: ["ignore", "ignore", "inherit"],
        env: {
          ...process.env,
          npm_config_update_notifier: "false",
          npm_config_fund: "false",
          npm_config_audit: "false",
        },
      },
    );
    if (r.status !== 0) throw new Error(`peer install failed (npm exit ${r.status})`);
  }
  copyFileSync(source, path.join(PEER_CACHE, "peer-scimmy.mjs"));
}

interface Target {
  readonly name: string;
  readonly base: string;
  readonly token: string;
  readonly child: ChildProcess;
  readonly log: string;
}

async function startPeer(): Promise<Target> {
  installPeer();
  const port = await freePort();
  const token = `peer-${randomBytes(8).toString("hex")}`;
  const log = path.join(PEER_CACHE, "peer.log");
  const fd = openSync(log, "w");
  const child = spawn(process.execPath, ["peer-scimmy.mjs"], {
    cwd: PEER_CACHE,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(port), TOKEN: token },
    stdio: ["ignore", fd, fd],
  });
  child.once("exit", (code, signal) => {
    if (!stopping)
      process.stderr.write(
        `!! peer exited unexpectedly (code ${code}, signal ${signal}); log:\n${tail(log, 40)}\n`,
      );
  });
  await waitHealthy(child, `http://127.0.0.1:${port}/healthz`, "scimmy peer", log);
  return { name: "peer", base: `http://127.0.0.1:${port}/scim/v2`, token, child, log };
}

/**
 * The ceiling of this client on this machine: a bare node:http server answering every request with
 * a 1 KB JSON body, driven exactly like the lookups (sequential, then by CONCURRENCY clients).
 */
async function clientCeiling(): Promise<[Run, Run]> {
  const port = await freePort();
  const code =
    "const b=JSON.stringify({totalResults:1,Resources:[{id:'x',pad:'x'.repeat(1000)}]});" +
    "require('node:http').createServer((q,s)=>{q.resume();q.on('end',()=>{s.setHeader('content-type','application/json');s.end(b)})})" +
    ".listen(+process.env.PORT,'127.0.0.1')";
  const child = spawn(process.execPath, ["-e", code], {
    env: { PATH: process.env.PATH ?? "", PORT: String(port) },
    stdio: "ignore",
  });
  try {
    await waitHealthy(child, `http://127.0.0.1:${port}/`, "baseline server", "/dev/null");
    const get = async (lat: number[]) => {
      const t0 = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/scim/v2/Users?filter=x`, {
        headers: { authorization: "Bearer x" },
      });
      await res.text();
      lat.push(performance.now() - t0);
    };
    const seq = await drive(N_LOOKUPS, 1, LOOKUP_BUDGET_MS, (_, lat) => get(lat));
    const conc = await drive(N_LOOKUPS * 2, CONCURRENCY, LOOKUP_BUDGET_MS, (_, lat) => get(lat));
    return [seq, conc];
  } finally {
    await stop(child);
  }
}

async function freshMysqlUrl(): Promise<{ url: string; drop(): Promise<void> }> {
  const { default: mysql } = await import("mysql2/promise");
  const name = `herald_bench_${randomBytes(6).toString("hex")}`;
  const admin = await mysql.createConnection(MYSQL_URL);
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.end();
  }
  const u = new URL(MYSQL_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = await mysql.createConnection(MYSQL_URL);
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}

async function startHerald(dir: string, databaseUrl: string): Promise<Target> {
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "",
    NODE_ENV: "test",
    PORT: String(port),
    HERALD_LISTEN_HOST: "127.0.0.1",
    DATABASE_URL: databaseUrl,
    HERALD_DATA_DIR: dir,
    HERALD_LOG_LEVEL: "warning",
    HERALD_SESSION_SECRET_FILE: path.join(SECRETS, "session.txt"),
    HERALD_ORG_SIGNING_KEY_FILE: path.join(SECRETS, "org-ed25519.pem"),
    HERALD_SAML_SP_KEY_FILE: path.join(SECRETS, "saml-sp.key"),
    HERALD_SAML_SP_CERT_FILE: path.join(SECRETS, "saml-sp.crt"),
    HERALD_SCIM_RATE_PER_SECOND: "1000000",
    HERALD_SCIM_BURST: "1000000",
  };
  const log = path.join(dir, "herald.log"); // stderr: the log (warnings and above)
  const child = spawn(process.execPath, [path.join(ROOT, "src/main.ts")], {
    cwd: dir,
    env,
    stdio: ["ignore", openSync(path.join(dir, "herald.out"), "w"), openSync(log, "w")],
  });
  child.once("exit", (code, signal) => {
    if (!stopping) {
      process.stderr.write(
        `!! Herald exited unexpectedly (code ${code}, signal ${signal}); log:\n${tail(log, 40)}\n`,
      );
      heraldLogTail = tail(log, 40);
    }
  });
  await waitHealthy(child, `http://127.0.0.1:${port}/healthz`, "Herald", log);
  const r = spawnSync(process.execPath, [path.join(ROOT, "bin/herald.js"), "token", "create", "bench"], {
    cwd: dir,
    env,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`herald token create failed (${r.status}):\n${r.stderr}`);
  const token = r.stdout.trim().split("\n").at(-1)!.trim();
  return { name: "Herald", base: `http://127.0.0.1:${port}/scim/v2`, token, child, log };
}

// --- HTTP and checks ------------------------------------------------------------------------

interface ErrorSample {
  readonly target: string;
  readonly what: string;
  readonly detail: string;
}
const errorCounts = new Map<string, number>(); // key: `${target} ${workload}`
const errorSamples: ErrorSample[] = [];

function fail(target: Target, workload: string, what: string, detail: string): void {
  const key = `${target.name}\t${workload}`;
  errorCounts.set(key, (errorCounts.get(key) ?? 0) + 1);
  if (errorSamples.filter((s) => s.target === target.name).length < 12)
    errorSamples.push({ target: target.name, what: `${workload}: ${what}`, detail: detail.slice(0, 400) });
}

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

async function call(t: Target, method: string, pathAndQuery: string, body?: unknown): Promise<Answer> {
  const res = await fetch(t.base + pathAndQuery, {
    method,
    headers: {
      authorization: `Bearer ${t.token}`,
      accept: SCIM_TYPE,
      ...(body === undefined ? {} : { "content-type": SCIM_TYPE }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** A seeded generator, so that both servers see the same sequence of choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GIVEN = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Ken", "Margaret", "Dennis", "Radia"];
const FAMILY = [
  "Lovelace",
  "Hopper",
  "Turing",
  "Liskov",
  "Dijkstra",
  "Allen",
  "Thompson",
  "Hamilton",
  "Ritchie",
  "Perlman",
];

/** An Okta-like User as Okta sends it on provisioning. */
function userBody(n: number): Record<string, unknown> {
  const given = GIVEN[n % GIVEN.length];
  const family = `${FAMILY[Math.floor(n / GIVEN.length) % FAMILY.length]}${n}`;
  const userName = `${given.toLowerCase()}.${family.toLowerCase()}@corp.example`;
  return {
    schemas: [USER_SCHEMA],
    userName,
    name: { givenName: given, familyName: family },
    emails: [{ primary: true, value: userName, type: "work" }],
    displayName: `${given} ${family}`,
    locale: "en-US",
    externalId: `00u${n.toString(36).padStart(8, "0")}bench`,
    groups: [],
    active: true,
  };
}

interface User {
  readonly id: string;
  readonly userName: string;
}

class Directory {
  readonly users: User[] = [];
  next = 0;
}

async function createOne(t: Target, dir: Directory, workload: string, lat?: number[]): Promise<boolean> {
  const n = dir.next++;
  const body = userBody(n);
  const started = performance.now();
  let a: Answer;
  try {
    a = await call(t, "POST", "/Users", body);
  } catch (err) {
    fail(t, workload, "POST /Users network error", String(err));
    return false;
  }
  lat?.push(performance.now() - started);
  if (a.status !== 201 || typeof a.json?.id !== "string") {
    fail(t, workload, `POST /Users ${body.userName as string} → ${a.status}`, a.text);
    return false;
  }
  dir.users.push({ id: a.json.id, userName: body.userName as string });
  return true;
}

async function lookupOne(t: Target, u: User, workload: string, lat?: number[]): Promise<boolean> {
  const q = `/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`;
  const started = performance.now();
  let a: Answer;
  try {
    a = await call(t, "GET", q);
  } catch (err) {
    fail(t, workload, "GET filter network error", String(err));
    return false;
  }
  lat?.push(performance.now() - started);
  const resources = a.json?.Resources as { id?: string }[] | undefined;
  if (a.status !== 200 || a.json?.totalResults !== 1 || resources?.[0]?.id !== u.id) {
    fail(t, workload, `GET /Users?filter=userName eq "${u.userName}" → ${a.status}`, a.text);
    return false;
  }
  return true;
}

interface Run {
  /** Operations attempted. */
  readonly done: number;
  readonly ms: number;
  /** Operations per second. */
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** Stopped by the time budget before `total`. */
  readonly truncated: boolean;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
}

/** Runs `op` `total` times by `concurrency` workers, stopping early at `budgetMs`. Bounded. */
async function drive(
  total: number,
  concurrency: number,
  budgetMs: number,
  op: (i: number, lat: number[]) => Promise<unknown>,
): Promise<Run> {
  const lat: number[] = [];
  let next = 0;
  let done = 0;
  const started = performance.now();
  const deadline = started + budgetMs;
  const worker = async () => {
    for (;;) {
      if (next >= total || performance.now() > deadline) return;
      const i = next++;
      await op(i, lat);
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = performance.now() - started;
  return {
    done,
    ms,
    rate: (done / ms) * 1000,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    truncated: done < total,
  };
}

async function userCount(t: Target): Promise<number> {
  const a = await call(t, "GET", "/Users?count=0");
  return Number(a.json?.totalResults ?? NaN);
}

// --- workloads --------------------------------------------------------------------------------

interface Row {
  readonly label: string;
  readonly herald?: Run;
  readonly peer?: Run;
  readonly note?: string;
  readonly target?: string;
}
const rows: Row[] = [];
const notes: string[] = [];
const progress = (s: string) => process.stderr.write(`  … ${s}\n`);

async function lookups(t: Target, dir: Directory, label: string, seed: number): Promise<[Run, Run]> {
  const rnd = prng(seed);
  const pick = () => dir.users[Math.floor(rnd() * dir.users.length)];
  const seq = await drive(N_LOOKUPS, 1, LOOKUP_BUDGET_MS, (_, lat) => lookupOne(t, pick(), label, lat));
  const conc = await drive(N_LOOKUPS * 2, CONCURRENCY, LOOKUP_BUDGET_MS, (_, lat) =>
    lookupOne(t, pick(), label, lat),
  );
  return [seq, conc];
}

async function grow(t: Target, dir: Directory, to: number, budgetMs: number): Promise<Run> {
  const need = Math.max(0, to - dir.users.length);
  let last = performance.now();
  return drive(need, CONCURRENCY, budgetMs, async (_, lat) => {
    await createOne(t, dir, "grow", lat);
    if (performance.now() - last > 15_000) {
      last = performance.now();
      progress(`${t.name}: ${dir.users.length} users`);
    }
  });
}

async function mixed(t: Target, dir: Directory): Promise<Run & { counts: Record<string, number> }> {
  const rnd = prng(99);
  const counts: Record<string, number> = { get: 0, filter: 0, patch: 0, create: 0 };
  const label = "mixed";
  const pick = () => dir.users[Math.floor(rnd() * dir.users.length)];
  const run = await drive(Number.MAX_SAFE_INTEGER, CONCURRENCY, MIXED_SECONDS * 1000, async (i, lat) => {
    const r = rnd();
    const started = performance.now();
    if (r < 0.35) {
      counts.get++;
      const u = pick();
      try {
        const a = await call(t, "GET", `/Users/${u.id}`);
        if (a.status !== 200 || a.json?.id !== u.id)
          fail(t, label, `GET /Users/${u.id} → ${a.status}`, a.text);
      } catch (err) {
        fail(t, label, "GET network error", String(err));
      }
    } else if (r < 0.7) {
      counts.filter++;
      await lookupOne(t, pick(), label);
    } else if (r < 0.9) {
      counts.patch++;
      const u = pick();
      const title = `Engineer ${i}`;
      try {
        const a = await call(t, "PATCH", `/Users/${u.id}`, {
          schemas: [PATCH_SCHEMA],
          Operations: [{ op: "replace", path: "title", value: title }],
        });
        if (a.status !== 200 || a.json?.title !== title)
          fail(t, label, `PATCH /Users/${u.id} title → ${a.status}`, a.text);
      } catch (err) {
        fail(t, label, "PATCH network error", String(err));
      }
    } else {
      counts.create++;
      await createOne(t, dir, label);
      return lat.push(performance.now() - started);
    }
    lat.push(performance.now() - started);
  });
  return { ...run, counts };
}

// --- output -----------------------------------------------------------------------------------

const fmtRate = (r: Run | undefined, unit: string) => (r ? `${r.rate.toFixed(0)} ${unit}` : "—");
const fmtLat = (r: Run | undefined) => (r ? `${r.p50.toFixed(1)}/${r.p99.toFixed(1)}` : "");

function print(header: string): void {
  const w = Math.max(...rows.map((r) => r.label.length), 20);
  process.stdout.write(`${header}\n`);
  process.stdout.write(
    `  ${"workload".padEnd(w)} ${"Herald".padStart(12)} ${"peer".padStart(12)} ${"Herald/peer".padStart(12)}   ${"p50/p99 ms H | peer".padEnd(24)} target\n`,
  );
  for (const r of rows) {
    const unit = "/s";
    const ratio = r.herald && r.peer ? `${(r.herald.rate / r.peer.rate).toFixed(1)}×` : "";
    const lat = `${fmtLat(r.herald)}${r.peer ? ` | ${fmtLat(r.peer)}` : ""}`;
    process.stdout.write(
      `  ${r.label.padEnd(w)} ${fmtRate(r.herald, unit).padStart(12)} ${fmtRate(r.peer, unit).padStart(12)} ${ratio.padStart(12)}   ${lat.padEnd(24)} ${r.target ?? ""}${r.note ? `  (${r.note})` : ""}\n`,
    );
  }
  for (const n of notes) process.stdout.write(`  note: ${n}\n`);
  process.stdout.write(
    "  targets (issue): ≥ 4× the peer on creates, ≥ 20× on lookups, lookups as fast at 100k users as at 1k, ≥ 500 mixed requests/s on MySQL\n",
  );
  const total = [...errorCounts.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(
    `  errors: ${total}${total ? "" : " (every create 201, every lookup exactly 1 result)"}\n`,
  );
  for (const [key, n] of errorCounts) process.stdout.write(`    ${key.replace("\t", " / ")}: ${n}\n`);
  for (const s of errorSamples)
    process.stdout.write(`    e.g. [${s.target}] ${s.what}\n         ${s.detail}\n`);
}

// --- main -------------------------------------------------------------------------------------

const tmp = mkdtempSync(path.join(tmpdir(), "herald-bench-scim-"));
let herald: Target | undefined;
let peer: Target | undefined;
let mysqlDb: { url: string; drop(): Promise<void> } | undefined;
let heraldLogTail = "";
let stopping = false;

async function cleanup(): Promise<void> {
  stopping = true;
  if (herald && herald.child.exitCode === null) heraldLogTail = tail(herald.log, 20);
  await Promise.all([stop(herald?.child), stop(peer?.child)]);
  if (mysqlDb) await mysqlDb.drop().catch((err) => process.stderr.write(`could not drop database: ${err}\n`));
  rmSync(tmp, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

const started = performance.now();
let ok = false;
try {
  if (MYSQL) mysqlDb = await freshMysqlUrl();
  const dbUrl = mysqlDb?.url ?? `sqlite:${path.join(tmp, "h.sqlite")}`;
  [herald, peer] = await Promise.all([startHerald(tmp, dbUrl), startPeer()]);
  const dirs = new Map<Target, Directory>([
    [herald, new Directory()],
    [peer, new Directory()],
  ]);
  const both = [herald, peer] as const;
  const each = async (fn: (t: Target, d: Directory) => Promise<Run>): Promise<[Run, Run]> => {
    const out: Run[] = [];
    for (const t of both) out.push(await fn(t, dirs.get(t)!));
    return [out[0], out[1]];
  };

  // Warm-up: a few requests each (JIT, connections), not counted; then empty again is not needed
  // because the warm-up users are part of the directory like any other.
  const WARM = 20;
  for (const t of both) {
    const d = dirs.get(t)!;
    await drive(WARM, 1, 30_000, () => createOne(t, d, "warm-up"));
    await drive(WARM * 10, 2, 30_000, (i) => lookupOne(t, d.users[i % d.users.length], "warm-up"));
  }

  const [cs, cc] = await clientCeiling();
  notes.push(
    `client ceiling (bare node:http, 1 KB JSON, same client): ${cs.rate.toFixed(0)}/s sequential, ` +
      `${cc.rate.toFixed(0)}/s with ${CONCURRENCY} clients — no server can score above this here (${availableParallelism()} CPUs shared by client and server)`,
  );

  // 1. Sequential creates.
  progress(`${N_SEQ_CREATES} sequential creates`);
  const [h1, p1] = await each((t, d) =>
    drive(N_SEQ_CREATES, 1, 600_000, (_, lat) => createOne(t, d, "seq-create", lat)),
  );
  rows.push({
    label: `${N_SEQ_CREATES.toLocaleString("en")} sequential creates`,
    herald: h1,
    peer: p1,
    target: "≥ 4×",
  });

  // 3a. Lookups at ~1k users.
  const small = dirs.get(herald)!.users.length;
  progress(`lookups at ${small} users`);
  const [hs, hc] = await lookups(herald, dirs.get(herald)!, "lookup-small", 1);
  const [ps, pc] = await lookups(peer, dirs.get(peer)!, "lookup-small", 1);

  // 2. Concurrent creates.
  progress(`${N_CONC_CREATES} creates by ${CONCURRENCY} clients`);
  const [h2, p2] = await each((t, d) =>
    drive(N_CONC_CREATES, CONCURRENCY, 600_000, (_, lat) => createOne(t, d, "conc-create", lat)),
  );
  rows.push({
    label: `${N_CONC_CREATES.toLocaleString("en")} creates, ${CONCURRENCY} clients`,
    herald: h2,
    peer: p2,
    target: "≥ 4×",
  });
  rows.push({
    label: `lookups @${small.toLocaleString("en")} users, sequential`,
    herald: hs,
    peer: ps,
    target: "≥ 20×",
  });
  rows.push({
    label: `lookups @${small.toLocaleString("en")} users, ${CONCURRENCY} clients`,
    herald: hc,
    peer: pc,
    target: "≥ 20×",
  });

  // Growth.
  progress(`growing Herald to ${GROW_TO} users`);
  const hg = await grow(herald, dirs.get(herald)!, GROW_TO, 3_600_000);
  progress(`growing the peer towards ${GROW_TO} users (budget ${PEER_GROW_BUDGET_MS / 1000} s)`);
  const pg = await grow(peer, dirs.get(peer)!, GROW_TO, PEER_GROW_BUDGET_MS);
  const hN = await userCount(herald);
  const pN = await userCount(peer);
  rows.push({
    label: `grow to ${GROW_TO.toLocaleString("en")} users, ${CONCURRENCY} clients`,
    herald: hg,
    peer: pg,
  });
  notes.push(
    `growth: Herald ${hg.done.toLocaleString("en")} creates in ${(hg.ms / 1000).toFixed(1)} s → ${hN.toLocaleString("en")} users; ` +
      `peer ${pg.done.toLocaleString("en")} creates in ${(pg.ms / 1000).toFixed(1)} s → ${pN.toLocaleString("en")} users` +
      (pg.truncated
        ? ` (capped by the ${PEER_GROW_BUDGET_MS / 1000} s budget: scimmy's in-memory store scans every user on each insert)`
        : ""),
  );

  // 3b. Lookups at the large size.
  progress(`lookups at ${hN} (Herald) / ${pN} (peer) users`);
  const [hls, hlc] = await lookups(herald, dirs.get(herald)!, "lookup-large", 2);
  const [pls, plc] = await lookups(peer, dirs.get(peer)!, "lookup-large", 2);
  const sizes =
    hN === pN ? `@${hN.toLocaleString("en")}` : `@${hN.toLocaleString("en")}/${pN.toLocaleString("en")}`;
  const trunc = (r: Run) =>
    r.truncated ? `${r.done} done in the ${LOOKUP_BUDGET_MS / 1000} s budget` : undefined;
  rows.push({
    label: `lookups ${sizes} users, sequential`,
    herald: hls,
    peer: pls,
    target: "≥ 20×",
    note: [
      `Herald ${((hls.rate / hs.rate) * 100).toFixed(0)}% of its rate @${small}`,
      trunc(pls) && `peer ${trunc(pls)}`,
    ]
      .filter(Boolean)
      .join("; "),
  });
  rows.push({
    label: `lookups ${sizes} users, ${CONCURRENCY} clients`,
    herald: hlc,
    peer: plc,
    target: "≥ 20×",
    note: [
      `Herald ${((hlc.rate / hc.rate) * 100).toFixed(0)}% of its rate @${small}`,
      trunc(plc) && `peer ${trunc(plc)}`,
    ]
      .filter(Boolean)
      .join("; "),
  });

  // 4. Mixed on MySQL.
  if (MYSQL) {
    progress(`mixed workload on Herald for ${MIXED_SECONDS} s`);
    const m = await mixed(herald, dirs.get(herald)!);
    rows.push({
      label: `mixed 70/20/10, ${CONCURRENCY} clients, ${MIXED_SECONDS} s`,
      herald: m,
      target: "≥ 500/s",
      note: `${m.counts.get} GET id, ${m.counts.filter} filter, ${m.counts.patch} PATCH, ${m.counts.create} POST`,
    });
  }
  ok = true;
} catch (err) {
  process.stderr.write(`benchmark aborted: ${(err as Error)?.stack ?? String(err)}\n`);
  notes.push(
    `ABORTED: ${String((err as Error)?.message ?? err)}${(err as Error)?.cause ? ` (${String((err as Error).cause)})` : ""}`,
  );
} finally {
  await cleanup();
}

const dbName = MYSQL ? "MySQL/MariaDB" : "SQLite";
const rev =
  spawnSync("git", ["describe", "--always", "--dirty"], { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ||
  "?";
print(
  `scim: Herald (${dbName}) vs scimmy peer (in-memory), rates per second, 127.0.0.1, Node ${process.version}` +
    `, Herald ${rev}${QUICK ? ", --quick (counts ÷ 10)" : ""}; total ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
if (heraldLogTail.trim() !== "") {
  process.stdout.write(
    `  Herald log (warnings and above, last lines):\n${heraldLogTail.replace(/^/gm, "    ")}\n`,
  );
}
process.exitCode = ok ? 0 : 1;
