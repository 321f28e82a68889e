/** `/healthz`: 200 when the database answers, 503 when it does not or while shutting down. */
import { ROUTES } from "./routes.ts";
import type { Middleware } from "koa";
import type { Database } from "../db/database.ts";

export interface HealthState {
  shuttingDown: boolean;
}

export function healthRoute(db: Database, state: HealthState): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== ROUTES.health) return next();
    if (ctx.method !== "GET" && ctx.method !== "HEAD") {
      ctx.set("Allow", "GET, HEAD");
      ctx.throw(405, "Use GET /healthz");
    }
    ctx.set("Cache-Control", "no-store");
    if (state.shuttingDown) {
      ctx.status = 503;
      ctx.body = { status: "shutting-down" };
      return;
    }
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        db.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("timeout")), 2000);
        }),
      ]);
      ctx.body = {
        status: "ok",
        database: {
          status: "ok",
          dialect: db.dialect,
          ms: Math.round(performance.now() - started),
        },
      };
    } catch {
      ctx.status = 503;
      ctx.body = { status: "unavailable", database: { status: "error", dialect: db.dialect } };
    } finally {
      clearTimeout(timer);
    }
  };
}
