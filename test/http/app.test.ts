import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe(`HTTP app on ${TEST_DB}`, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(async () => {
    await s.close();
  });

  test("/healthz answers 200 with the database status, uncached", async () => {
    const res = await fetch(`${s.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(body.database.status, "ok");
    assert.equal(body.database.dialect, TEST_DB);
  });

  test("/healthz refuses other methods with 405 and Allow", async () => {
    const res = await fetch(`${s.url}/healthz`, { method: "POST" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
  });

  test("every answer carries a request id; a well-formed caller id is kept, a bad one replaced", async () => {
    const own = await fetch(`${s.url}/healthz`, { headers: { "x-request-id": "trace-abc.123" } });
    assert.equal(own.headers.get("x-request-id"), "trace-abc.123");
    const bad = await fetch(`${s.url}/healthz`, { headers: { "x-request-id": "<script>" } });
    assert.match(bad.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    assert.equal(bad.headers.get("x-content-type-options"), "nosniff");
  });

  test("unknown API paths answer RFC 9457 problem JSON with the request id", async () => {
    const res = await fetch(`${s.url}/api/nothing`, { headers: { accept: "application/json" } });
    assert.equal(res.status, 404);
    assert.match(res.headers.get("content-type") ?? "", /^application\/problem\+json/);
    const body = await res.json();
    assert.equal(body.status, 404);
    assert.equal(body.title, "Not Found");
    assert.equal(body.requestId, res.headers.get("x-request-id"));
  });

  test("under /scim errors are SCIM error envelopes (RFC 7644 §3.12), unknown paths after the token check", async () => {
    const anonymous = await fetch(`${s.url}/scim/v2/Nothing`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get("content-type") ?? "", /^application\/scim\+json/);
    const created = await s.services.tokens.create("app-test", "test");
    assert.ok(created.ok);
    const res = await fetch(`${s.url}/scim/v2/Nothing`, {
      headers: { authorization: `Bearer ${created.token}` },
    });
    assert.equal(res.status, 404);
    assert.match(res.headers.get("content-type") ?? "", /^application\/scim\+json/);
    const body = await res.json();
    assert.deepEqual(body.schemas, ["urn:ietf:params:scim:api:messages:2.0:Error"]);
    assert.equal(body.status, "404");
    assert.equal(typeof body.detail, "string");
  });

  test("browsers get an HTML error page, with the path escaped", async () => {
    const res = await fetch(`${s.url}/%3Cb%3Ex`, { headers: { accept: "text/html" } });
    assert.equal(res.status, 404);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const text = await res.text();
    assert.match(text, /<h1>Not Found<\/h1>/);
    assert.ok(!text.includes("<b>x"), "unescaped path in page");
  });

  test("Fedify answers NodeInfo through the Koa adapter, on the configured origin", async () => {
    const res = await fetch(`${s.url}/.well-known/nodeinfo`);
    assert.equal(res.status, 200);
    const links = (await res.json()).links;
    assert.equal(links[0].href, "http://127.0.0.1:3999/nodeinfo/2.1");
    const info = await (await fetch(`${s.url}/nodeinfo/2.1`)).json();
    assert.equal(info.software.name, "herald");
    assert.deepEqual(info.protocols, ["activitypub"]);
  });

  test("a POST that Fedify does not handle reaches the Koa chain with its body unread", async () => {
    // No route accepts it yet, so the boundary answers 404 — but the body must not hang the
    // request (Fedify's lazy body is never pulled) and the answer comes from Koa, not Fedify.
    const res = await fetch(`${s.url}/api/echo`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ big: "x".repeat(100_000) }),
    });
    assert.equal(res.status, 404);
    assert.equal((await res.json()).detail, "Nothing here: POST /api/echo");
  });

  test("the home page names the organization and, outside the demo database, no directory", async () => {
    const res = await fetch(`${s.url}/`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /on the fediverse/);
    assert.ok(!text.includes("Demo directory"));
  });
});

describe("health during shutdown and outages", () => {
  test("/healthz answers 503 when the database is gone", async () => {
    const s = await startTestServer();
    try {
      await s.services.db.close();
      const res = await fetch(`${s.url}/healthz`);
      assert.equal(res.status, 503);
      assert.equal((await res.json()).database.status, "error");
    } finally {
      await s.close();
    }
  });
});

describe(`behind a trusted proxy (${TEST_DB})`, () => {
  test("the client address is the one the proxy appended, not what the client wrote in X-Forwarded-For", async () => {
    const s = await startTestServer({
      HERALD_TRUST_PROXY: "true",
      HERALD_VERIFY_RATE_PER_SECOND: "1",
      HERALD_VERIFY_BURST: "3",
    });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        // A client rotating a forged first address; the proxy appends the real one (203.0.113.7).
        const res = await fetch(`${s.url}/api/verification?handle=nobody${i}@example.com`, {
          headers: { "x-forwarded-for": `198.51.100.${i}, 203.0.113.7` },
        });
        statuses.push(res.status);
        await res.arrayBuffer();
      }
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      // Another real client has its own allowance.
      const other = await fetch(`${s.url}/api/verification?handle=nobody@example.com`, {
        headers: { "x-forwarded-for": "198.51.100.1, 203.0.113.8" },
      });
      assert.equal(other.status, 200);
    } finally {
      await s.close();
    }
  });
});
