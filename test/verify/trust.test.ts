/**
 * The rest of Trust: the organization actor's collection of verified accounts, signing-key
 * rotation with retired keys still in the JWKS, and opt-in email lookups (yes/no, own domains
 * only, their own rate limit).
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { parseConfig } from "../../src/config.ts";
import { FIXTURES, TEST_DB, testEnv, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const who = { name: "scim-token:test" };
const SECRETS = path.join(FIXTURES, "secrets");
const AP = { accept: "application/activity+json" };

async function provision(s: TestServer, userName: string, email?: string): Promise<string> {
  const id = String(
    (
      await s.services.scim.createUser(
        { userName, ...(email ? { emails: [{ value: email, primary: true }] } : {}) },
        who,
      )
    ).id,
  );
  const handle = userName.split("@")[0];
  await waitFor(async () => ((await s.services.accounts.byHandle(handle))?.keysReadyAt ? true : undefined), {
    timeoutMs: 30_000,
    what: `${handle}'s account`,
  });
  return id;
}

const deactivate = (s: TestServer, id: string) =>
  s.services.scim.patchUser(id, [{ op: "replace", path: undefined, value: { active: false } }], who);

describe(`the organization's verified accounts on ${TEST_DB}`, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  test("the org actor's streams name a collection of current accounts; former employees drop out", async () => {
    const janeId = await provision(s, "jane@corp.example");
    await provision(s, "lee@corp.example");
    const org = await s.services.accounts.ensureOrgActor();
    await waitFor(async () => ((await s.services.accounts.byId(org.id))?.keysReadyAt ? true : undefined), {
      timeoutMs: 30_000,
      what: "the org actor's keys",
    });
    const doc = (await (await fetch(`${s.url}/ap/actors/${org.id}`, { headers: AP })).json()) as {
      streams?: string | string[];
    };
    const streams = [doc.streams ?? []].flat();
    const collectionUrl = streams.find((u) => u.endsWith(`/ap/actors/${org.id}/verified`));
    assert.ok(collectionUrl, `streams: ${JSON.stringify(doc.streams)}`);
    const local = (u: string) => u.replace(s.services.config.origin.origin, s.url);
    const handles = async () => {
      const c = (await (await fetch(local(collectionUrl), { headers: AP })).json()) as {
        type: string;
        totalItems: number;
        first: string | { orderedItems?: { preferredUsername: string }[] };
      };
      assert.equal(c.type, "OrderedCollection");
      const first =
        typeof c.first === "string"
          ? ((await (await fetch(local(c.first), { headers: AP })).json()) as {
              orderedItems?: { preferredUsername: string }[];
            })
          : c.first;
      return { total: c.totalItems, names: (first.orderedItems ?? []).map((i) => i.preferredUsername) };
    };
    assert.deepEqual(await handles(), { total: 2, names: ["jane", "lee"] });
    await deactivate(s, janeId);
    assert.deepEqual(await handles(), { total: 1, names: ["lee"] });
    // A person's actor has no such collection.
    const lee = await s.services.accounts.byHandle("lee");
    assert.equal((await fetch(`${s.url}/ap/actors/${lee!.id}/verified`, { headers: AP })).status, 404);
  });
});

describe(`signing-key rotation on ${TEST_DB}`, () => {
  test("after a rotation the JWKS publishes both keys: old attestations verify, new ones use the new key", async () => {
    const s = await startTestServer({
      HERALD_ORG_SIGNING_KEY_FILE: path.join(SECRETS, "org-ed25519-next.pem"),
      HERALD_ORG_RETIRED_KEYS_FILE: path.join(SECRETS, "org-ed25519.pem"),
    });
    try {
      const jwks = (await (await fetch(`${s.url}/.well-known/jwks.json`)).json()) as {
        keys: { kid: string }[];
      };
      assert.equal(jwks.keys.length, 2);
      const origin = s.services.config.origin.origin;
      // An attestation the old key signed before the rotation.
      const old = await new SignJWT({ handle: "@jane@x", status: "active", roles: [] })
        .setProtectedHeader({
          alg: "EdDSA",
          kid: jwks.keys[1].kid,
          typ: "herald-verification+jwt",
        })
        .setIssuer(origin)
        .setIssuedAt()
        .setExpirationTime("5m")
        .sign(createPrivateKey(readFileSync(path.join(SECRETS, "org-ed25519.pem"))));
      const remote = createRemoteJWKSet(new URL(`${s.url}/.well-known/jwks.json`));
      assert.equal((await jwtVerify(old, remote, { issuer: origin })).payload.status, "active");
      await provision(s, "jane@corp.example");
      const fresh = (await (
        await fetch(
          `${s.url}/api/verification?handle=${encodeURIComponent(`@jane@${s.services.config.handleDomain}`)}`,
        )
      ).json()) as { attestation: string };
      assert.equal(
        decodeProtectedHeader(fresh.attestation).kid,
        jwks.keys[0].kid,
        "signed with the current key",
      );
      await jwtVerify(fresh.attestation, remote, { issuer: origin });
    } finally {
      await s.close();
    }
  });

  test("a retired-keys file that is not Ed25519 PEM is refused at startup, naming the variable", () => {
    const file = path.join(tmpdir(), `herald-retired-${process.pid}.pem`);
    writeFileSync(
      file,
      createPublicKey(readFileSync(path.join(SECRETS, "saml-sp.key")))
        .export({ type: "spki", format: "pem" })
        .toString(),
    );
    assert.throws(
      () => parseConfig(testEnv({ HERALD_ORG_RETIRED_KEYS_FILE: file })),
      /HERALD_ORG_RETIRED_KEYS_FILE: key 1 must be an Ed25519 key/,
    );
    assert.throws(
      () => parseConfig(testEnv({ HERALD_ORG_RETIRED_KEYS_FILE: "/nonexistent.pem" })),
      /HERALD_ORG_RETIRED_KEYS_FILE=\/nonexistent.pem cannot be read/,
    );
  });
});

describe(`email lookups on ${TEST_DB}`, () => {
  test("off by default: 404 with a reason", async () => {
    const s = await startTestServer();
    try {
      const res = await fetch(`${s.url}/api/verification?email=jane@corp.example`);
      assert.equal(res.status, 404);
      assert.match(((await res.json()) as { detail: string }).detail, /does not answer lookups by email/);
    } finally {
      await s.close();
    }
  });

  test("when enabled: yes/no for the org's domains only, nothing else, rate-limited", async () => {
    const s = await startTestServer({
      HERALD_VERIFY_EMAIL_LOOKUP: "true",
      HERALD_VERIFY_EMAIL_DOMAINS: "corp.example, @careers.corp.example",
      HERALD_VERIFY_EMAIL_PER_MINUTE: "8",
    });
    try {
      await provision(s, "jane@corp.example", "Jane.Doe@Corp.example");
      const gone = await provision(s, "gone@corp.example", "gone@corp.example");
      await deactivate(s, gone);
      const ask = async (email: string) => {
        const res = await fetch(`${s.url}/api/verification?email=${encodeURIComponent(email)}`);
        return { status: res.status, body: (await res.json()) as Record<string, unknown>, res };
      };
      const yes = await ask("jane.doe@corp.example");
      assert.equal(yes.status, 200);
      assert.equal(yes.body.status, "active");
      assert.equal(yes.body.ourDomain, true);
      assert.deepEqual(Object.keys(yes.body).sort(), [
        "checkedAt",
        "email",
        "officialDomains",
        "ourDomain",
        "status",
      ]);
      assert.equal(
        (await ask("gone@corp.example")).body.status,
        "unknown",
        "former employees are not singled out",
      );
      assert.equal((await ask("nobody@careers.corp.example")).body.status, "unknown");
      const foreign = await ask("jane.doe@corp-careers.example");
      assert.equal(foreign.body.status, "unknown");
      assert.equal(foreign.body.ourDomain, false);
      assert.deepEqual(foreign.body.officialDomains, ["corp.example", "careers.corp.example"]);
      assert.equal((await ask("not an address")).status, 400);
      // The burst is half a minute's allowance (4); the 400 did not spend one.
      const limited = await ask("jane.doe@corp.example");
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.res.headers.get("retry-after")) >= 1);
    } finally {
      await s.close();
    }
  });
});

describe(`public roles in verification answers on ${TEST_DB}`, () => {
  test("a current employee's shared accounts show as roles, and vanish with the grant", async () => {
    const s = await startTestServer();
    try {
      const jane = await provision(s, "jane@corp.example");
      await s.services.scim.createGroup({ displayName: "Recruiting", members: [{ value: jane }] }, who);
      const created = await s.services.accounts.createShared("recruiting", "Recruiting", "test");
      assert.ok(created.ok);
      await waitFor(
        async () => ((await s.services.accounts.byHandle("recruiting"))?.keysReadyAt ? true : undefined),
        {
          timeoutMs: 30_000,
        },
      );
      const group = await s.services.authz.resolveSubject("Recruiting");
      assert.ok(!("error" in group));
      assert.ok((await s.services.authz.grant(group, "publisher", created.actor, "test")).ok);
      const roles = async () =>
        (
          (await (
            await fetch(
              `${s.url}/api/verification?handle=${encodeURIComponent(`@jane@${s.services.config.handleDomain}`)}`,
            )
          ).json()) as { roles: string[] }
        ).roles;
      assert.deepEqual(await roles(), [`speaks for @recruiting@${s.services.config.handleDomain}`]);
      assert.ok(await s.services.authz.revoke(group, "publisher", created.actor, "test"));
      assert.deepEqual(await roles(), [], "no stale role after the revocation");
    } finally {
      await s.close();
    }
  });
});

describe(`the organization's scam guidance on ${TEST_DB}`, () => {
  test("comes from HERALD_VERIFY_GUIDANCE_FILE, escaped, one point per line", async () => {
    const file = path.join(tmpdir(), `herald-guidance-${process.pid}.txt`);
    writeFileSync(
      file,
      "# for candidates\n- We never charge for interviews.\n\nWe only hire through <careers.corp.example>.\n",
    );
    const s = await startTestServer({ HERALD_VERIFY_GUIDANCE_FILE: file });
    try {
      const body = await (await fetch(`${s.url}/verify`)).text();
      assert.ok(body.includes("<li>We never charge for interviews.</li>"));
      assert.ok(body.includes("<li>We only hire through &lt;careers.corp.example&gt;.</li>"), "escaped");
      assert.ok(!body.includes("for candidates"), "comments are not shown");
      assert.ok(!body.includes("WhatsApp"), "the built-in guidance is replaced");
    } finally {
      await s.close();
    }
  });
});
