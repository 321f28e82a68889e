/**
 * Boot and shutdown of a Herald process: config → logging → secrets → db → migrations → lease →
 * demo seed → listen → consumers, keys and queue. `main.ts` calls `startServer`; tests call it
 * in-process too.
 *
 * Roles (DESIGN: process roles): `web` serves HTTP and keeps its own caches current (process
 * consumers); `worker` runs the delivery queue, key generation and the event consumers — the
 * once-per-cluster ones only while it holds the database lease — and serves its probes; `all`
 * (`npm start`, the default) is both. On MySQL any number of each share one database; SQLite
 * is one process, so there only `all` runs, and only while it holds the lease.
 */
import { createServer, type Server } from "node:http";
import type Koa from "koa";
import type { AddressInfo } from "node:net";
import { createApp, createProbeApp } from "./app.ts";
import type { Config } from "./config.ts";
import { scheduledStatusWorker } from "./api/slice2.ts";
import { createArchiveWorker } from "./archive/maintenance.ts";
import { createMediaSweeper } from "./media/service.ts";
import { createArchiveSigner } from "./archive/signing.ts";
import { createDatabase } from "./db/database.ts";
import { createLeaseKeeper, createLeases, type LeaseKeeper, processIdentity } from "./db/leases.ts";
import { seedDemoPresence } from "./demo.ts";
import { seedDemoOrganization } from "./identity/demo.ts";
import { logger } from "./logging.ts";
import { loadSecrets } from "./secrets.ts";
import { createSaml, type SamlRuntime } from "./saml/index.ts";
import { createServices, entities, type Services } from "./services.ts";

const log = logger("server");

/** A start refused for a reason the operator can act on (printed without a stack trace). */
export class StartRefused extends Error {}

export type Role = "all" | "web" | "worker";
export const ROLES: readonly Role[] = ["all", "web", "worker"];

/** The lease of the once-per-cluster event consumers (and, on SQLite, of the one server). */
export const CLUSTER_LEASE = "events.cluster";

export interface RunningServer {
  readonly role: Role;
  /** This process's name in leases and logs. */
  readonly identity: string;
  /** Holds the cluster lease (worker and all roles). */
  readonly lease: LeaseKeeper | undefined;
  readonly services: Services;
  readonly server: Server;
  readonly app: Koa;
  readonly url: string;
  /** Stops accepting, drains HTTP and the queue (bounded by the shutdown timeout), closes the db. */
  shutdown(reason?: string): Promise<void>;
}

export async function startServer(config: Config, role: Role = "all"): Promise<RunningServer> {
  if (config.database.kind === "sqlite" && role !== "all")
    throw new StartRefused(
      `SQLite serves one process, so \`herald ${role}\` cannot run on it: run \`npm start\` (web and worker in one process), or use MySQL/MariaDB (DATABASE_URL=mysql://…) for separate roles.`,
    );
  const secrets = await loadSecrets(config);
  const db = await createDatabase(config.database, { entities });
  try {
    if (config.migrateOnStart) {
      const applied = await db.migrate();
      if (applied.length > 0) log.info("Applied migrations: {applied}", { applied });
    } else if (await db.pendingMigrations()) {
      throw new Error(
        "The database has pending migrations and HERALD_MIGRATE=false: run `npx herald migrate` first.",
      );
    }
  } catch (err) {
    await db.close();
    throw err;
  }

  const identity = processIdentity();
  const leases = createLeases(db);
  const lease =
    role === "web"
      ? undefined
      : createLeaseKeeper({ leases, name: CLUSTER_LEASE, holder: identity, ttlMs: config.leaseMs });
  const services = createServices(config, db, secrets, {
    lease: lease && { held: lease.held, fence: (em) => leases.holds(em, CLUSTER_LEASE, identity) },
  });
  services.health.role = role;
  let saml: SamlRuntime;
  try {
    if (lease) {
      await lease.start();
      // SQLite: one server per database file. A previous server that died holds the lease until
      // its term runs out; a live one keeps it.
      if (config.database.kind === "sqlite" && !lease.held()) {
        const until = Date.now() + config.leaseMs + 1500;
        while (!lease.held() && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
        if (!lease.held()) {
          const holder = (await leases.info(CLUSTER_LEASE))?.holder ?? "another process";
          throw new StartRefused(
            `Another Herald server (${holder}) is serving this SQLite database (${config.database.path}). SQLite serves one process: stop that one first, or use MySQL/MariaDB for several processes.`,
          );
        }
      }
    }
    // Through the Directory, before the event consumers start: they pick the seed's events up.
    if (
      config.isDemoDatabase &&
      config.mode !== "production" &&
      (await seedDemoOrganization(services.directory, services.events))
    ) {
      log.info("Seeded the demo organization.");
    }
    saml = await createSaml(config, db, secrets, services.directory, {
      rolesOf: (person) => services.authz.rolesOf(person),
    });
  } catch (err) {
    await lease?.stop();
    await db.close();
    throw err;
  }
  const app = role === "worker" ? createProbeApp(services) : createApp(services, saml);
  const server = createServer(app.callback());
  // Slow-loris guard; keep-alive longer than typical proxies' idle timeouts.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  await services.authz.warm();
  const queueController = new AbortController();
  let queue: Promise<unknown> = Promise.resolve();
  let demoSeed: Promise<unknown> = Promise.resolve();
  // Seals finished archive days and purges past retention: once per cluster, under the lease.
  const archiveWorker =
    role === "web"
      ? undefined
      : createArchiveWorker({
          db,
          signer: () => createArchiveSigner(secrets.orgSigningKeyPem),
          retentionDays: config.archive.retentionDays,
          intervalMs: config.archive.maintenanceIntervalMs,
          held: () => lease?.held() ?? false,
        });
  archiveWorker?.start();
  // Uploads no post took within a day: once per cluster, under the lease.
  const mediaSweeper =
    role === "web" ? undefined : createMediaSweeper(services.media, () => lease?.held() ?? false);
  mediaSweeper?.start();
  // Publishes scheduled statuses when due: once per cluster, under the lease (src/api/scheduled.ts).
  const scheduledWorker =
    role === "web" ? undefined : scheduledStatusWorker(services, identity, () => lease?.held() ?? false);
  scheduledWorker?.start();
  // The SCIM request log (/admin/provisioning): counters written every few seconds by whoever
  // answers SCIM, pruned past 30 days by the lease holder, hourly.
  if (role !== "worker") services.scimLog.start();
  const scimLogPruner =
    role === "web"
      ? undefined
      : setInterval(() => {
          if (lease && !lease.held()) return;
          services.scimLog
            .prune()
            .catch((error) => log.warn("Pruning the SCIM request log failed: {error}", { error }));
        }, 3_600_000);
  scimLogPruner?.unref();
  if (role === "web") {
    // Its caches only: the side effects are a worker's.
    services.events.start("process");
  } else {
    services.events.start();
    services.accounts.startKeyWorker();
    // Accounts for people provisioned before Presence existed, and the organization's own actor:
    // in the background (key generation takes a while), never on a request path — and in the
    // lease holder only: two workers starting together would each create the organization's
    // actor (the second under the next free handle).
    void (async () => {
      while (!lease?.held() && !queueController.signal.aborted) await new Promise((r) => setTimeout(r, 250));
      if (queueController.signal.aborted) return;
      await services.accounts.ensureOrgActor();
      await services.accounts.reconcile();
    })().catch((error) => log.error("Account reconciliation failed: {error}", { error }));
    // The demo's @recruiting, grants, posts and pending draft: after its people (seeded above),
    // in the background (keys take a moment), in the lease holder, once (src/demo.ts).
    if (config.isDemoDatabase && config.mode !== "production")
      demoSeed = (async () => {
        while (!lease?.held() && !queueController.signal.aborted)
          await new Promise((r) => setTimeout(r, 250));
        if (queueController.signal.aborted) return;
        await seedDemoPresence(services, { signal: queueController.signal });
      })().catch((error) => log.error("Seeding the demo's accounts and posts failed: {error}", { error }));
    queue = services.federation
      .startQueue({ requestId: "queue" }, { signal: queueController.signal })
      .catch((error) => log.error("The delivery queue stopped: {error}", { error }));
  }
  services.health.ready = true;
  log.info("Serving as {role} ({identity}).", { role, identity });

  let stopping: Promise<void> | undefined;
  const shutdown = (reason = "shutdown") => {
    stopping ??= (async () => {
      log.info("Shutting down ({reason}); draining requests and the queue…", { reason });
      services.health.shuttingDown = true;
      // /readyz now says 503; keep serving while the balancer notices (HERALD_DRAIN_DELAY_MS).
      if (config.drainDelayMs > 0) await new Promise((r) => setTimeout(r, config.drainDelayMs));
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      queueController.abort();
      if (scimLogPruner) clearInterval(scimLogPruner);
      const eventsStopped = Promise.all([
        services.events.stop(),
        // After the last SCIM request has been answered: its count is written too.
        closed.then(() => services.scimLog.stop()),
        services.accounts.stopKeyWorker(),
        archiveWorker?.stop(),
        mediaSweeper?.stop(),
        scheduledWorker?.stop(),
      ]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), config.shutdownTimeoutMs);
      });
      const outcome = await Promise.race([
        Promise.all([closed, queue, eventsStopped, demoSeed]).then(() => "drained" as const),
        timeout,
      ]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        log.warn("Shutdown timeout ({ms} ms) reached; closing remaining connections.", {
          ms: config.shutdownTimeoutMs,
        });
        server.closeAllConnections();
      }
      saml.stop();
      // Given up at once, so another process takes the cluster consumers over without waiting.
      await lease?.stop();
      await db.close();
      log.info("Stopped.");
    })();
    return stopping;
  };

  return { role, identity, lease, services, server, app, url, shutdown };
}
