/**
 * The archive's scheduled work runs in the server that holds the cluster lease: a finished day is
 * sealed and, past retention, purged except what a legal hold keeps; the chain still verifies.
 */
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { ArchiveChainSchema, ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { createHolds } from "../../src/archive/holds.ts";
import { appendRecord } from "../../src/archive/records.ts";
import { verifyArchive } from "../../src/archive/verify.ts";
import { FIXTURES, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer } from "../helpers/server.ts";

const HELD = "11111111-1111-4111-8111-111111111111";
const OTHER = "22222222-2222-4222-8222-222222222222";

test(`the lease holder seals finished days and purges past retention, sparing holds (${TEST_DB})`, async () => {
  const s = await startTestServer({
    HERALD_ARCHIVE_MAINTENANCE_MS: "1000",
    HERALD_ARCHIVE_RETENTION_DAYS: "30",
  });
  try {
    const { db } = s.services;
    const old = () => Date.parse("2020-06-01T12:00:00Z");
    for (const personId of [OTHER, HELD, OTHER])
      await db.transaction((em) =>
        appendRecord(
          em,
          { kind: "post.create", direction: "out", personId, content: { text: personId } },
          old,
        ),
      );
    assert.ok((await createHolds(db).create({ name: "Matter 7", personId: HELD, by: "cli:test" })).ok);
    const left = await waitFor(
      async () => {
        const rows = await db.run((em) =>
          em.getRepository(ArchiveRecordSchema).findBy({ chain: "2020-06-01" }),
        );
        return rows.length === 1 ? rows : undefined;
      },
      { what: "the purge", timeoutMs: 20_000 },
    );
    assert.equal(left[0].personId, HELD);
    const day = await db.run((em) =>
      em.getRepository(ArchiveChainSchema).findOneByOrFail({ chain: "2020-06-01" }),
    );
    assert.ok(day.sealedAt && day.digest, "sealed before it was purged");
    const key = createPublicKey(
      createPrivateKey(readFileSync(path.join(FIXTURES, "secrets/org-ed25519.pem"))),
    );
    assert.deepEqual(await verifyArchive(db, key), { ok: true, chains: 1, records: 1, purged: 2, sealed: 1 });
  } finally {
    await s.close();
  }
});
