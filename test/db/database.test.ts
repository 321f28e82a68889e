import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { recordAudit } from "../../src/db/audit.ts";
import { createDatabase } from "../../src/db/database.ts";
import { migrations } from "../../src/db/migrations/index.ts";
import { entities } from "../../src/services.ts";
import { freshDatabaseUrl, migratedDatabase, TEST_DB, type TestDb, testConfig } from "../helpers/env.ts";

describe(`database on ${TEST_DB}`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  test("every migration is applied once; a second run applies nothing", async () => {
    assert.equal(await t.db.pendingMigrations(), false);
    assert.deepEqual(await t.db.migrate(), []);
    const rows = await t.db.query<{ name: string }>("SELECT name FROM migrations ORDER BY id");
    assert.deepEqual(
      rows.map((r) => r.name),
      migrations.map((m) => new m().name),
    );
  });

  test("the schema has every table the entities and Fedify stores use", async () => {
    for (const table of [
      "herald_setting",
      "scim_token",
      "audit_event",
      "fedify_kv",
      "delivery_queue",
      "person",
      "person_email",
      "directory_group",
      "group_member",
      "handle",
      "domain_event",
      "event_cursor",
      "actor",
      "actor_key",
      "follower",
      "following",
      "post",
      "inbound_message",
      "inbound_boost",
      "reaction",
      "domain_block",
    ]) {
      const rows = await t.db.query(`SELECT COUNT(*) AS n FROM ${table}`);
      assert.equal(rows.length, 1, table);
    }
  });

  test("concurrent transactions do not interleave: a failing one rolls back only itself", async () => {
    const before = Number((await t.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM audit_event"))[0].n);
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        t.db.transaction(async (em) => {
          await recordAudit(em, { actor: "test", action: "tx.first", targetId: String(i) });
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          await recordAudit(em, { actor: "test", action: "tx.second", targetId: String(i) });
          if (i % 3 === 0) throw new Error(`fail ${i}`);
        }),
      ),
    );
    assert.equal(results.filter((r) => r.status === "rejected").length, 10);
    const after = Number((await t.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM audit_event"))[0].n);
    assert.equal(after - before, 40, "20 committed transactions × 2 rows");
    const firsts = await t.db.query<{ target_id: string }>(
      "SELECT target_id FROM audit_event WHERE action = 'tx.first'",
    );
    const seconds = await t.db.query<{ target_id: string }>(
      "SELECT target_id FROM audit_event WHERE action = 'tx.second'",
    );
    const ids = (rows: { target_id: string }[]) => rows.map((r) => Number(r.target_id)).sort((a, b) => a - b);
    const expected = Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 0);
    assert.deepEqual(ids(firsts), expected);
    assert.deepEqual(ids(seconds), expected);
  });

  test("timestamps round-trip with millisecond precision in UTC", async () => {
    const at = new Date("2026-03-04T05:06:07.089Z");
    await t.db.transaction((em) =>
      em.getRepository("AuditEvent").insert({ at, actor: "t", action: "ts.check" }),
    );
    const row = await t.db.run((em) =>
      em.getRepository("AuditEvent").findOneByOrFail({ action: "ts.check" }),
    );
    assert.equal((row.at as Date).toISOString(), at.toISOString());
  });
});

describe("migrations on an empty database", () => {
  test("run from nothing, and a second process sees nothing pending", async () => {
    const fresh = await freshDatabaseUrl();
    try {
      const config = testConfig(fresh.url, fresh.dir);
      const a = await createDatabase(config.database, { entities });
      assert.equal(await a.pendingMigrations(), true);
      const applied = await a.migrate();
      assert.equal(applied.length, migrations.length);
      const b = await createDatabase(config.database, { entities });
      assert.equal(await b.pendingMigrations(), false);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await fresh.cleanup();
    }
  });
});
