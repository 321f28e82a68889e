/**
 * Fedify's KvStore on the embedded SQLite database (no Fedify 2 build of \`@fedify/sqlite\` is
 * published; RUNTIME.md), through \`Database.query\`, which serialises SQLite work in-process.
 */
import { isDeepStrictEqual } from "node:util";
import type { KvKey, KvStore, KvStoreListEntry, KvStoreSetOptions } from "@fedify/fedify";
import type { Database } from "../db/database.ts";

type Duration = { total(options: { unit: "millisecond" }): number };

function durationMs(d: Duration | undefined): number {
  return d == null ? 0 : Math.max(0, Math.round(d.total({ unit: "millisecond" })));
}

function encodeKey(key: KvKey): string {
  return JSON.stringify([...key]);
}

export class SqliteKvStore implements KvStore {
  readonly #db: Database;

  constructor(db: Database) {
    if (db.dialect !== "sqlite") throw new TypeError("SqliteKvStore needs a SQLite database");
    this.#db = db;
  }

  async get<T = unknown>(key: KvKey): Promise<T | undefined> {
    const rows = await this.#db.query<{ value: string }>(
      `SELECT "value" FROM "fedify_kv" WHERE "key" = ? AND ("expires_at" IS NULL OR "expires_at" > ?)`,
      [encodeKey(key), Date.now()],
    );
    return rows.length === 0 ? undefined : (JSON.parse(rows[0].value) as T);
  }

  async set(key: KvKey, value: unknown, options?: KvStoreSetOptions): Promise<void> {
    if (value === undefined) return;
    const ttl = options?.ttl == null ? null : Date.now() + durationMs(options.ttl);
    await this.#db.query(
      `INSERT INTO "fedify_kv" ("key", "value", "expires_at") VALUES (?, ?, ?)
       ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value", "expires_at" = excluded."expires_at"`,
      [encodeKey(key), JSON.stringify(value), ttl],
    );
    await this.#expire();
  }

  async delete(key: KvKey): Promise<void> {
    await this.#db.query(`DELETE FROM "fedify_kv" WHERE "key" = ?`, [encodeKey(key)]);
  }

  async cas(
    key: KvKey,
    expectedValue: unknown,
    newValue: unknown,
    options?: KvStoreSetOptions,
  ): Promise<boolean> {
    const k = encodeKey(key);
    const now = Date.now();
    return await this.#db.transaction(async (em) => {
      const rows: { value: string }[] = await em.query(
        `SELECT "value" FROM "fedify_kv" WHERE "key" = ? AND ("expires_at" IS NULL OR "expires_at" > ?)`,
        [k, now],
      );
      const current = rows.length === 0 ? undefined : JSON.parse(rows[0].value);
      if (!isDeepStrictEqual(current, expectedValue)) return false;
      if (newValue === undefined) {
        await em.query(`DELETE FROM "fedify_kv" WHERE "key" = ?`, [k]);
      } else {
        const ttl = options?.ttl == null ? null : now + durationMs(options.ttl);
        await em.query(
          `INSERT INTO "fedify_kv" ("key", "value", "expires_at") VALUES (?, ?, ?)
           ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value", "expires_at" = excluded."expires_at"`,
          [k, JSON.stringify(newValue), ttl],
        );
      }
      return true;
    });
  }

  async *list(prefix?: KvKey): AsyncIterable<KvStoreListEntry> {
    const now = Date.now();
    let rows: { key: string; value: string }[];
    if (prefix == null || prefix.length === 0) {
      rows = await this.#db.query(
        `SELECT "key", "value" FROM "fedify_kv" WHERE "expires_at" IS NULL OR "expires_at" > ? ORDER BY "key"`,
        [now],
      );
    } else {
      // Keys are JSON arrays: ["a","b"] is under the prefix ["a"] when it starts with `["a",`.
      const exact = encodeKey(prefix);
      const like = `${exact.slice(0, -1).replace(/[\\%_]/g, "\\$&")},%`;
      rows = await this.#db.query(
        `SELECT "key", "value" FROM "fedify_kv"
         WHERE ("key" = ? OR "key" LIKE ? ESCAPE '\\')
           AND ("expires_at" IS NULL OR "expires_at" > ?)
         ORDER BY "key"`,
        [exact, like, now],
      );
    }
    for (const row of rows) {
      yield { key: JSON.parse(row.key) as KvKey, value: JSON.parse(row.value) };
    }
  }

  #lastExpire = 0;
  async #expire(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastExpire < 60_000) return;
    this.#lastExpire = now;
    await this.#db.query(`DELETE FROM "fedify_kv" WHERE "expires_at" IS NOT NULL AND "expires_at" <= ?`, [
      now,
    ]);
  }
}
