/**
 * Impersonation reports are archived (#16: "reports" in the capture list): each stored report is
 * one record of kind report.impersonation, heard (direction in), with the words as given and the
 * sender only as its keyed hash, in the report's own transaction: a report the archive cannot
 * take is not stored either; a refused report leaves no record.
 */
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { sealClosedDays } from "../../src/archive/maintenance.ts";
import { createArchive } from "../../src/archive/records.ts";
import { createArchiveSigner } from "../../src/archive/signing.ts";
import { verifyArchive } from "../../src/archive/verify.ts";
import { createReports, ReportSchema } from "../../src/verify/reports.ts";
import { FIXTURES, migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

const KEY_PEM = readFileSync(path.join(FIXTURES, "secrets/org-ed25519.pem"), "utf8");

describe(`impersonation reports are archived (${TEST_DB})`, () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await migratedDatabase();
  });
  afterEach(async () => {
    await t.close();
  });
  const all = <T extends object>(schema: typeof ArchiveRecordSchema | typeof ReportSchema) =>
    t.db.run((em) => em.getRepository(schema).find()) as Promise<T[]>;

  test("a stored report is one record in its transaction; a refused one leaves none", async () => {
    const reports = createReports(t.db, "secret", createArchive());
    const r = await reports.submit({
      reported: "@recruiting@fake.example",
      details: "Pretends to hire for Alpha Corp.",
      contact: "jo@example.org",
      source: "203.0.113.7",
    });
    assert.ok(r.ok);
    const refused = await reports.submit({ reported: "", details: "x", source: "203.0.113.7" });
    assert.equal(refused.ok, false);
    const [report] = await all<{ id: string; sourceHash: string }>(ReportSchema);
    const records = await all<{ kind: string; direction: string; subjectId: string; content: string }>(
      ArchiveRecordSchema,
    );
    assert.deepEqual(
      records.map((x) => ({
        kind: x.kind,
        direction: x.direction,
        subjectId: x.subjectId,
        content: JSON.parse(x.content),
      })),
      [
        {
          kind: "report.impersonation",
          direction: "in",
          subjectId: r.ok ? r.id : "",
          content: {
            reported: "@recruiting@fake.example",
            details: "Pretends to hire for Alpha Corp.",
            contact: "jo@example.org",
            sourceHash: report.sourceHash,
          },
        },
      ],
    );
    assert.doesNotMatch(records[0].content, /203\.0\.113\.7/);
    assert.equal((await verifyArchive(t.db, createPublicKey(createPrivateKey(KEY_PEM)))).ok, true);
  });

  test("a report the archive refuses (its day already sealed) is not stored", async () => {
    const late = createArchive({ now: () => Date.parse("2020-01-01T23:59:59Z") });
    const reports = createReports(t.db, "secret", late);
    assert.ok((await reports.submit({ reported: "@a@b.example", details: "first", source: "x" })).ok);
    await sealClosedDays(t.db, await createArchiveSigner(KEY_PEM), Date.parse("2020-01-02T01:00:00Z"));
    await assert.rejects(
      reports.submit({ reported: "@a@b.example", details: "second", source: "x" }),
      /sealed/,
    );
    assert.equal((await all(ReportSchema)).length, 1);
    assert.equal((await all(ArchiveRecordSchema)).length, 1);
  });
});
