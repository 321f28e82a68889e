/**
 * The archive's tamper evidence, retention and concurrency, on the database itself: an untouched
 * archive verifies; one changed byte or one deleted row makes verification fail naming the record;
 * the retention purge removes what no legal hold keeps and the chain still verifies across it;
 * two processes appending at once keep one chain.
 */
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { ArchiveChainSchema, ArchivePurgeSchema, ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { createHolds } from "../../src/archive/holds.ts";
import { purgeExpired, sealClosedDays } from "../../src/archive/maintenance.ts";
import { appendRecord, type ArchiveInput } from "../../src/archive/records.ts";
import { type ArchiveSigner, createArchiveSigner } from "../../src/archive/signing.ts";
import { verifyArchive } from "../../src/archive/verify.ts";
import { FIXTURES, migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";
import { runNode } from "../helpers/process.ts";

const KEY_PEM = readFileSync(path.join(FIXTURES, "secrets/org-ed25519.pem"), "utf8");
const PUBLIC = createPublicKey(createPrivateKey(KEY_PEM));
const P1 = "11111111-1111-4111-8111-111111111111";
const P2 = "22222222-2222-4222-8222-222222222222";
const at = (iso: string) => () => Date.parse(iso);

describe(`archive chain, seal, purge (${TEST_DB})`, () => {
  let t: TestDb;
  let signer: ArchiveSigner;
  before(async () => {
    signer = await createArchiveSigner(KEY_PEM);
  });
  beforeEach(async () => {
    await t?.close();
    t = await migratedDatabase();
  });
  after(async () => {
    await t?.close();
  });

  const append = (when: string, input: Partial<ArchiveInput> & { text: string }) =>
    t.db.transaction((em) =>
      appendRecord(
        em,
        {
          kind: "post.create",
          direction: "out",
          accountId: input.accountId ?? null,
          personId: input.personId ?? null,
          content: { text: input.text },
        },
        at(when),
      ),
    );
  const rows = (chain: string) =>
    t.db.run((em) => em.getRepository(ArchiveRecordSchema).find({ where: { chain }, order: { seq: "ASC" } }));
  const verify = () => verifyArchive(t.db, PUBLIC);
  const sql = (mysql: string, sqlite: string, params: unknown[]) =>
    t.db.query(TEST_DB === "mysql" ? mysql : sqlite, params);

  test("an untouched archive verifies; a changed byte or a deleted row is named", async () => {
    for (let i = 1; i <= 5; i++) await append(`2020-01-01T10:00:0${i}Z`, { text: `hello ${i}` });
    for (let i = 1; i <= 3; i++) await append(`2020-01-02T10:00:0${i}Z`, { text: `second day ${i}` });
    assert.deepEqual(await sealClosedDays(t.db, signer, Date.parse("2020-01-03T01:00:00Z")), [
      "2020-01-01",
      "2020-01-02",
    ]);
    assert.deepEqual(await verify(), { ok: true, chains: 2, records: 8, purged: 0, sealed: 2 });

    const day1 = await rows("2020-01-01");
    const third = day1[2];
    // One byte of the content.
    await sql(
      "UPDATE archive_record SET content = ? WHERE id = ?",
      "UPDATE archive_record SET content = ? WHERE id = ?",
      [third.content.replace("hello 3", "hellp 3"), third.id],
    );
    let r = await verify();
    assert.equal(r.ok, false);
    assert.deepEqual(r.ok ? {} : { id: r.recordId, chain: r.chain, seq: r.seq }, {
      id: third.id,
      chain: "2020-01-01",
      seq: 3,
    });
    assert.match(r.ok ? "" : r.reason, /hash does not match/);
    // --from/--to: only the days asked for (the digest chain is still followed back past the range).
    assert.deepEqual(await verifyArchive(t.db, PUBLIC, { from: "2020-01-02", to: "2020-01-02" }), {
      ok: true,
      chains: 1,
      records: 3,
      purged: 0,
      sealed: 1,
    });
    assert.equal((await verifyArchive(t.db, PUBLIC, { to: "2020-01-01" })).ok, false);
    await sql(
      "UPDATE archive_record SET content = ? WHERE id = ?",
      "UPDATE archive_record SET content = ? WHERE id = ?",
      [third.content, third.id],
    );
    assert.equal((await verify()).ok, true);

    // One row deleted, in the middle and at the end.
    for (const victim of [day1[1], day1[4]]) {
      await t.db.run((em) => em.getRepository(ArchiveRecordSchema).delete({ id: victim.id }));
      r = await verify();
      assert.equal(r.ok, false);
      assert.deepEqual(r.ok ? {} : { chain: r.chain, seq: r.seq }, { chain: "2020-01-01", seq: victim.seq });
      assert.match(r.ok ? "" : r.reason, new RegExp(`2020-01-01 #${victim.seq} is missing`));
      await t.db.run((em) => em.getRepository(ArchiveRecordSchema).insert(victim));
      assert.equal((await verify()).ok, true);
    }

    // A whole sealed day removed (records, head and digest): the next day names it as the day
    // before; with that link cleared too, the next day's signed digest no longer matches.
    await t.db.run((em) => em.getRepository(ArchiveRecordSchema).delete({ chain: "2020-01-01" }));
    await t.db.run((em) => em.getRepository(ArchiveChainSchema).delete({ chain: "2020-01-01" }));
    r = await verify();
    assert.equal(r.ok, false);
    assert.deepEqual(r.ok ? {} : { chain: r.chain, seq: r.seq }, { chain: "2020-01-01", seq: null });
    assert.match(r.ok ? "" : r.reason, /the day 2020-01-01 is gone .*2020-01-02.* with 5 records/);
    await t.db.run((em) =>
      em
        .getRepository(ArchiveChainSchema)
        .update({ chain: "2020-01-02" }, { prevChain: null, prevSeq: null, prevHead: null }),
    );
    r = await verify();
    assert.equal(r.ok ? "" : r.chain, "2020-01-02");
    assert.match(r.ok ? "" : r.reason, /link to the day before differs from what its digest signed/);
  });

  test("a whole unsealed day deleted with its head row is named once a later day has opened", async () => {
    for (let i = 1; i <= 3; i++) await append(`2020-01-01T10:00:0${i}Z`, { text: `first day ${i}` });
    for (let i = 1; i <= 2; i++) await append(`2020-01-02T10:00:0${i}Z`, { text: `second day ${i}` });
    const heads = await t.db.run((em) =>
      em.getRepository(ArchiveChainSchema).find({ order: { chain: "ASC" } }),
    );
    const day1 = await rows("2020-01-01");
    assert.deepEqual(
      heads.map((h) => [h.chain, h.prevChain, h.prevSeq, h.prevHead, h.sealedAt]),
      [
        ["2020-01-01", null, null, null, null],
        ["2020-01-02", "2020-01-01", 3, day1[2].hash, null],
      ],
    );
    assert.deepEqual(await verify(), { ok: true, chains: 2, records: 5, purged: 0, sealed: 0 });

    // The last record removed and the head moved back to the one before it.
    await t.db.run((em) => em.getRepository(ArchiveRecordSchema).delete({ id: day1[2].id }));
    await t.db.run((em) =>
      em
        .getRepository(ArchiveChainSchema)
        .update({ chain: "2020-01-01" }, { seq: 2, headHash: day1[1].hash }),
    );
    let r = await verify();
    assert.deepEqual(r.ok ? {} : { chain: r.chain, seq: r.seq }, { chain: "2020-01-01", seq: 3 });
    assert.match(r.ok ? "" : r.reason, /record 2020-01-01 #3 is missing: .* 2020-01-02 opened when it had 3/);

    // The whole day: its records and its head row.
    await t.db.run((em) => em.getRepository(ArchiveRecordSchema).delete({ chain: "2020-01-01" }));
    await t.db.run((em) => em.getRepository(ArchiveChainSchema).delete({ chain: "2020-01-01" }));
    r = await verify();
    assert.deepEqual(r.ok ? {} : { chain: r.chain, seq: r.seq, recordId: r.recordId }, {
      chain: "2020-01-01",
      seq: null,
      recordId: null,
    });
    assert.match(r.ok ? "" : r.reason, /the day 2020-01-01 is gone \(records and head\)/);
    // The range asked for holds only the later day: still found.
    assert.equal((await verifyArchive(t.db, PUBLIC, { from: "2020-01-02" })).ok, false);
  });

  test("purge: records past retention vanish unless on hold; the chain verifies across the purge", async () => {
    const holds = createHolds(t.db);
    // Day 1: P2, P1, P2, P2, P1, P2 (held runs split the purged ones); day 2 within retention.
    const people = [P2, P1, P2, P2, P1, P2];
    for (const [i, p] of people.entries())
      await append(`2020-01-01T10:00:0${i}Z`, { text: `old ${i}`, personId: p });
    await append("2020-03-01T10:00:00Z", { text: "recent", personId: P2 });
    await sealClosedDays(t.db, signer, Date.parse("2020-03-02T01:00:00Z"));
    const hold = await holds.create({ name: "Matter 42", personId: P1, by: "cli:test" });
    assert.ok(hold.ok);
    // Refused: a hold that names nothing would keep everything by accident.
    assert.equal((await holds.create({ name: "Everything", by: "cli:test" })).ok, false);

    const now = Date.parse("2020-03-05T00:00:00Z"); // 30 days of retention: day 1 is past it, day 2 not.
    const outcome = await purgeExpired(t.db, signer, 30, now);
    assert.deepEqual(outcome, { purged: 4, kept: 2, chains: ["2020-01-01"] });
    assert.deepEqual(
      (await rows("2020-01-01")).map((r) => [r.seq, r.personId]),
      [
        [2, P1],
        [5, P1],
      ],
    );
    assert.equal((await rows("2020-03-01")).length, 1);
    assert.deepEqual(
      (await t.db.run((em) => em.getRepository(ArchivePurgeSchema).find({ order: { fromSeq: "ASC" } }))).map(
        (p) => [p.fromSeq, p.toSeq],
      ),
      [
        [1, 1],
        [3, 4],
        [6, 6],
      ],
    );
    assert.deepEqual(await verify(), { ok: true, chains: 2, records: 3, purged: 4, sealed: 2 });

    // A forged checkpoint (a purge nobody signed) is refused.
    const [first] = await t.db.run((em) =>
      em.getRepository(ArchivePurgeSchema).find({ order: { fromSeq: "ASC" } }),
    );
    await t.db.run((em) => em.getRepository(ArchivePurgeSchema).update({ id: first.id }, { toSeq: 2 }));
    assert.match((await verify()).ok ? "" : "forged", /forged/);
    await t.db.run((em) => em.getRepository(ArchivePurgeSchema).update({ id: first.id }, { toSeq: 1 }));

    // Released: the next purge takes the rest; the chain still verifies, the digest still matches.
    assert.ok(hold.ok && (await holds.release(hold.hold.id, "cli:test")));
    assert.deepEqual(await purgeExpired(t.db, signer, 30, now), {
      purged: 2,
      kept: 0,
      chains: ["2020-01-01"],
    });
    assert.equal((await rows("2020-01-01")).length, 0);
    assert.deepEqual(await verify(), { ok: true, chains: 2, records: 1, purged: 6, sealed: 2 });
    const actions = (
      await t.db.run((em) => em.getRepository(AuditEventSchema).find({ order: { id: "ASC" } }))
    ).map((a) => a.action);
    assert.deepEqual(actions, [
      "archive.hold.create",
      "archive.purge",
      "archive.hold.release",
      "archive.purge",
    ]);
  });

  test("an unsealed day is never purged, and a sealed day takes no more records", async () => {
    await append("2020-01-01T10:00:00Z", { text: "open day" });
    assert.deepEqual(await purgeExpired(t.db, signer, 1, Date.parse("2021-01-01T00:00:00Z")), {
      purged: 0,
      kept: 0,
      chains: [],
    });
    await sealClosedDays(t.db, signer, Date.parse("2020-01-02T01:00:00Z"));
    await assert.rejects(append("2020-01-01T23:59:59Z", { text: "late" }), /sealed/);
    assert.equal((await verify()).ok, true);
  });

  test("two processes appending at once keep one chain", async () => {
    const worker = path.join(import.meta.dirname, "append-worker.ts");
    const url = t.url;
    const [a, b] = await Promise.all([
      runNode(worker, [url, "150", "A"]),
      runNode(worker, [url, "150", "B"]),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const all = await t.db.run((em) => em.getRepository(ArchiveRecordSchema).find({ order: { id: "ASC" } }));
    assert.equal(all.length, 300);
    const r = await verify();
    assert.equal(r.ok, true, r.ok ? "" : r.reason);
    // Both processes' records interleave in the one chain (or in two days' chains at midnight).
    assert.ok(r.ok && r.records === 300 && r.chains <= 2);
  });
});
