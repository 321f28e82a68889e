/**
 * bench/inbox — what one signed delivery costs Herald's inbox, end to end over loopback HTTP:
 * a remote actor (a small real server holding its key, test/helpers/fake-remote.ts) Likes one of
 * Herald's posts, DELIVERIES times in a row, one request at a time. The requests are signed
 * before the clock starts, so the figures are the server's work (the signature checks, Fedify's
 * JSON-LD parsing, one database write), not the client's signing. The first delivery (the key
 * fetch) is timed on its own; the rest give the mean, p50 and p99 for each signature spec.
 * Also times refusals of unsigned deliveries, which must stay cheap.
 *
 *   node bench/inbox.ts [--quick]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { signRequest } from "@fedify/fedify";
import { parseConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { startFakeRemote } from "../test/helpers/fake-remote.ts";

const quick = process.argv.includes("--quick");
const say = (line: string) => process.stdout.write(`${line}\n`);
const DELIVERIES = quick ? 100 : 500;
const here = path.dirname(new URL(import.meta.url).pathname);
const secrets = path.join(here, "../test/fixtures/secrets");
const dir = mkdtempSync(path.join(tmpdir(), "herald-bench-inbox-"));
// The origin is the port it listens on: a signature covers the Host the sender addressed.
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const { port } = probe.address() as { port: number };
    probe.close(() => resolve(port));
  });
});

const config = parseConfig({
  NODE_ENV: "test",
  DATABASE_URL: `sqlite:${path.join(dir, "herald.sqlite")}`,
  HERALD_DATA_DIR: dir,
  PORT: String(port),
  HERALD_ORIGIN: `http://127.0.0.1:${port}`,
  HERALD_LOG_LEVEL: "fatal",
  HERALD_INBOX_RATE_PER_SECOND: "1000000",
  HERALD_INBOX_BURST: "1000000",
  HERALD_SESSION_SECRET_FILE: path.join(secrets, "session.txt"),
  HERALD_ORG_SIGNING_KEY_FILE: path.join(secrets, "org-ed25519.pem"),
  HERALD_SAML_SP_KEY_FILE: path.join(secrets, "saml-sp.key"),
  HERALD_SAML_SP_CERT_FILE: path.join(secrets, "saml-sp.crt"),
});
const s = await startServer(config);
const remote = await startFakeRemote(["fan"]);
try {
  const shared = await s.services.accounts.createShared("news", "News", "bench");
  if (!shared.ok) throw new Error("no account");
  const posted = await s.services.posting.post({
    actorId: shared.actor.id,
    text: "Benchmark post",
    author: { personId: null, label: "bench" },
  });
  if (!posted.ok) throw new Error(posted.message);
  const fan = remote.actor("fan");
  const inbox = new URL("/ap/inbox", config.origin);

  const presign = async (n: number, spec: "draft-cavage-http-signatures-12" | "rfc9421", tag: string) => {
    const out: Request[] = [];
    for (let i = 0; i < n; i++) {
      const like = {
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${remote.origin}/likes/${tag}/${i}`,
        type: "Like",
        actor: fan.id.href,
        object: posted.id.href,
      };
      const req = new Request(inbox, {
        method: "POST",
        headers: { "content-type": "application/activity+json" },
        body: JSON.stringify(like),
      });
      out.push(await signRequest(req, fan.privateKey, fan.keyId, { spec }));
    }
    return out;
  };
  const send = async (req: Request): Promise<number> => {
    const started = performance.now();
    const res = await fetch(req);
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`delivery answered ${res.status}`);
    return performance.now() - started;
  };
  const stats = (ms: number[]) => {
    const sorted = [...ms].sort((a, b) => a - b);
    const pick = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
    return `mean ${mean.toFixed(2)} ms, p50 ${pick(0.5).toFixed(2)} ms, p99 ${pick(0.99).toFixed(2)} ms`;
  };

  say(`bench/inbox: ${DELIVERIES} signed Likes per spec, one at a time, SQLite, loopback`);
  for (const spec of ["draft-cavage-http-signatures-12", "rfc9421"] as const) {
    const [first, ...rest] = await presign(DELIVERIES + 1, spec, spec);
    const cold = await send(first);
    const times: number[] = [];
    for (const req of rest) times.push(await send(req));
    say(`  ${spec}: first ${cold.toFixed(1)} ms; then ${stats(times)}`);
  }
  const unsigned: number[] = [];
  for (let i = 0; i < DELIVERIES; i++) {
    const started = performance.now();
    const res = await fetch(new URL("/ap/inbox", s.url), {
      method: "POST",
      headers: { "content-type": "application/activity+json" },
      body: JSON.stringify({ "@context": "https://www.w3.org/ns/activitystreams", type: "Like" }),
    });
    await res.arrayBuffer();
    unsigned.push(performance.now() - started);
  }
  say(`  unsigned (refused): ${stats(unsigned)}`);
  say(`  (the fake remote served ${remote.requests.length} requests: key fetches)`);
} finally {
  await remote.close();
  await s.shutdown("bench");
  rmSync(dir, { recursive: true, force: true });
}
