/**
 * Boot and shutdown of the HTTP server: config → logging → secrets → db → migrations → demo
 * seed → listen → queue. `main.ts` calls `startServer`; tests call it in-process too.
 */
import { createServer, type Server } from "node:http";
import type Koa from "koa";
import type { AddressInfo } from "node:net";
import { createApp } from "./app.ts";
import type { Config } from "./config.ts";
import { createDatabase } from "./db/database.ts";
import { seedDemoOrganization } from "./identity/demo.ts";
import { logger } from "./logging.ts";
import { loadSecrets } from "./secrets.ts";
import { createSaml, type SamlRuntime } from "./saml/index.ts";
import { createServices, entities, type Services } from "./services.ts";

const log = logger("server");

export interface RunningServer {
  readonly services: Services;
  readonly server: Server;
  readonly app: Koa;
  readonly url: string;
  /** Stops accepting, drains HTTP and the queue (bounded by the shutdown timeout), closes the db. */
  shutdown(reason?: string): Promise<void>;
}

export async function startServer(config: Config): Promise<RunningServer> {
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

  const services = createServices(config, db, secrets);
  let saml: SamlRuntime;
  try {
    // Through the Directory, before the event consumers start: they pick the seed's events up.
    if (
      config.isDemoDatabase &&
      config.mode !== "production" &&
      (await seedDemoOrganization(services.directory, services.events))
    ) {
      log.info("Seeded the demo organization.");
    }
    saml = await createSaml(config, db, secrets, services.directory);
  } catch (err) {
    await db.close();
    throw err;
  }
  const app = createApp(services, saml);
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
  services.events.start(config.clusterConsumers ? undefined : "process");
  services.accounts.startKeyWorker();
  // Accounts for people provisioned before Presence existed, and the organization's own actor:
  // in the background (key generation takes a while), never on a request path.
  void (async () => {
    await services.accounts.ensureOrgActor();
    await services.accounts.reconcile();
  })().catch((error) => log.error("Account reconciliation failed: {error}", { error }));
  const queueController = new AbortController();
  const queue = services.federation
    .startQueue({ requestId: "queue" }, { signal: queueController.signal })
    .catch((error) => log.error("The delivery queue stopped: {error}", { error }));

  let stopping: Promise<void> | undefined;
  const shutdown = (reason = "shutdown") => {
    stopping ??= (async () => {
      log.info("Shutting down ({reason}); draining requests and the queue…", { reason });
      services.health.shuttingDown = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      queueController.abort();
      const eventsStopped = Promise.all([services.events.stop(), services.accounts.stopKeyWorker()]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), config.shutdownTimeoutMs);
      });
      const outcome = await Promise.race([
        Promise.all([closed, queue, eventsStopped]).then(() => "drained" as const),
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
      await db.close();
      log.info("Stopped.");
    })();
    return stopping;
  };

  return { services, server, app, url, shutdown };
}
