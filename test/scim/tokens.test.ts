import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { listAudit } from "../../src/db/audit.ts";
import { createTokenService, TOKEN_PREFIX } from "../../src/scim/tokens.ts";
import { migratedDatabase, TEST_DB, type TestDb } from "../helpers/env.ts";

describe(`SCIM tokens on ${TEST_DB}`, () => {
  let t: TestDb;
  let tokens: ReturnType<typeof createTokenService>;
  before(async () => {
    t = await migratedDatabase();
    tokens = createTokenService(t.db);
  });
  after(async () => {
    await t.close();
  });

  test("a new token carries 256 random bits, is stored only as a hash, and verifies", async () => {
    const r = await tokens.create("okta-prod", "cli:test");
    assert.ok(r.ok);
    assert.ok(r.token.startsWith(TOKEN_PREFIX));
    assert.equal(Buffer.from(r.token.slice(TOKEN_PREFIX.length), "base64url").length, 32);
    const rows = await t.db.query<Record<string, unknown>>("SELECT * FROM scim_token");
    for (const row of rows) {
      for (const value of Object.values(row))
        assert.ok(!String(value).includes(r.token.slice(TOKEN_PREFIX.length + 4)), "plaintext stored");
    }
    assert.equal((await tokens.verify(r.token))?.name, "okta-prod");
  });

  test("two tokens differ; wrong, truncated or foreign tokens do not verify", async () => {
    const a = await tokens.create("entra", "cli:test");
    const b = await tokens.create("entra-2", "cli:test");
    assert.ok(a.ok && b.ok);
    assert.notEqual(a.token, b.token);
    assert.equal(await tokens.verify(a.token.slice(0, -1)), undefined);
    assert.equal(await tokens.verify(`${a.token}x`), undefined);
    assert.equal(await tokens.verify(a.token.slice(TOKEN_PREFIX.length)), undefined);
    assert.equal(await tokens.verify(""), undefined);
    assert.equal(await tokens.verify("x".repeat(10_000)), undefined);
  });

  test("revocation is immediate and audited; names are never reused", async () => {
    const r = await tokens.create("to-revoke", "cli:alice");
    assert.ok(r.ok);
    assert.ok((await tokens.revoke("to-revoke", "cli:alice")).ok);
    assert.equal(await tokens.verify(r.token), undefined);
    const again = await tokens.revoke("to-revoke", "cli:alice");
    assert.ok(!again.ok && again.reason === "already-revoked");
    const reuse = await tokens.create("to-revoke", "cli:alice");
    assert.ok(!reuse.ok && reuse.reason === "name-taken");
    assert.match(reuse.message, /to-revoke-2/);
    const missing = await tokens.revoke("nope", "cli:alice");
    assert.ok(!missing.ok && missing.reason === "not-found");
    const audit = await t.db.run((em) => listAudit(em));
    const actions = audit.filter((a) => a.targetId === "to-revoke").map((a) => `${a.actor} ${a.action}`);
    assert.deepEqual(actions.sort(), ["cli:alice scim-token.create", "cli:alice scim-token.revoke"]);
    for (const a of audit) assert.ok(!String(a.detail ?? "").includes(r.token), "token in audit detail");
  });

  for (const bad of ["", " okta", "-okta", "a/b", "x".repeat(101), "ok ta"]) {
    test(`refuses the token name ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 8)}…` : bad)}`, async () => {
      const r = await tokens.create(bad, "cli:test");
      assert.ok(!r.ok && r.reason === "invalid-name");
    });
  }

  test("list shows every token in creation order, revoked ones marked", async () => {
    const names = (await tokens.list()).map((x) => `${x.name}${x.revokedAt ? " (revoked)" : ""}`);
    assert.deepEqual(names, ["okta-prod", "entra", "entra-2", "to-revoke (revoked)"]);
  });
});
