/**
 * bench/hire-under-load — how long a new hire takes to become followable (SCIM create → WebFinger
 * answers and the actor is served with its key), on an idle server and while four clients keep
 * it busy, measured in the same run (decision 0008; the Hardening issue's target: within 2 s
 * under load). Also prints the load's own throughput during the hires.
 *
 *   node bench/hire-under-load.ts [--quick]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";

const quick = process.argv.includes("--quick");
const HIRES = quick ? 5 : 20;
const here = path.dirname(new URL(import.meta.url).pathname);
const secrets = path.join(here, "../test/fixtures/secrets");
const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-hire-"));

const config = parseConfig({
  NODE_ENV: "test",
  DATABASE_URL: `sqlite:${path.join(dir, "herald.sqlite")}`,
  HERALD_DATA_DIR: dir,
  PORT: "0",
  HERALD_ORIGIN: "http://127.0.0.1:3999",
  HERALD_LOG_LEVEL: "fatal",
  HERALD_SESSION_SECRET_FILE: path.join(secrets, "session.txt"),
  HERALD_ORG_SIGNING_KEY_FILE: path.join(secrets, "org-ed25519.pem"),
  HERALD_SAML_SP_KEY_FILE: path.join(secrets, "saml-sp.key"),
  HERALD_SAML_SP_CERT_FILE: path.join(secrets, "saml-sp.crt"),
});
const s = await startServer(config);
const created = await s.services.tokens.create("bench", "bench");
if (!created.ok) throw new Error("no token");
const token = created.token;
const domain = config.handleDomain;
let n = 0;

async function hire(): Promise<number> {
  const user = `hire${++n}`;
  const started = performance.now();
  const res = await fetch(`${s.url}/scim/v2/Users`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
    body: JSON.stringify({ userName: `${user}@corp.example`, displayName: user }),
  });
  if (res.status !== 201) throw new Error(`create: ${res.status}`);
  for (;;) {
    const wf = await fetch(`${s.url}/.well-known/webfinger?resource=acct:${user}@${domain}`);
    if (wf.status === 200) {
      const self = ((await wf.json()).links as { rel: string; href: string }[]).find((l) => l.rel === "self");
      const actor = await fetch(self!.href.replace(/^https?:\/\/[^/]+/, s.url), {
        headers: { accept: "application/activity+json" },
      });
      if (actor.status === 200 && (await actor.json()).publicKey) return performance.now() - started;
    } else await wf.arrayBuffer();
    await new Promise((r) => setTimeout(r, 20));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs: number[]) => Math.max(...xs);

const idle: number[] = [];
for (let i = 0; i < HIRES; i++) idle.push(await hire());

let stop = false;
let answered = 0;
const targets = [`${s.url}/`, `${s.url}/nodeinfo/2.1`, `${s.url}/.well-known/host-meta`, `${s.url}/`];
const clients = targets.map(async (url) => {
  while (!stop) {
    await (await fetch(url)).arrayBuffer();
    answered++;
  }
});
await new Promise((r) => setTimeout(r, 500));
const loadStart = performance.now();
const answeredStart = answered;
const busy: number[] = [];
for (let i = 0; i < HIRES; i++) busy.push(await hire());
const loadRate = ((answered - answeredStart) / (performance.now() - loadStart)) * 1000;
stop = true;
await Promise.all(clients);

const f = (ms: number) => `${Math.round(ms)} ms`;
process.stdout.write(
  `hire → followable (${HIRES} hires each)\n` +
    `  idle server:        median ${f(median(idle))}, max ${f(max(idle))}\n` +
    `  under load:         median ${f(median(busy))}, max ${f(max(busy))}  (load answered ${Math.round(loadRate)} req/s meanwhile)\n` +
    `  ratio (load/idle):  ${(median(busy) / median(idle)).toFixed(2)}× median; target: max under load ≤ 2000 ms → ${max(busy) <= 2000 ? "met" : "missed"}\n`,
);
await s.shutdown("bench");
rmSync(dir, { recursive: true, force: true });
