/**
 * The README is true for the demo as shipped: every command in its `sh` code blocks is run, in
 * order, against a fresh demo organization seeded as `npm start` seeds it (the real server
 * process, no DATABASE_URL, development mode, in a temporary directory), and must exit 0. Where a
 * command's comment starts with the answer (`# deny, …`, `# former: …`), stdout's first line must
 * be that answer. Commands that cannot run here are on ALLOWED, with the reason; the test checks
 * that exactly those were skipped, so a new README command is never silently untested.
 * The layout section must name every file and folder directly under src/.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, ROOT, TEST_DB } from "./helpers/env.ts";
import { runCli, runNode, startDemoProcess } from "./helpers/process.ts";

const README = readFileSync(path.join(ROOT, "README.md"), "utf8");
/** The README's examples use the default origin; the server listens on a free port behind it. */
const ORIGIN = "http://localhost:3000";

/**
 * Commands the test does not run, and why. Checked both ways: each was met in the README, and
 * nothing else was skipped.
 */
const ALLOWED = new Map<string, string>([
  // Installs dependencies: the test already runs in an installed tree.
  ["npm ci", "install"],
  // Long-running: exercised below by starting package.json's start script and checking
  // /healthz and the banner.
  ["npm start", "server"],
  // Recursive: the suites (and the gate) that run this very test.
  ["npm test", "suite"],
  ["npm run test:mysql", "suite"],
  ["npm run test:cluster", "suite"],
  [".ci/run", "gate"],
  // The gate's type-check, lint and format step (the whole repository; minutes).
  ["npm run check", "gate"],
  // Microsoft's and Okta's SCIM suites: minutes, run by .ci/run.
  ["npx node test/conformance/scim-suites.ts", "conformance"],
]);

interface Command {
  readonly line: number;
  readonly text: string;
  readonly words: string[];
  readonly comment: string;
}

/** Splits a line into shell words and its trailing comment; refuses what a plain split cannot run. */
function parse(line: string, lineNo: number): Command | undefined {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  let i = 0;
  for (; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "#" && word === undefined) break;
    else if (/[$`|;&<>\\(){}*?]/.test(c))
      throw new Error(
        `README line ${lineNo}: "${c}" needs a shell; keep README commands to plain words: ${line}`,
      );
    else word = (word ?? "") + c;
  }
  assert.equal(quote, undefined, `README line ${lineNo}: unclosed quote`);
  if (word !== undefined) words.push(word);
  if (words.length === 0) return undefined;
  return {
    line: lineNo,
    text: line.slice(0, i).trim(),
    words,
    comment: line
      .slice(i + 1)
      .trim()
      .replace(/^#\s*/, ""),
  };
}

/** Every command of every ```sh block, in README order. */
function commands(markdown: string): Command[] {
  const out: Command[] = [];
  const lines = markdown.split("\n");
  let inSh = false;
  lines.forEach((l, i) => {
    if (/^```/.test(l)) {
      inSh = !inSh && /^```sh\s*$/.test(l);
      return;
    }
    if (!inSh) return;
    const c = parse(l, i + 1);
    if (c) out.push(c);
  });
  return out;
}

describe(
  "the README's commands",
  { skip: TEST_DB !== "sqlite" && "the demo is seeded on SQLite only" },
  () => {
    let server: Awaited<ReturnType<typeof startDemoProcess>>;
    const skipped: string[] = [];
    const all = commands(README);

    before(async () => {
      server = await startDemoProcess(ORIGIN, await freePort());
    });
    after(() => server.stop());

    test("the README has commands to run", () => {
      assert.ok(all.filter((c) => c.words[0] === "npx" && c.words[1] === "herald").length >= 20);
    });

    test("npm start: package.json's start script serves /healthz and says where to sign in and verify", async () => {
      const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
        scripts: Record<string, string>;
        bin: Record<string, string>;
      };
      // What the server process above runs, and what `npx herald` runs below.
      assert.equal(pkg.scripts.start, "node src/main.ts");
      assert.equal(pkg.bin.herald, "./bin/herald.js");
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
      const banner = server.output().stdout;
      assert.match(banner, new RegExp(`sign in:\\s+${ORIGIN}/login\\b`));
      assert.match(banner, new RegExp(`verify:\\s+${ORIGIN}/verify\\b`));
      assert.match(banner, /\(demo organization\)/);
    });

    for (const c of all) {
      const runnable =
        (c.words[0] === "npx" && c.words[1] === "herald") || c.words[0] === "node" || c.words[0] === "npx";
      test(`README line ${c.line}: ${c.text}`, async () => {
        if (ALLOWED.has(c.words.join(" "))) {
          skipped.push(c.words.join(" "));
          return;
        }
        assert.ok(
          runnable && (c.words[1] === "herald" || c.words[0] === "node"),
          `README line ${c.line} is neither a CLI command nor on ALLOWED (with a reason): ${c.text}`,
        );
        const env = { HERALD_ORIGIN: ORIGIN };
        const r =
          c.words[0] === "node"
            ? await runNode(path.resolve(ROOT, c.words[1]), c.words.slice(2), env, server.cwd)
            : await runCli(c.words.slice(2), env, server.cwd);
        assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
        // "# deny, then the rule…", "# former: …": the first line of stdout says so.
        const claimed = /^(allow|deny|active|former|unknown)\b(?!\s*\|)/.exec(c.comment)?.[1];
        if (claimed) assert.equal(r.stdout.split("\n")[0], claimed, r.stdout);
      });
    }

    test("exactly the allow-listed commands were skipped", () => {
      assert.deepEqual([...new Set(skipped)].sort(), [...ALLOWED.keys()].sort());
    });
  },
);

describe("the README's layout", () => {
  test("names every file and folder directly under src/", () => {
    const layout = /## Layout\n\n```\n([^]*?)```/.exec(README)?.[1] ?? "";
    const listed = new Set([...layout.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]));
    const actual = readdirSync(path.join(ROOT, "src"), { withFileTypes: true })
      .filter((e) => e.isDirectory() || e.name.endsWith(".ts"))
      .map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    assert.deepEqual(
      actual.filter((name) => !listed.has(name)),
      [],
    );
  });
});
