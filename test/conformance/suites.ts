/**
 * Microsoft's and Okta's SCIM conformance suites (../shared/scim-peers, run-suite.sh) against a
 * Herald URL, judged against the documented refusals in refusals.json: a run conforms when every
 * failure is a documented refusal and every documented refusal still fails (so the list cannot go
 * stale). Used by scim-suites.ts (a fresh server) and test/cluster (through nginx, during
 * restarts).
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ROOT } from "../helpers/env.ts";

export type Suite = "ms" | "okta";

export const PEERS_DIR = process.env.SCIM_PEERS_DIR ?? path.resolve(ROOT, "../shared/scim-peers");

/** Where the suites are missing, why (else undefined). */
export function peersMissing(): string | undefined {
  return existsSync(path.join(PEERS_DIR, "run-suite.sh"))
    ? undefined
    : `SCIM conformance suites not found at ${PEERS_DIR} (set SCIM_PEERS_DIR)`;
}

interface Refusal {
  request: string;
  test: string;
  why: string;
}

interface Failure {
  request: string;
  test: string;
}

export interface SuiteResult {
  readonly suite: Suite;
  readonly passed: number;
  readonly failed: number;
  readonly documented: number;
  /** Failures that are not documented refusals. */
  readonly unexpected: readonly string[];
  /** Documented refusals that passed. */
  readonly stale: readonly string[];
  /** Okta's response-time assertions that failed, when the caller counts them apart (below). */
  readonly slow: readonly string[];
  readonly conforms: boolean;
}

export interface SuitesRun {
  readonly results: readonly SuiteResult[];
  /** run-suite.sh's output. */
  readonly output: string;
  readonly conforms: boolean;
}

const key = (x: Failure) => `${x.request} :: ${x.test}`;

function refusals(): Record<Suite, Refusal[]> {
  return JSON.parse(readFileSync(path.join(ROOT, "test/conformance/refusals.json"), "utf8")) as Record<
    Suite,
    Refusal[]
  >;
}

/** Microsoft's failures, by request and assertion, from newman's JSON report. */
function msFailures(work: string): Failure[] {
  const report = JSON.parse(readFileSync(path.join(work, "ms-report.json"), "utf8")) as {
    run: {
      failures: {
        source?: { name?: string };
        parent?: { name?: string };
        error?: { test?: string; message?: string };
      }[];
    };
  };
  return report.run.failures.map((f) => ({
    request: `${f.parent?.name ?? ""} / ${f.source?.name ?? ""}`,
    test: f.error?.test ?? f.error?.message ?? "?",
  }));
}

/** Okta's failures from the runner's lines `FAIL  <step> :: <assertion>`. */
function oktaFailures(work: string): Failure[] {
  return readFileSync(path.join(work, "okta.txt"), "utf8")
    .split("\n")
    .flatMap((line) => {
      const m = /^FAIL {2}(.*?) :: (.*)$/.exec(line);
      return m ? [{ request: m[1], test: m[2] }] : [];
    });
}

/**
 * Runs `suites` against `baseUrl` (…/scim/v2) with `token`; `work` holds the suites' reports and
 * tools (newman). Asynchronous, so a caller can put load on the server meanwhile.
 */
export async function runSuites(
  baseUrl: string,
  token: string,
  suites: readonly Suite[],
  work: string,
  options: {
    /**
     * Okta's `response_time is_less_than 600` assertions measure time, not conformance: a run
     * beside a rolling restart (a request waiting for a process that is going away) counts them
     * apart, in `slow`, rather than as failures. Timing belongs in bench/.
     */
    readonly timingApart?: boolean;
  } = {},
): Promise<SuitesRun> {
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn("bash", [path.join(PEERS_DIR, "run-suite.sh"), baseUrl, token, suites.join(",")], {
      env: { ...process.env, WORK: work },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 15 * 60_000);
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
  const documented = refusals();
  const results = suites.map((suite): SuiteResult => {
    const m = new RegExp(`^suite ${suite}: (\\d+) passed, (\\d+) failed$`, "m").exec(output);
    if (!m) throw new Error(`could not read suite ${suite}'s result:\n${output}`);
    const [passed, failed] = [Number(m[1]), Number(m[2])];
    const failures = suite === "ms" ? msFailures(work) : oktaFailures(work);
    const timing = (f: Failure) => options.timingApart === true && /^response_time /.test(f.test);
    const expected = new Set(documented[suite].map(key));
    const unexpected = failures.filter((f) => !expected.has(key(f)) && !timing(f)).map(key);
    const slow = failures.filter(timing).map(key);
    const stale = documented[suite].filter((r) => !failures.some((f) => key(f) === key(r))).map(key);
    return {
      suite,
      passed,
      failed,
      documented: documented[suite].length,
      unexpected,
      stale,
      slow,
      // Every counted failure must be one that was read (a failed request counts without a line).
      conforms: unexpected.length === 0 && stale.length === 0 && failed === failures.length,
    };
  });
  return { results, output, conforms: results.every((r) => r.conforms) };
}

/** A human summary of a run: counts per suite, then each unexpected failure and stale refusal. */
export function describeRun(run: SuitesRun): string {
  const lines: string[] = [];
  for (const r of run.results) {
    lines.push(
      `  ${`${r.suite}:`.padEnd(5)} ${r.passed} passed, ${r.failed} failed (${r.documented} documented refusals)`,
    );
    for (const u of r.unexpected) lines.push(`  UNEXPECTED ${r.suite} failure: ${u}`);
    for (const s of r.stale) lines.push(`  STALE refusal (now passes; update refusals.json): ${s}`);
  }
  return `${lines.join("\n")}\n`;
}
