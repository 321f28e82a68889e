/**
 * An upload becomes a picture Herald serves: the type is read from the bytes (never from the
 * request's Content-Type or the file name), the header's dimensions are checked against the
 * pixel bound before anything is decoded, the image is turned upright from its EXIF orientation
 * and re-encoded without any metadata (EXIF with GPS positions, XMP, IPTC, ICC: sharp keeps none
 * unless asked), at most MAX_SIDE pixels on its long side, with a preview and a blurhash.
 * Failures are answers (413/422 with the reason), never exceptions.
 */
import { createHash } from "node:crypto";
import { encode } from "blurhash";
import sharp, { type Metadata, type Sharp } from "sharp";
import type { ImageFormat } from "./entities.ts";

/** The long side of a stored picture (Mastodon keeps 1920×1080-ish; phones show no more). */
export const MAX_SIDE = 1920;
/** The long side of the preview clients show in timelines. */
export const SMALL_SIDE = 640;

export interface Limits {
  readonly maxBytes: number;
  readonly maxPixels: number;
}

export interface Encoded {
  readonly data: Buffer;
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

export type Processed =
  | {
      readonly ok: true;
      readonly original: Encoded;
      readonly small: Encoded;
      readonly blurhash: string;
      readonly sha256: string;
    }
  | { readonly ok: false; readonly status: 413 | 422; readonly message: string };

/** The format the bytes say they are: magic numbers only (JPEG, PNG, GIF, WebP). */
export function sniff(bytes: Uint8Array): ImageFormat | undefined {
  const at = (offset: number, ...want: number[]) => want.every((b, i) => bytes[offset + i] === b);
  const ascii = (offset: number, text: string) => at(offset, ...[...text].map((c) => c.charCodeAt(0)));
  if (at(0, 0xff, 0xd8, 0xff)) return "jpeg";
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (ascii(0, "GIF87a") || ascii(0, "GIF89a")) return "gif";
  if (ascii(0, "RIFF") && ascii(8, "WEBP")) return "webp";
  return undefined;
}

const refuse = (message: string, status: 413 | 422 = 422): Processed => ({ ok: false, status, message });

function encoder(img: Sharp, format: ImageFormat): Sharp {
  switch (format) {
    case "jpeg":
      return img.jpeg({ quality: 85 });
    case "png":
      return img.png();
    case "webp":
      return img.webp({ quality: 85 });
    case "gif":
      return img.gif();
  }
}

async function encoded(img: Sharp, format: ImageFormat): Promise<Encoded> {
  const { data, info } = await encoder(img, format).toBuffer({ resolveWithObject: true });
  return { data, format, width: info.width, height: info.pageHeight ?? info.height };
}

export async function processImage(bytes: Buffer, limits: Limits): Promise<Processed> {
  if (bytes.length === 0) return refuse("Validation failed: File is empty");
  if (bytes.length > limits.maxBytes)
    return refuse(`Validation failed: File size must be at most ${limits.maxBytes} bytes`, 413);
  const format = sniff(bytes);
  if (!format)
    return refuse(
      "Validation failed: File content type is not supported: upload a JPEG, PNG, WebP or GIF image",
    );
  const animated = format === "gif" || format === "webp";
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { animated, limitInputPixels: false }).metadata();
  } catch {
    return refuse(`Validation failed: File could not be read as a ${format.toUpperCase()} image`);
  }
  if (meta.format !== format || !meta.width || !meta.height)
    return refuse(`Validation failed: File could not be read as a ${format.toUpperCase()} image`);
  // An animation's frames are decoded together: they count together (meta.height spans them).
  const pixels = meta.width * meta.height;
  if (pixels > limits.maxPixels)
    return refuse(
      `Validation failed: Image has ${meta.width}×${meta.pageHeight ?? meta.height} pixels` +
        `${(meta.pages ?? 1) > 1 ? ` in ${meta.pages} frames` : ""}; the limit is ${limits.maxPixels} pixels`,
    );
  try {
    let img = sharp(bytes, { animated, limitInputPixels: limits.maxPixels });
    // Upright first (EXIF orientation), then nothing of the metadata is written back.
    if ((meta.pages ?? 1) === 1) img = img.autoOrient();
    img = img.resize({ width: MAX_SIDE, height: MAX_SIDE, fit: "inside", withoutEnlargement: true });
    const original = await encoded(img, format);
    const smallFormat = format === "gif" ? "png" : format;
    const small = await encoded(
      sharp(original.data, { limitInputPixels: limits.maxPixels }).resize({
        width: SMALL_SIDE,
        height: SMALL_SIDE,
        fit: "inside",
        withoutEnlargement: true,
      }),
      smallFormat,
    );
    const tiny = await sharp(small.data)
      .resize({ width: 32, height: 32, fit: "inside" })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const blurhash = encode(new Uint8ClampedArray(tiny.data), tiny.info.width, tiny.info.height, 4, 3);
    const sha256 = createHash("sha256").update(original.data).digest("hex");
    return { ok: true, original, small, blurhash, sha256 };
  } catch {
    return refuse(`Validation failed: File could not be processed as a ${format.toUpperCase()} image`);
  }
}
