/**
 * Migration 0033: HTML received from other servers before it was cleaned on receipt — received
 * posts, boosted posts, remote accounts' bios — is cleaned in place, a batch of 500 rows at a
 * time by primary key; remote accounts' avatars and profile links that are not http(s) go.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RemoteAccountSchema } from "../../src/api/records.ts";
import { SanitizeRemoteHtml1763700000033 } from "../../src/db/migrations/0033-sanitize-remote-html.ts";
import { InboundBoostSchema, InboundSchema, iriHash } from "../../src/federation/entities.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

const JANE = "11111111-1111-4111-8111-111111111111";
const ALICE = "https://remote.example/users/alice";
const PAYLOAD = '<p>hi<script>alert(1)</script><img src=x onerror="alert(1)"></p>';
const CLEAN = '<p>hi <a href="https://x.example/" rel="nofollow noopener" target="_blank">x</a></p>';
/** More received posts than one batch holds. */
const MESSAGES = 501;

describe(`migration 0033, remote HTML cleaned (${TEST_DB})`, () => {
  let t: TestDb;
  before(async () => {
    t = await migratedDatabase();
  });
  after(async () => {
    await t.close();
  });

  async function migrate() {
    const runner = t.db.dataSource.createQueryRunner();
    try {
      await new SanitizeRemoteHtml1763700000033().up(runner);
    } finally {
      await runner.release();
    }
  }

  const messageId = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;

  test("posts, boosted posts and bios kept with a payload are cleaned; clean ones and nulls stay", async () => {
    await t.db.run(async (em) => {
      const rows = [];
      for (let i = 0; i < MESSAGES + 2; i++)
        rows.push({
          id: messageId(i),
          actorId: JANE,
          objectHash: iriHash(`https://remote.example/notes/${i}`),
          objectIri: `https://remote.example/notes/${i}`,
          remoteActorIri: ALICE,
          kind: "post" as const,
          // The last two: already clean, and empty.
          contentHtml: i === MESSAGES ? CLEAN : i === MESSAGES + 1 ? null : `${PAYLOAD}${i}`,
          inReplyToPostId: null,
          url: null,
          publishedAt: null,
          receivedAt: new Date("2026-12-05T10:00:00Z"),
          updatedAt: null,
          deletedAt: null,
          raw: null,
          apiId: 1000 + i,
        });
      for (let i = 0; i < rows.length; i += 100)
        await em.getRepository(InboundSchema).insert(rows.slice(i, i + 100));
      for (const [n, html] of [
        [1, '<h1>Title</h1><a href="javascript:alert(1)">x</a>'],
        [2, CLEAN],
      ] as const)
        await em.getRepository(InboundBoostSchema).insert({
          actorId: JANE,
          activityHash: iriHash(`https://remote.example/announces/${n}`),
          activityIri: `https://remote.example/announces/${n}`,
          boosterIri: ALICE,
          boosterHash: iriHash(ALICE),
          objectHash: iriHash(`https://remote.example/notes/b${n}`),
          objectIri: `https://remote.example/notes/b${n}`,
          authorIri: ALICE,
          authorHash: iriHash(ALICE),
          contentHtml: html,
          url: null,
          publishedAt: null,
          raw: null,
          media: null,
          receivedAt: new Date("2026-12-05T10:00:00Z"),
          apiId: 5000 + n * 2,
          objectApiId: 5001 + n * 2,
        });
      for (const [id, note, avatar, url] of [
        [7001, '<p onclick="alert(1)">bio</p>', "javascript:alert(1)", "javascript:alert(2)"],
        [7002, CLEAN, "https://remote.example/a.png", "https://remote.example/@bob"],
      ] as const)
        await em.getRepository(RemoteAccountSchema).insert({
          id,
          iriHash: iriHash(`https://remote.example/users/${id}`),
          iri: `https://remote.example/users/${id}`,
          username: `u${id}`,
          acct: `u${id}@remote.example`,
          displayName: "",
          url,
          avatar,
          note,
          fetchedAt: new Date("2026-12-05T10:00:00Z"),
        });
    });
    const messages = () => t.db.run((em) => em.getRepository(InboundSchema).find({ order: { id: "ASC" } }));
    const boosts = () =>
      t.db.run((em) => em.getRepository(InboundBoostSchema).find({ order: { apiId: "ASC" } }));
    const accounts = () =>
      t.db.run((em) => em.getRepository(RemoteAccountSchema).find({ order: { id: "ASC" } }));
    assert.equal((await messages())[MESSAGES - 1].contentHtml, `${PAYLOAD}${MESSAGES - 1}`);
    const feed = async () =>
      Number(
        (
          await t.db.query<{ v: number | string }>("SELECT value AS v FROM api_sequence WHERE name = 'feed'")
        )[0].v,
      );
    const before = await feed();

    await migrate();
    // Pages cached under the old global version are not served again (raw SQL raises none).
    assert.equal(await feed(), before + 1);

    const m = await messages();
    assert.equal(m.length, MESSAGES + 2);
    assert.deepEqual(
      m.slice(0, MESSAGES).filter((r, i) => r.contentHtml !== `<p>hi</p>${i}`),
      [],
      "every received post with a payload, in both batches, is cleaned",
    );
    assert.equal(m[MESSAGES].contentHtml, CLEAN);
    assert.equal(m[MESSAGES + 1].contentHtml, null);
    assert.deepEqual(
      (await boosts()).map((b) => b.contentHtml),
      ["<p><strong>Title</strong></p>x", CLEAN],
    );
    assert.deepEqual(
      (await accounts()).map((a) => [a.note, a.avatar, a.url]),
      [
        ["<p>bio</p>", null, null],
        [CLEAN, "https://remote.example/a.png", "https://remote.example/@bob"],
      ],
    );

    // Run again: nothing left to clean, nothing changes.
    await migrate();
    assert.deepEqual(await messages(), m);
  });
});
