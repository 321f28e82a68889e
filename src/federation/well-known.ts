/**
 * `/.well-known/host-meta` (RFC 6415): points older clients at WebFinger. Fedify serves WebFinger
 * and NodeInfo itself.
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import { escapeHtml } from "../http/html.ts";

export function wellKnownRoutes(origin: URL): Router {
  const router = caseSensitiveRouter();
  const template = `${origin.origin}/.well-known/webfinger?resource={uri}`;
  const xrd =
    `<?xml version="1.0" encoding="UTF-8"?>\n<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n` +
    `  <Link rel="lrdd" type="application/jrd+json" template="${escapeHtml(template)}"/>\n</XRD>\n`;
  router.get(koa(ROUTES.hostMeta), (ctx) => {
    ctx.set("Access-Control-Allow-Origin", "*");
    ctx.type = "application/xrd+xml; charset=utf-8";
    ctx.body = xrd;
  });
  router.get(koa(ROUTES.hostMetaJson), (ctx) => {
    ctx.set("Access-Control-Allow-Origin", "*");
    ctx.body = { links: [{ rel: "lrdd", type: "application/jrd+json", template }] };
  });
  return router;
}
