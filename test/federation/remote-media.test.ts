/**
 * What Herald keeps of a received post's images (src/federation/remote-media.ts): metadata only,
 * bounded, and only URLs safe as an <img src>. Cases as a table; an attachment given by reference
 * is never fetched (the document loader throws on any URL).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Note } from "@fedify/vocab";
import { remoteMediaOf } from "../../src/federation/remote-media.ts";

const CONTEXT = [
  "https://www.w3.org/ns/activitystreams",
  { toot: "http://joinmastodon.org/ns#", blurhash: "toot:blurhash" },
];
const HASH = "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH";
const image = (url: string, extra: Record<string, unknown> = {}) => ({
  type: "Document",
  mediaType: "image/jpeg",
  url,
  name: "A cat",
  blurhash: HASH,
  width: 1200,
  height: 800,
  ...extra,
});

async function kept(attachment: unknown[], allowHttp = false) {
  const json = {
    "@context": CONTEXT,
    id: "https://remote.example/notes/1",
    type: "Note",
    content: "hi",
    attachment,
  };
  const fetched: string[] = [];
  const note = await Note.fromJsonLd(json, {
    documentLoader: (url: string) => {
      fetched.push(url);
      return Promise.reject(new Error(`fetched ${url}`));
    },
  });
  const out = await remoteMediaOf(note, () => Promise.resolve(json), allowHttp);
  assert.deepEqual(fetched, [], "nothing is fetched");
  return out;
}

test("an image's metadata is kept: URL, type, alt text, blurhash, size", async () => {
  assert.deepEqual(await kept([image("https://files.remote.example/a.jpg")]), [
    {
      url: "https://files.remote.example/a.jpg",
      mediaType: "image/jpeg",
      description: "A cat",
      blurhash: HASH,
      width: 1200,
      height: 800,
    },
  ]);
});

const cases: [string, unknown[], boolean, number][] = [
  ["http refused in production", [image("http://files.remote.example/a.jpg")], false, 0],
  ["http kept outside production (loopback peers)", [image("http://127.0.0.1:9/a.jpg")], true, 1],
  ["javascript: never", [image("javascript:alert(1)")], true, 0],
  ["data: never", [image("data:image/png;base64,AAAA")], true, 0],
  ["a video is kept", [image("https://r.example/v.mp4", { mediaType: "video/mp4" })], false, 1],
  ["an audio is kept", [image("https://r.example/a.mp3", { mediaType: "audio/mpeg" })], false, 1],
  [
    "a video over http refused in production",
    [image("http://r.example/v.mp4", { mediaType: "video/mp4" })],
    false,
    0,
  ],
  ["a javascript: video never", [image("javascript:alert(1)", { mediaType: "video/mp4" })], true, 0],
  ["a Video without a media type", [{ type: "Video", url: "https://r.example/v" }], false, 1],
  ["an Audio without a media type", [{ type: "Audio", url: "https://r.example/a" }], false, 1],
  ["a PDF is dropped", [image("https://r.example/d.pdf", { mediaType: "application/pdf" })], false, 0],
  [
    "at most four of an image, two videos, an audio and an image",
    [
      image("https://r.example/0.jpg"),
      image("https://r.example/1.mp4", { mediaType: "video/mp4" }),
      image("https://r.example/2.webm", { mediaType: "video/webm" }),
      image("https://r.example/3.mp3", { mediaType: "audio/mpeg" }),
      image("https://r.example/4.jpg"),
    ],
    false,
    4,
  ],
  ["an Image without a media type", [{ type: "Image", url: "https://r.example/i.png" }], false, 1],
  ["a Document without a media type", [{ type: "Document", url: "https://r.example/d" }], false, 0],
  ["given by reference: skipped, not fetched", ["https://remote.example/attachments/3"], false, 0],
  ["a URL over 2,048 characters", [image(`https://r.example/${"a".repeat(2100)}.jpg`)], false, 0],
  [
    "at most four of seven",
    Array.from({ length: 7 }, (_, i) => image(`https://r.example/${i}.jpg`)),
    false,
    4,
  ],
];

for (const [name, attachment, allowHttp, count] of cases)
  test(`remote images: ${name}`, async () => {
    assert.equal((await kept(attachment, allowHttp)).length, count);
  });

test("strings and sizes are bounded; a malformed blurhash is dropped", async () => {
  const [m] = await kept([
    image("https://r.example/a.jpg", {
      name: "x".repeat(2000),
      blurhash: "<script>",
      width: -5,
      height: 10_000_000,
    }),
  ]);
  assert.equal(m.description?.length, 1500);
  assert.equal(m.blurhash, null);
  assert.equal(m.width, null);
  assert.equal(m.height, null);
});

test("an image, a video and an audio: each its kind; the video's preview is its icon, not fetched", async () => {
  const out = await kept([
    image("https://r.example/a.png", { mediaType: "image/png" }),
    image("https://r.example/b.mp4", {
      mediaType: "video/mp4",
      icon: { type: "Image", mediaType: "image/jpeg", url: "https://r.example/b.jpg" },
    }),
    image("https://r.example/c.mp3", { mediaType: "audio/mpeg", blurhash: undefined }),
    image("https://r.example/d.mp4", { mediaType: "video/mp4", icon: "https://r.example/icons/1" }),
  ]);
  assert.deepEqual(
    out.map((m) => [m.kind, m.mediaType, m.previewUrl]),
    [
      [undefined, "image/png", undefined],
      ["video", "video/mp4", "https://r.example/b.jpg"],
      ["audio", "audio/mpeg", null],
      ["video", "video/mp4", null],
    ],
  );
  // Stored as before for an image: no new field, so rows stored earlier read the same.
  assert.deepEqual(Object.keys(out[0]).sort(), [
    "blurhash",
    "description",
    "height",
    "mediaType",
    "url",
    "width",
  ]);
});
