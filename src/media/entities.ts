/**
 * Pictures (migration 0019): one row per uploaded image, the processed files' bytes in a blob
 * table when HERALD_MEDIA_STORE=database (docs/decisions/0014-media-storage.md), and the snapshot
 * a post keeps of what it carries (`post.media`).
 */
import { EntitySchema } from "typeorm";

export type ImageFormat = "jpeg" | "png" | "webp" | "gif";

export interface MediaRow {
  id: string;
  /** The account it was uploaded for: only that account may attach it (and only its uploader). */
  accountId: string;
  personId: string;
  /** The API token it came through (null from the staff app). */
  tokenId: string | null;
  /** The post that carries it; null until attached (swept after a day: src/media/service.ts). */
  postId: string | null;
  /** The draft awaiting approval that holds it (not swept while it waits); null otherwise. */
  draftId: string | null;
  /** The scheduled status that holds it until it is published (not swept while it waits). */
  scheduledStatusId: number | string | null;
  format: ImageFormat;
  width: number;
  height: number;
  /** The preview's format (a GIF's is a PNG of its first frame). */
  smallFormat: ImageFormat;
  smallWidth: number;
  smallHeight: number;
  /** Bytes of the processed file. */
  size: number;
  /** SHA-256 hex of the processed file (the archive names it). */
  sha256: string;
  blurhash: string;
  /** Alt text (≤ 1,500 characters). */
  description: string | null;
  /** Focal point "x,y", each in [-1, 1] (Mastodon's convention: x right, y up). */
  focus: string | null;
  createdAt: Date;
  attachedAt: Date | null;
}

export interface MediaBlobRow {
  key: string;
  contentType: string;
  data: Buffer;
  createdAt: Date;
}

/**
 * What a post keeps of each image it carries, fixed when attached (attached media are not edited:
 * PUT /api/v1/media/:id answers only for unattached ones, as Mastodon's does). Rendered as a
 * Mastodon MediaAttachment, an ActivityStreams Document and an <img> from this alone.
 */
export interface AttachedMedia {
  readonly id: string;
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
  readonly smallFormat: ImageFormat;
  readonly smallWidth: number;
  readonly smallHeight: number;
  readonly blurhash: string;
  readonly description: string | null;
  readonly focus: readonly [number, number] | null;
}

export const CONTENT_TYPES: Readonly<Record<ImageFormat, string>> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
};
const EXTENSIONS: Readonly<Record<ImageFormat, string>> = {
  jpeg: "jpg",
  png: "png",
  webp: "webp",
  gif: "gif",
};

export type MediaVariant = "original" | "small";

/** A stored file's name under its media id: `original.jpg`, `small.png`. */
export const fileName = (variant: MediaVariant, format: ImageFormat) => `${variant}.${EXTENSIONS[format]}`;

/** The storage key of a file: `<media id>/<file name>`. */
export const storageKey = (id: string, variant: MediaVariant, format: ImageFormat) =>
  `${id}/${fileName(variant, format)}`;

/** The public URL of a file (ROUTES.media.file). */
export const mediaUrl = (origin: URL, id: string, variant: MediaVariant, format: ImageFormat) =>
  new URL(`/media/${id}/${fileName(variant, format)}`, origin);

export function parseFocus(focus: string | null): readonly [number, number] | null {
  if (!focus) return null;
  const [x, y] = focus.split(",").map(Number);
  return Number.isFinite(x) && Number.isFinite(y) ? [x, y] : null;
}

/** The snapshot of a row a post keeps. */
export const attachedOf = (m: MediaRow): AttachedMedia => ({
  id: m.id,
  format: m.format,
  width: m.width,
  height: m.height,
  smallFormat: m.smallFormat,
  smallWidth: m.smallWidth,
  smallHeight: m.smallHeight,
  blurhash: m.blurhash,
  description: m.description,
  focus: parseFocus(m.focus),
});

/** A JSON list column, read (absent or unreadable: empty). */
export function listColumn<T>(text: string | null | undefined): T[] {
  if (!text) return [];
  try {
    const list = JSON.parse(text) as unknown;
    return Array.isArray(list) ? (list as T[]) : [];
  } catch {
    return [];
  }
}

/** A post's (or a draft's) `media` column, read (absent or unreadable: none). */
export const attachedMedia = (post: { readonly media?: string | null }): AttachedMedia[] =>
  listColumn<AttachedMedia>(post.media);

const dt = (name: string, nullable = false) => ({ name, type: "datetime" as const, nullable });
const int = (name: string) => ({ name, type: "integer" as const });

export const MediaSchema = new EntitySchema<MediaRow>({
  name: "MediaAttachment",
  tableName: "media_attachment",
  columns: {
    id: { type: "varchar", primary: true },
    accountId: { name: "account_id", type: "varchar" },
    personId: { name: "person_id", type: "varchar" },
    tokenId: { name: "token_id", type: "varchar", nullable: true },
    postId: { name: "post_id", type: "varchar", nullable: true },
    draftId: { name: "draft_id", type: "varchar", nullable: true },
    scheduledStatusId: { name: "scheduled_status_id", type: "bigint", nullable: true },
    format: { type: "varchar" },
    width: int("width"),
    height: int("height"),
    smallFormat: { name: "small_format", type: "varchar" },
    smallWidth: int("small_width"),
    smallHeight: int("small_height"),
    size: int("size"),
    sha256: { type: "varchar" },
    blurhash: { type: "varchar" },
    description: { type: "text", nullable: true },
    focus: { type: "varchar", nullable: true },
    createdAt: dt("created_at"),
    attachedAt: dt("attached_at", true),
  },
});

export const MediaBlobSchema = new EntitySchema<MediaBlobRow>({
  name: "MediaBlob",
  tableName: "media_blob",
  columns: {
    key: { type: "varchar", primary: true },
    contentType: { name: "content_type", type: "varchar" },
    data: { type: "blob" },
    createdAt: dt("created_at"),
  },
});

export const mediaEntities = [MediaSchema, MediaBlobSchema];
