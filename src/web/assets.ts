/**
 * The design system's static files: the stylesheet at its content-hashed name under /assets/
 * (a year, immutable: a new stylesheet has a new name) and /favicon.ico (a day: its name never
 * changes). Before the session middleware: assets need no session.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import { caseSensitiveRouter } from "../http/paths.ts";
import { koa, ROUTES } from "../http/routes.ts";
import { type Asset, createAssets } from "./design.ts";

export function assetRoutes(): Router {
  const router = caseSensitiveRouter();
  const assets = createAssets();
  const send = (ctx: Context, asset: Asset) => {
    ctx.set(
      "Cache-Control",
      asset.immutable ? "public, max-age=31536000, immutable" : "public, max-age=86400",
    );
    ctx.type = asset.type;
    ctx.body = asset.body;
  };
  router.get(koa(ROUTES.asset), (ctx) => {
    const asset = assets.byName.get(ctx.params.name ?? "");
    if (asset) send(ctx, asset);
  });
  router.get(koa(ROUTES.favicon), (ctx) => send(ctx, assets.favicon));
  return router;
}
