/**
 * Runs Microsoft's and Okta's SCIM conformance suites (../shared/scim-peers) against a real Herald
 * on an empty database, and fails unless every failure is one of the documented refusals in
 * refusals.json — and every documented refusal still fails (so the list cannot go stale).
 *
 *   node test/conformance/scim-suites.ts [--mysql]
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, freshDatabaseUrl, ROOT, testEnv, waitFor } from "../helpers/env.ts";

const peers = process.env.SCIM_PEERS_DIR ?? path.resolve(ROOT, "../shared/scim-peers");
if (!existsSync(path.join(peers, "run-suite.sh"))) {
  process.stderr.write(`SCIM conformance suites not found at ${peers} (set SCIM_PEERS_DIR).\n`);
  process.exit(1);
}
if (process.argv.includes("--mysql")) process.env.HERALD_TEST_DB = "mysql";

interface Refusal {
  request: string;
  test: string;
  why: string;
}
const refusals = JSON.parse(
  readFileSync(path.join(ROOT, "test/conformance/refusals.json"), "utf8"),
) as Record<"ms" | "okta", Refusal[]>;

const fresh = await freshDatabaseUrl();
const port = await freePort();
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...testEnv(),
  HERALD_LOG_LEVEL: "warning",
  DATABASE_URL: fresh.url,
  HERALD_DATA_DIR: fresh.dir,
  PORT: String(port),
  HERALD_ORIGIN: `http://127.0.0.1:${port}`,
};
const server = spawn(process.execPath, [path.join(ROOT, "src/main.ts")], {
  env,
  stdio: ["ignore", "ignore", "inherit"],
});
const exited = new Promise((r) => server.on("exit", r));
let code = 1;
try {
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok || undefined, {
    what: "Herald to start",
    timeoutMs: 30_000,
  });
  const cli = spawnSync(
    process.execPath,
    [path.join(ROOT, "bin/herald.js"), "token", "create", "conformance"],
    {
      env,
      encoding: "utf8",
    },
  );
  const token = cli.stdout.trim().split("\n").at(-1) ?? "";
  if (cli.status !== 0 || !token.startsWith("hrld_")) throw new Error(`token create failed: ${cli.stderr}`);

  const work = process.env.WORK ?? path.join(tmpdir(), "scim-peers-work");
  const run = spawnSync(
    "bash",
    [path.join(peers, "run-suite.sh"), `http://127.0.0.1:${port}/scim/v2`, token],
    {
      env: { ...process.env, WORK: work },
      encoding: "utf8",
      timeout: 15 * 60_000,
    },
  );
  const out = `${run.stdout}${run.stderr}`;
  const counts = (suite: string) => {
    const m = new RegExp(`^suite ${suite}: (\\d+) passed, (\\d+) failed$`, "m").exec(out);
    return m ? { passed: Number(m[1]), failed: Number(m[2]) } : undefined;
  };
  const ms = counts("ms");
  const okta = counts("okta");
  if (!ms || !okta) throw new Error(`could not read the suites' results:\n${out}`);

  // Microsoft's failures, by request and assertion, from newman's JSON report.
  const report = JSON.parse(readFileSync(path.join(work, "ms-report.json"), "utf8")) as {
    run: {
      failures: {
        source?: { name?: string };
        parent?: { name?: string };
        error?: { test?: string; message?: string };
      }[];
    };
  };
  const msFailures = report.run.failures.map((f) => ({
    request: `${f.parent?.name ?? ""} / ${f.source?.name ?? ""}`,
    test: f.error?.test ?? f.error?.message ?? "?",
  }));
  const key = (x: { request: string; test: string }) => `${x.request} :: ${x.test}`;
  const expected = new Set(refusals.ms.map(key));
  const unexpected = msFailures.filter((f) => !expected.has(key(f)));
  const stale = refusals.ms.filter((r) => !msFailures.some((f) => key(f) === key(r)));

  process.stdout.write(`SCIM conformance on ${process.env.HERALD_TEST_DB ?? "sqlite"}:\n`);
  process.stdout.write(
    `  ms:   ${ms.passed} passed, ${ms.failed} failed (${refusals.ms.length} documented refusals)\n`,
  );
  process.stdout.write(`  okta: ${okta.passed} passed, ${okta.failed} failed\n`);
  for (const f of unexpected) process.stdout.write(`  UNEXPECTED ms failure: ${key(f)}\n`);
  for (const r of stale)
    process.stdout.write(`  STALE refusal (now passes; update refusals.json): ${key(r)}\n`);
  if (okta.failed > 0)
    process.stdout.write(
      out
        .split("\n")
        .filter((l) => /FAIL/.test(l))
        .join("\n") + "\n",
    );
  if (unexpected.length > 0 || okta.failed > 0) process.stdout.write(`${out}\n`);
  code =
    unexpected.length === 0 && stale.length === 0 && okta.failed === 0 && ms.failed === msFailures.length
      ? 0
      : 1;
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  server.kill("SIGTERM");
  await exited;
  await fresh.cleanup();
}
process.exit(code);
