/**
 * accounts/:id/statuses pages through an account's posts and boosts without losing one: a boost
 * the caller cannot be shown (its post was deleted, or is not public) is left out, the page is
 * filled from the rows past it, and the Link header's next cursor is the last row considered.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { apiToken } from "../helpers/api-token.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Json = Record<string, unknown>;
const scimActor = { name: "scim-token:test" };

describe(`accounts/:id/statuses paging past hidden boosts (${TEST_DB})`, () => {
  let s: TestServer;
  let origin: string;
  const tokens: Record<string, string> = {};
  const accountIds: Record<string, string> = {};

  async function call(method: string, url: string, token?: string, body?: Json) {
    const res = await fetch(url.startsWith("http") ? url : `${origin}${url}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as unknown, link: res.headers.get("link") };
  }

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    for (const who of ["jane", "bob"]) {
      const personId = String(
        (await s.services.scim.createUser({ userName: `${who}@corp.example`, displayName: who }, scimActor))
          .id,
      );
      const row = await waitFor(
        async () => {
          const r = await s.services.accounts.byPerson(personId);
          return r?.keysReadyAt ? r : undefined;
        },
        { what: `${who}'s account`, timeoutMs: 60_000 },
      );
      accountIds[who] = row.id;
      tokens[who] = await apiToken(s, personId, row.id, { app: "Phone", scopes: ["read", "write"] });
    }
  });

  after(async () => {
    await s?.close();
  });

  test("three of six boosts hidden: pages of two show the other three exactly once, then end", async () => {
    const posts: string[] = [];
    for (let i = 1; i <= 6; i++) {
      const r = await call("POST", "/api/v1/statuses", tokens.bob, { status: `Bob's post ${i}` });
      assert.equal(r.status, 200);
      posts.push(String((r.body as Json).id));
    }
    const wrappers: string[] = [];
    for (const id of posts) {
      const r = await call("POST", `/api/v1/statuses/${id}/reblog`, tokens.jane);
      assert.equal(r.status, 200);
      wrappers.push(String((r.body as Json).id));
    }
    // Bob deletes posts 2, 3 and 4: Jane's boosts of them have nothing left to show.
    for (const id of posts.slice(1, 4))
      assert.equal((await call("DELETE", `/api/v1/statuses/${id}`, tokens.bob)).status, 200);

    const seen: string[] = [];
    const sizes: number[] = [];
    let url: string | undefined = `/api/v1/accounts/${accountIds.jane}/statuses?limit=2`;
    for (let i = 0; url && i < 10; i++) {
      const page = await call("GET", url);
      assert.equal(page.status, 200);
      const list = page.body as Json[];
      sizes.push(list.length);
      seen.push(...list.map((x) => String((x.reblog as Json).id)));
      url = list.length === 0 ? undefined : /<([^>]+)>; rel="next"/.exec(page.link ?? "")?.[1];
    }
    // Newest first: posts 6 and 5, then 1 (the rows of 4, 3 and 2 skipped, not the end).
    assert.deepEqual(seen, [posts[5], posts[4], posts[0]]);
    assert.deepEqual(sizes, [2, 1, 0]);

    // The second page's next cursor is the last row it considered: Jane's boost of post 1.
    const second = await call(
      "GET",
      `/api/v1/accounts/${accountIds.jane}/statuses?limit=2&max_id=${wrappers[4]}`,
    );
    assert.match(second.link ?? "", new RegExp(`max_id=${wrappers[0]}>; rel="next"`));
  });

  test("the home timeline's Link goes past boosts whose posts are gone", async () => {
    // Jane's home: her six boosts (the test above), newest first; 4, 3 and 2 are of deleted posts.
    const seen: string[] = [];
    const sizes: number[] = [];
    let url: string | undefined = "/api/v1/timelines/home?limit=2";
    for (let i = 0; url && i < 10; i++) {
      const page = await call("GET", url, tokens.jane);
      assert.equal(page.status, 200);
      const list = page.body as Json[];
      sizes.push(list.length);
      seen.push(...list.map((x) => String((x.reblog as Json).content)));
      url = /<([^>]+)>; rel="next"/.exec(page.link ?? "")?.[1];
    }
    assert.deepEqual(
      seen.map((c) => /post (\d)/.exec(c)?.[1]),
      ["6", "5", "1"],
    );
    // Pages of two rows: 6 and 5; 4 and 3 (nothing to show, but not the end); 2 and 1; the end.
    assert.deepEqual(sizes, [2, 0, 1, 0]);
  });
});
