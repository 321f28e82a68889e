import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB, testEnv } from "../helpers/env.ts";
import { runCli } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const actor = { name: "scim-token:test" };

describe(`sessions and one-time sign-in links on ${TEST_DB}`, () => {
  let s: TestServer;
  let personId: string;
  before(async () => {
    s = await startTestServer();
    personId = String(
      (await s.services.scim.createUser({ userName: "jane@corp.example", displayName: "Jane Doe" }, actor))
        .id,
    );
  });
  after(async () => {
    await s.close();
  });

  async function signIn(): Promise<string> {
    const link = await s.services.sessions.createLoginLink(personId, "test");
    const page = await fetch(`${s.url}/login/link/${link.token}`);
    assert.equal(page.status, 200, "GET only shows a button");
    const res = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
    assert.equal(res.status, 302);
    const setCookie = res.headers.get("set-cookie") ?? "";
    assert.match(setCookie, /^herald_session=[A-Za-z0-9_-]{43};/);
    assert.match(setCookie, /httponly/i);
    assert.match(setCookie, /samesite=lax/i);
    // A link is spent once.
    const again = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
    assert.equal(again.status, 400);
    return setCookie.split(";")[0];
  }

  test("/api/me is 401 without a session, and describes the person with one", async () => {
    assert.equal((await fetch(`${s.url}/api/me`)).status, 401);
    const cookie = await signIn();
    const me = await fetch(`${s.url}/api/me`, { headers: { cookie } });
    assert.equal(me.status, 200);
    const body = await me.json();
    assert.equal(body.userName, "jane@corp.example");
    assert.match(body.handle, /^@jane@127\.0\.0\.1:3999$/);
    assert.ok(Array.isArray(body.accounts));
  });

  test("a forged or unknown cookie is no session", async () => {
    const res = await fetch(`${s.url}/api/me`, { headers: { cookie: "herald_session=forged" } });
    assert.equal(res.status, 401);
  });

  test("a SCIM deactivation refuses the very next request of every session of that person", async () => {
    const c1 = await signIn();
    const c2 = await signIn();
    for (const c of [c1, c2])
      assert.equal((await fetch(`${s.url}/api/me`, { headers: { cookie: c } })).status, 200);
    await s.services.scim.patchUser(personId, [{ op: "replace", path: "active", value: false }], actor);
    for (const c of [c1, c2])
      assert.equal((await fetch(`${s.url}/api/me`, { headers: { cookie: c } })).status, 401);
    // Reactivation does not bring old sessions back: they were ended.
    await s.services.scim.patchUser(personId, [{ op: "replace", path: "active", value: true }], actor);
    await s.services.events.drain();
    for (const c of [c1, c2])
      assert.equal((await fetch(`${s.url}/api/me`, { headers: { cookie: c } })).status, 401);
  });

  test("logout needs the session's CSRF token", async () => {
    const cookie = await signIn();
    const bad = await fetch(`${s.url}/logout`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: "csrf=wrong",
      redirect: "manual",
    });
    assert.equal(bad.status, 403);
    const auth = await s.services.sessions.resolve(cookie.split("=")[1]);
    assert.ok(auth);
    const ok = await fetch(`${s.url}/logout`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: `csrf=${auth.csrf}`,
      redirect: "manual",
    });
    assert.equal(ok.status, 302);
    assert.equal((await fetch(`${s.url}/api/me`, { headers: { cookie } })).status, 401);
  });

  test("herald login-link prints a working link, only for current employees", async () => {
    const env = testEnv({
      DATABASE_URL: s.services.config.database.url,
      HERALD_ORIGIN: s.url,
      HERALD_DATA_DIR: s.services.config.dataDir,
    });
    const r = await runCli(["login-link", "JANE@corp.example"], env);
    assert.equal(r.code, 0, r.stderr);
    const url = r.stdout.trim().split("\n").at(-1)!;
    assert.match(url, /\/login\/link\/[A-Za-z0-9_-]{43}$/);
    const res = await fetch(url, { method: "POST", redirect: "manual" });
    assert.equal(res.status, 302);
    const nobody = await runCli(["login-link", "ghost@corp.example"], env);
    assert.equal(nobody.code, 1);
  });
});
