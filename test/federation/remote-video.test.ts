/**
 * A post from another server with an image, a video and an audio attachment (as Mastodon sends
 * them: Documents with their mediaType, the video's preview as its `icon`), and one more with a
 * `javascript:` URL, is delivered signed to Herald's inbox by a real server on loopback. Herald
 * keeps exactly the three (never fetching them), the client API gives them as an "image", a
 * "video" (with the preview it was given) and an "audio" MediaAttachment, and the staff inbox shows
 * the image and links to the video and the audio by their alt text, escaped.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { InboundSchema } from "../../src/federation/entities.ts";
import { remoteMedia } from "../../src/federation/remote-media.ts";
import { apiToken } from "../helpers/api-token.ts";
import { type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";
const CONTEXT = [
  "https://www.w3.org/ns/activitystreams",
  { toot: "http://joinmastodon.org/ns#", blurhash: "toot:blurhash" },
];
const FILES = "https://files.remote.example";

describe(`a received post's video and audio (${TEST_DB})`, () => {
  let s: TestServer;
  let remote: FakeRemote;
  let origin: string;
  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    remote = await startFakeRemote(["mastodon"]);
  });
  after(async () => {
    await remote?.close();
    await s?.close();
  });

  test("an image, a video and an audio kept; the API types them; the inbox links them", async () => {
    const shared = await s.services.accounts.createShared("news", "News", "test");
    assert.ok(shared.ok);
    const newsId = shared.actor.id;
    const news = `${origin}/ap/actors/${newsId}`;
    const person = await s.services.scim.createUser(
      { userName: "bob@corp.example", displayName: "Bob" },
      { name: "scim-token:test" },
    );
    const personId = String(person.id);
    const subject = await s.services.authz.resolveSubject("user:bob@corp.example");
    assert.ok(!("error" in subject));
    assert.ok((await s.services.authz.grant(subject, "admin", shared.actor, "test")).ok);

    const mastodon = remote.actor("mastodon");
    const note = `${remote.origin}/notes/1`;
    const res = await remote.signedPost(
      `${origin}/ap/inbox`,
      {
        "@context": CONTEXT,
        id: `${remote.origin}/activities/1`,
        type: "Create",
        actor: mastodon.id.href,
        to: [news],
        cc: [PUBLIC],
        object: {
          id: note,
          type: "Note",
          attributedTo: mastodon.id.href,
          to: [news],
          cc: [PUBLIC],
          content: "<p>Our launch</p>",
          published: "2026-12-04T10:00:00Z",
          attachment: [
            { type: "Document", mediaType: "image/png", url: `${FILES}/a.png`, name: "The stage" },
            {
              type: "Document",
              mediaType: "video/mp4",
              url: `${FILES}/b.mp4`,
              name: "The <b>launch</b> & demo",
              width: 1280,
              height: 720,
              blurhash: "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH",
              icon: { type: "Image", mediaType: "image/png", url: `${FILES}/b-preview.png` },
            },
            { type: "Document", mediaType: "audio/mpeg", url: `${FILES}/c.mp3`, name: "The speech" },
            { type: "Document", mediaType: "video/mp4", url: "javascript:alert(1)", name: "Evil" },
          ],
        },
      },
      mastodon,
    );
    assert.equal(res.status, 202, await res.text());
    const row = await waitFor(
      async () =>
        (await s.services.db.run((em) =>
          em.getRepository(InboundSchema).findOneBy({ actorId: newsId, objectIri: note }),
        )) ?? undefined,
      { what: "the note at Herald" },
    );
    assert.deepEqual(
      remoteMedia(row).map((m) => [m.kind ?? "image", m.url]),
      [
        ["image", `${FILES}/a.png`],
        ["video", `${FILES}/b.mp4`],
        ["audio", `${FILES}/c.mp3`],
      ],
    );
    assert.ok(
      remote.requests.every((p) => !p.includes(".mp4") && !p.includes(".mp3")),
      "nothing fetched",
    );

    // The client API.
    const token = await apiToken(s, personId, newsId);
    const got = await fetch(`${origin}/api/v1/statuses/${String(row.apiId)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(got.status, 200);
    const status = (await got.json()) as { media_attachments: Record<string, unknown>[] };
    assert.deepEqual(
      status.media_attachments.map((m) => [m.type, m.url, m.remote_url, m.preview_url, m.description]),
      [
        ["image", `${FILES}/a.png`, `${FILES}/a.png`, `${FILES}/a.png`, "The stage"],
        ["video", `${FILES}/b.mp4`, `${FILES}/b.mp4`, `${FILES}/b-preview.png`, "The <b>launch</b> & demo"],
        ["audio", `${FILES}/c.mp3`, `${FILES}/c.mp3`, null, "The speech"],
      ],
    );
    assert.deepEqual(status.media_attachments[1].meta, {
      original: { width: 1280, height: 720, size: "1280x720", aspect: 1.777778 },
    });
    assert.equal(status.media_attachments[1].blurhash, "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH");

    // The staff inbox: the image, and a link to each of the video and the audio, escaped.
    const bob = await signInByLink(s, personId);
    const inbox = await (
      await fetch(`${origin}/app/inbox?account=${newsId}`, { headers: { cookie: bob.cookie } })
    ).text();
    const links = [...inbox.matchAll(/<a class="remote-media" href="([^"]+)"[^>]*>([^<]*)<\/a/g)].map((m) => [
      m[1],
      m[2].trim(),
    ]);
    assert.deepEqual(links, [
      [`${FILES}/b.mp4`, "Video: The &lt;b&gt;launch&lt;/b&gt; &amp; demo (opens on its server)"],
      [`${FILES}/c.mp3`, "Audio: The speech (opens on its server)"],
    ]);
    const imgs = [...inbox.matchAll(/<img\s+src="([^"]+)"\s+alt="([^"]*)"/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(imgs, [[`${FILES}/a.png`, "The stage"]]);
    assert.ok(!inbox.includes("javascript:"));
    assert.ok(!inbox.includes("<video") && !inbox.includes("<audio"));
  });
});
