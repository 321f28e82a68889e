/**
 * Boosting a received post through the client API follows Mastodon (StatusPolicy#reblog?): a
 * followers-only or direct post of someone else is refused with 403 "This action is not allowed"
 * (its audience is not the booster's followers), and nothing is sent; a public or unlisted one is
 * boosted, its Announce sent to its author. The posts reach Jane's account from a real server on
 * loopback (signed deliveries), so their visibility is what Herald reads from their addressing.
 * Boosts of such posts kept before they were refused stay on Jane's own accounts/:id/statuses
 * and are hidden from everyone else without cutting a page short or ending the paging.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { OutboundReactionSchema } from "../../src/api/records.ts";
import { InboundSchema, iriHash } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import type { FakeActor, FakeRemote } from "../helpers/fake-remote.ts";
import { type FollowerOfRemote, startFollowerOfRemote } from "../helpers/follower-of-remote.ts";
import type { TestServer } from "../helpers/server.ts";

type Json = Record<string, unknown>;
const PUBLIC = "https://www.w3.org/ns/activitystreams#Public";

describe(`boosts of received posts by visibility (${TEST_DB})`, () => {
  let t: FollowerOfRemote;
  let s: TestServer;
  let remote: FakeRemote;
  let news: FakeActor;
  let origin: string;
  let janeId: string;
  let janeIri: string;
  let token: string;

  before(async () => {
    t = await startFollowerOfRemote(["news"]);
    ({ s, remote, origin, janeId, janeIri, token } = t);
    news = remote.actor("news");
    // Jane follows @news, so its followers-only posts are hers to read.
    await t.follow(news);
  });

  after(async () => {
    await t?.close();
  });

  /** @news's note, addressed as given, delivered to Herald's shared inbox. */
  async function received(name: string, addressing: Json): Promise<string> {
    const id = `${remote.origin}/notes/${name}`;
    const note = { id, type: "Note", attributedTo: news.id.href, content: `<p>${name}</p>`, ...addressing };
    await t.deliver(news, { type: "Create", actor: news.id.href, ...addressing, object: note });
    return id;
  }

  async function call(method: string, path: string, as?: string, body?: Json) {
    const res = await fetch(path.startsWith("http") ? path : `${origin}${path}`, {
      method,
      headers: {
        ...(as ? { authorization: `Bearer ${as}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Json, link: res.headers.get("link") };
  }
  const reblog = (apiId: string) => call("POST", `/api/v1/statuses/${apiId}/reblog`, token);

  /** Jane's copies of @news's posts, once all `count` have been stored. */
  const stored = (count: number) =>
    waitFor(
      async () => {
        const all = await s.services.db.run((em) =>
          em.getRepository(InboundSchema).findBy({ actorId: janeId }),
        );
        return all.length === count ? all : undefined;
      },
      { what: `@news's ${count} posts, stored for Jane` },
    );

  const announcesSent = () =>
    remote.deliveries.filter((d) => d.path === news.inbox.pathname && d.activity.type === "Announce");

  test("followers-only and direct: 403, nothing sent; public and unlisted: boosted", async () => {
    const followers = `${news.id.href}/followers`;
    const iris = {
      public: await received("public", { to: [PUBLIC], cc: [followers] }),
      unlisted: await received("unlisted", { to: [followers], cc: [PUBLIC] }),
      private: await received("private", { to: [followers] }),
      direct: await received("direct", {
        to: [janeIri],
        tag: [{ type: "Mention", href: janeIri, name: "@jane" }],
      }),
    };
    const rows = await stored(4);
    const apiId = (iri: string) => String(rows.find((r) => r.objectIri === iri)?.apiId);

    for (const visibility of ["private", "direct"] as const) {
      const r = await reblog(apiId(iris[visibility]));
      assert.equal(r.status, 403, `${visibility}: ${JSON.stringify(r.body)}`);
      assert.match(String(r.body.error), /^This action is not allowed/);
    }
    for (const visibility of ["public", "unlisted"] as const) {
      const r = await reblog(apiId(iris[visibility]));
      assert.equal(r.status, 200, `${visibility}: ${JSON.stringify(r.body)}`);
      assert.equal((r.body.reblog as Json).id, apiId(iris[visibility]));
      assert.equal((r.body.reblog as Json).visibility, visibility);
    }

    // Exactly the two boosts kept and sent, none of the refused ones.
    const kept = await s.services.db.run((em) =>
      em.getRepository(OutboundReactionSchema).findBy({ accountId: janeId, kind: "announce" }),
    );
    assert.deepEqual(
      kept.map((k) => k.objectHash).sort(),
      [iriHash(iris.public), iriHash(iris.unlisted)].sort(),
    );
    await waitFor(async () => (announcesSent().length >= 2 ? true : undefined), {
      what: "the two Announces at @news's inbox",
    });
    await t.settled();
    assert.deepEqual(
      announcesSent()
        .map((d) => d.activity.object)
        .sort(),
      [iris.public, iris.unlisted].sort(),
    );
  });

  test("accounts/:id/statuses: boosts of non-public posts are hidden from others, pages stay full", async () => {
    // Boosts of followers-only or direct posts kept before they were refused (the rows are
    // inserted as they were then): Jane sees them on her own page, no one else does.
    const followers = `${news.id.href}/followers`;
    const iris = {
      private2: await received("private-2", { to: [followers] }),
      private3: await received("private-3", { to: [followers] }),
      direct2: await received("direct-2", { to: [janeIri], tag: [{ type: "Mention", href: janeIri }] }),
      public2: await received("public-2", { to: [PUBLIC], cc: [followers] }),
      unlisted2: await received("unlisted-2", { to: [followers], cc: [PUBLIC] }),
    };
    const rows = await stored(9);
    const apiId = (iri: string) => String(rows.find((r) => r.objectIri === iri)?.apiId);
    const hidden = async (iri: string) => {
      const key = { accountId: janeId, objectHash: iriHash(iri), kind: "announce" as const };
      await s.services.db.run((em) =>
        em.getRepository(OutboundReactionSchema).insert({
          ...key,
          objectIri: iri,
          activityId: randomUUID(),
          personId: null,
          createdAt: new Date(),
        }),
      );
      const row = await s.services.db.run((em) =>
        em.getRepository(OutboundReactionSchema).findOneByOrFail(key),
      );
      return String(row.apiId);
    };
    const boost = async (iri: string) => {
      const r = await reblog(apiId(iri));
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return String(r.body.id);
    };
    const own = async (text: string) => {
      const r = await call("POST", "/api/v1/statuses", token, { status: text });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return String(r.body.id);
    };
    const page = `/api/v1/accounts/${janeId}/statuses?limit=2`;
    // The first test's boosts of "unlisted" and "public", newest first, are the oldest here.
    const first = (await call("GET", `/api/v1/accounts/${janeId}/statuses?limit=40`))
      .body as unknown as Json[];
    const [unlisted1, public1] = first.map((x) => String(x.id));
    assert.equal(first.length, 2);
    // Then, oldest first: hidden, own, hidden, hidden, shown, hidden, hidden, own, shown.
    const h1 = await hidden(`${remote.origin}/notes/private`);
    const j1 = await own("Jane's first");
    const h2 = await hidden(`${remote.origin}/notes/direct`);
    const h3 = await hidden(iris.private2);
    const p4 = await boost(iris.public2);
    const h4 = await hidden(iris.private3);
    const h5 = await hidden(iris.direct2);
    const j2 = await own("Jane's second");
    const p5 = await boost(iris.unlisted2);

    async function walk(as?: string) {
      const seen: string[] = [];
      const sizes: number[] = [];
      let url: string | undefined = page;
      for (let i = 0; url && i < 12; i++) {
        const r = await call("GET", url, as);
        assert.equal(r.status, 200);
        const list = r.body as unknown as Json[];
        sizes.push(list.length);
        seen.push(...list.map((x) => String(x.id)));
        url = list.length === 0 ? undefined : /<([^>]+)>; rel="next"/.exec(r.link ?? "")?.[1];
      }
      return { seen, sizes };
    }
    // Anyone else: the second page skips four hidden rows and is still full; each shown once.
    const others = await walk();
    assert.deepEqual(others.seen, [p5, j2, p4, j1, unlisted1, public1]);
    assert.deepEqual(others.sizes, [2, 2, 2, 0]);
    // Jane: all eleven, each once.
    const hers = await walk(token);
    assert.deepEqual(hers.seen, [p5, j2, h5, h4, p4, h3, h2, j1, h1, unlisted1, public1]);
    assert.deepEqual(hers.sizes, [2, 2, 2, 2, 2, 1, 0]);
  });
});
