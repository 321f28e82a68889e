/**
 * The /verify page's answers and the shareable link, over HTTP: the three states, the handle of
 * someone who left before an account was made for them (issue 14: the demo's former employee was
 * answered "not ours" though his handle ends in exactly the official domain), `/verify/@handle`,
 * `?handle=`, and the report form's inline error that keeps what was typed.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const who = { name: "scim-token:test" };

describe(`the /verify page on ${TEST_DB}`, () => {
  let s: TestServer;
  const domain = () => s.services.config.handleDomain;
  const get = async (path: string) => {
    const res = await fetch(`${s.url}${path}`);
    return { res, text: await res.text() };
  };
  const verdict = (text: string) => /class="verdict (verdict-\w+)"/.exec(text)?.[1];

  before(async () => {
    s = await startTestServer({ HERALD_VERIFY_RATE_PER_SECOND: "1000", HERALD_VERIFY_BURST: "1000" });
    await s.services.scim.createUser(
      { userName: "rita@corp.example", displayName: "Rita Recruiter", title: "Recruiter" },
      who,
    );
    // Provisioned already inactive (an IdP's first sync of a leaver): a handle, never an account.
    await s.services.scim.createUser(
      { userName: "chris@corp.example", displayName: "Chris Park", title: "Recruiter", active: false },
      who,
    );
    await waitFor(async () => (await s.services.accounts.byHandle("rita")) ?? undefined, {
      what: "Rita's account",
      timeoutMs: 30_000,
    });
  });
  after(async () => {
    await s?.close();
  });

  test("someone who left before an account was made: former, as the directory says, not 'not ours'", async () => {
    assert.equal(await s.services.accounts.byHandle("chris"), null, "no actor was ever made");
    assert.equal((await s.services.directory.personByHandle("chris"))?.active, false);
    const api = (await (
      await fetch(`${s.url}/api/verification?handle=${encodeURIComponent(`@chris@${domain()}`)}`)
    ).json()) as { status: string; displayName: string | null; until?: string; handle: string };
    assert.equal(api.status, "former");
    assert.equal(api.displayName, null);
    assert.equal(api.handle, `@chris@${domain()}`);
    assert.match(api.until ?? "", /^\d{4}-\d\d-\d\dT/);
    const { text } = await get(`/verify?q=${encodeURIComponent(`@chris@${domain()}`)}`);
    assert.equal(verdict(text), "verdict-former");
    assert.match(text, /Former Test Org account|Former [^<]+ account/);
    assert.doesNotMatch(text, /Not a [^<]+ account/);
    assert.doesNotMatch(text, /Chris Park/);
    // A profile link to the same handle says the same.
    const byUrl = await get(`/verify?q=${encodeURIComponent(`${s.services.config.origin.origin}/@chris`)}`);
    assert.equal(verdict(byUrl.text), "verdict-former");
  });

  test("three states: current (green, name, title, checked at), former (since D — do not trust), not ours (official domain)", async () => {
    const current = (await get(`/verify?q=${encodeURIComponent(`@rita@${domain()}`)}`)).text;
    assert.equal(verdict(current), "verdict-current");
    assert.match(current, /<dt>Name<\/dt>\s*<dd><strong>Rita Recruiter<\/strong><\/dd>/);
    assert.match(current, /<dt>Title<\/dt>\s*<dd>Recruiter<\/dd>/);
    assert.match(current, /Checked <time datetime="\d{4}-\d\d-\d\dT[^"]+">/);

    const former = (await get(`/verify?q=${encodeURIComponent(`@chris@${domain()}`)}`)).text;
    assert.match(
      former.replace(/\s+/g, " "),
      /no longer speaks for [^<]+ since <strong><time datetime="[^"]+">[^<]+<\/time><\/strong> — <strong>do not trust messages from this account\.<\/strong>/,
    );

    const other = (await get(`/verify?q=${encodeURIComponent("@rita@corp-careers.example")}`)).text;
    assert.equal(verdict(other), "verdict-unknown");
    assert.ok(other.includes(`accounts end in <code>@${domain()}</code>`));
  });

  test("/verify/@handle: the shareable link answers for that handle of ours; ?handle= works too", async () => {
    const { res, text } = await get("/verify/@rita");
    assert.equal(res.status, 200);
    assert.equal(verdict(text), "verdict-current");
    assert.ok(text.includes(`value="@rita@${domain()}"`), "the field shows what was checked");
    assert.equal(verdict((await get("/verify/@chris")).text), "verdict-former");
    assert.equal(verdict((await get("/verify/@nobody_here")).text), "verdict-unknown");
    const viaHandle = await get(`/verify?handle=${encodeURIComponent(`@rita@${domain()}`)}`);
    assert.equal(verdict(viaHandle.text), "verdict-current");
  });

  test("the page carries the organization's identity and the shared stylesheet, no inline style", async () => {
    const { text } = await get("/verify");
    assert.match(text, /<header class="site-header">/);
    assert.ok(text.includes(`<span>${s.services.config.orgName}</span>`));
    assert.match(text, /<link rel="stylesheet" href="\/assets\/herald-[\w-]{16}\.css">/);
    assert.match(text, /<link rel="icon" href="\/favicon\.ico"/);
    assert.doesNotMatch(text, /<style|style=/);
  });

  test("a refused report keeps what was typed and says what to fix beside the field", async () => {
    const res = await fetch(`${s.url}/verify/report`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        reported: "@fake@elsewhere.example",
        details: "   ",
        contact: "me@x.example",
      }),
    });
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.match(text, /<h1>Is this really /);
    assert.ok(text.includes('value="@fake@elsewhere.example"'), "the account field keeps its input");
    assert.ok(text.includes('value="me@x.example"'), "the contact field keeps its input");
    assert.match(text, /id="details"[^>]*aria-invalid="true"[^>]*aria-describedby="details-error"/);
    assert.match(text, /<p class="error" id="details-error">Describe what happened/);
  });
});
