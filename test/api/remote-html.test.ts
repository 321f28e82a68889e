/**
 * HTML from other servers reaches client API users cleaned (src/federation/sanitize.ts): a post
 * received from an account Jane follows, and its edit; a boosted post; the bio of its author —
 * whose avatar and profile link, `javascript:` URLs, are not passed on either. Alice signs her
 * deliveries from a real server on loopback; Carol only has documents there.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { InboundBoostSchema, InboundSchema } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import type { FakeActor, FakeRemote } from "../helpers/fake-remote.ts";
import { type FollowerOfRemote, startFollowerOfRemote } from "../helpers/follower-of-remote.ts";

type Json = Record<string, unknown>;
const AS = "https://www.w3.org/ns/activitystreams";
const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";

const PAYLOAD =
  '<p>Hello <script>alert(1)</script><img src="x" onerror="alert(1)"><a href="javascript:alert(1)">link</a> ' +
  '<span class="h-card"><a href="https://social.example/@bob" class="u-url mention" onclick="alert(1)">@<span>bob</span></a></span></p>';
const CLEANED =
  '<p>Hello link <span class="h-card"><a href="https://social.example/@bob" class="u-url mention" rel="nofollow noopener" target="_blank">@<span>bob</span></a></span></p>';

describe(`remote HTML cleaned on receipt (${TEST_DB})`, () => {
  let t: FollowerOfRemote;
  let remote: FakeRemote;
  let alice: FakeActor;

  before(async () => {
    t = await startFollowerOfRemote(["alice"]);
    remote = t.remote;
    alice = remote.actor("alice");
    await t.follow(alice);
  });

  after(async () => {
    await t?.close();
  });

  async function home(): Promise<Json[]> {
    const res = await fetch(`${t.origin}/api/v1/timelines/home?limit=40`, {
      headers: { authorization: `Bearer ${t.token}` },
    });
    assert.equal(res.status, 200);
    return (await res.json()) as Json[];
  }

  test("a received post with a script, an onerror image and a javascript: link, and its edit", async () => {
    const id = `${remote.origin}/notes/hello`;
    const note = { id, type: "Note", attributedTo: alice.id.href, to: [PUBLIC], content: PAYLOAD };
    await t.deliver(alice, { type: "Create", actor: alice.id.href, to: [PUBLIC], object: note });
    const row = await waitFor(
      async () =>
        (await t.s.services.db.run((em) => em.getRepository(InboundSchema).findOneBy({ objectIri: id }))) ??
        undefined,
      { what: "Alice's post kept" },
    );
    assert.equal(row.contentHtml, CLEANED);
    const [status] = await home();
    assert.equal(status.uri, id);
    assert.equal(status.content, CLEANED);

    const edited = { ...note, content: '<h1>Edited</h1><p style="x" onmouseover="alert(1)">again</p>' };
    await t.deliver(alice, { type: "Update", actor: alice.id.href, to: [PUBLIC], object: edited });
    await t.settled();
    const [after] = await home();
    assert.equal(after.uri, id);
    assert.equal(after.content, "<p><strong>Edited</strong></p><p>again</p>");
  });

  test("a boosted post, and the bio, avatar and profile link of its author", async () => {
    const carol = `${remote.origin}/users/carol`;
    remote.put("/users/carol", {
      "@context": AS,
      id: carol,
      type: "Person",
      preferredUsername: "carol",
      inbox: `${carol}/inbox`,
      summary: '<p onclick="alert(1)">Carol<script>alert(1)</script> <img src=x onerror=alert(1)></p>',
      url: "javascript:alert(2)",
      icon: { type: "Image", mediaType: "image/png", url: "javascript:alert(3)" },
    });
    const note = `${remote.origin}/notes/carols`;
    remote.put("/notes/carols", {
      "@context": AS,
      id: note,
      type: "Note",
      attributedTo: carol,
      to: [PUBLIC],
      content: PAYLOAD,
    });
    const boost = await t.deliver(alice, {
      type: "Announce",
      actor: alice.id.href,
      to: [PUBLIC],
      object: note,
    });
    const row = await waitFor(
      async () =>
        (await t.s.services.db.run((em) =>
          em.getRepository(InboundBoostSchema).findOneBy({ objectIri: note }),
        )) ?? undefined,
      { what: "the boost kept" },
    );
    assert.equal(row.contentHtml, CLEANED);
    const [wrapper] = await home();
    assert.equal(wrapper.uri, boost);
    const inner = wrapper.reblog as Json;
    assert.equal(inner.content, CLEANED);
    const author = inner.account as Json;
    assert.equal(author.uri, carol);
    // The profile link falls back to the actor's own IRI and the avatar to the organization's.
    assert.deepEqual(
      [author.note, author.url, author.avatar],
      ["<p>Carol </p>", carol, `${t.origin}/favicon.ico`],
    );
  });
});
