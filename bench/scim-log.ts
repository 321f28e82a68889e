/**
 * bench/scim-log — what the SCIM request log (src/scim/request-log.ts, /admin/provisioning)
 * costs: one Herald (in this process, SQLite or with --mysql MariaDB) answers SCIM creates and
 * `userName eq` lookups over loopback with the log on and off, in alternating rounds so that the
 * load of a shared machine falls on both alike; "off" makes the log's `record` a no-op (the
 * flush timer then has nothing to write). Prints the median rate of each and the ratio on ÷ off.
 *
 *   node bench/scim-log.ts [--rounds=8] [--mysql]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { freePort, MYSQL_URL, testEnv } from "../test/helpers/env.ts";

const args = process.argv.slice(2);
const ROUNDS = Number(args.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 8);
const MYSQL = args.includes("--mysql");
const CREATES = 200;
const LOOKUPS = 600;
const CLIENTS = 8;

const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-scim-log-"));
const port = await freePort();
if (MYSQL) {
  const mysql = await import("mysql2/promise");
  const c = await mysql.createConnection(MYSQL_URL);
  await c.query("DROP DATABASE IF EXISTS herald_bench_scim_log");
  await c.query("CREATE DATABASE herald_bench_scim_log");
  await c.end();
}
const config = parseConfig(
  testEnv({
    PORT: String(port),
    HERALD_DATA_DIR: dir,
    DATABASE_URL: MYSQL
      ? MYSQL_URL.replace(/\/[^/]*$/, "/herald_bench_scim_log")
      : `sqlite:${dir}/herald.sqlite`,
    HERALD_SCIM_RATE_PER_SECOND: "100000",
    HERALD_SCIM_BURST: "100000",
  }),
);
const s = await startServer(config);
const t = await s.services.tokens.create("bench", "bench");
if (!t.ok) throw new Error(t.message);
const headers = { authorization: `Bearer ${t.token}`, "content-type": "application/scim+json" };
const log = s.services.scimLog;
const record = log.record;

let made = 0;
async function parallel(n: number, one: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < n) await one(next++);
    }),
  );
  return n / ((performance.now() - started) / 1000);
}
const create = async () => {
  const res = await fetch(`${s.url}/scim/v2/Users`, {
    method: "POST",
    headers,
    body: JSON.stringify({ userName: `u${made++}@bench.example` }),
  });
  if (res.status !== 201) throw new Error(`create: ${res.status}`);
  await res.arrayBuffer();
};
const lookup = async (i: number) => {
  const filter = encodeURIComponent(`userName eq "u${i % Math.max(1, made)}@bench.example"`);
  const res = await fetch(`${s.url}/scim/v2/Users?filter=${filter}`, { headers });
  if (res.status !== 200) throw new Error(`lookup: ${res.status}`);
  await res.arrayBuffer();
};

const rates = {
  on: { creates: [] as number[], lookups: [] as number[] },
  off: { creates: [] as number[], lookups: [] as number[] },
};
await parallel(100, create); // warm-up
for (let r = 0; r < ROUNDS; r++)
  for (const mode of r % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
    log.record = mode === "on" ? record : () => undefined;
    rates[mode].creates.push(await parallel(CREATES, create));
    rates[mode].lookups.push(await parallel(LOOKUPS, lookup));
    await log.flush();
  }
log.record = record;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = await s.services.db.query<{ n: number | string }>(
  "SELECT SUM(count) AS n FROM scim_request_stat",
);
process.stdout.write(
  `scim-log: ${MYSQL ? "MariaDB" : "SQLite"}, ${ROUNDS} alternating rounds of ${CREATES} creates and ${LOOKUPS} lookups by ${CLIENTS} clients\n` +
    `  creates/s  on ${median(rates.on.creates).toFixed(0)}  off ${median(rates.off.creates).toFixed(0)}  on÷off ${(median(rates.on.creates) / median(rates.off.creates)).toFixed(2)}\n` +
    `  lookups/s  on ${median(rates.on.lookups).toFixed(0)}  off ${median(rates.off.lookups).toFixed(0)}  on÷off ${(median(rates.on.lookups) / median(rates.off.lookups)).toFixed(2)}\n` +
    `  requests counted in scim_request_stat: ${Number(rows[0]?.n ?? 0)} (the "on" rounds and the warm-up)\n`,
);
await s.shutdown("bench");
rmSync(dir, { recursive: true, force: true });
