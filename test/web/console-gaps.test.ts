/**
 * The admin console's gaps of issue 17, over HTTP on a real server: the provisioning chart counts
 * what one SCIM request did to a person once (a PATCH that deactivates is a deactivation, not also
 * an update; a DELETE of an active person one deactivation); an analyst's /admin lists the
 * insights of the accounts they may view, and the admin navigation only the pages Casbin lets the
 * person open; the staff app's account view links to insights where Casbin allows view-insights;
 * the insights page counts unfollows.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ActorRow } from "../../src/federation/entities.ts";
import { removeFollowers } from "../../src/federation/follower-history.ts";
import { seedAudience } from "../helpers/audience.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

const who = { name: "test" };

describe(`admin console: provisioning counts, analysts' insights on ${TEST_DB}`, () => {
  let s: TestServer;
  let recruiting: ActorRow;
  const ids: Record<string, string> = {};
  const cookies: Record<string, string> = {};
  let token = "";

  before(async () => {
    s = await startTestServer();
    for (const u of ["ada", "anna", "bob", "carol"])
      ids[u] = String((await s.services.scim.createUser({ userName: `${u}@corp.example` }, who)).id);
    const grant = async (u: string, role: string, on: ActorRow | "org") => {
      const sub = await s.services.authz.resolveSubject(`user:${u}@corp.example`);
      assert.ok(!("error" in sub));
      assert.ok((await s.services.authz.grant(sub, role, on, "test")).ok);
    };
    await grant("ada", "org-admin", "org");
    const created = await s.services.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(created.ok);
    recruiting = created.actor;
    await grant("anna", "analyst", recruiting);
    await grant("bob", "publisher", recruiting);
    // The staff app lists an account once its keys exist.
    await waitFor(
      async () => ((await s.services.accounts.byId(recruiting.id))?.keysReadyAt ? true : undefined),
      {
        what: "@recruiting's keys",
        timeoutMs: 30_000,
      },
    );
    for (const u of ["ada", "anna", "bob", "carol"]) cookies[u] = (await signInByLink(s, ids[u])).cookie;
    const t = await s.services.tokens.create("okta", "test");
    assert.ok(t.ok);
    token = t.token;
  });
  after(() => s.close());

  const get = async (u: string, path: string) => {
    const res = await fetch(`${s.url}${path}`, { headers: { cookie: cookies[u] }, redirect: "manual" });
    return { status: res.status, text: (await res.text()).replace(/>\s+</g, "><").replace(/\s+/g, " ") };
  };

  test("provisioning: a PATCH that deactivates counts once, as a deactivation; so does a DELETE", async () => {
    const scim = async (method: string, path: string, body?: unknown) =>
      fetch(`${s.url}/scim/v2${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const made: string[] = [];
    for (const u of ["p1", "p2", "p3"]) {
      const res = await scim("POST", "/Users", {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: `${u}@corp.example`,
      });
      assert.equal(res.status, 201);
      made.push(((await res.json()) as { id: string }).id);
    }
    const patch = (ops: unknown[]) => ({
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: ops,
    });
    // p1: renamed (an update).
    assert.equal(
      (
        await scim(
          "PATCH",
          `/Users/${made[0]}`,
          patch([{ op: "replace", path: "displayName", value: "P One" }]),
        )
      ).status,
      200,
    );
    // p2: renamed and deactivated in one request (Okta's deprovisioning): one deactivation.
    assert.equal(
      (
        await scim(
          "PATCH",
          `/Users/${made[1]}`,
          patch([
            { op: "replace", path: "displayName", value: "P Two" },
            { op: "replace", path: "active", value: false },
          ]),
        )
      ).status,
      200,
    );
    // p3: deleted while active (deactivated and deleted in one change): one deactivation.
    assert.equal((await scim("DELETE", `/Users/${made[2]}`)).status, 204);
    const page = await get("ada", "/admin/provisioning");
    assert.equal(page.status, 200);
    const today = new Date().toISOString().slice(0, 10);
    assert.match(
      page.text,
      new RegExp(`<tr><td class="words">${today}</td><td>3</td><td>1</td><td>2</td></tr>`),
    );
  });

  test("an analyst's /admin lists the insights of the accounts they may view; others get 403", async () => {
    const home = await get("anna", "/admin");
    assert.equal(home.status, 200);
    assert.match(
      home.text,
      /<ul id="insight-accounts"><li><a href="\/admin\/insights\?account=recruiting">Insights of @recruiting<\/a> \(Recruiting\) ?<\/li><\/ul>/,
    );
    assert.equal((await get("anna", "/admin/insights?account=recruiting")).status, 200);
    // A publisher has no insights (rbac/policy.csv) and no admin pages: 403 with the reason.
    const bob = await get("bob", "/admin");
    assert.equal(bob.status, 403);
    assert.match(bob.text, /analysts/);
    assert.equal((await get("carol", "/admin")).status, 403);
  });

  /** The admin header's navigation links, as "label href". */
  const navOf = (text: string) =>
    [
      ...(/<nav class="site-nav"[^>]*>([^]*?)<\/nav>/.exec(text)?.[1] ?? "").matchAll(
        /<li><a href="([^"]+)"[^>]*>([^<]*)<\/a><\/li>/g,
      ),
    ].map((m) => `${m[2]} ${m[1]}`);

  test("the admin navigation lists exactly the pages Casbin lets the person open, each answering 200", async () => {
    const expected: Record<string, string[]> = {
      // An analyst of @recruiting: its archive and insights (rbac/policy.csv), no org-admin pages.
      anna: ["Archive /admin/archive", "Insights /admin/insights", "Staff app /app"],
      ada: [
        "Shared accounts /admin/accounts",
        "Grants /admin/grants",
        "Audit log /admin/audit",
        "Reports /admin/reports",
        "Archive /admin/archive",
        "Directory /admin/directory",
        "Provisioning /admin/provisioning",
        "Insights /admin/insights",
        "App tokens /admin/app-tokens",
        "Identity provider /admin/connect",
        "Staff app /app",
      ],
    };
    for (const [u, links] of Object.entries(expected)) {
      const home = await get(u, "/admin");
      assert.equal(home.status, 200, u);
      assert.deepEqual(navOf(home.text), links, u);
      for (const link of links) {
        const href = link.split(" ").at(-1)!;
        assert.equal((await get(u, href)).status, 200, `${u}: ${href}`);
      }
    }
    // The org-admin pages the analyst is not shown answer 403.
    for (const href of ["/admin/accounts", "/admin/audit", "/admin/directory", "/admin/connect"])
      assert.equal((await get("anna", href)).status, 403, href);
  });

  test("the staff app: the account view links to insights when Casbin allows view-insights", async () => {
    const anna = await get("anna", `/app?account=${recruiting.id}`);
    assert.equal(anna.status, 200);
    assert.match(
      anna.text,
      /<p id="account-insights"><a href="\/admin\/insights\?account=recruiting">Insights of @recruiting<\/a>/,
    );
    assert.match(anna.text, /<a href="\/admin"[^>]*>Admin<\/a>/);
    const bob = await get("bob", `/app?account=${recruiting.id}`);
    assert.equal(bob.status, 200);
    assert.doesNotMatch(bob.text, /account-insights/);
    assert.doesNotMatch(bob.text, /<a href="\/admin"/);
  });

  test("insights count unfollows: 3 follows and 1 unfollow today are 2 followers", async () => {
    await seedAudience(s.services.db, recruiting.id);
    await s.services.db.transaction((em) =>
      removeFollowers(em, { actorId: recruiting.id, followerHash: "h1" }),
    );
    const page = await get("anna", "/admin/insights?account=recruiting");
    assert.equal(page.status, 200);
    assert.match(page.text, /2 followers from 2 servers/);
    const today = new Date().toISOString().slice(0, 10);
    assert.match(
      page.text,
      new RegExp(
        `<tr class="follower-day" data-day="${today}"><td class="words">${today}</td><td>3</td><td>1</td><td>2</td></tr>`,
      ),
    );
    const csv = await (
      await fetch(`${s.url}/admin/insights/export.csv?account=recruiting&what=followers`, {
        headers: { cookie: cookies.anna },
      })
    ).text();
    const lines = csv.trim().split("\r\n");
    assert.equal(lines[0], "day,new_followers,unfollows,followers");
    assert.equal(lines.length, 31);
    assert.equal(lines.at(-1), `${today},3,1,2`);
    assert.equal(lines[1].split(",").slice(1).join(","), "0,0,0");
  });
});
