/**
 * Error pages people see (issue 14): a 403 or 404 on a public, staff or admin page is a page of
 * the site — the header with the organization's name, the navigation (Sign in, or the signed-in
 * name with sign-out), the reason, and a way back — not a bare message. The sign-in page has the
 * same header.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type SignedIn, signInByLink } from "../helpers/sign-in.ts";

const ORG = "Error Pages Corp";

describe(`403 and 404 pages on ${TEST_DB}`, () => {
  let s: TestServer;
  let emma: SignedIn;

  before(async () => {
    s = await startTestServer({ HERALD_ORG_NAME: ORG });
    const id = String(
      (
        await s.services.scim.createUser(
          { userName: "emma@corp.example", displayName: "Emma Employee" },
          { name: "test" },
        )
      ).id,
    );
    emma = await signInByLink(s, id);
  });
  after(() => s.close());

  /** The page's header, its h1, its reason and its way back, as text. */
  async function read(path: string, cookie?: string) {
    const res = await fetch(`${s.url}${path}`, {
      headers: { accept: "text/html", ...(cookie ? { cookie } : {}) },
      redirect: "manual",
    });
    const body = await res.text();
    const header = /<header class="site-header">([^]*?)<\/header>/.exec(body)?.[1] ?? "";
    const main = /<main>([^]*?)<\/main>/.exec(body)?.[1] ?? "";
    const text = (h: string) =>
      h
        .replace(/<[^>]+>/g, " ")
        .replace(/\s+/g, " ")
        .trim();
    return {
      status: res.status,
      brand: text(/<a class="brand"[^>]*>([^]*?)<\/a>/.exec(header)?.[1] ?? ""),
      nav: [...header.matchAll(/<li><a href="([^"]+)"[^>]*>([^<]*)<\/a><\/li>/g)].map(
        (m) => `${m[2]} ${m[1]}`,
      ),
      signOut: /<form class="signout" method="post" action="\/logout">/.test(header),
      signedInAs: text(/Signed in as ([^]*?)<\/span>/.exec(header)?.[1] ?? ""),
      h1: text(/<h1>([^]*?)<\/h1>/.exec(main)?.[1] ?? ""),
      links: [...main.matchAll(/<a href="([^"]+)">([^<]*)<\/a>/g)].map((m) => `${m[2]} ${m[1]}`),
      main: text(main),
    };
  }

  const PUBLIC_NAV = ["Home /", "Verify an account /verify"];

  test("a public 404 has the header with Sign in, the reason and a way home", async () => {
    for (const path of ["/nothing-here", "/@nobody"]) {
      const p = await read(path);
      assert.equal(p.status, 404, path);
      assert.equal(p.brand, `E ${ORG}`, `${path}: the organization's name and monogram`);
      assert.deepEqual(p.nav, [...PUBLIC_NAV, "Sign in /login"], path);
      assert.equal(p.signOut, false);
      assert.equal(p.h1, "Not Found");
      assert.deepEqual(p.links, ["Back to the home page /"], path);
    }
    assert.match((await read("/@nobody")).main, /No account @nobody@/);
  });

  test("a 403 in the admin pages and the staff app names who is signed in, offers sign-out and the way back", async () => {
    const admin = await read("/admin", emma.cookie);
    assert.equal(admin.status, 403);
    assert.equal(admin.brand, `E ${ORG}`);
    assert.deepEqual(admin.nav, [...PUBLIC_NAV, "Staff app /app"]);
    assert.equal(admin.signOut, true);
    assert.equal(admin.signedInAs, "Emma Employee");
    assert.equal(admin.h1, "Forbidden");
    assert.match(admin.main, /The admin pages are for organization admins and compliance officers/);
    assert.deepEqual(admin.links, ["Back to the staff app /app"]);

    const other = await read("/app?account=no-such-account", emma.cookie);
    assert.equal(other.status, 403);
    assert.equal(other.signedInAs, "Emma Employee");
    assert.match(other.main, /You may not act for that account/);
    assert.deepEqual(other.links, ["Back to the staff app /app"]);
  });

  test("the sign-in page has the site's header: the organization, Home and Verify", async () => {
    const p = await read("/login");
    assert.equal(p.status, 200);
    assert.equal(p.brand, `E ${ORG}`);
    assert.deepEqual(p.nav, PUBLIC_NAV);
    assert.equal(p.signOut, false);
    assert.equal(p.h1, `Sign in to ${ORG}`);
  });

  test("a signed-in person's public 404 keeps their header, and leads home", async () => {
    const p = await read("/@nobody", emma.cookie);
    assert.equal(p.status, 404);
    assert.equal(p.signedInAs, "Emma Employee");
    assert.deepEqual(p.links, ["Back to the home page /"]);
  });
});
