/**
 * The home timeline's page cache (src/api/feed.ts, decision 0016): a page comes from memory only
 * while nothing it shows has changed. After every kind of write a home timeline shows — a post,
 * an edit, a deletion, a post written by another process (the CLI), a received post, a reaction
 * and its removal by criteria, the profile — the next page equals one built afresh (a request
 * under a key never used before), and shows the change exactly. A token revoked by another
 * connection with plain SQL (no Herald code, so no version raised) stops on the next call: the
 * per-call decision still reads the database (SQLite: its change stamp).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { appTokenCreate } from "../../src/api/cli.ts";
import { createFeedCache } from "../../src/api/feed.ts";
import { createDatabase } from "../../src/db/database.ts";
import { iriHash, InboundSchema, PostSchema, ReactionSchema } from "../../src/federation/entities.ts";
import { parseConfig } from "../../src/config.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { type Instance, startInstance } from "../helpers/instance.ts";
import { runCli } from "../helpers/process.ts";

type Status = {
  id: string;
  content: string;
  favourites_count: number;
  favourited: boolean;
  account: { note: string };
};

describe(`the home timeline's page cache on ${TEST_DB}`, () => {
  let corp: Instance;
  let token = "";
  let janeAccountId = "";
  let fresh = 0;

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(corp.origin + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, link: res.headers.get("link"), json: (await res.json()) as unknown };
  };

  /** The home page as served (cached or not), checked against one built afresh. */
  const home = async (): Promise<Status[]> => {
    const served = await call("GET", "/api/v1/timelines/home");
    // A query never seen before: its own key, so built from the database now.
    const built = await call("GET", `/api/v1/timelines/home?fresh=${++fresh}`);
    assert.equal(served.status, 200);
    assert.equal(built.status, 200);
    assert.deepEqual(served.json, built.json, "the cached page differs from a fresh one");
    return served.json as Status[];
  };

  before(async () => {
    corp = await startInstance("Corp");
    const s = corp.s.services;
    await s.scim.createUser({ userName: "jane@corp.example", displayName: "Jane" }, { name: "test" });
    await waitFor(async () => (await s.accounts.byHandle("jane"))?.keysReadyAt ?? undefined, {
      timeoutMs: 60_000,
      what: "jane's keys",
    });
    janeAccountId = (await s.accounts.byHandle("jane"))!.id;
    const issued = await appTokenCreate(s, { userName: "jane@corp.example", account: "jane", by: "test" });
    assert.ok(issued.ok);
    token = issued.token;
  });

  after(async () => {
    await corp?.s.shutdown("test");
    await corp?.fresh.cleanup();
  });

  test("unchanged, the same page twice, Link header included", async () => {
    for (const text of ["First", "Second"])
      assert.equal((await call("POST", "/api/v1/statuses", { status: text })).status, 200);
    const a = await call("GET", "/api/v1/timelines/home?limit=1");
    const b = await call("GET", "/api/v1/timelines/home?limit=1");
    assert.deepEqual(b.json, a.json);
    assert.equal((a.json as Status[]).length, 1);
    assert.ok(a.link?.includes("max_id="));
    assert.equal(b.link, a.link);
  });

  test("posts, edits and deletions through the API show on the next call", async () => {
    assert.equal((await home()).length, 2);
    const posted = await call("POST", "/api/v1/statuses", { status: "Third" });
    const id = (posted.json as Status).id;
    const after = await home();
    assert.equal(after.length, 3);
    assert.equal(after[0].id, id);

    assert.equal((await call("PUT", `/api/v1/statuses/${id}`, { status: "Third, edited" })).status, 200);
    assert.match((await home())[0].content, /Third, edited/);

    assert.equal((await call("DELETE", `/api/v1/statuses/${id}`)).status, 200);
    const gone = await home();
    assert.equal(gone.length, 2);
    assert.ok(!gone.some((x) => x.id === id));
  });

  test("a post written by another process (the CLI) shows on the next call", async () => {
    assert.equal((await home()).length, 2);
    const r = await runCli(["post", "jane", "Written by the CLI"], corp.env);
    assert.equal(r.code, 0, r.stderr);
    const after = await home();
    assert.equal(after.length, 3);
    assert.match(after[0].content, /Written by the CLI/);
  });

  test("a received post, a like and its removal by criteria show on the next call", async () => {
    const db = corp.s.services.db;
    const before = await home();
    const objectIri = `http://127.0.0.1:9/notes/${randomUUID()}`;
    await db.transaction((em) =>
      em.getRepository(InboundSchema).insert({
        id: randomUUID(),
        actorId: janeAccountId,
        objectHash: iriHash(objectIri),
        objectIri,
        remoteActorIri: "http://127.0.0.1:9/users/ann",
        kind: "post",
        contentHtml: "<p>Hello from Ann</p>",
        inReplyToPostId: null,
        url: null,
        publishedAt: new Date(),
        receivedAt: new Date(),
        updatedAt: null,
        deletedAt: null,
        raw: null,
      }),
    );
    const received = await home();
    assert.equal(received.length, before.length + 1);
    assert.equal(received.filter((x) => x.content.includes("Hello from Ann")).length, 1);

    // A like on Jane's newest post, then every like on it removed by criteria (the global version).
    const newest = await db.run((em) =>
      em.getRepository(PostSchema).findOne({ where: { actorId: janeAccountId }, order: { apiId: "DESC" } }),
    );
    assert.ok(newest);
    const ownNewest = () => received.find((x) => x.id === String(newest.apiId));
    assert.equal(ownNewest()?.favourites_count, 0);
    await db.transaction((em) =>
      em.getRepository(ReactionSchema).insert({
        postId: newest.id,
        kind: "like",
        remoteActorHash: iriHash("http://127.0.0.1:9/users/ann"),
        activityHash: iriHash(`http://127.0.0.1:9/likes/${randomUUID()}`),
        createdAt: new Date(),
        remoteActorIri: "http://127.0.0.1:9/users/ann",
      }),
    );
    const liked = (await home()).find((x) => x.id === String(newest.apiId));
    assert.equal(liked?.favourites_count, 1);
    await db.transaction((em) => em.getRepository(ReactionSchema).delete({ postId: newest.id }));
    const unliked = (await home()).find((x) => x.id === String(newest.apiId));
    assert.equal(unliked?.favourites_count, 0);
  });

  test("the account's own favourite shows on the next call, and its undoing", async () => {
    // Jane's newest own post (Ann's received one is a remote post, liked on Ann's server).
    const newest = (await home()).find((x) => !x.content.includes("Hello from Ann"))!;
    assert.deepEqual([newest.favourited, newest.favourites_count], [false, 0]);
    const fav = await call("POST", `/api/v1/statuses/${newest.id}/favourite`);
    assert.equal(fav.status, 200, JSON.stringify(fav.json));
    const liked = (await home()).find((x) => x.id === newest.id);
    assert.deepEqual([liked?.favourited, liked?.favourites_count], [true, 1]);
    assert.equal((await call("POST", `/api/v1/statuses/${newest.id}/unfavourite`)).status, 200);
    const unliked = (await home()).find((x) => x.id === newest.id);
    assert.deepEqual([unliked?.favourited, unliked?.favourites_count], [false, 0]);
  });

  test("a profile change shows on the next call", async () => {
    const own = (list: Status[]) => list.filter((x) => !x.content.includes("Hello from Ann"));
    assert.deepEqual(new Set(own(await home()).map((x) => x.account.note)), new Set([""]));
    const r = await call("PATCH", "/api/v1/accounts/update_credentials", { note: "Hiring in Lyon" });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const after = own(await home());
    assert.ok(after.length > 0);
    assert.deepEqual(new Set(after.map((x) => x.account.note)), new Set(["<p>Hiring in Lyon</p>"]));
  });

  test("a token revoked by another connection with plain SQL stops on the next call", async () => {
    assert.equal((await call("GET", "/api/v1/timelines/home")).status, 200);
    const other = await createDatabase(parseConfig(corp.env).database);
    try {
      const now = new Date().toISOString().replace("T", " ").replace("Z", "");
      await other.query("UPDATE api_token SET revoked_at = ? WHERE person_id IS NOT NULL", [now]);
    } finally {
      await other.close();
    }
    const refused = await call("GET", "/api/v1/timelines/home");
    assert.equal(refused.status, 401);
  });
});

describe("the page cache's bounds", () => {
  const page = (version: string, bytes: number) => ({
    version,
    body: Buffer.alloc(bytes, 0x20),
    link: undefined,
  });

  test("a page is returned only for exactly its versions", () => {
    const cache = createFeedCache(10_000);
    cache.set("a", page("1.1", 100));
    assert.ok(cache.get("a", "1.1"));
    assert.equal(cache.get("a", "2.1"), undefined);
    assert.equal(cache.get("a", "1.2"), undefined);
    assert.equal(cache.get("b", "1.1"), undefined);
    assert.deepEqual(
      { hits: cache.stats().hits, misses: cache.stats().misses, pages: cache.stats().pages },
      { hits: 1, misses: 3, pages: 1 },
    );
  });

  test("past its bytes, the least recently used pages go first", () => {
    const cache = createFeedCache(3 * 1_100);
    for (const k of ["a", "b", "c"]) cache.set(k, page("1.1", 1_000));
    assert.equal(cache.stats().pages, 3);
    assert.ok(cache.get("a", "1.1")); // a is now the most recently used
    cache.set("d", page("1.1", 1_000));
    assert.equal(cache.stats().pages, 3);
    assert.equal(cache.stats().evictions, 1);
    assert.equal(cache.get("b", "1.1"), undefined); // b was the least recently used
    for (const k of ["a", "c", "d"]) assert.ok(cache.get(k, "1.1"), k);
    // A page larger than the whole cache is not kept.
    cache.set("e", page("1.1", 10_000));
    assert.equal(cache.get("e", "1.1"), undefined);
    assert.equal(cache.stats().pages, 3);
  });
});
