/**
 * Background work makes progress under load (decision 0008). Key generation used to wait for
 * 250 ms without any request; a live server never has that, so a new hire got no keys — no
 * WebFinger answer, no actor — for as long as traffic lasted. Here a hire is provisioned over
 * SCIM while four clients keep the server busy, and must become followable while they still do.
 * (How fast is a benchmark's business: bench/federation.ts prints the figures.)
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe(`a new hire under sustained load on ${TEST_DB}`, () => {
  let s: TestServer;
  let token: string;
  before(async () => {
    s = await startTestServer();
    const created = await s.services.tokens.create("load", "test");
    assert.ok(created.ok);
    token = created.token;
  });
  after(async () => {
    await s.close();
  });

  test("is followable (WebFinger and actor with keys) while other requests never stop", async () => {
    const domain = s.services.config.handleDomain;
    let stop = false;
    let answered = 0;
    let followableAt = -1;
    const webfinger = `${s.url}/.well-known/webfinger?resource=acct:loadhire@${domain}`;
    // Four clients: the home page, NodeInfo, and WebFinger for the very handle being waited for.
    const targets = [`${s.url}/`, `${s.url}/nodeinfo/2.1`, webfinger, `${s.url}/`];
    const clients = targets.map(async (url) => {
      while (!stop) {
        const res = await fetch(url, { headers: { accept: "application/json" } });
        await res.arrayBuffer();
        answered++;
      }
    });
    // The load is running before the hire arrives.
    while (answered < 50) await new Promise((r) => setTimeout(r, 10));
    const res = await fetch(`${s.url}/scim/v2/Users`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: JSON.stringify({ userName: "loadhire@corp.example", displayName: "Load Hire" }),
    });
    assert.equal(res.status, 201);
    const answeredAtHire = answered;
    const deadline = Date.now() + 30_000;
    let actorDoc: { id?: string; publicKey?: unknown } | undefined;
    while (Date.now() < deadline) {
      const wf = await fetch(webfinger);
      if (wf.status === 200) {
        const self = ((await wf.json()).links as { rel: string; href: string }[]).find(
          (l) => l.rel === "self",
        );
        const actor = await fetch(self!.href.replace(/^https?:\/\/[^/]+/, s.url), {
          headers: { accept: "application/activity+json" },
        });
        if (actor.status === 200) {
          actorDoc = await actor.json();
          followableAt = answered;
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const answeredDuring = answered - answeredAtHire;
    stop = true;
    await Promise.all(clients);
    assert.ok(actorDoc, "the hire became followable while the load went on");
    assert.ok(actorDoc.publicKey, "the actor document carries its key");
    assert.ok(followableAt > answeredAtHire, "requests were answered between the hire and followability");
    // The load did not pause for the key worker: the server kept answering all along.
    assert.ok(answeredDuring > 0, `${answeredDuring} requests answered meanwhile`);
  });
});
