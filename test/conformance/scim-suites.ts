/**
 * Runs Microsoft's and Okta's SCIM conformance suites (../shared/scim-peers) against a real Herald
 * on an empty database, and fails unless every failure is one of the documented refusals in
 * refusals.json — and every documented refusal still fails (so the list cannot go stale).
 *
 *   node test/conformance/scim-suites.ts [--mysql]
 */
import { spawn, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";

if (process.argv.includes("--mysql")) process.env.HERALD_TEST_DB = "mysql";
// Imported after the line above: env.ts reads HERALD_TEST_DB once, when it is first evaluated
// (a static import would run before it, and `--mysql` would test SQLite).
const { freePort, freshDatabaseUrl, ROOT, testEnv, TEST_DB, waitFor } = await import("../helpers/env.ts");
const { describeRun, peersMissing, runSuites } = await import("./suites.ts");

const missing = peersMissing();
if (missing) {
  process.stderr.write(`${missing}.\n`);
  process.exit(1);
}

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
  const run = await runSuites(`http://127.0.0.1:${port}/scim/v2`, token, ["ms", "okta"], work);
  process.stdout.write(`SCIM conformance on ${TEST_DB}:\n${describeRun(run)}`);
  if (!run.conforms) process.stdout.write(`${run.output}\n`);
  code = run.conforms ? 0 : 1;
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
} finally {
  server.kill("SIGTERM");
  await exited;
  await fresh.cleanup();
}
process.exit(code);
