/**
 * Pictures at their stable URLs (`/media/<id>/original.jpg`, `/media/<id>/small.jpg`): the type
 * the bytes were found to be, never sniffed by the browser (nosniff is set for every answer), a
 * CSP that lets the file run nothing if opened on its own, and cached a day by anyone (the id is
 * random and a file never changes; a deleted post's images stop being served here).
 */
import type Router from "@koa/router";
import { fail } from "../http/errors.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import { koa, ROUTES } from "../http/routes.ts";
import type { Media } from "./service.ts";

export function mediaFileRoutes(media: Pick<Media, "file">): Router {
  const router = caseSensitiveRouter();
  router.get(koa(ROUTES.media.file), async (ctx) => {
    const file = await media.file(ctx.params.id, ctx.params.name);
    if (!file) fail(404, "No such file.");
    ctx.type = file.contentType;
    ctx.set("Cache-Control", "public, max-age=86400");
    ctx.set("Content-Security-Policy", "default-src 'none'; sandbox");
    ctx.set("Cross-Origin-Resource-Policy", "cross-origin");
    ctx.body = file.data;
  });
  return router;
}
