/**
 * Every remote document Herald or Fedify fetches is bounded (src/federation/loader.ts): at most
 * 1 MiB, one deadline per load, at most 5 redirects, http(s) only, and no private address in
 * production. A hostile server on loopback (node:http) serves what an attacker would: a 50 MB key
 * document (declared or streamed), one dripped a byte at a time, redirect chains, a redirect to
 * `file:`. It records every request and whether each answer was cut off, so "aborted" and
 * "nothing fetched" are observed. The inbox cases are the attack as sent: an unsigned POST whose
 * Signature header names a `keyId` on that server.
 *
 * Logs are captured in memory: a remote party's fault is logged at info, never at error.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { verifyRequest } from "@fedify/fedify";
import { CryptographicKey } from "@fedify/vocab";
import { type DocumentLoader, FetchError, UrlError } from "@fedify/vocab-runtime";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { createHeraldFederation } from "../../src/federation/federation.ts";
import { boundedDocumentLoader } from "../../src/federation/loader.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const MB = 1024 * 1024;
const HUGE = 50 * MB;
/** The test server's deadline per load (10 s in production; short here so the drip ends soon). */
const DEADLINE_MS = 2000;

interface Answer {
  /** Bytes written to the socket (kernel buffers included). */
  sent: number;
  /** The connection closed before the whole answer was written. */
  cutOff: boolean;
}

/** Who signs Herald's authorized fetches here, and the key document the hostile server checks. */
interface Signer {
  readonly keyId: URL;
  readonly privateKey: CryptoKey;
  readonly keyLoader: DocumentLoader;
}

interface Hostile {
  readonly origin: string;
  readonly requests: string[];
  /** For /authorized/ paths: "<path> <spec>" when the signature verified, "<path> refused" if not. */
  readonly signed: string[];
  /** What became of the answer to each path, once its connection closed. */
  readonly answers: Map<string, Answer>;
  close(): Promise<void>;
}

/** A key document padded to `HUGE` bytes, written in 64 KiB pieces as the socket takes them. */
function sendHuge(res: http.ServerResponse, url: string, declared: boolean, answer: Answer) {
  const head = Buffer.from(
    JSON.stringify({ "@context": "https://w3id.org/security/v1", id: url, type: "CryptographicKey" }).slice(
      0,
      -1,
    ) + ',"padding":"',
  );
  const tail = Buffer.from('"}');
  const piece = Buffer.alloc(64 * 1024, "a");
  res.writeHead(200, {
    "content-type": "application/activity+json",
    ...(declared ? { "content-length": String(HUGE) } : {}),
  });
  res.write(head);
  answer.sent = head.length;
  const pump = () => {
    while (!res.destroyed) {
      const left = HUGE - tail.length - answer.sent;
      if (left <= 0) {
        res.end(tail);
        return;
      }
      const chunk = left < piece.length ? piece.subarray(0, left) : piece;
      answer.sent += chunk.length;
      if (!res.write(chunk)) {
        res.once("drain", pump);
        return;
      }
    }
  };
  pump();
}

async function startHostile(signer: Signer): Promise<Hostile> {
  const requests: string[] = [];
  const signed: string[] = [];
  const answers = new Map<string, Answer>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? "/";
    requests.push(path);
    req.resume();
    const url = `${origin}${path}`;
    const answer: Answer = { sent: 0, cutOff: false };
    res.on("close", () => {
      answer.cutOff = !res.writableFinished;
      answers.set(path, answer);
    });
    const json = (doc: unknown) => {
      res.writeHead(200, { "content-type": "application/activity+json" });
      res.end(JSON.stringify(doc));
    };
    let m: RegExpExecArray | null;
    if (path.startsWith("/big-declared/")) return sendHuge(res, url, true, answer);
    if (path.startsWith("/big-streamed/")) return sendHuge(res, url, false, answer);
    if (path.startsWith("/drip/")) {
      // A valid start, then a space every 100 ms: never a pause long enough for a socket timeout.
      res.writeHead(200, { "content-type": "application/activity+json" });
      res.write("{");
      const timer = setInterval(() => res.write(" "), 100);
      res.on("close", () => clearInterval(timer));
      return;
    }
    if ((m = /^\/r\/([a-z]+)\/(\d+)$/.exec(path))) {
      const n = Number(m[2]);
      if (n === 0)
        return json({ "@context": "https://www.w3.org/ns/activitystreams", id: url, type: "Note" });
      res.writeHead(302, { location: `/r/${m[1]}/${n - 1}` });
      return res.end();
    }
    if ((m = /^\/authorized\/(any|rfc9421)\/(note|big)(\?.*)?$/.exec(path))) {
      // An authorized-fetch server: answers only a request whose HTTP signature verifies, and
      // (for /rfc9421/) only an RFC 9421 one, as a server that cannot read draft-cavage would.
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      const spec = headers.has("signature-input") ? "rfc9421" : "draft-cavage-http-signatures-12";
      const only = m[1];
      const what = m[2];
      void verifyRequest(new Request(url, { headers }), {
        documentLoader: signer.keyLoader,
        contextLoader: signer.keyLoader,
      }).then((key) => {
        if (key?.id?.href !== signer.keyId.href || (only === "rfc9421" && spec !== "rfc9421")) {
          signed.push(`${path} refused`);
          res.writeHead(401);
          return res.end();
        }
        signed.push(`${path} ${spec}`);
        if (what === "big") return sendHuge(res, url, false, answer);
        json({ "@context": "https://www.w3.org/ns/activitystreams", id: url, type: "Note" });
      });
      return;
    }
    if (path === "/to-file") {
      res.writeHead(302, { location: "file:///etc/passwd" });
      return res.end();
    }
    if (path === "/note")
      return json({ "@context": "https://www.w3.org/ns/activitystreams", id: url, type: "Note" });
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    signed,
    answers,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe(`remote documents are bounded in size, time and hops (${TEST_DB})`, () => {
  let s: TestServer;
  let hostile: Hostile;
  let signer: Signer;
  const records: LogRecord[] = [];

  before(async () => {
    await configure({
      reset: true,
      sinks: { memory: (record) => records.push(record) },
      loggers: [
        { category: ["fedify"], lowestLevel: "info", sinks: ["memory"] },
        { category: ["herald"], lowestLevel: "info", sinks: ["memory"] },
        { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["memory"] },
      ],
    });
    s = await startTestServer({ HERALD_REMOTE_FETCH_TIMEOUT_MS: String(DEADLINE_MS) });
    const keys = await crypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    );
    const keyId = new URL(`${s.url}/ap/actors/test#main-key`);
    const keyDoc = await new CryptographicKey({ id: keyId, publicKey: keys.publicKey }).toJsonLd();
    const plain = boundedDocumentLoader({ allowPrivateAddress: true });
    signer = {
      keyId,
      privateKey: keys.privateKey,
      keyLoader: async (url, options) =>
        url === keyId.href ? { contextUrl: null, document: keyDoc, documentUrl: url } : plain(url, options),
    };
    hostile = await startHostile(signer);
  });
  after(async () => {
    await hostile?.close();
    await s?.close();
    await reset();
  });

  let n = 0;
  /**
   * An unsigned delivery dressed as a signed one: a draft-cavage Signature header naming `keyId`,
   * a correct Digest and Date, a signature of zeros. The key is fetched before anything verifies.
   */
  async function deliverNaming(keyId: string): Promise<Response> {
    const body = JSON.stringify({
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${hostile.origin}/activities/${++n}`,
      type: "Like",
      actor: `${hostile.origin}/users/mallory`,
      object: `${hostile.origin}/notes/1`,
    });
    return fetch(`${s.url}/ap/inbox`, {
      method: "POST",
      headers: {
        "content-type": "application/activity+json",
        date: new Date().toUTCString(),
        digest: `SHA-256=${createHash("sha256").update(body).digest("base64")}`,
        signature: `keyId="${keyId}",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="${Buffer.alloc(256).toString("base64")}"`,
      },
      body,
    });
  }

  const reasonOf = async (res: Response) => String(((await res.json()) as { detail: string }).detail);
  const ctx = () => s.services.federation.createContext(new URL(s.url), { requestId: "test" });

  for (const kind of ["streamed", "declared"] as const) {
    test(`a key document of 50 MB (${kind === "declared" ? "Content-Length" : "chunked, no length"}) → 401, memory bounded, connection dropped`, async (t) => {
      // Warm the path first, so the baseline already includes what the first delivery loads.
      assert.equal((await deliverNaming(`${hostile.origin}/note?warm-${kind}`)).status, 401);
      const path = `/big-${kind}/key`;
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
      const started = performance.now();
      const res = await deliverNaming(`${hostile.origin}${path}`);
      const tookMs = performance.now() - started;
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
      assert.equal(res.status, 401);
      assert.match(await reasonOf(res), /could not be fetched .*larger than 1048576 bytes/);
      const answer = await waitFor(() => hostile.answers.get(path), { what: "the connection to close" });
      assert.equal(answer.cutOff, true);
      assert.equal(hostile.requests.filter((r) => r === path).length, 1);
      const growth = peak - before;
      t.diagnostic(
        `${kind} 50 MB key: 401 in ${tookMs.toFixed(0)} ms, RSS +${(growth / MB).toFixed(1)} MB at peak, ` +
          `${(answer.sent / MB).toFixed(1)} MB written before the cut`,
      );
      assert.ok(growth < 64 * MB, `RSS grew by ${(growth / MB).toFixed(1)} MB`);
      assert.ok(answer.sent < HUGE, `the whole ${HUGE} bytes were written`);
    });
  }

  test(
    "a key document dripped a byte at a time → 401 at the deadline, connection dropped",
    { timeout: 60_000 },
    async (t) => {
      const started = performance.now();
      const res = await deliverNaming(`${hostile.origin}/drip/key`);
      const tookMs = performance.now() - started;
      assert.equal(res.status, 401);
      assert.match(await reasonOf(res), new RegExp(`No complete answer within ${DEADLINE_MS} ms`));
      const answer = await waitFor(() => hostile.answers.get("/drip/key"), { what: "the drip to be cut" });
      assert.equal(answer.cutOff, true);
      t.diagnostic(`dripped key: 401 in ${tookMs.toFixed(0)} ms (deadline ${DEADLINE_MS} ms)`);
    },
  );

  test("5 redirects are followed; a 6th is refused and its target never fetched", async () => {
    const five = await ctx().documentLoader(`${hostile.origin}/r/five/5`);
    assert.equal(five.documentUrl, `${hostile.origin}/r/five/0`);
    assert.equal(hostile.requests.filter((r) => r.startsWith("/r/five/")).length, 6);

    await assert.rejects(ctx().documentLoader(`${hostile.origin}/r/six/6`), (error: unknown) => {
      assert.ok(error instanceof FetchError);
      assert.match(error.message, /More than 5 redirects/);
      return true;
    });
    assert.deepEqual(
      hostile.requests.filter((r) => r.startsWith("/r/six/")),
      ["/r/six/6", "/r/six/5", "/r/six/4", "/r/six/3", "/r/six/2", "/r/six/1"],
    );
  });

  test("every hop is checked: a redirect to file: is a UrlError (outside production too)", async () => {
    await assert.rejects(ctx().documentLoader(`${hostile.origin}/to-file`), UrlError);
  });

  test("production: a private address is refused without being fetched, logged at info", async () => {
    const production = createHeraldFederation({ ...s.services.config, mode: "production" }, s.services.db);
    const loader = production.createContext(new URL(s.url), { requestId: "test" }).documentLoader;
    await assert.rejects(loader(`${hostile.origin}/note?production`), UrlError);
    // The loader itself, as the brief's minimal case.
    await assert.rejects(
      boundedDocumentLoader({ allowPrivateAddress: false })(`${hostile.origin}/note?direct`),
      UrlError,
    );
    assert.deepEqual(
      hostile.requests.filter((r) => r.startsWith("/note?production") || r.startsWith("/note?direct")),
      [],
    );
    const refusals = records.filter(
      (r) =>
        r.category.join(".") === "herald.federation.loader" &&
        /^\/note\?(production|direct)$/.test(String(r.properties.url).slice(hostile.origin.length)),
    );
    assert.deepEqual(
      refusals.map((r) => r.level),
      ["info", "info"],
    );
  });

  test("signed fetches (authorized fetch): draft-cavage first, RFC 9421 on a 401, remembered per origin", async () => {
    const load = ctx().getDocumentLoader(signer);
    assert.equal(
      (await load(`${hostile.origin}/authorized/any/note`)).documentUrl,
      `${hostile.origin}/authorized/any/note`,
    );
    await load(`${hostile.origin}/authorized/rfc9421/note`);
    await load(`${hostile.origin}/authorized/rfc9421/note?again`);
    assert.deepEqual(hostile.signed, [
      "/authorized/any/note draft-cavage-http-signatures-12",
      "/authorized/rfc9421/note refused",
      "/authorized/rfc9421/note rfc9421",
      "/authorized/rfc9421/note?again rfc9421",
    ]);
  });

  test("a signed fetch is bounded too: 50 MB → FetchError, connection dropped", async () => {
    const load = ctx().getDocumentLoader(signer);
    await assert.rejects(load(`${hostile.origin}/authorized/any/big`), (error: unknown) => {
      assert.ok(error instanceof FetchError);
      assert.match(error.message, /larger than 1048576 bytes/);
      return true;
    });
    const answer = await waitFor(() => hostile.answers.get("/authorized/any/big"), { what: "the cut" });
    assert.equal(answer.cutOff, true);
  });

  test("the log: no record at error or above, no 'Disallowed private URL'", () => {
    const bad = records
      .filter((r) => r.level === "error" || r.level === "fatal")
      .map((r) => `${r.category.join(".")}: ${r.message.join("")}`);
    assert.deepEqual(bad, []);
    assert.equal(records.filter((r) => r.message.join("").includes("Disallowed private URL")).length, 0);
  });
});
