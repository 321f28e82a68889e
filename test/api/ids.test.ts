/**
 * The client API's ids (src/api/ids.ts, decision 0015): every numbered row gets its own, growing
 * id, also when one INSERT carries many rows (TypeORM runs a multi-row insert's subscribers
 * concurrently; on MySQL the counter's UPDATE and SELECT LAST_INSERT_ID() could interleave).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FollowerSchema, iriHash } from "../../src/federation/entities.ts";
import { loadSecrets } from "../../src/secrets.ts";
import { createServices, type Services } from "../../src/services.ts";
import { migratedDatabase, TEST_DB, type TestDb, testConfig } from "../helpers/env.ts";

describe(`api ids on ${TEST_DB}`, () => {
  let t: TestDb;
  let services: Services;
  before(async () => {
    t = await migratedDatabase();
    const config = testConfig(t.url, t.dir);
    services = createServices(config, t.db, await loadSecrets(config));
  });
  after(async () => {
    await t.close();
  });

  test("one INSERT of 200 followers: 200 different ids, in the rows' order", async () => {
    const created = await services.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(created.ok);
    const actorId = created.actor.id;
    const rows = Array.from({ length: 200 }, (_, n) => {
      const iri = `https://remote.example/users/${n}`;
      return {
        actorId,
        followerHash: iriHash(iri),
        followerIri: iri,
        inboxIri: `${iri}/inbox`,
        sharedInboxIri: "https://remote.example/inbox",
        followIri: null,
        status: "accepted" as const,
        createdAt: new Date(),
      };
    });
    await t.db.run((em) => em.getRepository(FollowerSchema).insert(rows));
    const stored = await t.db.run((em) => em.getRepository(FollowerSchema).find({ where: { actorId } }));
    assert.equal(stored.length, 200);
    const ids = stored.map((r) => Number(r.apiId));
    assert.equal(new Set(ids).size, 200, "no id twice");
    const byIri = new Map(stored.map((r) => [r.followerIri, Number(r.apiId)]));
    const inOrder = rows.map((r) => byIri.get(r.followerIri)!);
    assert.deepEqual(
      inOrder,
      [...inOrder].sort((a, b) => a - b),
      "ids grow in the rows' order",
    );
  });
});
