import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe(`inbox protections (${TEST_DB})`, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({
      HERALD_INBOX_RATE_PER_SECOND: "1",
      HERALD_INBOX_BURST: "3",
      HERALD_INBOX_MAX_BODY_BYTES: "2000",
    });
  });
  after(async () => {
    await s.close();
  });

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${s.url}/ap/inbox`, {
      method: "POST",
      headers: { "content-type": "application/activity+json", ...headers },
      body,
    });

  test("an oversized delivery is refused with 413 before any processing", async () => {
    const res = await post(JSON.stringify({ type: "Create", pad: "x".repeat(5000) }));
    assert.equal(res.status, 413);
  });

  test("a chunked delivery (no Content-Length) is refused with 413 once it passes the limit", async () => {
    const chunk = new TextEncoder().encode(`{"type":"Create","pad":"${"x".repeat(1000)}`);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(`${s.url}/ap/inbox`, {
      method: "POST",
      headers: { "content-type": "application/activity+json" },
      body,
      // @ts-expect-error: Node's fetch needs duplex for a streamed body; lib.dom lacks it.
      duplex: "half",
    });
    assert.equal(res.status, 413);
    assert.match((await res.json()).detail, /limited to 2000 bytes/);
  });

  test("a flood from one address gets 429 with Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const res = await post(JSON.stringify({ type: "Follow" }));
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get("retry-after");
    }
    // The first ones are refused for their (missing) signature; past the burst, for the rate.
    assert.ok(
      statuses.slice(0, 2).every((st) => st === 401 || st === 400),
      statuses.join(","),
    );
    assert.equal(statuses.at(-1), 429);
    assert.ok(Number(retryAfter) >= 1);
    // Reading is not throttled.
    assert.equal((await fetch(`${s.url}/.well-known/nodeinfo`)).status, 200);
  });
});
