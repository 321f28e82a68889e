/**
 * Child processes for the benches: a Node script started with its own environment and awaited
 * until it answers, stopped by its pid, and its CPU time read from /proc.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) of a process so far (Linux /proc; NaN where unreadable). */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

export interface Child {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stderr: string[];
}

/** Starts a Node script with `env` and waits until `probe` answers 200. */
export async function startChild(args: string[], env: Record<string, string>, probe: string): Promise<Child> {
  const stderr: string[] = [];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr!.on("data", (d: Buffer) => stderr.length < 2000 && stderr.push(d.toString("utf8")));
  const url = `http://127.0.0.1:${env.PORT}`;
  for (const deadline = Date.now() + 60_000; ; await sleep(50)) {
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited:\n${stderr.join("")}`);
    if (Date.now() > deadline) throw new Error(`${args.join(" ")} did not answer in 60 s`);
    if ((await fetch(url + probe).catch(() => undefined))?.status === 200) return { child, url, stderr };
  }
}

export async function stop(c: Child | undefined): Promise<void> {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  const exited = new Promise((r) => c.child.once("exit", r));
  c.child.kill("SIGTERM");
  const t = setTimeout(() => c.child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(t);
}
