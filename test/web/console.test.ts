/**
 * The admin console of issue 17 on a real server: the directory's search and filters with exact
 * counts, a person's actions (end sessions, revoke app tokens, relink) audited, provisioning
 * health counting SCIM requests by status, insights from seeded followers, replies, boosts and
 * likes (with CSV), and who may open what (an analyst reaches insights, not the directory).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { seedAudience } from "../helpers/audience.ts";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

const who = { name: "test" };

describe(`admin console on ${TEST_DB}`, () => {
  let s: TestServer;
  const ids: Record<string, string> = {};
  const sessions: Record<string, { cookie: string; csrf: string }> = {};
  let token = "";

  before(async () => {
    s = await startTestServer();
    const people: [string, string, string][] = [
      ["ada", "Ada Admin", "ada@corp.example"],
      ["anna", "Anna Analyst", "anna@corp.example"],
      ["bob", "Bob Builder", "bob@corp.example"],
      ["carol", "Carol Singer", "carol.s@mail.example"],
      ["dave", "Dave Former", "dave@corp.example"],
    ];
    for (const [u, name, email] of people)
      ids[u] = String(
        (
          await s.services.scim.createUser(
            { userName: `${u}@corp.example`, displayName: name, emails: [{ value: email, primary: true }] },
            who,
          )
        ).id,
      );
    await s.services.scim.createGroup(
      { displayName: "Recruiting", members: [{ value: ids.bob }, { value: ids.carol }] },
      who,
    );
    await s.services.scim.patchUser(ids.dave, [{ op: "replace", path: "active", value: false }], who);
    const sub = await s.services.authz.resolveSubject("user:ada@corp.example");
    assert.ok(!("error" in sub));
    assert.ok((await s.services.authz.grant(sub, "org-admin", "org", "test")).ok);
    const created = await s.services.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(created.ok);
    const analyst = await s.services.authz.resolveSubject("user:anna@corp.example");
    assert.ok(!("error" in analyst));
    assert.ok((await s.services.authz.grant(analyst, "analyst", created.actor, "test")).ok);
    for (const u of ["ada", "anna", "bob", "carol"]) sessions[u] = await signInByLink(s, ids[u]);
    const t = await s.services.tokens.create("okta", "test");
    assert.ok(t.ok);
    token = t.token;
  });
  after(() => s.close());

  const get = (u: string, path: string) =>
    fetch(`${s.url}${path}`, { headers: { cookie: sessions[u].cookie }, redirect: "manual" });
  /** The page's HTML with the whitespace between tags and inside text runs squeezed. */
  const read = async (res: Response) => (await res.text()).replace(/>\s+</g, "><").replace(/\s+/g, " ");
  const post = (u: string, path: string, fields: Record<string, string>, csrf = sessions[u].csrf) =>
    fetch(`${s.url}${path}`, {
      method: "POST",
      headers: { cookie: sessions[u].cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, ...fields }),
      redirect: "manual",
    });
  const count = (page: string) => /<p role="status" id="directory-count">\s*(\d+)\s/.exec(page)?.[1];

  test("the directory: search and filters give exact counts; standing as employmentStatus says", async () => {
    const cases: [string, string][] = [
      ["", "5"],
      ["?status=current", "4"],
      ["?status=former", "1"],
      ["?status=pending", "0"],
      ["?q=singer", "1"],
      ["?q=mail.example", "1"],
      ["?q=%40bob", "1"],
      ["?q=corp.example&status=former", "1"],
      // LIKE's wildcards are searched for as characters.
      ["?q=_", "0"],
      ["?q=%25", "0"],
    ];
    for (const [query, n] of cases) {
      const res = await get("ada", `/admin/directory${query}`);
      assert.equal(res.status, 200, query);
      assert.equal(count(await read(res)), n, query);
    }
    const group = (await s.services.directory.groupByName("Recruiting"))?.id ?? "";
    assert.equal(count(await read(await get("ada", `/admin/directory?group=${group}`))), "2");
    const former = await read(await get("ada", "/admin/directory?status=former"));
    assert.match(former, /Dave Former/);
    assert.match(former, /badge-former"\s*>Former since \d{4}-\d{2}-\d{2}/);
    // Ada signed in: her last sign-in is shown; Dave never did.
    const all = await read(await get("ada", "/admin/directory?q=ada"));
    assert.match(all, /<time datetime="/);
    assert.match(await read(await get("ada", "/admin/directory?q=dave")), /never/);
    assert.equal((await get("ada", "/admin/directory?status=gone")).status, 400);
    assert.equal((await get("ada", "/admin/directory?page=0")).status, 400);
  });

  test("a person's page: ending sessions and revoking app tokens are confirmed, CSRF-checked and audited", async () => {
    const page = await read(await get("ada", `/admin/directory/${ids.bob}`));
    assert.match(page, /Current employee/);
    assert.match(page, /Provisioned/);
    const before = sessions.bob;
    assert.equal((await get("bob", "/app")).status, 200);
    assert.equal(
      (await post("ada", `/admin/directory/${ids.bob}/end-sessions`, { confirm: "yes" }, "forged")).status,
      403,
    );
    const unconfirmed = await post("ada", `/admin/directory/${ids.bob}/end-sessions`, {});
    assert.equal(unconfirmed.status, 400);
    assert.match(await read(unconfirmed), /Tick the box to confirm/);
    const ended = await post("ada", `/admin/directory/${ids.bob}/end-sessions`, { confirm: "yes" });
    assert.equal(ended.status, 303);
    assert.notEqual(
      (await fetch(`${s.url}/app`, { headers: { cookie: before.cookie }, redirect: "manual" })).status,
      200,
    );
    const revoked = await post("ada", `/admin/directory/${ids.bob}/revoke-tokens`, { confirm: "yes" });
    assert.equal(revoked.status, 303);
    const audit = await s.services.db.run((em) =>
      em
        .getRepository(AuditEventSchema)
        .find({ where: { targetType: "person", targetId: ids.bob }, order: { id: "ASC" } }),
    );
    const mine = audit
      .filter((a) => a.actor === `person:${ids.ada}`)
      .map((a) => [a.action, JSON.parse(a.detail ?? "{}")]);
    assert.deepEqual(mine, [
      ["session.revoke-all", { sessions: 1 }],
      ["api-token.revoke-all", { tokens: 0 }],
    ]);
    // Relinking a handle that is no former record's is refused on the page, input kept.
    const relink = await post("ada", `/admin/directory/${ids.carol}/relink`, {
      confirm: "yes",
      handle: "ada",
    });
    assert.equal(relink.status, 400);
    const text = await read(relink);
    assert.match(text, /aria-invalid="true" aria-describedby="relink-error"/);
    assert.match(text, /value="ada"/);
  });

  test("provisioning health: SCIM requests counted by status class, errors with request ids, changes per day", async () => {
    const scim = (method: string, path: string, body?: unknown) =>
      fetch(`${s.url}/scim/v2${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/scim+json",
          "x-request-id": `req-${path.length}-${method}`,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    for (let i = 0; i < 3; i++)
      assert.equal(
        (
          await scim("POST", "/Users", {
            schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
            userName: `new${i}@corp.example`,
          })
        ).status,
        201,
      );
    assert.equal((await scim("GET", "/Users")).status, 200);
    assert.equal((await scim("GET", `/Users/${randomUUID()}`)).status, 404);
    assert.equal((await scim("POST", "/Users", { userName: "" })).status, 400);
    const res = await get("ada", "/admin/provisioning");
    assert.equal(res.status, 200);
    const page = await read(res);
    const row = /<tr class="scim-counts" data-token="okta">([\s\S]*?)<\/tr>/.exec(page)?.[1] ?? "";
    assert.deepEqual(
      [...row.matchAll(/<td>(\d+)<\/td>/g)].map((m) => m[1]),
      ["4", "0", "2", "0"],
    );
    assert.match(page, /<code>req-\d+-POST<\/code>/);
    assert.match(page, /<svg role="img" aria-labelledby="chart-1"/);
    assert.doesNotMatch(page, /<script|<style|\sstyle=/);
    const today = new Date().toISOString().slice(0, 10);
    assert.match(page, new RegExp(`<tr><td class="words">${today}</td><td>3</td><td>0</td><td>0</td></tr>`));
    assert.equal((await get("carol", "/admin/provisioning")).status, 403);
  });

  test("insights: followers, replies, boosts and likes, servers; CSV; an analyst gets in, not to the directory", async () => {
    const actor = await s.services.accounts.byHandle("recruiting");
    assert.ok(actor);
    const now = new Date();
    const { postId } = await seedAudience(s.services.db, actor.id, now);
    const res = await get("anna", "/admin/insights?account=recruiting");
    assert.equal(res.status, 200);
    const page = await read(res);
    assert.match(page, /3 followers from 2 servers/);
    const row =
      new RegExp(`<tr class="post-row" data-post="${postId}">([\\s\\S]*?)</tr>`).exec(page)?.[1] ?? "";
    assert.deepEqual(
      [...row.matchAll(/<td>(\d+)<\/td>/g)].map((m) => m[1]),
      ["2", "1", "3"],
    );
    assert.match(page, /<tr class="server-row"><td>a.example<\/td><td>2<\/td><\/tr>/);
    assert.equal((page.match(/<svg role="img"/g) ?? []).length, 3);
    assert.doesNotMatch(page, /<script|<style|\sstyle=/);
    const csv = await get("anna", "/admin/insights/export.csv?account=recruiting&what=posts");
    assert.equal(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    assert.equal(
      await csv.text(),
      `post_id,published_at,text,replies,boosts,likes\r\n${postId},${now.toISOString()},We are hiring,2,1,3\r\n`,
    );
    assert.equal((await get("anna", "/admin/directory")).status, 403);
    assert.equal((await get("anna", "/admin/provisioning")).status, 403);
    assert.equal((await get("carol", "/admin/insights")).status, 403);
  });
});
