/**
 * Pictures through the client API, driven by masto 8 against a real Herald: upload (v1 and v2)
 * of each format with alt text and a focal point, GET/PUT while unattached, a status with
 * `media_ids` carrying them (MediaAttachment entities), the files at their URLs with the sniffed
 * type, nosniff and cache headers, the public pages showing them with their alt text; refusals
 * with a reason (a text file, too many bytes, too many pixels, too long an alt text, someone
 * else's upload, five images); a drafter's post holding its images; the sweep of uploads no post took; the database
 * store (HERALD_MEDIA_STORE=database).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createRestAPIClient, type mastodon, MastoHttpError } from "masto";
import sharp from "sharp";
import { IsNull } from "typeorm";
import { appTokenCreate } from "../../src/api/cli.ts";
import { MediaBlobSchema, MediaSchema } from "../../src/media/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const scimActor = { name: "scim-token:test" };
const MAX_BYTES = 2_000_000;
const MAX_PIXELS = 20_000_000;

function picture(format: "jpeg" | "png" | "webp" | "gif", width = 3000, height = 1500) {
  return sharp({ create: { width, height, channels: 3, background: { r: 30, g: 120, b: 200 } } })
    .toFormat(format)
    .toBuffer();
}

/** A URL of the server's origin (HERALD_ORIGIN), fetched where the test server listens. */
const at = (s: TestServer, url: string | null | undefined) => `${s.url}${new URL(url ?? "").pathname}`;

async function refused(p: Promise<unknown>, status: number, error: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MastoHttpError, String(e));
    assert.equal(e.statusCode, status, e.message);
    assert.match(e.message, error);
    return true;
  });
}

/** A person, her own account's keys ready, and a token acting as `account` (default: her own). */
async function setUp(s: TestServer, people: string[]) {
  const ids: Record<string, string> = {};
  for (const who of people)
    ids[who] = String(
      (await s.services.scim.createUser({ userName: `${who}@corp.example`, displayName: who }, scimActor)).id,
    );
  for (const who of people)
    await waitFor(async () => (await s.services.accounts.byHandle(who))?.keysReadyAt ?? undefined, {
      timeoutMs: 60_000,
      what: `${who}'s keys`,
    });
  const token = async (who: string, account = who, scopes = "read write") => {
    const r = await appTokenCreate(s.services, {
      userName: `${who}@corp.example`,
      account,
      scopes,
      by: "test",
    });
    assert.ok(r.ok, r.ok ? "" : r.message);
    return r.token;
  };
  return { ids, token };
}

describe(`pictures through the client API on ${TEST_DB} (disk store)`, () => {
  let s: TestServer;
  let jane: mastodon.rest.Client;
  let pete: mastodon.rest.Client;
  let janeToken: string;
  let token: (who: string, account?: string, scopes?: string) => Promise<string>;

  before(async () => {
    s = await startTestServer({
      HERALD_MEDIA_MAX_BYTES: String(MAX_BYTES),
      HERALD_MEDIA_MAX_PIXELS: String(MAX_PIXELS),
    });
    const setup = await setUp(s, ["jane", "pete", "dora"]);
    token = setup.token;
    janeToken = await token("jane");
    jane = createRestAPIClient({ url: s.url, accessToken: janeToken });
    pete = createRestAPIClient({ url: s.url, accessToken: await token("pete") });
  });
  after(async () => {
    await s?.close();
  });

  test("the instance announces the limits", async () => {
    const instance = await jane.v2.instance.fetch();
    assert.equal(instance.configuration.statuses.maxMediaAttachments, 4);
    assert.deepEqual(instance.configuration.mediaAttachments.supportedMimeTypes, [
      "image/jpeg",
      "image/png",
      "image/webp",
      "image/gif",
    ]);
    assert.equal(instance.configuration.mediaAttachments.imageSizeLimit, MAX_BYTES);
    assert.equal(instance.configuration.mediaAttachments.imageMatrixLimit, MAX_PIXELS);
  });

  test("upload, describe, post with media_ids: the status, the files and the pages show it", async () => {
    const uploaded = await jane.v2.media.create({
      file: new Blob([new Uint8Array(await picture("jpeg"))], { type: "image/jpeg" }),
      description: "A first draft",
      focus: "0.5,-0.25",
      skipPolling: true,
    });
    assert.equal(uploaded.type, "image");
    assert.equal(uploaded.description, "A first draft");
    assert.match(
      uploaded.url ?? "",
      new RegExp(`^${s.services.config.origin.origin}/media/${uploaded.id}/original\\.jpg$`),
    );
    assert.equal(uploaded.previewUrl, `${s.services.config.origin.origin}/media/${uploaded.id}/small.jpg`);
    assert.deepEqual(uploaded.meta?.original, { width: 1920, height: 960, size: "1920x960", aspect: 2 });
    assert.deepEqual(uploaded.meta?.small, { width: 640, height: 320, size: "640x320", aspect: 2 });
    assert.deepEqual(uploaded.meta?.focus, { x: 0.5, y: -0.25 });
    assert.match(uploaded.blurhash ?? "", /^[0-9A-Za-z#$%*+,\-.:;=?@[\]^_{|}~]{28}$/);

    const updated = await jane.v1.media
      .$select(uploaded.id)
      .update({ description: "Our new office in Lyon" });
    assert.equal(updated.description, "Our new office in Lyon");
    assert.equal((await jane.v1.media.$select(uploaded.id).fetch()).description, "Our new office in Lyon");
    // Someone else's upload is not found for them.
    await refused(pete.v1.media.$select(uploaded.id).fetch(), 404, /Record not found/);

    const status = await jane.v1.statuses.create({ status: "We moved!", mediaIds: [uploaded.id] });
    assert.equal(status.mediaAttachments.length, 1);
    const [m] = status.mediaAttachments;
    assert.equal(m.id, uploaded.id);
    assert.equal(m.description, "Our new office in Lyon");
    assert.equal(m.url, uploaded.url);
    assert.deepEqual(m.meta?.focus, { x: 0.5, y: -0.25 });
    assert.equal((await jane.v1.statuses.$select(status.id).fetch()).mediaAttachments[0].id, uploaded.id);
    // Attached: no longer an upload to read or change (as Mastodon).
    await refused(jane.v1.media.$select(uploaded.id).fetch(), 404, /Record not found/);
    await refused(jane.v1.media.$select(uploaded.id).update({ description: "x" }), 404, /Record not found/);

    const file = await fetch(at(s, uploaded.url));
    assert.equal(file.status, 200);
    assert.equal(file.headers.get("content-type"), "image/jpeg");
    assert.equal(file.headers.get("x-content-type-options"), "nosniff");
    assert.equal(file.headers.get("cache-control"), "public, max-age=86400");
    const bytes = Buffer.from(await file.arrayBuffer());
    const meta = await sharp(bytes).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height, meta.exif], ["jpeg", 1920, 960, undefined]);
    const small = await fetch(at(s, uploaded.previewUrl));
    assert.equal(small.headers.get("content-type"), "image/jpeg");
    assert.equal((await sharp(Buffer.from(await small.arrayBuffer())).metadata()).width, 640);
    assert.equal((await fetch(`${s.url}/media/${uploaded.id}/original.png`)).status, 404);

    for (const page of [`${s.url}/@jane`, at(s, status.url)]) {
      const res = await fetch(page);
      assert.equal(res.status, 200, page);
      const html = await res.text();
      assert.match(
        html,
        new RegExp(
          `<a href="/media/${uploaded.id}/original\\.jpg"\\s*><img\\s+src="/media/${uploaded.id}/small\\.jpg"\\s+alt="Our new office in Lyon"\\s+width="640"\\s+height="320"`,
        ),
        page,
      );
    }

    // Deleted with its post: the files are no longer served.
    await jane.v1.statuses.$select(status.id).remove();
    assert.equal((await fetch(at(s, uploaded.url))).status, 404);
  });

  test("every format; the type comes from the bytes, not from what the client says", async () => {
    const made: Record<string, string> = {};
    for (const format of ["jpeg", "png", "webp", "gif"] as const) {
      const m = await jane.v1.media.create({
        file: new Blob([new Uint8Array(await picture(format, 800, 600))], { type: `image/${format}` }),
      });
      made[format] = m.url ?? "";
      const res = await fetch(at(s, m.url));
      assert.equal(res.headers.get("content-type"), `image/${format}`);
      assert.equal((await sharp(Buffer.from(await res.arrayBuffer())).metadata()).format, format);
      assert.equal(m.description, null);
    }
    assert.match(made.gif, /\/original\.gif$/);
    // A PNG sent as image/jpeg named photo.jpg is a PNG.
    const form = new FormData();
    form.set(
      "file",
      new Blob([new Uint8Array(await picture("png", 300, 200))], { type: "image/jpeg" }),
      "photo.jpg",
    );
    const res = await fetch(`${s.url}/api/v1/media`, {
      method: "POST",
      headers: { authorization: `Bearer ${janeToken}` },
      body: form,
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.match(body.url, /\/original\.png$/);
    const file = await fetch(at(s, body.url));
    assert.equal(file.headers.get("content-type"), "image/png");
  });

  test("refusals are 4xx with the reason", async () => {
    const upload = (bytes: Uint8Array, type = "image/jpeg", extra: Record<string, string> = {}) => {
      const form = new FormData();
      form.set("file", new Blob([new Uint8Array(bytes)], { type }), "x.jpg");
      for (const [k, v] of Object.entries(extra)) form.set(k, v);
      return fetch(`${s.url}/api/v2/media`, {
        method: "POST",
        headers: { authorization: `Bearer ${janeToken}` },
        body: form,
      });
    };
    const expect = async (res: Response, status: number, error: RegExp) => {
      assert.equal(res.status, status);
      assert.match((await res.json()).error, error);
    };
    await expect(
      await upload(Buffer.from("Dear all,\nthis is text.\n"), "image/jpeg"),
      422,
      /JPEG, PNG, WebP or GIF/,
    );
    // Larger than the limit by a little (the form is read, the file refused) and by a lot (refused at once).
    const jpegHeader = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);
    await expect(
      await upload(Buffer.concat([jpegHeader, Buffer.alloc(MAX_BYTES)])),
      413,
      new RegExp(`at most ${MAX_BYTES} bytes`),
    );
    await expect(await upload(Buffer.concat([jpegHeader, Buffer.alloc(3 * MAX_BYTES)])), 413, /larger than/);
    await expect(
      await upload(await picture("png", 5000, 5000)),
      422,
      /5000×5000 pixels; the limit is 20000000/,
    );
    const small = await picture("png", 30, 20);
    await expect(await upload(small, "image/png", { description: "x".repeat(1501) }), 422, /maximum is 1500/);
    await expect(await upload(small, "image/png", { focus: "2,0" }), 422, /Focus must be/);
    const none = new FormData();
    none.set("description", "no file");
    await expect(
      await fetch(`${s.url}/api/v1/media`, {
        method: "POST",
        headers: { authorization: `Bearer ${janeToken}` },
        body: none,
      }),
      422,
      /File can't be blank/,
    );
    const anonymous = new FormData();
    anonymous.set("file", new Blob([new Uint8Array(small)]));
    assert.equal((await fetch(`${s.url}/api/v1/media`, { method: "POST", body: anonymous })).status, 401);
    const reader = createRestAPIClient({ url: s.url, accessToken: await token("jane", "jane", "read") });
    await refused(
      reader.v1.media.create({ file: new Blob([new Uint8Array(small)]) }),
      403,
      /outside the authorized scopes/,
    );

    // Attaching: someone else's upload, five images, an unknown id.
    const mine = await Promise.all(
      [1, 2, 3, 4, 5].map(
        async () => (await jane.v1.media.create({ file: new Blob([new Uint8Array(small)]) })).id,
      ),
    );
    const petes = (await pete.v1.media.create({ file: new Blob([new Uint8Array(small)]) })).id;
    await refused(
      jane.v1.statuses.create({ status: "x", mediaIds: [petes] }),
      422,
      /not an unattached upload of yours/,
    );
    await refused(jane.v1.statuses.create({ status: "x", mediaIds: mine }), 422, /at most 4/);
    await refused(
      jane.v1.statuses.create({ status: "x", mediaIds: ["0b6e2c2e-0000-4000-8000-000000000000"] }),
      422,
      /not an unattached upload/,
    );
    // Nothing was attached by the refusals: four of them still make one post, without text.
    const four = await jane.v1.statuses.create({ status: "", mediaIds: mine.slice(0, 4) });
    assert.deepEqual(
      four.mediaAttachments.map((m) => m.id),
      mine.slice(0, 4),
    );
  });

  test("a drafter's post waits for approval with its images (the draft holds them)", async () => {
    const created = await s.services.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(created.ok);
    const subject = await s.services.authz.resolveSubject("user:dora@corp.example");
    assert.ok(!("error" in subject));
    assert.ok((await s.services.authz.grant(subject, "drafter", created.actor, "test")).ok);
    await waitFor(async () => (await s.services.accounts.byHandle("recruiting"))?.keysReadyAt ?? undefined, {
      timeoutMs: 60_000,
      what: "@recruiting's keys",
    });
    const dora = createRestAPIClient({ url: s.url, accessToken: await token("dora", "recruiting") });
    const m = await dora.v1.media.create({ file: new Blob([new Uint8Array(await picture("png", 30, 20))]) });
    const pending = await dora.v1.statuses.create({ status: "Join us", mediaIds: [m.id] });
    assert.deepEqual(
      pending.mediaAttachments.map((x) => x.id),
      [m.id],
    );
    const row = await s.services.db.run((em) => em.getRepository(MediaSchema).findOneBy({ id: m.id }));
    assert.deepEqual([row?.draftId, row?.postId], [pending.id, null]);
  });

  test("uploads no post took are swept after a day; attached ones stay", async () => {
    const kept = await s.services.db.run((em) => em.getRepository(MediaSchema).countBy({}));
    // Not those a draft holds while it waits for approval (test/federation/draft-media.test.ts).
    const unattached = await s.services.db.run((em) =>
      em.getRepository(MediaSchema).findBy({ postId: IsNull(), draftId: IsNull() }),
    );
    assert.ok(unattached.length > 0);
    const one = unattached[0];
    const url = `${s.url}/media/${one.id}/original.${one.format === "jpeg" ? "jpg" : one.format}`;
    assert.equal((await fetch(url)).status, 200);
    assert.equal(await s.services.media.sweep(Date.now()), 0, "nothing is a day old yet");
    const removed = await s.services.media.sweep(Date.now() + 25 * 3600_000);
    assert.equal(removed, unattached.length);
    assert.equal(await s.services.db.run((em) => em.getRepository(MediaSchema).countBy({})), kept - removed);
    assert.equal((await fetch(url)).status, 404);
    assert.equal(existsSync(path.join(s.services.config.dataDir, "media", one.id)), false);
  });
});

describe(`pictures in the database store on ${TEST_DB} (HERALD_MEDIA_STORE=database)`, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ HERALD_MEDIA_STORE: "database" });
  });
  after(async () => {
    await s?.close();
  });

  test("files are rows of media_blob, served the same way", async () => {
    const { token } = await setUp(s, ["jane"]);
    const jane = createRestAPIClient({ url: s.url, accessToken: await token("jane") });
    const m = await jane.v2.media.create({
      file: new Blob([new Uint8Array(await picture("webp", 1000, 500))]),
      description: "Stored in the database",
      skipPolling: true,
    });
    const status = await jane.v1.statuses.create({ status: "From the database", mediaIds: [m.id] });
    assert.equal(status.mediaAttachments[0].description, "Stored in the database");
    const blobs = await s.services.db.run((em) =>
      em.getRepository(MediaBlobSchema).find({ order: { key: "ASC" } }),
    );
    assert.deepEqual(
      blobs.map((b) => [b.key, b.contentType]),
      [
        [`${m.id}/original.webp`, "image/webp"],
        [`${m.id}/small.webp`, "image/webp"],
      ],
    );
    const res = await fetch(at(s, m.url));
    assert.equal(res.headers.get("content-type"), "image/webp");
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(blobs[0].data));
    assert.equal(existsSync(path.join(s.services.config.dataDir, "media")), false);
  });
});
