/**
 * Odd queries to the public federation endpoints (collections, WebFinger, NodeInfo) get a 4xx
 * with a reason, never a 500 and never a page they did not ask for: a collection cursor Herald
 * did not hand out is refused with 400 (it used to answer an empty first page, and a non-numeric
 * outbox cursor became an invalid date in SQL). Cases: cases/public-requests.json.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ActorSchema } from "../../src/federation/entities.ts";
import { freePort, ROOT, TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface RequestCase {
  readonly path: string;
  readonly status: number;
  /** What a refusal's reason must say (RFC 9457 detail). */
  readonly detail?: string;
}

const CASES = JSON.parse(
  readFileSync(path.join(ROOT, "test/federation/cases/public-requests.json"), "utf8"),
) as RequestCase[];

describe(`public federation endpoints answer odd queries with 4xx (${TEST_DB})`, () => {
  let s: TestServer;
  let origin: string;
  const values: Record<string, string> = {};
  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    const news = await s.services.accounts.createShared("news", "News", "test");
    assert.ok(news.ok);
    for (let i = 0; i < 2; i++) {
      const posted = await s.services.posting.post({
        actorId: news.actor.id,
        text: `Post ${i}`,
        author: { personId: null, label: "cli:test" },
      });
      assert.ok(posted.ok);
    }
    const org = await s.services.db.run((em) => em.getRepository(ActorSchema).findOneBy({ kind: "org" }));
    assert.ok(org);
    Object.assign(values, {
      $ID: news.actor.id,
      $ORG: org.id,
      $HOST: new URL(origin).host,
      $NEXT: String(Date.now()),
      $LONG: "a".repeat(2000),
    });
  });
  after(async () => {
    await s?.close();
  });

  for (const c of CASES) {
    test(`${c.path.slice(0, 90)} → ${c.status}`, async () => {
      const p = c.path.replace(/\$[A-Z]+/g, (v) => values[v] ?? v);
      const res = await fetch(`${origin}${p}`, { headers: { accept: "application/activity+json" } });
      const body = await res.text();
      assert.equal(res.status, c.status, body.slice(0, 200));
      if (c.detail !== undefined) assert.match(JSON.parse(body).detail, new RegExp(c.detail));
    });
  }
});
