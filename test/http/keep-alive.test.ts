/**
 * A connection is never left hanging: after an answer given with the request body half-read (413
 * past a size limit) the server reads and discards the rest of the upload, so the next request on
 * the connection is answered; an upload past the drain budget gets the connection closed. Before,
 * the answer promised keep-alive and the next request hung until the idle timeout (66 s).
 * Raw sockets, chunked uploads.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface Conversation {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  closed(): boolean;
}

async function open(url: string): Promise<Conversation> {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let got = "";
  let closed = false;
  socket.on("data", (d) => (got += d.toString("latin1")));
  socket.on("close", () => (closed = true));
  socket.on("error", () => (closed = true));
  return { socket, received: () => got, closed: () => closed };
}

/** Waits until `done` holds or the socket closes; bounded so that a hang fails instead of holding. */
async function until(c: Conversation, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done() && !c.closed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Streams `bytes` of chunked body (stopping early if the server hangs up), then the last chunk. */
async function upload(c: Conversation, head: string, bytes: number): Promise<void> {
  c.socket.write(head);
  const chunk = "a".repeat(64 * 1024);
  for (let sent = 0; sent < bytes && !c.closed(); sent += chunk.length) {
    c.socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await new Promise((r) => setImmediate(r));
  }
  if (!c.closed()) c.socket.write("0\r\n\r\n");
}

// Not anchored: a keep-alive answer follows the previous body without a line break.
const statusLines = (text: string) => text.match(/HTTP\/1\.1 \d{3}(?= )/g) ?? [];

describe(`keep-alive after refused uploads on ${TEST_DB}`, () => {
  let s: TestServer;
  let token: string;
  before(async () => {
    s = await startTestServer();
    const created = await s.services.tokens.create("keep-alive", "test");
    assert.ok(created.ok);
    token = created.token;
  });
  after(async () => {
    await s.close();
  });

  const cases: [string, () => string, number][] = [
    [
      "SCIM create past the body limit",
      () =>
        `POST /scim/v2/Users HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${token}\r\n` +
        "Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n",
      413,
    ],
    [
      "an impersonation report past the form limit",
      () =>
        "POST /verify/report HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
        "Transfer-Encoding: chunked\r\n\r\n",
      413,
    ],
    [
      "an inbox delivery past the activity limit",
      () =>
        "POST /ap/inbox HTTP/1.1\r\nHost: t\r\nContent-Type: application/activity+json\r\n" +
        "Transfer-Encoding: chunked\r\n\r\n",
      413,
    ],
  ];

  for (const [name, head, status] of cases) {
    test(`${name}: ${status}, the rest of the upload is drained and the next request answered`, async () => {
      const c = await open(s.url);
      await upload(c, head(), 3 * 1024 * 1024);
      await until(c, () => statusLines(c.received()).length >= 1);
      assert.deepEqual(statusLines(c.received()), [`HTTP/1.1 ${status}`]);
      assert.equal(c.closed(), false);
      c.socket.write("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
      await until(c, () => statusLines(c.received()).length >= 2);
      assert.deepEqual(statusLines(c.received()), [`HTTP/1.1 ${status}`, "HTTP/1.1 200"]);
      c.socket.destroy();
    });

    test(`${name}: an upload past the drain budget gets the connection closed`, async () => {
      const c = await open(s.url);
      await upload(c, head(), 40 * 1024 * 1024);
      await until(c, () => c.closed(), 30_000);
      assert.equal(c.closed(), true, "closed, not hanging");
      assert.ok(statusLines(c.received()).length <= 1);
      c.socket.destroy();
    });
  }

  test("ordinary requests keep the connection alive (two answers on one socket)", async () => {
    const c = await open(s.url);
    c.socket.write("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    await until(c, () => statusLines(c.received()).length >= 1);
    c.socket.write("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    await until(c, () => statusLines(c.received()).length >= 2);
    assert.deepEqual(statusLines(c.received()), ["HTTP/1.1 200", "HTTP/1.1 200"]);
    assert.doesNotMatch(c.received(), /connection: close/i);
    c.socket.destroy();
  });
});
