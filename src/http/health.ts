/**
 * `/healthz` (liveness): 200 when the database answers, 503 when it does not or while shutting
 * down. `/readyz` (readiness, for load balancers): 200 only once the process serves its role, and
 * 503 from the moment it starts draining (SIGTERM) — while it still answers for
 * HERALD_DRAIN_DELAY_MS, so a balancer stops sending before the listener closes.
 */
import { ROUTES } from "./routes.ts";
import type { Middleware } from "koa";
import type { Database } from "../db/database.ts";

export interface HealthState {
  shuttingDown: boolean;
  /** Set once the process serves its role (listening, consumers and queue started). */
  ready?: boolean;
  /** Which role the process runs (all, web, worker), reported by /readyz. */
  role?: string;
}

/** Pings the database, giving up after 2 s; the round trip in ms, or undefined if it failed. */
async function pingMs(db: Database): Promise<number | undefined> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      db.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), 2000);
      }),
    ]);
    return Math.round(performance.now() - started);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

export function readyRoute(db: Database, state: HealthState): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== ROUTES.ready) return next();
    if (ctx.method !== "GET" && ctx.method !== "HEAD") {
      ctx.set("Allow", "GET, HEAD");
      ctx.throw(405, "Use GET /readyz");
    }
    ctx.set("Cache-Control", "no-store");
    const answer = (status: number, body: Record<string, unknown>) => {
      ctx.status = status;
      ctx.body = { ...body, role: state.role ?? "all" };
    };
    if (state.shuttingDown) return answer(503, { status: "draining" });
    if (!state.ready) return answer(503, { status: "starting" });
    const ms = await pingMs(db);
    if (ms === undefined) return answer(503, { status: "unavailable", database: { status: "error" } });
    answer(200, { status: "ready", database: { status: "ok", ms } });
  };
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
    const ms = await pingMs(db);
    if (ms === undefined) {
      ctx.status = 503;
      ctx.body = { status: "unavailable", database: { status: "error", dialect: db.dialect } };
      return;
    }
    ctx.body = { status: "ok", database: { status: "ok", dialect: db.dialect, ms } };
  };
}
