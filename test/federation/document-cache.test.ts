/**
 * The served-documents cache (src/federation/document-cache.ts): an answer computed from the state
 * before a change is never cached after the change cleared the cache (a slow request finishing
 * late would otherwise serve the old state for a whole TTL, in every process but the one that made
 * the change).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createDocumentCache } from "../../src/federation/document-cache.ts";

const answer = (text: string) => ({
  status: 200,
  headers: [] as [string, string][],
  body: Buffer.from(text),
});

describe("document cache", () => {
  test("an answer read before a change is not cached after it", () => {
    const cache = createDocumentCache({ ttlMs: 10_000 });
    const since = cache.generation(); // a request starts reading the old state…
    cache.clear(); // …a change lands (a process consumer clears the cache)…
    cache.set("actor /ap/actors/x", answer("old"), since); // …and the request finishes.
    assert.equal(cache.get("actor /ap/actors/x"), undefined);
  });

  test("an answer read after the last change is cached and served", () => {
    const cache = createDocumentCache({ ttlMs: 10_000 });
    cache.clear();
    const since = cache.generation();
    cache.set("wf ?resource=acct:a@x", answer("new"), since);
    assert.equal(cache.get("wf ?resource=acct:a@x")?.body.toString(), "new");
    cache.clear();
    assert.equal(cache.get("wf ?resource=acct:a@x"), undefined);
  });
});
