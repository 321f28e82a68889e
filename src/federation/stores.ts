/** Fedify's KvStore and MessageQueue for the configured database. */
import type { KvStore, MessageQueue } from "@fedify/fedify";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { createMysqlStores } from "./mysql-store.ts";
import { SqliteKvStore, SqliteMessageQueue } from "./sqlite-store.ts";

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
