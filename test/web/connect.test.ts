/**
 * /admin/connect: only those Casbin allows connect-idp (org admins); the values to paste and a guide
 * per IdP; SCIM tokens made (shown once), listed and revoked with CSRF and audit; IdP metadata
 * uploaded, pasted or fetched, refused with the parser's reason and the input kept (422), stored
 * and used at once; HERALD_SAML_IDP_METADATA wins; test sign-ins verified like sign-ins, reporting
 * the matched person or the exact reason, without touching the administrator's session.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { buildResponse, readAuthnRequest } from "../../src/saml/dev-idp.ts";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";
import { ACS, FOREIGN, IDP, IDP_ENTITY, IDP_SSO, SP_ENTITY, testIdpMetadata } from "../saml/helpers.ts";

const who = { name: "test" };
/** A page's text with runs of white space as one space (templates wrap lines where they like). */
const flat = (t: string) => t.replace(/\s+/g, " ");
const ORIGIN = "http://127.0.0.1:3999";

describe(`/admin/connect on ${TEST_DB}`, () => {
  let s: TestServer;
  const ids: Record<string, string> = {};
  const sessions: Record<string, { cookie: string; csrf: string }> = {};

  before(async () => {
    s = await startTestServer({ HERALD_SAML_RATE_PER_SECOND: "1000", HERALD_SAML_BURST: "1000" });
    for (const [u, name] of [
      ["ada", "Ada Admin"],
      ["bea", "Bea Admin"],
      ["cole", "Cole Compliance"],
      ["nina", "Nina Staff"],
      ["jane", "Jane Doe"],
    ])
      ids[u] = String(
        (await s.services.scim.createUser({ userName: `${u}@corp.example`, displayName: name }, who)).id,
      );
    const grant = async (subject: string, role: string) => {
      const sub = await s.services.authz.resolveSubject(subject);
      assert.ok(!("error" in sub));
      assert.ok((await s.services.authz.grant(sub, role, "org", "test")).ok);
    };
    await grant("user:ada@corp.example", "org-admin");
    await grant("user:bea@corp.example", "org-admin");
    await grant("user:cole@corp.example", "compliance-officer");
    for (const u of ["ada", "bea", "cole", "nina"]) sessions[u] = await signInByLink(s, ids[u]);
  });
  after(() => s.close());

  const get = (u: string, p: string) =>
    fetch(`${s.url}${p}`, { headers: { cookie: sessions[u].cookie }, redirect: "manual" });
  const post = (u: string, p: string, fields: Record<string, string>, csrf = sessions[u].csrf) =>
    fetch(`${s.url}${p}`, {
      method: "POST",
      headers: { cookie: sessions[u].cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, ...fields }),
      redirect: "manual",
    });
  /** The metadata form as a browser sends it (multipart), with a file or text or URL. */
  const postMetadata = (
    u: string,
    fields: { xml?: string; url?: string; file?: string },
    csrf = sessions[u].csrf,
  ) => {
    const form = new FormData();
    form.set("csrf", csrf);
    form.set("xml", fields.xml ?? "");
    form.set("url", fields.url ?? "");
    form.set("file", new Blob([fields.file ?? ""], { type: "text/xml" }), fields.file ? "idp.xml" : "");
    return fetch(`${s.url}/admin/connect/metadata`, {
      method: "POST",
      headers: { cookie: sessions[u].cookie },
      body: form,
      redirect: "manual",
    });
  };
  const audit = (action: string) =>
    s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).find({ where: { action }, order: { id: "ASC" } }),
    );
  const loginRedirect = async () =>
    (await fetch(`${s.url}/saml/login`, { redirect: "manual" })).headers.get("location") ?? "";

  test("who gets in: org admins; compliance officers and staff 403; no session → sign in", async () => {
    assert.equal(
      (await fetch(`${s.url}/admin/connect`, { redirect: "manual" })).headers.get("location"),
      "/login?next=%2Fadmin%2Fconnect",
    );
    for (const u of ["cole", "nina"]) {
      assert.equal((await get(u, "/admin/connect")).status, 403, u);
      assert.equal((await get(u, "/admin/connect/okta")).status, 403, u);
      assert.equal((await post(u, "/admin/connect/tokens", { name: "sneaky" })).status, 403, u);
      assert.equal((await post(u, "/admin/connect/test", {})).status, 403, u);
    }
    assert.equal((await s.services.tokens.list()).length, 0);
    assert.equal((await get("ada", "/admin/connect")).status, 200);
    assert.match(
      flat(await (await get("ada", "/admin")).text()),
      /<a href="\/admin\/connect">Identity provider/,
    );
    assert.doesNotMatch(flat(await (await get("cole", "/admin")).text()), /<li><a href="\/admin\/connect">/);
  });

  test("the values to paste, and a guide for each of the five identity providers", async () => {
    const text = flat(await (await get("ada", "/admin/connect")).text());
    for (const v of [
      `<code>${ORIGIN}/scim/v2</code>`,
      `<code>${SP_ENTITY}</code>`,
      `<code>${ACS}</code>`,
      `<code>${ORIGIN}/saml/slo</code>`,
      "<code>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</code>",
    ])
      assert.ok(text.includes(v), v);
    assert.match(text, /No identity provider is connected yet/);
    assert.match(
      text,
      /<button type="submit" disabled aria-describedby="test-hint"> ?Test sign-in ?<\/button>/,
    );
    for (const [slug, name] of [
      ["okta", "Okta"],
      ["entra", "Microsoft Entra ID"],
      ["google", "Google Workspace"],
      ["keycloak", "Keycloak"],
      ["onelogin", "OneLogin"],
    ]) {
      assert.ok(text.includes(`<a href="/admin/connect/${slug}">${name}</a>`), slug);
      const res = await get("ada", `/admin/connect/${slug}`);
      assert.equal(res.status, 200, slug);
      const guide = flat(await res.text());
      assert.ok(guide.includes(`<h1>Connect ${name}</h1>`), slug);
      assert.ok(guide.includes(`<code>${ACS}</code>`) && guide.includes(`<code>${SP_ENTITY}</code>`), slug);
    }
    assert.equal((await get("ada", "/admin/connect/ping")).status, 404);
  });

  test("SCIM tokens: created on the page and shown once, listed, refused twice, revoked; CSRF and audit", async () => {
    assert.equal((await post("ada", "/admin/connect/tokens", { name: "okta-prod" }, "forged")).status, 403);
    const created = await post("ada", "/admin/connect/tokens", { name: "okta-prod" });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get("cache-control"), "no-store");
    const token = /<code id="scim-token">(hrld_[A-Za-z0-9_-]+)<\/code>/.exec(flat(await created.text()))?.[1];
    assert.ok(token, "the token is on the answer");
    const scim = (t: string) =>
      fetch(`${s.url}/scim/v2/Users?count=1`, { headers: { authorization: `Bearer ${t}` } });
    assert.equal((await scim(token)).status, 200, "the page's token provisions");

    const listed = flat(await (await get("ada", "/admin/connect")).text());
    assert.ok(!listed.includes(token), "never shown again");
    assert.match(listed, /<td class="words"><code>okta-prod<\/code><\/td>/);
    assert.match(listed, /Ada Admin \(ada@corp\.example\)/, "created by, by name");

    const again = await post("ada", "/admin/connect/tokens", { name: "okta-prod" });
    assert.equal(again.status, 422);
    const againText = flat(await again.text());
    assert.match(againText, /id="token-name" name="name" value="okta-prod"/);
    assert.match(
      againText,
      /<p class="error" id="token-name-error">A token named &quot;okta-prod&quot; already exists/,
    );
    assert.equal((await post("ada", "/admin/connect/tokens", { name: "bad name!" })).status, 422);

    assert.equal((await post("ada", "/admin/connect/tokens/okta-prod/revoke", {}, "forged")).status, 403);
    const revoked = await post("ada", "/admin/connect/tokens/okta-prod/revoke", {});
    assert.equal(revoked.status, 303);
    assert.equal(revoked.headers.get("location"), "/admin/connect?revoked=1#tokens");
    assert.equal((await scim(token)).status, 401, "revoked at once");
    assert.equal((await post("ada", "/admin/connect/tokens/okta-prod/revoke", {})).status, 409);
    assert.equal((await post("ada", "/admin/connect/tokens/nope/revoke", {})).status, 404);
    const rows = [...(await audit("scim-token.create")), ...(await audit("scim-token.revoke"))];
    assert.deepEqual(
      rows.map((r) => [r.action, r.actor, r.targetId]),
      [
        ["scim-token.create", `person:${ids.ada}`, "okta-prod"],
        ["scim-token.revoke", `person:${ids.ada}`, "okta-prod"],
      ],
    );
  });

  test("metadata refused with the parser's reason and the input kept (422); nothing stored", async () => {
    const cases: [string, { xml?: string; file?: string }, RegExp][] = [
      ["bad XML", { xml: "<md:EntityDescriptor oops" }, /not usable XML/],
      [
        "no signing certificate",
        { xml: testIdpMetadata([]) },
        /Not saved: The IdP metadata lists no signing certificate\./,
      ],
      [
        "wrong root (an SP's metadata)",
        { file: await (await fetch(`${s.url}/saml/metadata`)).text() },
        /no EntityDescriptor with an IDPSSODescriptor/,
      ],
    ];
    for (const [what, fields, reason] of cases) {
      const res = await postMetadata("ada", fields);
      assert.equal(res.status, 422, what);
      const text = flat(await res.text());
      assert.match(text, reason, what);
      assert.match(
        text,
        /<textarea id="metadata-xml" name="xml" rows="6" spellcheck="false" aria-invalid="true"/,
        what,
      );
      const kept = (fields.xml ?? fields.file ?? "")
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;");
      assert.ok(text.includes(flat(kept).slice(0, 200)), `${what}: the input is kept`);
    }
    const badUrl = await postMetadata("ada", { url: "ftp://idp.example/metadata" });
    assert.equal(badUrl.status, 422);
    assert.match(flat(await badUrl.text()), /value="ftp:\/\/idp.example\/metadata"[^>]*aria-invalid="true"/);
    assert.equal((await postMetadata("ada", { file: testIdpMetadata() }, "forged")).status, 403);
    assert.equal((await audit("saml.metadata.set")).length, 0);
    assert.equal((await fetch(`${s.url}/saml/login`, { redirect: "manual" })).status, 503);
  });

  test("metadata uploaded as a file is stored, audited and used at once; from a URL; removed", async () => {
    const saved = await postMetadata("ada", { file: testIdpMetadata() });
    assert.equal(saved.status, 303);
    assert.equal(saved.headers.get("location"), "/admin/connect?saved=1#metadata");
    assert.ok((await loginRedirect()).startsWith(`${IDP_SSO}?`), "sign-in goes to the uploaded IdP");
    const page = flat(await (await get("ada", "/admin/connect?saved=1")).text());
    assert.ok(page.includes(`<code>${IDP_ENTITY}</code>`));
    assert.match(page, /an upload,\s+version 1/);
    const rows = await audit("saml.metadata.set");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].actor, `person:${ids.ada}`);
    assert.equal(rows[0].targetId, IDP_ENTITY);
    const detail = JSON.parse(rows[0].detail ?? "{}") as {
      source: string;
      version: number;
      signingCertificates: string[];
    };
    assert.equal(detail.source, "upload");
    assert.equal(detail.version, 1);
    assert.equal(detail.signingCertificates.length, 2);

    // A URL (http is allowed outside production): fetched now, stored with its source.
    const other = testIdpMetadata([IDP.certPem]).replaceAll("idp.test.example", "idp2.test.example");
    const server = createServer((_req, res) => res.end(other));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/metadata`;
      assert.equal((await postMetadata("bea", { url })).status, 303);
      assert.ok((await loginRedirect()).startsWith("https://idp2.test.example/sso?"));
      const page2 = flat(await (await get("ada", "/admin/connect")).text());
      assert.ok(page2.includes(`<code>${url}</code> (fetched again every 60 minutes)`));
      assert.equal((await audit("saml.metadata.set")).length, 2);
    } finally {
      server.close();
    }
    assert.equal((await post("ada", "/admin/connect/metadata/remove", {})).status, 303);
    assert.equal((await fetch(`${s.url}/saml/login`, { redirect: "manual" })).status, 503);
    assert.equal((await audit("saml.metadata.remove")).length, 1);
    // Back for the test sign-ins below.
    assert.equal((await postMetadata("ada", { xml: testIdpMetadata() })).status, 303);
  });

  /** Starts a test sign-in as ada: the AuthnRequest's ID and the result path (its RelayState). */
  async function startTest(u = "ada"): Promise<{ requestId: string; result: string }> {
    const res = await post(u, "/admin/connect/test", {});
    assert.equal(res.status, 303);
    const location = res.headers.get("location") ?? "";
    assert.ok(location.startsWith(`${IDP_SSO}?`), location);
    const request = readAuthnRequest(location);
    assert.match(request.relayState ?? "", /^\/admin\/connect\/test\/[0-9a-f-]{36}$/);
    return { requestId: request.id, result: request.relayState ?? "" };
  }

  async function answer(result: string, xml: string): Promise<Response> {
    const form = new URLSearchParams({
      SAMLResponse: Buffer.from(xml).toString("base64"),
      RelayState: result,
    });
    // The IdP's cross-site POST carries no session cookie (SameSite=Lax).
    return fetch(`${s.url}/saml/acs`, { method: "POST", body: form, redirect: "manual" });
  }

  const respond = (inResponseTo: string, o: Partial<Parameters<typeof buildResponse>[0]> = {}) =>
    buildResponse({
      idpEntityId: IDP_ENTITY,
      audience: SP_ENTITY,
      acsUrl: ACS,
      inResponseTo,
      nameId: "jane@corp.example",
      sessionIndex: "_session-index-secret",
      attributes: { email: ["jane@corp.example"], displayName: ["Jane Doe"] },
      key: IDP,
      ...o,
    });

  test("test sign-in: a verified answer names the matched person, redacted; nobody is signed in", async () => {
    const { requestId, result } = await startTest();
    const back = await answer(result, await respond(requestId));
    assert.equal(back.status, 303);
    assert.equal(back.headers.get("location"), result);
    assert.equal(back.headers.get("set-cookie"), null, "no session is made");
    const res = await get("ada", result);
    assert.equal(res.status, 200);
    const text = flat(await res.text());
    assert.match(text, /<h1>Test sign-in succeeded<\/h1>/);
    assert.match(text, /<strong id="matched-person">Jane Doe<\/strong> \(<code>jane@corp.example<\/code>\)/);
    assert.match(text, /<code id="name-id">jane@corp.example<\/code>/);
    assert.match(text, /<td class="words"><code>displayName<\/code><\/td>\s*<td>Jane Doe<\/td>/);
    assert.ok(!text.includes("_session-index-secret"), "no session index");
    assert.ok(!/SignatureValue|DigestValue/.test(text), "no signature values");
    // Only the administrator who started it reads it; ada is still ada.
    assert.equal((await get("bea", result)).status, 404);
    const me = (await (await get("ada", "/api/me")).json()) as { userName: string };
    assert.equal(me.userName, "ada@corp.example");
    // A test's answer counts once.
    assert.equal((await answer(result, await respond(requestId))).status, 400);
  });

  test("test sign-in failures say exactly why", async () => {
    const hour = 3_600_000;
    const cases: [string, (id: string) => Promise<string>, RegExp][] = [
      [
        "wrong certificate",
        (id) => respond(id, { key: FOREIGN }),
        /Wrong certificate[\s\S]*<code>bad-signature<\/code>/,
      ],
      [
        "audience",
        (id) => respond(id, { audience: "https://someone-else.example/sp" }),
        /Wrong audience[\s\S]*<code>audience<\/code>/,
      ],
      [
        "clock ahead",
        (id) => respond(id, { now: new Date(Date.now() + hour) }),
        /Clock skew[\s\S]*<code>not-yet-valid<\/code>/,
      ],
      [
        "clock behind",
        (id) => respond(id, { now: new Date(Date.now() - hour) }),
        /Clock skew[\s\S]*<code>expired<\/code>/,
      ],
      [
        "no such person",
        (id) => respond(id, { nameId: "nobody@corp.example" }),
        /No such person[\s\S]*<code>unknown<\/code>[\s\S]*nobody@corp\.example/,
      ],
    ];
    for (const [what, make, expected] of cases) {
      const { requestId, result } = await startTest();
      const back = await answer(result, await make(requestId));
      assert.equal(back.status, 303, what);
      const text = flat(await (await get("ada", result)).text());
      assert.match(text, /<h1>Test sign-in failed<\/h1>/, what);
      assert.match(text, expected, what);
    }
  });
});

describe(`/admin/connect with HERALD_SAML_IDP_METADATA set on ${TEST_DB}`, () => {
  test("the variable wins: the page says so, uploading is off (409)", async () => {
    const file = path.join(tmpdir(), `herald-connect-${process.pid}.xml`);
    writeFileSync(file, testIdpMetadata());
    const s = await startTestServer({ HERALD_SAML_IDP_METADATA: file });
    try {
      const id = String((await s.services.scim.createUser({ userName: "ada@corp.example" }, who)).id);
      const sub = await s.services.authz.resolveSubject("user:ada@corp.example");
      assert.ok(!("error" in sub));
      assert.ok((await s.services.authz.grant(sub, "org-admin", "org", "test")).ok);
      const { cookie, csrf } = await signInByLink(s, id);
      const text = flat(await (await fetch(`${s.url}/admin/connect`, { headers: { cookie } })).text());
      assert.match(text, /<code>HERALD_SAML_IDP_METADATA<\/code> is set on the server/);
      assert.match(text, /<fieldset disabled>/);
      assert.ok(text.includes(`<code>${IDP_ENTITY}</code>`));
      const form = new FormData();
      form.set("csrf", csrf);
      form.set("xml", testIdpMetadata([IDP.certPem]));
      const res = await fetch(`${s.url}/admin/connect/metadata`, {
        method: "POST",
        headers: { cookie },
        body: form,
      });
      assert.equal(res.status, 409);
    } finally {
      await s.close();
    }
  });
});
