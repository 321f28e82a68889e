/**
 * A post's images as ActivityStreams `Document` attachments, the shape Mastodon reads
 * (docs.joinmastodon.org/spec/activitypub/#as): mediaType, url, name (the alt text), width,
 * height, and Mastodon's `blurhash` and `focalPoint` extensions (http://joinmastodon.org/ns#).
 *
 * Fedify's Document has no property for the two extensions, so this subclass adds them to its
 * expanded JSON-LD, from which every serialization is compacted: with Fedify's context they read
 * `toot:blurhash` and `toot:focalPoint` (`{"@list": [x, y]}`); Mastodon compacts a delivery that
 * carries a Linked Data signature (Fedify adds one) against its own context, where they are
 * `blurhash` and `focalPoint`. A Fedify object parsed back from JSON-LD drops what it does not
 * know, so activities carrying images skip Fedify's fan-out queue, which re-parses them
 * (`sendOptions` below; the per-inbox outbox queue sends the serialized JSON as it is).
 */
import { Document } from "@fedify/vocab";
import { type AttachedMedia, CONTENT_TYPES, mediaUrl } from "../media/entities.ts";

const TOOT = "http://joinmastodon.org/ns#";

class MastodonDocument extends Document {
  readonly #blurhash: string;
  readonly #focus: readonly [number, number] | null;

  constructor(
    values: ConstructorParameters<typeof Document>[0],
    blurhash: string,
    focus: readonly [number, number] | null,
  ) {
    super(values);
    this.#blurhash = blurhash;
    this.#focus = focus;
  }

  override async toJsonLd(options: Parameters<Document["toJsonLd"]>[0] = {}): Promise<unknown> {
    const json = await super.toJsonLd(options);
    if (options?.format !== "expand") return json;
    const node = (Array.isArray(json) ? json[0] : json) as Record<string, unknown>;
    node[`${TOOT}blurhash`] = [{ "@value": this.#blurhash }];
    if (this.#focus) node[`${TOOT}focalPoint`] = [{ "@list": this.#focus.map((v) => ({ "@value": v })) }];
    return json;
  }
}

export function documentOf(origin: URL, m: AttachedMedia): Document {
  return new MastodonDocument(
    {
      mediaType: CONTENT_TYPES[m.format],
      url: mediaUrl(origin, m.id, "original", m.format),
      name: m.description,
      width: m.width,
      height: m.height,
    },
    m.blurhash,
    m.focus,
  );
}

/** `sendActivity` options for a post's activity: no fan-out queue when it carries images. */
export const sendOptions = (post: { readonly media?: string | null }) =>
  post.media ? ({ fanout: "skip" } as const) : {};
