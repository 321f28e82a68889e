/**
 * The Fedify federation: persistent KV and queue on the configured database, handles on the
 * company domain while ids live on the web origin, and interop settings from RUNTIME.md.
 */
import { createFederation, type Federation, type KvStore, type MessageQueue } from "@fedify/fedify";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { createMysqlStores } from "./mysql-store.ts";
import { SqliteKvStore, SqliteMessageQueue } from "./sqlite-store.ts";

/** What every Fedify callback receives: the request id for log correlation. */
export interface FederationContextData {
  readonly requestId: string;
}

export type HeraldFederation = Federation<FederationContextData>;

export function createStores(
  config: Pick<Config, "queue">,
  db: Database,
): { kv: KvStore; queue: MessageQueue } {
  if (db.dialect === "mysql") {
    return createMysqlStores(db, { pollIntervalMs: config.queue.pollIntervalMs });
  }
  return {
    kv: new SqliteKvStore(db),
    queue: new SqliteMessageQueue(db, {
      pollIntervalMs: config.queue.pollIntervalMs,
      workers: config.queue.workers,
    }),
  };
}

export function createHeraldFederation(
  config: Pick<Config, "mode" | "origin" | "handleDomain" | "queue">,
  db: Database,
): HeraldFederation {
  const { kv, queue } = createStores(config, db);
  const federation = createFederation<FederationContextData>({
    kv,
    queue,
    // The server starts the queue after boot (and drains it on shutdown); the CLI never starts
    // it, so it only enqueues and the server delivers (DESIGN: CLI contract).
    manuallyStartQueue: true,
    origin: { handleHost: config.handleDomain, webOrigin: config.origin.origin },
    // Most of the fediverse reads draft-cavage first; some servers accept RFC 9421 with 202 and
    // then drop what they can't verify, so double-knocking never falls back (RUNTIME.md).
    firstKnock: "draft-cavage-http-signatures-12",
    // Loopback peers are allowed only outside production: the SSRF guard stays on there.
    allowPrivateAddress: config.mode !== "production",
  });

  federation.setNodeInfoDispatcher("/nodeinfo/2.1", async () => ({
    software: {
      name: "herald",
      version: "0.1.0",
      homepage: new URL(config.origin.origin),
    },
    protocols: ["activitypub"],
    openRegistrations: false,
    usage: { users: {}, localPosts: 0, localComments: 0 },
    metadata: {},
  }));
  return federation;
}
