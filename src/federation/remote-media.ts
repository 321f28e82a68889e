/**
 * Images, videos and audio in posts received from other servers. What the Note says of each
 * attachment (ActivityStreams `Document`/`Image`/`Video`/`Audio`: url, mediaType, name = alt
 * text, width, height, an `icon` as a video's preview, and Mastodon's `blurhash`) is kept as
 * metadata on the received message (`inbound_message.media`); the file itself is never fetched or
 * proxied here: pages and clients load it from its own server. So only what is safe to hand a
 * browser as a src or link is kept: an https URL (http too outside production, for loopback
 * peers), at most four attachments (Mastodon's own limit for remote posts), each string bounded;
 * anything else is dropped, never an error.
 */
import { Audio, Document, Image, Link, type Note, Video } from "@fedify/vocab";
import { listColumn } from "../media/entities.ts";
import { MAX_ATTACHMENTS, MAX_DESCRIPTION } from "../media/service.ts";

/**
 * What kind of file an attachment is. Absent in rows stored before videos and audio were kept
 * (they hold images only), so absent reads as "image".
 *
 * No "gifv": Mastodon sends a GIF-as-video as a `Document` with mediaType video/mp4, exactly as it
 * sends a video (it tells them apart itself only by transcoding the file, which Herald never
 * fetches), so such an attachment is kept, and shown, as a video.
 */
export type RemoteMediaKind = "image" | "video" | "audio";

export interface RemoteMedia {
  /** The file on its own server (https; http only outside production). */
  readonly url: string;
  /** Absent: "image" (rows stored before videos and audio were kept). */
  readonly kind?: "video" | "audio";
  /** A video's or audio's preview image on its server, when the note gives one (its `icon`). */
  readonly previewUrl?: string | null;
  readonly mediaType: string | null;
  /** Alt text (at most 1,500 characters, as Mastodon's). */
  readonly description: string | null;
  readonly blurhash: string | null;
  readonly width: number | null;
  readonly height: number | null;
}

const MAX_URL = 2048;
const MEDIA_TYPE = /^(image|video|audio)\/[a-z0-9.+-]{1,60}$/i;
/** blurhash's alphabet (base 83); a real one is 6 to about 100 characters. */
const BLURHASH = /^[0-9A-Za-z#$%*+,\-.:;=?@[\]^_{|}~]{6,100}$/;
const TOOT = "http://joinmastodon.org/ns#";

const size = (n: number | null | undefined) =>
  typeof n === "number" && Number.isInteger(n) && n > 0 && n <= 100_000 ? n : null;

/** The kind of a stored attachment (absent: an image, as every row stored before). */
export const remoteMediaKind = (m: RemoteMedia): RemoteMediaKind => m.kind ?? "image";

/** The first usable URL of a `url` property (an IRI or a Link). */
function imageUrl(url: Document["url"], allowHttp: boolean): string | null {
  const href = url instanceof URL ? url : url instanceof Link ? url.href : null;
  if (!href || href.href.length > MAX_URL) return null;
  return href.protocol === "https:" || (allowHttp && href.protocol === "http:") ? href.href : null;
}

/**
 * Mastodon's `blurhash` of the attachment with this URL, read from the note as it was sent
 * (Fedify's Document has no property for it and drops it when parsing): under whichever name
 * its context gave it (`blurhash`, `toot:blurhash` or the full IRI).
 */
function blurhashIn(sent: unknown, url: string): string | null {
  const attachments = (sent as { attachment?: unknown } | null)?.attachment;
  for (const a of [attachments].flat()) {
    if (!a || typeof a !== "object") continue;
    const item = a as Record<string, unknown>;
    const urls = [item.url].flat().map((u) => (typeof u === "string" ? u : (u as { href?: unknown })?.href));
    if (!urls.includes(url)) continue;
    const hash = item.blurhash ?? item["toot:blurhash"] ?? item[`${TOOT}blurhash`];
    return typeof hash === "string" && BLURHASH.test(hash) ? hash : null;
  }
  return null;
}

/**
 * The image, video and audio attachments of `note`, bounded and checked; `sent` gives the note's
 * JSON as received (read for the blurhash only when something is kept). Attachments given only
 * by reference are skipped, and so is a preview given only by reference: nothing is fetched.
 */
export async function remoteMediaOf(
  note: Note,
  sent: () => Promise<unknown>,
  allowHttp: boolean,
): Promise<RemoteMedia[]> {
  const out: Omit<RemoteMedia, "blurhash">[] = [];
  const refuseFetch = () => Promise.reject(new Error("remote attachments are not fetched"));
  const options = { documentLoader: refuseFetch, suppressError: true };
  for await (const a of note.getAttachments(options)) {
    if (out.length >= MAX_ATTACHMENTS) break;
    if (!(a instanceof Document)) continue;
    const url = imageUrl(a.url, allowHttp);
    const mediaType = a.mediaType && MEDIA_TYPE.test(a.mediaType) ? a.mediaType.toLowerCase() : null;
    // The media type says what it is; an Image, Video or Audio (Document subclasses) may omit it.
    const kind =
      mediaType?.split("/")[0] ??
      (a instanceof Image ? "image" : a instanceof Video ? "video" : a instanceof Audio ? "audio" : null);
    if (!url || !kind) continue;
    const name = a.name?.toString().trim() ?? "";
    const common = {
      url,
      mediaType,
      description: name === "" ? null : [...name].slice(0, MAX_DESCRIPTION).join(""),
      width: size(a.width),
      height: size(a.height),
    };
    if (kind === "image") {
      out.push(common);
      continue;
    }
    const icon = await a.getIcon(options).catch(() => null);
    const preview = icon ? imageUrl(icon.url as Document["url"], allowHttp) : null;
    out.push({ ...common, kind: kind as "video" | "audio", previewUrl: preview });
  }
  if (out.length === 0) return [];
  const json = await sent();
  return out.map((m) => ({ ...m, blurhash: blurhashIn(json, m.url) }));
}

/** A received message's `media` column, read (absent or unreadable: none). */
export const remoteMedia = (row: { readonly media?: string | null }): RemoteMedia[] =>
  listColumn<RemoteMedia>(row.media);
