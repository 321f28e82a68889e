/**
 * The public pages over HTTP (src/web/home.ts, profile.ts, tags.ts): the profile's standing badge,
 * verification link and its QR code, posts with linked hashtags and mentions and readable times;
 * a former employee's page without name, title or posts; `/tags/<tag>` (the organization's public
 * posts with it, newest first, 20 a page, one spelling per tag, 400 for what is not a hashtag);
 * the home page's official accounts and demo directory, each linking to a page that answers.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Like } from "typeorm";
import { renderSVG } from "uqr";
import { demoPresenceSeeded } from "../../src/demo.ts";
import { PostSchema } from "../../src/federation/entities.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { currentAndFormer } from "../helpers/people.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const who = { name: "test" };

describe(`the public pages on ${TEST_DB}`, () => {
  let s: TestServer;
  let domain: string;
  const posted: Record<string, string> = {};

  const get = async (path: string) => {
    const res = await fetch(`${s.url}${path}`, { headers: { accept: "text/html" }, redirect: "manual" });
    return { status: res.status, location: res.headers.get("location"), body: await res.text() };
  };
  const post = async (handle: string, text: string, visibility?: "public" | "unlisted") => {
    const actor = (await s.services.accounts.byHandle(handle))!;
    const r = await s.services.posting.post({
      actorId: actor.id,
      text,
      visibility,
      author: { personId: actor.personId, label: handle },
    });
    assert.ok(r.ok, r.ok ? "" : r.message);
    return r.post.id;
  };
  /** The posts' ids in the order a page lists them. */
  const listed = (page: string) =>
    [...page.matchAll(/href="\/@[a-z0-9_.]+\/([0-9a-f-]{36})"/g)].map((m) => m[1]);

  before(async () => {
    // The home page lists the directory on the demo database only; this one stands in for it.
    const port = await freePort();
    s = await startTestServer(
      { PORT: String(port), HERALD_ORIGIN: `http://127.0.0.1:${port}` },
      { isDemoDatabase: true },
    );
    domain = s.services.config.handleDomain;
    await waitFor(() => demoPresenceSeeded(s.services.db), { timeoutMs: 120_000, what: "the demo's posts" });
    await currentAndFormer(s);
    // Dana posts, then leaves: her posts leave the profile and the tag pages with her.
    const dana = String(
      (
        await s.services.scim.createUser(
          { userName: "dana@corp.example", displayName: "Dana Departed", title: "Sourcer" },
          who,
        )
      ).id,
    );
    await waitFor(async () => (await s.services.accounts.byHandle("dana"))?.keysReadyAt ?? undefined, {
      timeoutMs: 30_000,
      what: "Dana's keys",
    });
    posted.dana = await post("dana", "Secret sourcing tips #pagetest #careers");
    await s.services.scim.patchUser(
      dana,
      [{ op: "replace", path: undefined, value: { active: false } }],
      who,
    );
    posted.hello = await post("rita", `Hello from Rita, with @jane@${domain} #Careers #pagetest`);
    // Posting resolves a mention by WebFinger, which Fedify asks over https: a test server (http)
    // cannot answer it. The mention as a resolved one is stored (Jane's actor id, as posting keeps
    // it) and the text rendered again by the posting service's edit, as for any resolved mention.
    const jane = (await s.services.accounts.byHandle("jane"))!;
    const janeIri = new URL(`/ap/actors/${jane.id}`, s.services.config.origin).href;
    await s.services.db.run((em) =>
      em
        .getRepository(PostSchema)
        .update(
          { id: posted.hello },
          { mentions: JSON.stringify([{ name: `@jane@${domain}`, href: janeIri }]) },
        ),
    );
    const edited = await s.services.posting.edit(
      posted.hello,
      `Hello from Rita, with @jane@${domain} #Careers #pagetest`,
      "test",
    );
    assert.ok(edited.ok);
    posted.unlisted = await post("rita", "Quietly #pagetest", "unlisted");
    posted.deleted = await post("rita", "Oops #pagetest");
    assert.ok(await s.services.posting.remove(posted.deleted, "test"));
    posted.cafe = await post("rita", "Coffee #cafe");
    posted.cafeAccent = await post("rita", "Coffee again #café");
  });
  after(() => s.close());

  test("a current employee's profile: chrome, badge, verification link, its QR code, posts with links and times", async () => {
    const { status, body } = await get("/@rita");
    assert.equal(status, 200);
    assert.match(body, /<header class="site-header">[\s\S]*Demo Corp/);
    assert.match(body, /<a href="\/verify"\s*>Verify an account<\/a>/);
    assert.match(body, /<h1>Rita Recruiter<\/h1>/);
    assert.match(body, /class="badge badge-current"[^>]*>[\s\S]*?Current Demo Corp employee/);
    assert.doesNotMatch(body, /Former employee/);
    assert.match(body, /<a href="\/verify\/@rita">verify @rita@/);
    // The QR code is of the absolute verification link, inline as an SVG data: URL.
    const qr =
      /<img\s+src="data:image\/svg\+xml;base64,([^"]+)"\s+alt="QR code of the verification link for @rita@[^"]+"/.exec(
        body,
      );
    assert.ok(qr, "the QR code image");
    const link = new URL("/verify/@rita", s.services.config.origin).href;
    assert.equal(Buffer.from(qr[1], "base64").toString(), renderSVG(link, { ecc: "M", border: 2 }));
    assert.ok(body.includes(`<code>${link}</code>`));
    // The post: hashtags and the resolved mention linked, the time absolute and relative.
    assert.deepEqual(
      new Set(listed(body).slice(0, 4)),
      new Set([posted.cafeAccent, posted.cafe, posted.unlisted, posted.hello]),
    );
    assert.ok(!listed(body).includes(posted.deleted));
    assert.match(
      body,
      /<a href="http:\/\/127\.0\.0\.1:\d+\/tags\/careers" class="mention hashtag" rel="tag">#Careers<\/a>/,
    );
    const mention = /<a href="([^"]+)" class="u-url mention">@jane<\/a>/.exec(body);
    assert.ok(mention, "the mention is linked");
    const landed = await fetch(mention[1].replace(/^http:\/\/127\.0\.0\.1:\d+/, s.url), {
      headers: { accept: "text/html" },
    });
    assert.equal(landed.status, 200);
    assert.equal(new URL(landed.url).pathname, "/@jane", "the mention lands on Jane's profile");
    assert.match(
      body,
      /<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC<\/time> <span class="muted">\(just now\)<\/span>/,
    );
  });

  test("a former employee's profile: badge, warning, verification link; no name, title, photo or posts", async () => {
    for (const handle of ["oscar", "dana"]) {
      const { status, body } = await get(`/@${handle}`);
      assert.equal(status, 200);
      assert.match(body, /class="badge badge-former"[^>]*>[\s\S]*?Former employee/);
      assert.match(body, /<strong>Former employee\.<\/strong>[\s\S]*since <time datetime=/);
      assert.match(body, new RegExp(`<a href="/verify/@${handle}">verify @${handle}@`));
      for (const secret of [
        "Oscar Outgoing",
        "Talent Partner",
        "Dana Departed",
        "Sourcer",
        "Secret sourcing",
      ])
        assert.ok(!body.includes(secret), `${handle}: ${secret}`);
      assert.deepEqual(listed(body), [], `${handle}: no posts`);
      assert.doesNotMatch(body, /<h2>Posts<\/h2>/);
    }
  });

  test("a shared account's profile says it is an official account", async () => {
    const { status, body } = await get("/@recruiting");
    assert.equal(status, 200);
    assert.match(body, /class="badge badge-current"[^>]*>[\s\S]*?Official Demo Corp account/);
    assert.match(body, /<a href="\/verify\/@recruiting">/);
    assert.ok(listed(body).length > 0, "the demo's @recruiting posts");
  });

  test("/tags/<tag>: the organization's public posts with it, newest first, without others'", async () => {
    const { status, body } = await get("/tags/pagetest");
    assert.equal(status, 200);
    assert.match(body, /<h1>#pagetest<\/h1>/);
    assert.match(body, /<header class="site-header">/);
    // Not the unlisted, the deleted, nor the post of Dana, who left.
    assert.deepEqual(listed(body), [posted.hello]);
    assert.match(body, /<a href="\/@rita"><strong>Rita Recruiter<\/strong><\/a>/);
    // #careers: Rita's (from #Careers, one spelling) and the demo's, newest first.
    const careers = await get("/tags/careers");
    const ids = listed(careers.body);
    assert.equal(ids[0], posted.hello);
    assert.ok(ids.length >= 3, "the demo's #careers posts too");
    assert.ok(!ids.includes(posted.dana));
    // Exactly the tag: "cafe" and "café" are two tags on every database (collations aside).
    assert.deepEqual(listed((await get("/tags/cafe")).body), [posted.cafe]);
    assert.deepEqual(listed((await get(`/tags/${encodeURIComponent("café")}`)).body), [posted.cafeAccent]);
  });

  test("/tags/<tag> pages by 20 with an 'Older posts' link, to the end", async () => {
    for (let i = 0; i < 23; i++) await post("jane", `Number ${i} #paging`);
    // Newest first; posts in the same millisecond by id, as the page orders them.
    const rows = await s.services.db.run((em) =>
      em.getRepository(PostSchema).find({ where: { contentText: Like("% #paging") } }),
    );
    const ids = rows
      .sort((a, b) => b.publishedAt.getTime() - a.publishedAt.getTime() || (a.id < b.id ? 1 : -1))
      .map((p) => p.id);
    assert.equal(ids.length, 23);
    const first = await get("/tags/paging");
    assert.deepEqual(listed(first.body), ids.slice(0, 20));
    const older =
      /<a class="btn btn-secondary" href="(\/tags\/paging\?before=[0-9a-f-]{36})"\s*>Older posts<\/a/.exec(
        first.body,
      );
    assert.ok(older, "an older-posts link");
    assert.doesNotMatch(first.body, /Newest posts/);
    const second = await get(older[1]);
    assert.equal(second.status, 200);
    assert.deepEqual(listed(second.body), ids.slice(20));
    assert.doesNotMatch(second.body, /Older posts/);
    assert.match(second.body, /<a href="\/tags\/paging">Newest posts<\/a>/);
    const past = await get(`/tags/paging?before=${ids[22]}`);
    assert.equal(past.status, 200);
    assert.match(past.body, /No older posts with #paging\./);
  });

  test("/tags/<tag>: one spelling (301), a clear empty page, and 400 for what is not a hashtag", async () => {
    const redirects: [string, string][] = [
      ["/tags/PageTest", "/tags/pagetest"],
      ["/tags/%23pagetest", "/tags/pagetest"],
      [`/tags/${encodeURIComponent("CAFE\u0301")}`, `/tags/${encodeURIComponent("café")}`],
      ["/tags/Paging?before=x", "/tags/paging?before=x"],
    ];
    for (const [from, to] of redirects) {
      const r = await get(from);
      assert.equal(r.status, 301, from);
      assert.equal(r.location, to, from);
    }
    const empty = await get("/tags/nothinghere");
    assert.equal(empty.status, 200);
    assert.match(empty.body, /No public posts with #nothinghere yet\./);
    const bad = [
      "/tags/a-b",
      "/tags/a%20b",
      "/tags/%2Fetc",
      "/tags/%FF",
      `/tags/${"x".repeat(101)}`,
      `/tags/${"é".repeat(101)}`,
      `/tags/${"x".repeat(3000)}`,
      "/tags/%23",
      "/tags/pagetest?before=nonsense",
      "/tags/pagetest?before=00000000-0000-4000-8000-000000000000",
      "/tags/pagetest?before=a&before=b",
    ];
    for (const path of bad) {
      const r = await get(path);
      assert.equal(r.status, 400, path.slice(0, 60));
      assert.match(r.body, /<header class="site-header">/, path.slice(0, 60));
      assert.match(r.body, /class="notice notice-error" role="alert"/, path.slice(0, 60));
    }
    assert.equal((await get(`/tags/${"x".repeat(100)}`)).status, 200, "100 characters is a hashtag");
  });

  test("the home page: official accounts and the demo directory, each linking to a page that answers", async () => {
    const { status, body } = await get("/");
    assert.equal(status, 200);
    assert.match(body, /<a href="\/" aria-current="page">Home<\/a>/);
    assert.match(body, /<a href="\/@recruiting">Recruiting at Demo Corp<\/a>/);
    assert.match(body, new RegExp(`<a href="/@recruiting"><code>@recruiting@${domain}</code></a>`));
    const row = (name: string) =>
      new RegExp(
        `<a href="([^"]+)"><strong>${name}</strong></a>\\s*<span class="badge (badge-\\w+)"\\s*>([^<]*)</span\\s*><br />\\s*<a href="([^"]+)"><code>[^<]*</code></a>`,
      ).exec(body);
    // Jane: her profile; Chris, who left: his former employee's profile once his account
    // exists, his verification until then (the demo seeds him before the bridge makes it).
    assert.deepEqual(row("Jane Doe")?.slice(1), ["/@jane", "badge-current", "current employee", "/@jane"]);
    const chris = row("Chris Park");
    assert.match(chris?.[1] ?? "", /^\/(verify\/)?@chris$/);
    assert.deepEqual(chris?.slice(2), ["badge-former", "former employee", chris?.[1]]);
    const links = [...body.matchAll(/<a href="(\/[^"]*)"/g)].map((m) => m[1]);
    assert.ok(links.length > 10);
    for (const link of new Set(links)) {
      const r = await fetch(`${s.url}${link}`, { headers: { accept: "text/html" } });
      assert.equal(r.status, 200, link);
    }
  });
});

describe(`the home page outside the demo database on ${TEST_DB}`, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  test("lists the shared accounts (public) but not the directory", async () => {
    assert.ok((await s.services.accounts.createShared("support", "Support at Corp", "test")).ok);
    await waitFor(async () => (await s.services.accounts.byHandle("support"))?.keysReadyAt ?? undefined, {
      timeoutMs: 30_000,
      what: "@support's keys",
    });
    const body = await (await fetch(`${s.url}/`)).text();
    assert.match(body, /<a href="\/@support">Support at Corp<\/a>/);
    assert.doesNotMatch(body, /Demo directory/);
    assert.equal((await fetch(`${s.url}/@support`)).status, 200);
  });
});
