/**
 * The append hashes a record in SQL from pieces of canonical JSON built before the chain head's
 * lock (recordHashParts): joined with a head and a position they must be exactly the canonical
 * JSON recordHash (and the offline checker) hash, for any values a record holds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  canonicalJson,
  hashedFields,
  recordHash,
  recordHashParts,
  sha256,
} from "../../src/archive/canonical.ts";
import type { ArchiveRecordRow } from "../../src/archive/entities.ts";

test("recordHashParts joined with the head and position are the record's canonical JSON", () => {
  const full: Omit<ArchiveRecordRow, "id" | "hash"> = {
    chain: "2026-03-01",
    seq: 1234,
    recordedAt: new Date("2026-03-01T23:59:59.123Z"),
    kind: "inbound.dm",
    direction: "in",
    accountId: "11111111-1111-4111-8111-111111111111",
    accountHandle: "recruiting",
    personId: null,
    actorLabel: 'Zoë "Z" Ünal\\n',
    approverId: "22222222-2222-4222-8222-222222222222",
    app: "Tusky\u2028",
    tokenId: "42",
    remoteActor: "https://example.social/users/fan?x=1&y=é",
    objectIri: "https://example.social/notes/1",
    inReplyTo: null,
    subjectId: "abc",
    content: canonicalJson({ text: "héllo 👋 <b>\u0000", z: [1, 2.5, null, { b: true, a: "x" }] }),
    prevHash: "a".repeat(64),
  };
  const nulls: Omit<ArchiveRecordRow, "id" | "hash"> = {
    ...full,
    kind: "post.create",
    direction: "out",
    accountId: null,
    accountHandle: null,
    actorLabel: null,
    approverId: null,
    app: null,
    tokenId: null,
    remoteActor: null,
    objectIri: null,
    subjectId: null,
    seq: 1,
    content: "{}",
  };
  for (const r of [full, nulls]) {
    const { before, middle, after } = recordHashParts(r);
    const joined = `${before}${r.prevHash}${middle}${r.seq}${after}`;
    assert.equal(joined, canonicalJson(hashedFields(r)));
    assert.equal(sha256(joined), recordHash(r));
  }
});
