/** Fedify's KvStore and MessageQueue for the configured database. */
import type { KvStore, MessageQueue } from "@fedify/fedify";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { createMysqlKvStore } from "./mysql-store.ts";
import { SqlMessageQueue } from "./queue.ts";
import { SqliteKvStore } from "./sqlite-kv.ts";

/**
 * Key–value store: @fedify/mysql's on MySQL (with the MariaDB fix), Herald's on SQLite. Queue:
 * Herald's lease-based queue on both (at-least-once; docs/decisions/0001).
 */
export function createStores(
  config: Pick<Config, "queue">,
  db: Database,
): { kv: KvStore; queue: MessageQueue } {
  return {
    kv: db.dialect === "mysql" ? createMysqlKvStore(db) : new SqliteKvStore(db),
    queue: new SqlMessageQueue(db, {
      pollIntervalMs: config.queue.pollIntervalMs,
      workers: config.queue.workers,
      leaseMs: config.queue.leaseMs,
    }),
  };
}
