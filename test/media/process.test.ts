/**
 * Image processing (src/media/process.ts) as a table: each accepted format comes out as itself
 * (a GIF's preview as a PNG), at most 1920 px on its long side, with a 640 px preview and a
 * blurhash; EXIF (a GPS position, the camera) is gone and the picture is upright; what is not an
 * image, is too large, or has too many pixels is refused with the reason.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decode, isBlurhashValid } from "blurhash";
import sharp from "sharp";
import { processImage, sniff } from "../../src/media/process.ts";

const limits = { maxBytes: 16 * 1024 * 1024, maxPixels: 33_177_600 };
const FORMATS = ["jpeg", "png", "webp", "gif"] as const;

/** A 3000×1500 picture: red on the left half, blue on the right. */
async function picture(format: (typeof FORMATS)[number], width = 3000, height = 1500) {
  const left = await sharp({
    create: { width: width / 2, height, channels: 3, background: { r: 220, g: 20, b: 20 } },
  })
    .png()
    .toBuffer();
  return sharp({ create: { width, height, channels: 3, background: { r: 20, g: 20, b: 220 } } })
    .composite([{ input: left, left: 0, top: 0 }])
    .toFormat(format)
    .toBuffer();
}

describe("image processing", () => {
  for (const format of FORMATS)
    test(`${format}: resized to 1920 px, a 640 px preview, a blurhash, no metadata`, async () => {
      const input = await picture(format);
      assert.equal(sniff(input), format);
      const r = await processImage(input, limits);
      assert.ok(r.ok, r.ok ? "" : r.message);
      assert.deepEqual([r.original.format, r.original.width, r.original.height], [format, 1920, 960]);
      assert.deepEqual(
        [r.small.format, r.small.width, r.small.height],
        [format === "gif" ? "png" : format, 640, 320],
      );
      const meta = await sharp(r.original.data).metadata();
      assert.equal(meta.format, format);
      assert.equal(meta.exif, undefined);
      assert.ok(isBlurhashValid(r.blurhash).result, r.blurhash);
      // The placeholder keeps the picture's halves: reddish on the left, bluish on the right.
      const px = decode(r.blurhash, 8, 4);
      const at = (x: number, y: number) => [px[(y * 8 + x) * 4], px[(y * 8 + x) * 4 + 2]];
      assert.ok(at(0, 2)[0] > at(0, 2)[1], "left is red");
      assert.ok(at(7, 2)[1] > at(7, 2)[0], "right is blue");
      assert.match(r.sha256, /^[0-9a-f]{64}$/);
    });

  test("EXIF is removed, GPS position included, after the picture is turned upright", async () => {
    // 200×100 stored, EXIF orientation 6 (rotate 90° clockwise to view): upright it is 100×200.
    const input = await sharp({ create: { width: 200, height: 100, channels: 3, background: "#3a7" } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .withExif({
        IFD0: { Make: "Acme", Model: "Spy Cam" },
        IFD3: {
          GPSLatitudeRef: "N",
          GPSLatitude: "48/1 51/1 30/1",
          GPSLongitudeRef: "E",
          GPSLongitude: "2/1 17/1 40/1",
        },
      })
      .toBuffer();
    const before = await sharp(input).metadata();
    assert.ok(before.exif && before.exif.includes(Buffer.from("Spy Cam")), "the input carries EXIF");
    assert.equal(before.orientation, 6);
    // The GPS IFD pointer (tag 0x8825), in either byte order.
    assert.ok(
      before.exif.includes(Buffer.from([0x88, 0x25])) || before.exif.includes(Buffer.from([0x25, 0x88])),
    );
    const r = await processImage(input, limits);
    assert.ok(r.ok);
    const after = await sharp(r.original.data).metadata();
    assert.equal(after.exif, undefined);
    assert.equal(after.orientation, undefined);
    assert.deepEqual([r.original.width, r.original.height], [100, 200]);
    assert.equal(r.original.data.includes(Buffer.from("Spy Cam")), false);
    assert.equal(r.original.data.includes(Buffer.from("Acme")), false);
  });

  test("refusals say why", async () => {
    const png = await picture("png", 400, 200);
    const cases: [string, Buffer, typeof limits, number, RegExp][] = [
      ["empty", Buffer.alloc(0), limits, 422, /File is empty/],
      ["text", Buffer.from("just some words, not a picture\n"), limits, 422, /JPEG, PNG, WebP or GIF/],
      ["a PDF", Buffer.from("%PDF-1.7\n%âãÏÓ\n"), limits, 422, /not supported/],
      ["too many bytes", png, { ...limits, maxBytes: png.length - 1 }, 413, /at most \d+ bytes/],
      [
        "too many pixels",
        png,
        { ...limits, maxPixels: 400 * 200 - 1 },
        422,
        /400×200 pixels; the limit is 79999/,
      ],
      ["a truncated PNG", png.subarray(0, 60), limits, 422, /could not be (read|processed) as a PNG/],
    ];
    for (const [what, bytes, l, status, message] of cases) {
      const r = await processImage(bytes, l);
      assert.ok(!r.ok, what);
      assert.equal(r.status, status, what);
      assert.match(r.message, message, what);
    }
  });

  test("an animated GIF stays animated; its frames count toward the pixel limit together", async () => {
    const frames = await Promise.all(
      ["#f00", "#0f0", "#00f"].map((c) =>
        sharp({ create: { width: 100, height: 80, channels: 3, background: c } })
          .raw()
          .toBuffer(),
      ),
    );
    const gif = await sharp(Buffer.concat(frames), {
      raw: { width: 100, height: 240, channels: 3, pageHeight: 80 },
    } as never)
      .gif({ loop: 0, delay: [100, 100, 100] })
      .toBuffer();
    const r = await processImage(gif, limits);
    assert.ok(r.ok, r.ok ? "" : r.message);
    assert.equal((await sharp(r.original.data).metadata()).pages, 3);
    assert.deepEqual([r.original.width, r.original.height], [100, 80]);
    const tight = await processImage(gif, { ...limits, maxPixels: 100 * 80 * 2 });
    assert.ok(!tight.ok);
    assert.match(tight.message, /100×80 pixels in 3 frames/);
  });
});
