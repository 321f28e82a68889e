/**
 * docs/examples/verify-attestation.mjs, run as anyone would run it: a separate Node process that
 * knows only the origin and the token, and fetches nothing but the JWKS.
 */
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import { FIXTURES, freePort, ROOT, TEST_DB, waitFor } from "../helpers/env.ts";
import { type RunResult, runNode } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SCRIPT = path.join(ROOT, "docs/examples/verify-attestation.mjs");

// jose resolves from the project's node_modules (the working directory is the repository).
const runScript = (args: string[]): Promise<RunResult> => runNode(SCRIPT, args);

/** The token with one character of its signature part changed. */
function tamper(token: string): string {
  const [h, p, sig] = token.split(".");
  // Flip a character in the middle (the last one may carry only padding bits).
  const i = Math.floor(sig.length / 2);
  const flipped = sig[i] === "A" ? "B" : "A";
  return [h, p, sig.slice(0, i) + flipped + sig.slice(i + 1)].join(".");
}

describe(`the offline attestation check script on ${TEST_DB}`, () => {
  let s: TestServer;
  let handle: string;
  let token: string;
  before(async () => {
    // The attestation's issuer is the configured origin, so make it the address we listen on.
    const port = await freePort();
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: `http://127.0.0.1:${port}` });
    assert.equal(s.services.config.origin.origin, s.url.replace(/\/$/, ""));
    await s.services.scim.createUser(
      { userName: "rita@corp.example", displayName: "Rita Recruiter", title: "Recruiter" },
      { name: "test" },
    );
    await waitFor(async () => (await s.services.accounts.byHandle("rita"))?.keysReadyAt ?? undefined, {
      timeoutMs: 30_000,
      what: "rita's account keys",
    });
    handle = `@rita@${s.services.config.handleDomain}`;
    const res = await fetch(`${s.url}/api/verification?handle=${encodeURIComponent(handle)}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; attestation: string | null };
    assert.equal(body.status, "active");
    assert.ok(body.attestation, "an attestation");
    token = body.attestation;
  });
  after(async () => {
    await s?.close();
  });

  test("a genuine attestation: exit 0, the claims on stdout", async () => {
    const r = await runScript([s.services.config.origin.origin, token]);
    assert.equal(r.code, 0, r.stderr);
    const claims = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(claims.status, "active");
    assert.equal(claims.handle, handle);
    assert.equal(claims.iss, s.services.config.origin.origin);
    assert.equal(claims.org, s.services.config.orgName);
    assert.equal(typeof claims.exp, "number");
  });

  test("a tampered signature: exit 1, one line on stderr", async () => {
    const r = await runScript([s.services.config.origin.origin, tamper(token)]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /signature/i);
  });

  test("the wrong origin: exit 1", async () => {
    // Same keys (the same server answers on localhost), but not the issuer the token names.
    const other = `http://localhost:${new URL(s.url).port}`;
    const r = await runScript([other, token]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /iss/);
  });

  test("expired, or not a verification attestation: exit 1", async () => {
    // Signed with the organization's real key (the test fixture), so only the claim or header fails.
    const key = createPrivateKey(readFileSync(path.join(FIXTURES, "secrets/org-ed25519.pem")));
    const iss = s.services.config.origin.origin;
    const { kid } = JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString()) as { kid: string };
    const now = Math.floor(Date.now() / 1000);
    const sign = (typ: string, iat: number) =>
      new SignJWT({ handle, status: "active", roles: [] })
        .setProtectedHeader({ alg: "EdDSA", kid, typ })
        .setIssuer(iss)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 300)
        .sign(key);
    // The control: the same recipe, fresh and with the right typ, passes.
    const fresh = await runScript([iss, await sign("herald-verification+jwt", now)]);
    assert.equal(fresh.code, 0, fresh.stderr);
    const expired = await runScript([iss, await sign("herald-verification+jwt", now - 3600)]);
    assert.equal(expired.code, 1);
    assert.match(expired.stderr, /"exp"/);
    const otherTyp = await runScript([iss, await sign("JWT", now)]);
    assert.equal(otherTyp.code, 1);
    assert.match(otherTyp.stderr, /typ/);
  });
});
