/**
 * A remote account Herald already knows is answered as kept, and looked up again in the background
 * when its row is stale (src/api/remote-accounts.ts): a home timeline of posts by the accounts of a
 * server that no longer answers does not wait for it (before, each post's author was looked up
 * again, one after another, each waiting for the fetch timeout, 2 minutes here). One lookup per
 * actor at a time, and none for RETRY_MS after one failed.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { EntityManager } from "typeorm";
import { nextApiId } from "../../src/api/ids.ts";
import { RemoteAccountSchema } from "../../src/api/records.ts";
import { InboundSchema, iriHash } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { type FollowerOfRemote, startFollowerOfRemote } from "../helpers/follower-of-remote.ts";

type Json = Record<string, unknown>;

describe(`remote accounts of a server that no longer answers (${TEST_DB})`, () => {
  let t: FollowerOfRemote;
  let dead: http.Server;
  const asked: string[] = [];
  const held: http.ServerResponse[] = [];
  let failing = false;
  let gone = "";

  before(async () => {
    t = await startFollowerOfRemote(["alice"], { HERALD_REMOTE_FETCH_TIMEOUT_MS: "120000" });
    // Takes every request and answers none, until the test makes it answer 500 to all.
    dead = http.createServer((req, res) => {
      asked.push(req.url ?? "");
      req.resume();
      if (!failing) return void held.push(res);
      res.statusCode = 500;
      res.end();
    });
    await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
    gone = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/users/gone`;
    // Known for two days: its row is stale. Two posts of it reached Jane.
    await t.s.services.db.transaction(async (em) => {
      await em.getRepository(RemoteAccountSchema).insert({
        id: await nextApiId(em.queryRunner!),
        iriHash: iriHash(gone),
        iri: gone,
        username: "gone",
        acct: `gone@${new URL(gone).host}`,
        displayName: "Gone Person",
        url: null,
        avatar: null,
        note: null,
        fetchedAt: new Date(Date.now() - 2 * 86_400_000),
      });
      for (const n of [1, 2]) await receivedFrom(em, gone, `${gone}/notes/${n}`, `<p>Post ${n}</p>`);
    });
  });

  /** A post by `author` that reached Jane (as the inbox stores it). */
  async function receivedFrom(em: EntityManager, author: string, objectIri: string, html: string) {
    await em.getRepository(InboundSchema).insert({
      id: randomUUID(),
      actorId: t.janeId,
      objectHash: iriHash(objectIri),
      objectIri,
      remoteActorIri: author,
      kind: "post",
      contentHtml: html,
      inReplyToPostId: null,
      url: null,
      publishedAt: null,
      receivedAt: new Date(),
      updatedAt: null,
      deletedAt: null,
      raw: null,
      media: null,
    });
  }

  after(async () => {
    for (const res of held) res.destroy();
    dead?.closeAllConnections();
    await new Promise((resolve) => dead?.close(resolve));
    await t?.close();
  });

  async function home(): Promise<Json[]> {
    // Far below the 2-minute fetch timeout: a timeline that waited for the lookup is aborted.
    const res = await fetch(`${t.origin}/api/v1/timelines/home`, {
      headers: { authorization: `Bearer ${t.token}` },
      signal: AbortSignal.timeout(20_000),
    });
    assert.equal(res.status, 200);
    return (await res.json()) as Json[];
  }

  const names = (list: Json[]) => list.map((s) => (s.account as Json).display_name);

  test("the home timeline answers with the account as kept while one lookup of it waits in the background", async () => {
    assert.deepEqual(names(await home()), ["Gone Person", "Gone Person"]);
    await waitFor(async () => (asked.length === 1 ? true : undefined), { what: "the background lookup" });
    assert.deepEqual(names(await home()), ["Gone Person", "Gone Person"]);
    assert.deepEqual(asked, ["/users/gone"], "one lookup at a time");
  });

  test("a failed lookup is not tried again on the next reads", async () => {
    failing = true;
    for (const res of held.splice(0)) {
      res.statusCode = 500;
      res.end();
    }
    await waitFor(
      async () => {
        const row = await t.s.services.db.run((em) =>
          em.getRepository(RemoteAccountSchema).findOneBy({ iriHash: iriHash(gone) }),
        );
        return row?.fetchedAt.getTime() === 0 ? true : undefined;
      },
      { what: "the failed lookup recorded" },
    );
    // The actor's document, then WebFinger (Fedify's lookupObject tries both): one lookup.
    const lookups = asked.length;
    assert.deepEqual(asked.filter((p) => p === "/users/gone").length, 1);
    assert.deepEqual(names(await home()), ["Gone Person", "Gone Person"]);
    assert.deepEqual(names(await home()), ["Gone Person", "Gone Person"]);
    assert.equal(asked.length, lookups, "looked up again within RETRY_MS");
  });

  test("an actor whose name, username and links are longer than the columns: shown, cut to 255 characters, long links dropped", async () => {
    const origin = t.remote.origin;
    const long = `${origin}/users/long`;
    t.remote.put("/users/long", {
      "@context": "https://www.w3.org/ns/activitystreams",
      id: long,
      type: "Person",
      preferredUsername: "u".repeat(300),
      name: "N".repeat(299) + "😀",
      url: `${origin}/@${"x".repeat(2100)}`,
      icon: { type: "Image", url: `${origin}/${"a".repeat(2100)}.png` },
    });
    await t.s.services.db.transaction((em) => receivedFrom(em, long, `${long}/notes/1`, "<p>Long</p>"));
    const [status] = (await home()).filter((x) => (x.account as Json).uri === long);
    const account = status.account as Json;
    assert.equal(account.display_name, "N".repeat(255));
    assert.equal(account.username, "u".repeat(255));
    assert.equal(account.url, long);
    assert.doesNotMatch(String(account.avatar), /aaaa/);
  });
});
