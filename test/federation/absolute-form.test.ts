/**
 * A delivery is verified against Herald's own origin, whatever the request target says. With an
 * absolute-form target (RFC 9112 §3.2.2: `POST http://other.example/ap/inbox HTTP/1.1`) the URL
 * Fedify checked was the client's choice, so an RFC 9421 delivery signed for another server
 * (@authority, @target-uri) verified here: a replay from one Herald to another.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import { signRequest } from "@fedify/fedify";
import { type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import { freePort, TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe(`absolute-form request targets on ${TEST_DB}`, () => {
  let s: TestServer;
  let remote: FakeRemote;
  let origin: string;
  let newsActor: string;
  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    remote = await startFakeRemote(["alice"]);
    const news = await s.services.accounts.createShared("news", "News", "test");
    assert.ok(news.ok);
    newsActor = `${origin}/ap/actors/${news.actor.id}`;
  });
  after(async () => {
    await remote?.close();
    await s?.close();
  });

  /** Signs a Follow for `signedFor` and sends it to Herald with `target` as the request target. */
  async function deliver(signedFor: string, target: string): Promise<number> {
    const alice = remote.actor("alice");
    const body = JSON.stringify({
      "@context": "https://www.w3.org/ns/activitystreams",
      id: `${alice.id.href}#follows/${crypto.randomUUID()}`,
      type: "Follow",
      actor: alice.id.href,
      object: newsActor,
    });
    const signed = await signRequest(
      new Request(signedFor, {
        method: "POST",
        headers: { "content-type": "application/activity+json" },
        body,
      }),
      alice.privateKey,
      alice.keyId,
      { spec: "rfc9421" },
    );
    const headers: Record<string, string> = {};
    signed.headers.forEach((v, k) => (headers[k] = v));
    const u = new URL(origin);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: u.hostname, port: u.port, method: "POST", path: target, headers },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  test("a delivery signed for Herald's origin is accepted, in origin-form and in absolute-form", async () => {
    assert.equal(await deliver(`${origin}/ap/inbox`, "/ap/inbox"), 202);
    assert.equal(await deliver(`${origin}/ap/inbox`, `${origin}/ap/inbox`), 202);
  });

  test("a delivery signed for another server is refused, even when the target names that server", async () => {
    assert.equal(await deliver("http://other.example/ap/inbox", "/ap/inbox"), 401);
    assert.equal(await deliver("http://other.example/ap/inbox", "http://other.example/ap/inbox"), 401);
  });
});
