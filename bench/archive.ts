/**
 * bench/archive — what capture costs: posting throughput (posting.post, the path the CLI, the staff
 * pages and drafts use) and inbox throughput (signed Create(Note) deliveries that mention an
 * account, over loopback HTTP, until the last one is stored) with the archive capturing and not, in the same run, on the same
 * server and database, rounds alternating so drift hits both. Prints each mode's rate and the ratio.
 *
 *   node bench/archive.ts [--quick] [--mysql]
 *
 * "Off" is `services.archive.benchmarkOnly.setCapture(false)`: the same code path without the
 * append (no configuration reaches that switch; see src/archive/records.ts). CONCURRENCY clients
 * post (and deliver) at once, so on MySQL the appends also contend for the day's chain head row.
 * A third mode, "floor", writes the same record with one plain INSERT and no chain (no head row,
 * no lock, no hash): what any capture in the act's own transaction costs, beside the real one.
 *
 * The rounds rotate the three modes' order. Besides each mode's median rate it prints the median
 * of the per-round ratios (each round's modes ran back to back, so a neighbour's load on the
 * machine hits both sides of a ratio alike) and the posting path's CPU time per post in this
 * process, which other processes' load barely moves.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { signRequest } from "@fedify/fedify";
import mysql from "mysql2/promise";
import { parseConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { ArchiveRecordSchema } from "../src/archive/entities.ts";
import { InboundSchema } from "../src/federation/entities.ts";
import { startFakeRemote } from "../test/helpers/fake-remote.ts";
import { freePort, MYSQL_URL, testEnv } from "../test/helpers/env.ts";

const quick = process.argv.includes("--quick");
const onMysql = process.argv.includes("--mysql");
const say = (line: string) => process.stdout.write(`${line}\n`);
const ROUNDS = quick ? 3 : 9;
const POSTS = quick ? 100 : 200;
const DELIVERIES = quick ? 100 : 200;
const CONCURRENCY = 8;

const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-archive-"));
let databaseUrl = `sqlite:${path.join(dir, "herald.sqlite")}`;
let dropDatabase = async () => {};
if (onMysql) {
  const name = `herald_bench_archive_${process.pid}`;
  const admin = await mysql.createConnection(MYSQL_URL);
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  const u = new URL(MYSQL_URL);
  u.pathname = `/${name}`;
  databaseUrl = u.toString();
  dropDatabase = async () => {
    const c = await mysql.createConnection(MYSQL_URL);
    await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await c.end();
  };
}
const port = await freePort();
const config = parseConfig(
  testEnv({
    DATABASE_URL: databaseUrl,
    HERALD_DATA_DIR: dir,
    PORT: String(port),
    HERALD_ORIGIN: `http://127.0.0.1:${port}`,
    HERALD_LOG_LEVEL: "fatal",
    HERALD_INBOX_RATE_PER_SECOND: "1000000",
    HERALD_INBOX_BURST: "1000000",
  }),
);
const s = await startServer(config);
const remote = await startFakeRemote(["fan"]);

/** Runs `n` jobs, CONCURRENCY at a time; returns jobs per second. */
async function rate(n: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) await job(i);
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

try {
  const shared = await s.services.accounts.createShared("news", "News", "bench");
  if (!shared.ok) throw new Error("no account");
  const account = shared.actor;
  while (!(await s.services.accounts.byId(account.id))?.keysReadyAt)
    await new Promise((r) => setTimeout(r, 100));
  const fan = remote.actor("fan");
  const inbox = new URL("/ap/inbox", config.origin);
  const actorIri = new URL(`/ap/actors/${account.id}`, config.origin).href;
  let seq = 0;
  /** Signed deliveries of a note addressed to and mentioning @news (what the archive keeps). */
  const presign = async (n: number) => {
    const out: Request[] = [];
    for (let i = 0; i < n; i++) {
      const id = `${remote.origin}/notes/${seq++}`;
      const create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${id}/activity`,
        type: "Create",
        actor: fan.id.href,
        to: [actorIri],
        object: {
          id,
          type: "Note",
          attributedTo: fan.id.href,
          to: [actorIri],
          content: `<p>@news a question, number ${i}</p>`,
          tag: [{ type: "Mention", href: actorIri, name: "@news" }],
        },
      };
      const req = new Request(inbox, {
        method: "POST",
        headers: { "content-type": "application/activity+json" },
        body: JSON.stringify(create),
      });
      out.push(
        await signRequest(req, fan.privateKey, fan.keyId, { spec: "draft-cavage-http-signatures-12" }),
      );
    }
    return out;
  };
  // Warm up: the key fetch, JIT, the day's chain head row.
  for (const req of await presign(5)) await fetch(req).then((r) => r.arrayBuffer());
  await s.services.posting.post({
    actorId: account.id,
    text: "warm-up",
    author: { personId: null, label: "bench" },
  });
  // Fedify's queue runs the warm-up's listeners a moment later: let them land before counting.
  while ((await s.services.db.run((em) => em.getRepository(InboundSchema).count())) < 5)
    await new Promise((r) => setTimeout(r, 10));

  const MODES = ["on", "off", "floor"] as const;
  type Mode = (typeof MODES)[number];
  const perMode = () => ({ on: [] as number[], off: [] as number[], floor: [] as number[] });
  const results = { post: perMode(), inbox: perMode(), postCpu: perMode() };
  const records = () => s.services.db.run((em) => em.getRepository(ArchiveRecordSchema).count());
  const inboundCount = () => s.services.db.run((em) => em.getRepository(InboundSchema).count());
  say(
    `bench/archive: ${ROUNDS} rounds × (${POSTS} posts, ${DELIVERIES} inbox deliveries) per mode (on, off, floor), ${CONCURRENCY} at a time, ${onMysql ? "MariaDB" : "SQLite"}, loopback`,
  );
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate which mode goes first.
    const order: Mode[] = [...MODES.slice(round % 3), ...MODES.slice(0, round % 3)];
    for (const mode of order) {
      s.services.archive.benchmarkOnly.setCapture(
        mode === "on" ? true : mode === "floor" ? "unchained" : false,
      );
      const before = await records();
      const cpu = process.cpuUsage();
      results.post[mode].push(
        await rate(POSTS, async (i) => {
          const r = await s.services.posting.post({
            actorId: account.id,
            text: `Benchmark post ${round}.${i} #bench`,
            author: { personId: null, label: "bench" },
          });
          if (!r.ok) throw new Error(r.message);
        }),
      );
      const used = process.cpuUsage(cpu);
      results.postCpu[mode].push((used.user + used.system) / POSTS);
      const signed = await presign(DELIVERIES);
      // Fedify answers 202 and runs the listener from its queue: the clock stops when the last
      // message is stored (and archived), not when the last 202 arrives.
      const stored = await inboundCount();
      const started = performance.now();
      await rate(DELIVERIES, async (i) => {
        const res = await fetch(signed[i]);
        await res.arrayBuffer();
        if (res.status !== 202) throw new Error(`delivery answered ${res.status}`);
      });
      while ((await inboundCount()) < stored + DELIVERIES) await new Promise((r) => setTimeout(r, 10));
      results.inbox[mode].push(DELIVERIES / ((performance.now() - started) / 1000));
      const added = (await records()) - before;
      const expected = mode === "off" ? 0 : POSTS + DELIVERIES;
      if (added !== expected)
        throw new Error(`capture ${mode}: ${added} records added, expected ${expected}`);
    }
  }
  s.services.archive.benchmarkOnly.setCapture(true);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const list = (xs: number[], digits = 0) => xs.map((x) => x.toFixed(digits)).join(", ");
  for (const what of ["post", "inbox"] as const) {
    const r = results[what];
    const paired = (mode: Mode) => r[mode].map((x, i) => x / r.off[i]);
    say(
      `  ${what === "post" ? "posting" : "inbox  "}: capture on ${median(r.on).toFixed(0)}/s, off ${median(r.off).toFixed(0)}/s, floor ${median(r.floor).toFixed(0)}/s (medians; rounds on ${list(r.on)} / off ${list(r.off)} / floor ${list(r.floor)})`,
    );
    say(
      `           on/off ${(median(r.on) / median(r.off)).toFixed(2)} (capture costs ${((1 - median(r.on) / median(r.off)) * 100).toFixed(1)}%), floor/off ${(median(r.floor) / median(r.off)).toFixed(2)}; per-round on/off ${list(paired("on"), 2)} → median ${median(paired("on")).toFixed(2)}, floor/off median ${median(paired("floor")).toFixed(2)}`,
    );
  }
  const cpu = results.postCpu;
  say(
    `  posting CPU in this process: on ${median(cpu.on).toFixed(0)} µs/post, off ${median(cpu.off).toFixed(0)}, floor ${median(cpu.floor).toFixed(0)} → on/off ${(median(cpu.on) / median(cpu.off)).toFixed(2)}`,
  );
} finally {
  await remote.close();
  await s.shutdown("bench");
  await dropDatabase();
  rmSync(dir, { recursive: true, force: true });
}
