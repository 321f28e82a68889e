/** Child processes for end-to-end tests: the real CLI and the real server entry point. */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, testEnv, waitFor } from "./env.ts";

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `herald <args>` (bin/herald.js under this Node) and collects its output. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  cwd = ROOT,
): Promise<RunResult> {
  return runNode(path.join(ROOT, "bin/herald.js"), args, env, cwd);
}

/** Runs a Node script as a separate process (Node 24, a minimal environment): exit code and output. */
export function runNode(
  script: string,
  args: string[],
  env: Record<string, string | undefined> = {},
  cwd = ROOT,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
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
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/**
 * Starts `node src/main.ts [role]` with `env` in `cwd` and waits until /healthz answers 200 (and
 * /readyz, when `ready`).
 */
export async function startServerProcess(
  env: Record<string, string | undefined>,
  port: number,
  cwd = ROOT,
  { useTestSecrets = true, role = undefined as "all" | "web" | "worker" | undefined, ready = false } = {},
): Promise<ServerProcess> {
  const base = useTestSecrets ? testEnv() : { NODE_ENV: "test" };
  const child = spawn(process.execPath, [path.join(ROOT, "src/main.ts"), ...(role ? [role] : [])], {
    cwd,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...base,
      HERALD_LOG_LEVEL: "info",
      PORT: String(port),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  let dead = false;
  void exited.then(() => {
    dead = true;
  });
  await waitFor(
    async () => {
      if (dead) throw new Error(`server exited early:\n${stderr}`);
      const res = await fetch(`${url}/${ready ? "readyz" : "healthz"}`);
      return res.status === 200 ? true : undefined;
    },
    { what: "the server to become healthy", timeoutMs: 30_000 },
  ).catch((err) => {
    child.kill("SIGKILL");
    throw new Error(`${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  });
  return { child, url, output: () => ({ stdout, stderr }), exited };
}

/**
 * `npm start` on a fresh machine, in a new temporary directory: no DATABASE_URL, no secrets,
 * development mode, ./data — so the demo organization is seeded. `origin` is HERALD_ORIGIN (the
 * README's http://localhost:3000) while the process listens on `port`. Resolves once the demo's
 * accounts, grants and posts exist (they are made a moment after it listens); `stop()` ends it
 * (exit 0 required) and removes the directory.
 */
export async function startDemoProcess(
  origin: string,
  port: number,
): Promise<ServerProcess & { cwd: string; stop(): Promise<void> }> {
  const cwd = mkdtempSync(path.join(tmpdir(), "herald-demo-"));
  const server = await startServerProcess({ NODE_ENV: undefined, HERALD_ORIGIN: origin }, port, cwd, {
    useTestSecrets: false,
  });
  await waitFor(
    async () => (/Seeded the demo's @recruiting/.test(server.output().stderr) ? true : undefined),
    { what: "the demo's accounts and posts", timeoutMs: 60_000, intervalMs: 200 },
  );
  return {
    ...server,
    cwd,
    async stop() {
      server.child.kill("SIGTERM");
      const code = await server.exited;
      rmSync(cwd, { recursive: true, force: true });
      assert.equal(code, 0, "the server exits cleanly");
    },
  };
}
