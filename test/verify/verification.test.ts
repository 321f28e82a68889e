import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { ActorSchema } from "../../src/federation/entities.ts";
import { TEST_DB, testEnv, waitFor } from "../helpers/env.ts";
import { runCli } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const who = { name: "scim-token:test" };

describe(`verification on ${TEST_DB}`, () => {
  let s: TestServer;
  let janeId: string;
  before(async () => {
    s = await startTestServer({ HERALD_VERIFY_RATE_PER_SECOND: "1", HERALD_VERIFY_BURST: "30" });
    janeId = String(
      (
        await s.services.scim.createUser(
          { userName: "jane@corp.example", displayName: "Jane Doe", title: "Senior Recruiter" },
          who,
        )
      ).id,
    );
    await waitFor(
      async () =>
        (await s.services.db.run((em) => em.getRepository(ActorSchema).findOneBy({ personId: janeId })))
          ?.keysReadyAt
          ? true
          : undefined,
      { what: "Jane's account", timeoutMs: 30_000 },
    );
  });
  after(async () => {
    await s.close();
  });

  const host = () => new URL(s.services.config.origin).host;
  const api = async (q: string) => {
    const res = await fetch(`${s.url}/api/verification?${q}`);
    return { res, body: await res.json() };
  };

  test("a current employee: active, name and title, an attestation anyone can check with the JWKS alone", async () => {
    const { res, body } = await api(`handle=${encodeURIComponent(`@jane@${host()}`)}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(body.status, "active");
    assert.equal(body.displayName, "Jane Doe");
    assert.equal(body.title, "Senior Recruiter");
    // Offline check: nothing but the published JWKS.
    const jwks = createRemoteJWKSet(new URL(`${s.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(body.attestation, jwks, {
      issuer: s.services.config.origin.origin,
    });
    assert.equal(protectedHeader.alg, "EdDSA");
    assert.equal(payload.status, "active");
    assert.equal(payload.handle, `@jane@${host()}`);
    assert.ok((payload.exp ?? 0) - (payload.iat ?? 0) <= 300, "short-lived");
    // The same answer for the other forms of the question.
    assert.equal((await api(`handle=jane@${host()}`)).body.status, "active");
    const byProfile = await api(`url=${encodeURIComponent(`${s.services.config.origin.origin}/@jane`)}`);
    assert.equal(byProfile.body.status, "active");
  });

  test("deactivation: the answer is 'former' at once, and an earlier attestation fails a status check", async () => {
    const before = (await api(`handle=${encodeURIComponent(`@jane@${host()}`)}`)).body.attestation as string;
    await s.services.scim.patchUser(janeId, [{ op: "replace", path: "active", value: false }], who);
    const started = Date.now();
    const { body } = await api(`handle=${encodeURIComponent(`@jane@${host()}`)}`);
    assert.ok(Date.now() - started < 1000);
    assert.equal(body.status, "former");
    assert.equal(body.displayName, null, "former employees' names are not shown");
    assert.ok(body.until);
    // The old attestation is still a valid signature, but says "active": a status check fails.
    const jwks = createRemoteJWKSet(new URL(`${s.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(before, jwks);
    assert.equal(payload.status, "active");
    assert.notEqual(payload.status, body.status);
    await s.services.scim.patchUser(janeId, [{ op: "replace", path: "active", value: true }], who);
  });

  test("not ours: unknown, with the official domain to look for", async () => {
    const { body } = await api(`handle=${encodeURIComponent("@jane@corp-careers.example")}`);
    assert.equal(body.status, "unknown");
    assert.equal(body.officialDomain, host());
    assert.equal(body.attestation, null);
    const none = await api(`handle=${encodeURIComponent(`@nobody@${host()}`)}`);
    assert.equal(none.body.status, "unknown");
    assert.equal((await fetch(`${s.url}/api/verification`)).status, 400);
  });

  test("the /verify page answers in plain words", async () => {
    const page = await (await fetch(`${s.url}/verify?q=${encodeURIComponent(`@jane@${host()}`)}`)).text();
    assert.match(page, /Current .* account/);
    assert.match(page, /<label for="q">/);
  });

  test("herald verify prints the status on its first line", async () => {
    const env = testEnv({
      DATABASE_URL: s.services.config.database.url,
      HERALD_ORIGIN: s.services.config.origin.origin,
      HERALD_DATA_DIR: s.services.config.dataDir,
    });
    const r = await runCli(["verify", `@jane@${host()}`], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split("\n")[0], "active");
  });

  test("an impersonation report is stored for the security team; bad reports are refused", async () => {
    const form = new URLSearchParams({
      reported: "@jane@corp-careers.example",
      details: "Offered me a job and asked for a $200 'equipment deposit' over WhatsApp.",
      contact: "candidate@example.net",
    });
    const res = await fetch(`${s.url}/verify/report`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /security team has your report/);
    const stored = await s.services.reports.list();
    assert.equal(stored[0].reported, "@jane@corp-careers.example");
    assert.match(stored[0].details, /equipment deposit/);
    assert.notEqual(stored[0].sourceHash, "127.0.0.1", "the reporter's address is not stored as such");
    const env = testEnv({
      DATABASE_URL: s.services.config.database.url,
      HERALD_ORIGIN: s.services.config.origin.origin,
      HERALD_DATA_DIR: s.services.config.dataDir,
    });
    const cli = await runCli(["reports"], env);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /corp-careers\.example\tcandidate@example\.net/);
    const empty = await fetch(`${s.url}/verify/report`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "reported=x&details=",
    });
    assert.equal(empty.status, 400);
    const page = await (await fetch(`${s.url}/verify`)).text();
    assert.match(page, /<label for="details">/);
  });

  test("rate-limited per client, with Retry-After", async () => {
    let limited: Response | undefined;
    for (let i = 0; i < 60 && !limited; i++) {
      const res = await fetch(`${s.url}/api/verification?handle=x@y.example`);
      if (res.status === 429) limited = res;
    }
    assert.ok(limited, "no 429 within 60 requests");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
  });
});
