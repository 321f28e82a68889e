/**
 * Mentions of the organization's own accounts are linked to their actors, looked up locally
 * (src/federation/posting.ts): the full form `@recruiting@<handle domain>` and the short form
 * `@recruiting` the demo's posts use. WebFinger is not asked: on an http origin (development, tests)
 * or behind a balancer it cannot reach this server as addressed, and the mention stayed plain text.
 * Hashtags keep one spelling: composed (NFC) and lower case, as the /tags pages list them.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

describe(`mentions of our own accounts and hashtags in posts (${TEST_DB})`, () => {
  let s: TestServer;
  let recruitingUri: string;
  let domain: string;
  before(async () => {
    s = await startTestServer();
    domain = s.services.config.handleDomain;
    for (const [h, name] of [
      ["recruiting", "Recruiting"],
      ["careers", "Careers"],
    ] as const)
      assert.ok((await s.services.accounts.createShared(h, name, "test")).ok);
    const recruiting = await s.services.accounts.byHandle("recruiting");
    assert.ok(recruiting);
    recruitingUri = `${s.services.config.origin.origin}/ap/actors/${recruiting.id}`;
  });
  after(async () => {
    await s?.close();
  });

  const post = async (text: string) => {
    const r = await s.services.posting.post({
      actorId: "careers",
      text,
      author: { personId: null, label: "t" },
    });
    assert.ok(r.ok, r.ok ? "" : r.message);
    return r.post;
  };
  const links = (html: string) =>
    [...html.matchAll(/<a href="([^"]+)" class="u-url mention">(@[^<]+)<\/a>/g)].map((m) => [m[1], m[2]]);

  test("`@recruiting@<domain>` and `@recruiting` link to the account's actor; both are recorded as one mention", async () => {
    const p = await post(`Ask @recruiting@${domain} or @recruiting. Mail jobs@corp.example, not @nobody.`);
    assert.deepEqual(links(p.contentHtml), [
      [recruitingUri, "@recruiting"],
      [recruitingUri, "@recruiting"],
    ]);
    assert.deepEqual(JSON.parse(p.mentions ?? "[]"), [
      { name: `@recruiting@${domain}`, href: recruitingUri },
    ]);
    assert.match(p.contentHtml, /jobs@corp\.example/, "an e-mail address is left alone");
    assert.match(p.contentHtml, /not @nobody\./, "a handle we do not have stays text");
  });

  test("an edit keeps the links", async () => {
    const p = await post("Thanks @recruiting!");
    const edited = await s.services.posting.edit(p.id, "Thanks again @recruiting!", "test");
    assert.ok(edited.ok);
    assert.deepEqual(links(edited.post.contentHtml), [[recruitingUri, "@recruiting"]]);
  });

  test("a hashtag typed decomposed (NFD) is stored and linked composed, lower case", async () => {
    const p = await post(`Open day at the #Cafe\u0301 today`);
    assert.deepEqual(JSON.parse(p.hashtags ?? "[]"), ["café"]);
    assert.match(p.contentHtml, /href="[^"]*\/tags\/caf%C3%A9"/);
  });
});
