/**
 * The client API's pictures (docs.joinmastodon.org/methods/media/): POST /api/v1/media and
 * /api/v2/media (multipart: `file`, `description`, `focus`), GET and PUT /api/v1/media/:id. An
 * upload is processed before the answer (so v2 answers 200 with its URLs, never 202), belongs to
 * the token's person and account, and is attached by POST /api/v1/statuses with `media_ids`.
 * Refusals are 4xx with the reason: 413 for too many bytes, 422 for what is not a JPEG, PNG,
 * WebP or GIF, has too many pixels, or an alt text over 1,500 characters.
 */
import type Router from "@koa/router";
import type { Config } from "../config.ts";
import { fail } from "../http/errors.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { RateLimiter } from "../http/rate-limit.ts";
import { koa, ROUTES } from "../http/routes.ts";
import { type RemoteMedia, remoteMediaKind } from "../federation/remote-media.ts";
import { type AttachedMedia, attachedOf, mediaUrl } from "../media/entities.ts";
import { readMultipart } from "../media/multipart.ts";
import type { Media } from "../media/service.ts";
import type { ApiAuth, UserCaller } from "./auth.ts";
import { apiKey, limitedBy } from "./limits.ts";
import { apiParams, str } from "./params.ts";

/** Room for the form's other fields and boundaries beside the file itself. */
const FORM_OVERHEAD = 64 * 1024;

const size = (width: number, height: number) => ({
  width,
  height,
  size: `${width}x${height}`,
  aspect: Math.round((width / height) * 1e6) / 1e6,
});

/** A MediaAttachment entity (docs.joinmastodon.org/entities/MediaAttachment/). */
export function mediaAttachment(origin: URL, m: AttachedMedia) {
  return {
    id: m.id,
    type: "image",
    url: mediaUrl(origin, m.id, "original", m.format).href,
    preview_url: mediaUrl(origin, m.id, "small", m.smallFormat).href,
    remote_url: null,
    preview_remote_url: null,
    text_url: null,
    meta: {
      original: size(m.width, m.height),
      small: size(m.smallWidth, m.smallHeight),
      ...(m.focus ? { focus: { x: m.focus[0], y: m.focus[1] } } : {}),
    },
    description: m.description,
    blurhash: m.blurhash,
  };
}

/**
 * A received post's image, video or audio as a MediaAttachment: Herald keeps no copy (src/
 * federation/remote-media.ts), so `url` and `remote_url` are the file on its own server; an
 * image's `preview_url` is the image itself, a video's or audio's the preview its note gave (its
 * `icon`, never fetched), or null. No "gifv": a GIF-as-video cannot be told from a video by what
 * the note says, so it is a "video". `id`: the status's id and the attachment's place in it
 * (digits, unique per attachment).
 */
export function remoteMediaAttachment(statusId: string, index: number, m: RemoteMedia) {
  const type = remoteMediaKind(m);
  return {
    id: `${statusId}${index}`,
    type,
    url: m.url,
    preview_url: type === "image" ? m.url : (m.previewUrl ?? null),
    remote_url: m.url,
    preview_remote_url: type === "image" ? null : (m.previewUrl ?? null),
    text_url: null,
    meta: m.width && m.height ? { original: size(m.width, m.height) } : {},
    description: m.description,
    blurhash: m.blurhash,
  };
}

export function mediaApiRoutes(deps: {
  config: Pick<Config, "origin" | "media">;
  auth: ApiAuth;
  media: Media;
  limiter: RateLimiter;
  maxBodyBytes: number;
}): Router {
  const { config, auth, media } = deps;
  const router = caseSensitiveRouter();
  router.use(limitedBy(deps.limiter, apiKey));
  const owner = (c: UserCaller) => ({ personId: c.person.id, accountId: c.account.id });

  for (const path of [ROUTES.media.upload, ROUTES.media.uploadV2])
    router.post(koa(path), async (ctx) => {
      const c = await auth.caller(ctx, "user", "write:media");
      const form = await readMultipart(ctx, config.media.maxBytes + FORM_OVERHEAD);
      const file = form.files.get("file");
      if (!file) fail(422, "Validation failed: File can't be blank");
      const r = await media.upload({ ...owner(c), tokenId: c.token.id }, file, {
        description: form.fields.get("description"),
        focus: form.fields.get("focus"),
      });
      if (!r.ok) fail(r.status, r.message);
      ctx.body = mediaAttachment(config.origin, attachedOf(r.media));
    });

  router.get(koa(ROUTES.media.one), async (ctx) => {
    const c = await auth.caller(ctx, "user", "write:media");
    const row = await media.ownEditable(ctx.params.id, owner(c));
    if (!row) fail(404, "Record not found");
    ctx.body = mediaAttachment(config.origin, attachedOf(row));
  });

  router.put(koa(ROUTES.media.one), async (ctx) => {
    const c = await auth.caller(ctx, "user", "write:media");
    const p = await apiParams(ctx, deps.maxBodyBytes);
    const r = await media.update(ctx.params.id, owner(c), {
      description: str(p, "description"),
      focus: str(p, "focus"),
    });
    if (!r.ok) fail(r.status, r.message);
    ctx.body = mediaAttachment(config.origin, attachedOf(r.media));
  });

  return router;
}
