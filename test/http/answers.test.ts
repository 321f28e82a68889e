/**
 * What every answer carries and what refusals leave in the log: HSTS in production (on every
 * surface, fast paths included) and never in development; a Retry-After on every 429 of every
 * limiter; client errors and deliberate 501s logged without a stack trace, never at ERROR.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { freePort, freshDatabaseUrl, TEST_DB, type TestDatabaseUrl } from "../helpers/env.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe(`answers and their log lines on ${TEST_DB}`, () => {
  test("HSTS on every surface in production (https origin), none in development", async () => {
    const prod = await startTestServer({ NODE_ENV: "production", HERALD_ORIGIN: "https://herald.test" });
    const dev = await startTestServer({ NODE_ENV: "development", HERALD_ORIGIN: "http://127.0.0.1:3999" });
    try {
      const paths = [
        "/healthz",
        "/",
        "/nothing",
        "/verify",
        "/.well-known/webfinger?resource=acct:nobody@herald.test",
        "/scim/v2/Users",
        "/app",
      ];
      for (const p of paths) {
        const res = await fetch(`${prod.url}${p}`, { redirect: "manual" });
        assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000", `production ${p}`);
        const d = await fetch(`${dev.url}${p}`, { redirect: "manual" });
        assert.equal(d.headers.get("strict-transport-security"), null, `development ${p}`);
      }
    } finally {
      await prod.close();
      await dev.close();
    }
  });

  describe("every 429 says when to come back", () => {
    let s: TestServer;
    let token: string;
    before(async () => {
      s = await startTestServer({
        HERALD_SCIM_RATE_PER_SECOND: "1",
        HERALD_SCIM_BURST: "2",
        HERALD_VERIFY_RATE_PER_SECOND: "1",
        HERALD_VERIFY_BURST: "2",
        HERALD_VERIFY_EMAIL_LOOKUP: "true",
        HERALD_VERIFY_EMAIL_DOMAINS: "corp.example",
        HERALD_VERIFY_EMAIL_PER_MINUTE: "1",
        HERALD_SAML_RATE_PER_SECOND: "1",
        HERALD_SAML_BURST: "2",
        HERALD_INBOX_RATE_PER_SECOND: "1",
        HERALD_INBOX_BURST: "2",
      });
      const created = await s.services.tokens.create("limits", "test");
      assert.ok(created.ok);
      token = created.token;
    });
    after(async () => {
      await s.close();
    });

    /** Repeats the request until a 429 comes (at most 100 times) and returns it. */
    async function until429(url: string, init: RequestInit = {}): Promise<Response> {
      for (let i = 0; i < 100; i++) {
        const res = await fetch(url, { redirect: "manual", ...init });
        await res.arrayBuffer();
        if (res.status === 429) return res;
      }
      assert.fail(`no 429 from ${url} in 100 requests`);
    }

    const cases: [string, () => [string, RequestInit?]][] = [
      [
        "SCIM, per token",
        () => [`${s.url}/scim/v2/Users`, { headers: { authorization: `Bearer ${token}` } }],
      ],
      [
        "SCIM, failed authentication",
        () => [`${s.url}/scim/v2/Users`, { headers: { authorization: "Bearer no" } }],
      ],
      ["the verification API", () => [`${s.url}/api/verification?handle=@nobody@corp.example`]],
      ["the verification page", () => [`${s.url}/verify?q=%40nobody%40corp.example`]],
      ["email lookups on the page", () => [`${s.url}/verify?q=someone%40corp.example`]],
      ["email lookups in the API", () => [`${s.url}/api/verification?email=someone@corp.example`]],
      ["SAML sign-in", () => [`${s.url}/saml/login`]],
      [
        "inbox deliveries",
        () => [
          `${s.url}/ap/inbox`,
          { method: "POST", body: "{}", headers: { "content-type": "application/activity+json" } },
        ],
      ],
    ];
    for (const [name, req] of cases) {
      test(name, async () => {
        const [url, init] = req();
        const res = await until429(url, init);
        assert.match(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
      });
    }
  });

  describe("client errors in the log", () => {
    let fresh: TestDatabaseUrl;
    let p: ServerProcess;
    before(async () => {
      fresh = await freshDatabaseUrl();
      const port = await freePort();
      p = await startServerProcess(
        {
          DATABASE_URL: fresh.url,
          HERALD_DATA_DIR: fresh.dir,
          HERALD_LOG_FORMAT: "json",
          HERALD_ORIGIN: `http://127.0.0.1:${port}`,
        },
        port,
      );
    });
    after(async () => {
      p.child.kill("SIGTERM");
      await p.exited;
      await fresh.cleanup();
    });

    test("404s, 400s, 401s and deliberate 501s: info lines with the reason, no ERROR, no stack", async () => {
      const { runCli } = await import("../helpers/process.ts");
      const made = await runCli(["token", "create", "logs"], {
        DATABASE_URL: fresh.url,
        HERALD_DATA_DIR: fresh.dir,
      });
      assert.equal(made.code, 0, made.stderr);
      const bearer = { authorization: `Bearer ${made.stdout.trim().split("\n").at(-1)}` };
      const ap = { accept: "application/activity+json" };
      const requests: [string, RequestInit, number][] = [
        ["/nothing", {}, 404],
        ["/scim/v2/Bulk", { method: "POST", headers: bearer }, 501],
        ["/scim/v2/Me", { headers: bearer }, 501],
        ["/scim/v2/Users?filter=userName%20zz", { headers: bearer }, 400],
        ["/scim/v2/Users", {}, 401],
        ["/ap/actors/00000000-0000-4000-8000-000000000000", { headers: ap }, 404],
        ["/.well-known/webfinger?resource=acct:nobody@nowhere.example", {}, 404],
        ["/.well-known/webfinger?resource=garbage", {}, 400],
        ["/@nobody", {}, 404],
        ["/ADMIN", { method: "POST" }, 404],
      ];
      for (const [path, init, status] of requests) {
        const res = await fetch(`${p.url}${path}`, { redirect: "manual", ...init });
        await res.arrayBuffer();
        assert.equal(res.status, status, path);
      }
      await new Promise((r) => setTimeout(r, 300));
      const records = p
        .output()
        .stderr.split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { level: string; logger: string; message: string; properties: object });
      const bad = records.filter((r) => r.level === "ERROR" || r.level === "FATAL");
      assert.deepEqual(
        bad.map((r) => `${r.logger}: ${r.message}`),
        [],
      );
      const stacks = records.filter(
        (r) => /\n\s+at /.test(JSON.stringify(r)) || /\\n\s+at /.test(JSON.stringify(r)),
      );
      assert.equal(stacks.length, 0, "no stack traces");
      const reasons = records.filter((r) => r.logger === "herald.http.error" && r.level === "INFO");
      assert.ok(reasons.length >= 4, "refusals are logged with their reason at info");
    });

    test("methods no route takes, and clients that hang up mid-body: 4xx/501, no ERROR, no stack", async () => {
      const from = p.output().stderr.length;
      // fetch() refuses TRACE; node:http sends any method the parser knows.
      const send = (method: string, path: string, headers: Record<string, string> = {}) =>
        new Promise<number>((resolve, reject) => {
          const req = request(`${p.url}${path}`, { method, headers }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("error", reject);
          req.end();
        });
      const ap = { accept: "application/activity+json" };
      const answers: [string, string, Record<string, string>, number][] = [
        ["PROPFIND", "/verify", {}, 501],
        ["TRACE", "/@nobody", {}, 501],
        ["TRACE", "/ap/actors/00000000-0000-4000-8000-000000000000", ap, 501],
        ["TRACE", "/.well-known/webfinger?resource=acct:nobody@nowhere.example", {}, 501],
        ["GET", "/ap/inbox", ap, 405],
        ["OPTIONS", "/ap/inbox", ap, 204],
      ];
      for (const [method, path, headers, status] of answers)
        assert.equal(await send(method, path, headers), status, `${method} ${path}`);
      // Half a body, then the connection closes: the request stream errors with "aborted".
      for (const path of ["/ap/inbox", "/verify/report"]) {
        await new Promise<void>((resolve) => {
          const socket = connect(Number(new URL(p.url).port), "127.0.0.1", () => {
            socket.write(
              `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":`,
            );
            setTimeout(() => socket.destroy(), 200);
          });
          socket.on("close", () => resolve());
        });
      }
      await new Promise((r) => setTimeout(r, 300));
      const records = p
        .output()
        .stderr.slice(from)
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as { level: string; logger: string; message: string });
      assert.deepEqual(
        records
          .filter((r) => r.level === "ERROR" || r.level === "FATAL")
          .map((r) => `${r.logger}: ${r.message}`),
        [],
      );
      assert.equal(records.filter((r) => /\\n\s+at /.test(JSON.stringify(r))).length, 0, "no stack traces");
      const hangUps = records.filter((r) => r.logger === "herald.http.access" && / 400 /.test(r.message));
      assert.equal(hangUps.length, 2, "a hang-up is logged as the client's 400");
    });
  });
});
