/**
 * bench/startup — cold start to first healthy answer.
 *
 * Measures, in one run on this machine: a bare Node HTTP server (the baseline: process start to
 * first 200), Herald's first start in an empty directory (dev secrets generated, SQLite created,
 * migrations applied, demo organization seeded), and Herald's warm restart of that directory.
 * Prints medians over several runs and the ratios to the baseline.
 *
 *   node bench/startup.ts [runs=5]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RUNS = Number(process.argv[2] ?? 5);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Spawns `args`, polls `url` until 200, returns ms from spawn to that answer, then stops it. */
async function timeToHealthy(
  args: string[],
  cwd: string,
  env: Record<string, string>,
  url: (port: number) => string,
) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      HERALD_LOG_LEVEL: "warning",
      ...env,
      PORT: String(port),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise((r) => child.on("exit", r));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
      try {
        const res = await fetch(url(port));
        if (res.status === 200) return performance.now() - started;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const baseline: number[] = [];
const cold: number[] = [];
const warm: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-"));
  try {
    baseline.push(
      await timeToHealthy(
        ["-e", "require('node:http').createServer((q,s)=>s.end('ok')).listen(+process.env.PORT,'127.0.0.1')"],
        dir,
        {},
        (p) => `http://127.0.0.1:${p}/`,
      ),
    );
    const herald = [path.join(ROOT, "src/main.ts")];
    cold.push(await timeToHealthy(herald, dir, {}, (p) => `http://127.0.0.1:${p}/healthz`));
    warm.push(await timeToHealthy(herald, dir, {}, (p) => `http://127.0.0.1:${p}/healthz`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const b = median(baseline);
const rows = [
  ["bare node:http server (baseline)", b],
  ["Herald, first start (secrets + schema + demo seed)", median(cold)],
  ["Herald, restart of an existing database", median(warm)],
] as const;
process.stdout.write(
  `startup: process spawn → first 200, median of ${RUNS} runs (SQLite, development mode)\n`,
);
for (const [name, ms] of rows) {
  process.stdout.write(
    `  ${name.padEnd(52)} ${ms.toFixed(0).padStart(6)} ms   ${(ms / b).toFixed(1).padStart(5)}× baseline\n`,
  );
}
