/**
 * Single sign-on end to end over HTTP against a test IdP: SP metadata, signed AuthnRequests,
 * matching to the directory, IdP-initiated sign-in, single logout both ways, forged logout
 * requests (GHSA-63ch-w8pw-4mf2), and deactivation ending SAML sessions.
 */
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { inflateRawSync } from "node:zlib";
import { DOMParser } from "@xmldom/xmldom";
import {
  logoutRequestXml,
  logoutResponseXml,
  readAuthnRequest,
  redirectUrl,
  signElement,
} from "../../src/saml/dev-idp.ts";
import { loadMetadata } from "../../src/saml/metadata.ts";
import { safeNext } from "../../src/saml/sp.ts";
import { TEST_DB, testConfig, waitFor } from "../helpers/env.ts";
import { startServer } from "../../src/server.ts";
import { startTestServer } from "../helpers/server.ts";
import {
  ACS,
  FOREIGN,
  IDP,
  IDP_ENTITY,
  IDP_NEXT,
  IDP_SLO,
  IDP_SSO,
  refusalCode,
  SLO,
  SP,
  SP_ENTITY,
  type SamlTestServer,
  startSamlServer,
  testIdpMetadata,
} from "./helpers.ts";

const actor = { name: "test" };
const cookieOf = (res: Response) => (res.headers.get("set-cookie") ?? "").split(";")[0];

async function signIn(
  h: SamlTestServer,
  nameId = "jane@corp.example",
  sessionIndex?: string,
): Promise<string> {
  const irt = await h.startLogin();
  const res = await h.post(await h.response(irt, { nameId, sessionIndex }));
  assert.equal(res.status, 303, await res.text());
  return cookieOf(res);
}

const me = (h: SamlTestServer, cookie: string) => fetch(`${h.s.url}/api/me`, { headers: { cookie } });
/** A URL Herald would be sent to, aimed at the test server's real port. */
const local = (h: SamlTestServer, url: string) => url.replace("http://127.0.0.1:3999", h.s.url);

describe(`SAML single sign-on on ${TEST_DB}`, () => {
  let h: SamlTestServer;
  let leeId: string;
  before(async () => {
    h = await startSamlServer();
    await h.s.services.scim.createUser({ userName: "jane@corp.example" }, actor);
    leeId = String((await h.s.services.scim.createUser({ userName: "lee@corp.example" }, actor)).id);
    await h.s.services.scim.createUser({ userName: "gone@corp.example", active: false }, actor);
  });
  after(() => h.close());

  test("SP metadata names Herald's entity ID, ACS, SLO and certificate", async () => {
    const res = await fetch(`${h.s.url}/saml/metadata`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /samlmetadata\+xml/);
    const doc = new DOMParser().parseFromString(await res.text(), "text/xml");
    assert.equal(doc.documentElement.getAttribute("entityID"), SP_ENTITY);
    const acs = doc.getElementsByTagNameNS(
      "urn:oasis:names:tc:SAML:2.0:metadata",
      "AssertionConsumerService",
    )[0];
    assert.equal(acs.getAttribute("Location"), ACS);
    const slo = doc.getElementsByTagNameNS("urn:oasis:names:tc:SAML:2.0:metadata", "SingleLogoutService");
    assert.ok(Array.from(slo).some((e) => e.getAttribute("Location") === SLO));
    const cert = doc.getElementsByTagNameNS("http://www.w3.org/2000/09/xmldsig#", "X509Certificate")[0];
    assert.equal(cert.textContent?.replace(/\s/g, ""), SP.certPem.replace(/-----[^-]+-----|\s/g, ""));
  });

  test("the AuthnRequest goes to the IdP signed (the IdP asks for it) and names Herald's ACS", async () => {
    const res = await fetch(`${h.s.url}/saml/login?next=/x`, { redirect: "manual" });
    const url = new URL(res.headers.get("location") ?? "");
    assert.equal(`${url.origin}${url.pathname}`, IDP_SSO);
    const raw = url.search.slice(1);
    const signed = raw.slice(0, raw.indexOf("&Signature="));
    const signature = Buffer.from(url.searchParams.get("Signature") ?? "", "base64");
    assert.ok(
      verify("sha256", Buffer.from(signed), createPublicKey(SP.certPem), signature),
      "signature verifies",
    );
    const xml = inflateRawSync(Buffer.from(url.searchParams.get("SAMLRequest") ?? "", "base64")).toString();
    const request = new DOMParser().parseFromString(xml, "text/xml").documentElement;
    assert.equal(request.getAttribute("AssertionConsumerServiceURL"), ACS);
    assert.equal(request.getAttribute("Destination"), IDP_SSO);
  });

  test("a login binds to the directory's person; unknown and deactivated people get a clear refusal", async () => {
    const cookie = await signIn(h);
    assert.equal(
      ((await (await me(h, cookie)).json()) as { userName: string }).userName,
      "jane@corp.example",
    );
    // userName matching is not case-sensitive (RFC 7643 §4.1.1).
    assert.equal((await me(h, await signIn(h, "JANE@corp.example"))).status, 200);
    for (const [nameId, code] of [
      ["nobody@corp.example", "unknown"],
      ["gone@corp.example", "inactive"],
    ]) {
      const res = await h.post(await h.response(await h.startLogin(), { nameId }));
      assert.equal(res.status, 403);
      assert.equal(await refusalCode(res), code);
    }
  });

  test("a SCIM deactivation refuses the very next request of a SAML session", async () => {
    const cookie = await signIn(h, "lee@corp.example");
    assert.equal((await me(h, cookie)).status, 200);
    const id = leeId;
    await h.s.services.scim.patchUser(
      id,
      [{ op: "replace", path: undefined, value: { active: false } }],
      actor,
    );
    assert.equal((await me(h, cookie)).status, 401);
    await h.s.services.scim.patchUser(
      id,
      [{ op: "replace", path: undefined, value: { active: true } }],
      actor,
    );
  });

  test("after sign-in Herald returns only to local paths (no open redirect)", async () => {
    for (const [next, expected] of [
      ["/api/me", "/api/me"],
      ["https://evil.example/", "/"],
      ["//evil.example/", "/"],
      ["/\\evil.example", "/"],
    ]) {
      const irt = await h.startLogin(next);
      const res = await h.post(await h.response(irt), "https://evil.example/relay");
      assert.equal(res.headers.get("location"), expected, next);
    }
    assert.equal(safeNext("/ok?x=1"), "/ok?x=1");
    assert.equal(safeNext("/\u0000x"), "/");
  });

  test("SP-initiated single logout: signed LogoutRequest to the IdP, its LogoutResponse finishes once", async () => {
    const cookie = await signIn(h, "jane@corp.example", "_idp-session-1");
    const auth = await h.s.services.sessions.resolve(cookie.split("=")[1]);
    assert.ok(auth);
    const out = await fetch(`${h.s.url}/logout`, {
      method: "POST",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: `csrf=${auth.csrf}`,
      redirect: "manual",
    });
    assert.equal(out.status, 302);
    const url = new URL(out.headers.get("location") ?? "");
    assert.equal(`${url.origin}${url.pathname}`, IDP_SLO);
    assert.ok(url.searchParams.get("Signature"), "the LogoutRequest is signed");
    const xml = inflateRawSync(Buffer.from(url.searchParams.get("SAMLRequest") ?? "", "base64")).toString();
    const request = new DOMParser().parseFromString(xml, "text/xml").documentElement;
    assert.equal(
      request.getElementsByTagNameNS("urn:oasis:names:tc:SAML:2.0:assertion", "NameID")[0].textContent,
      "jane@corp.example",
    );
    assert.equal((await me(h, cookie)).status, 401, "Herald's session ended at once");

    const answer = redirectUrl(
      SLO,
      "SAMLResponse",
      logoutResponseXml({
        issuer: IDP_ENTITY,
        destination: SLO,
        inResponseTo: request.getAttribute("ID") ?? "",
      }),
      IDP,
      url.searchParams.get("RelayState") ?? undefined,
    );
    const done = await fetch(local(h, answer));
    assert.equal(done.status, 200);
    assert.match(await done.text(), /signed out/i);
    const again = await fetch(local(h, answer));
    assert.equal(again.status, 400);
    assert.equal(await refusalCode(again), "replay");
  });

  test("IdP-initiated single logout ends that person's sessions and answers the IdP", async () => {
    const a = await signIn(h, "jane@corp.example", "_s-a");
    const b = await signIn(h, "jane@corp.example", "_s-b");
    const lee = await signIn(h, "lee@corp.example", "_s-a");
    const url = redirectUrl(
      SLO,
      "SAMLRequest",
      logoutRequestXml({
        issuer: IDP_ENTITY,
        destination: SLO,
        nameId: "jane@corp.example",
        sessionIndex: "_s-a",
      }),
      IDP,
      "relay-1",
    );
    const res = await fetch(local(h, url), { redirect: "manual" });
    assert.equal(res.status, 302);
    const back = new URL(res.headers.get("location") ?? "");
    assert.equal(`${back.origin}${back.pathname}`, IDP_SLO);
    assert.equal(back.searchParams.get("RelayState"), "relay-1");
    assert.ok(back.searchParams.get("SAMLResponse"));
    assert.equal((await me(h, a)).status, 401, "the named IdP session ended");
    assert.equal((await me(h, b)).status, 200, "another IdP session of the same person stays");
    assert.equal((await me(h, lee)).status, 200, "someone else's session with the same index stays");
    // The same signed URL (browser history, a log) replayed later ends nothing.
    const later = await signIn(h, "jane@corp.example", "_s-a");
    const replayed = await fetch(local(h, url), { redirect: "manual" });
    assert.equal(replayed.status, 400);
    assert.equal(await refusalCode(replayed), "replay");
    assert.equal((await me(h, later)).status, 200);
  });

  test("forged logout requests end nobody's session (GHSA-63ch-w8pw-4mf2)", async () => {
    const cookie = await signIn(h, "jane@corp.example", "_victim");
    const forged = logoutRequestXml({ issuer: IDP_ENTITY, destination: SLO, nameId: "jane@corp.example" });
    const cases: [string, () => Promise<Response>, string][] = [
      [
        "redirect, unsigned",
        () => fetch(local(h, redirectUrl(SLO, "SAMLRequest", forged, undefined))),
        "unsigned",
      ],
      [
        "redirect, foreign key",
        () => fetch(local(h, redirectUrl(SLO, "SAMLRequest", forged, FOREIGN))),
        "bad-signature",
      ],
      [
        "redirect, tampered after signing",
        async () => {
          const u = new URL(redirectUrl(SLO, "SAMLRequest", forged, IDP, "r"));
          u.searchParams.set("RelayState", "changed");
          return fetch(local(h, u.href));
        },
        "bad-signature",
      ],
      ["POST, unsigned", () => postSlo(h, forged), "unsigned"],
      [
        "POST, signed by a foreign key",
        () => postSlo(h, signElement(forged, idOf(forged), FOREIGN)),
        "bad-signature",
      ],
      [
        "redirect, no Destination",
        () =>
          fetch(local(h, redirectUrl(SLO, "SAMLRequest", forged.replace(/ Destination="[^"]*"/, ""), IDP))),
        "destination",
      ],
      [
        "redirect, issued an hour ago",
        () =>
          fetch(
            local(
              h,
              redirectUrl(
                SLO,
                "SAMLRequest",
                forged.replace(
                  /IssueInstant="[^"]*"/,
                  `IssueInstant="${new Date(Date.now() - 3_600_000).toISOString()}"`,
                ),
                IDP,
              ),
            ),
          ),
        "expired",
      ],
      [
        "redirect, badly percent-encoded",
        () => fetch(`${h.s.url}/saml/slo?SAMLRequest=abc&%E0=1`),
        "encoding",
      ],
      [
        "POST, wrong issuer",
        () =>
          postSlo(
            h,
            signElement(
              logoutRequestXml({
                issuer: "https://evil.example",
                id: "_x",
                destination: SLO,
                nameId: "jane@corp.example",
              }),
              "_x",
              IDP,
            ),
          ),
        "issuer",
      ],
    ];
    for (const [name, send, code] of cases) {
      const res = await send();
      assert.equal(res.status, 400, name);
      assert.equal(await refusalCode(res), code, name);
      assert.equal((await me(h, cookie)).status, 200, `${name}: the session survives`);
    }
    // The same request, properly signed over POST, is honoured.
    const genuine = await postSlo(h, signElement(forged, idOf(forged), IDP_NEXT));
    assert.equal(genuine.status, 302);
    assert.equal((await me(h, cookie)).status, 401);
  });

  test(
    "InResponseTo and the replay cache hold across processes sharing the database",
    { skip: TEST_DB === "sqlite" && "SQLite serves one process (test/roles.test.ts)" },
    async () => {
      // A second Herald on the same database, trusting the same IdP (as behind a load balancer): a
      // web process beside this one.
      const second = await startServer(
        testConfig(h.s.services.config.database.url, h.s.services.config.dataDir, {
          HERALD_SAML_IDP_METADATA: h.metadataFile,
        }),
        "web",
      );
      try {
        const irt = await h.startLogin();
        const xml = await h.response(irt, { assertionId: "_shared-replay" });
        const post = (url: string) =>
          fetch(`${url}/saml/acs`, {
            method: "POST",
            body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString("base64") }),
            redirect: "manual",
          });
        const first = await post(second.url);
        assert.equal(first.status, 303, "the other process accepts a sign-in this one started");
        const again = await post(h.s.url);
        assert.equal(again.status, 400);
        assert.equal(await refusalCode(again), "in-response-to");
        const fresh = await h.response(await h.startLogin(), { assertionId: "_shared-replay" });
        const replay = await fetch(`${second.url}/saml/acs`, {
          method: "POST",
          body: new URLSearchParams({ SAMLResponse: Buffer.from(fresh).toString("base64") }),
          redirect: "manual",
        });
        assert.equal(await refusalCode(replay), "replay");
      } finally {
        await second.shutdown("test");
      }
    },
  );

  test("the directory person can also be matched by email or externalId", async () => {
    const byEmail = await startSamlServer({ HERALD_SAML_MATCH: "attribute:mail=email" });
    try {
      await byEmail.s.services.scim.createUser(
        { userName: "lee", emails: [{ value: "Lee@Corp.example", primary: true }] },
        actor,
      );
      const irt = await byEmail.startLogin();
      const res = await byEmail.post(
        await byEmail.response(irt, { nameId: "opaque-123", attributes: { mail: ["lee@corp.example"] } }),
      );
      assert.equal(res.status, 303, await res.text());
      const missing = await byEmail.post(
        await byEmail.response(await byEmail.startLogin(), { nameId: "lee" }),
      );
      assert.equal(await refusalCode(missing), "no-value");
    } finally {
      await byEmail.close();
    }
  });

  test("IdP-initiated sign-in works when turned on, honouring only a local RelayState", async () => {
    const open = await startSamlServer({ HERALD_SAML_IDP_INITIATED: "true" });
    try {
      await open.s.services.scim.createUser({ userName: "jane@corp.example" }, actor);
      const res = await open.post(await open.response(undefined), "/api/me");
      assert.equal(res.status, 303);
      assert.equal(res.headers.get("location"), "/api/me");
      const evil = await open.post(await open.response(undefined), "https://evil.example/");
      assert.equal(evil.headers.get("location"), "/");
    } finally {
      await open.close();
    }
  });
});

function idOf(xml: string): string {
  return /ID="([^"]+)"/.exec(xml)?.[1] ?? "";
}

function postSlo(h: SamlTestServer, xml: string): Promise<Response> {
  return fetch(`${h.s.url}/saml/slo`, {
    method: "POST",
    body: new URLSearchParams({ SAMLRequest: Buffer.from(xml).toString("base64") }),
    redirect: "manual",
  });
}

describe(`login CSRF on https on ${TEST_DB}`, () => {
  test("the IdP's answer is accepted only from the browser that started the sign-in", async () => {
    const origin = "https://127.0.0.1:3999";
    const h = await startSamlServer({ HERALD_ORIGIN: origin });
    try {
      await h.s.services.scim.createUser({ userName: "jane@corp.example" }, actor);
      const answer = async (irt: string) =>
        h.response(irt, { acsUrl: `${origin}/saml/acs`, audience: `${origin}/saml/metadata` });
      const start = async () => {
        const res = await fetch(`${h.s.url}/saml/login`, { redirect: "manual" });
        const set = res.headers.get("set-cookie") ?? "";
        assert.match(set, /^herald_saml_browser=[A-Za-z0-9_-]{32};/);
        assert.match(set, /path=\/saml\/acs/i);
        assert.match(set, /samesite=none/i);
        assert.match(set, /secure/i);
        assert.match(set, /httponly/i);
        const id = readAuthnRequest(res.headers.get("location") ?? "").id;
        return { id, cookie: set.split(";")[0] };
      };
      const post = (xml: string, cookie?: string) =>
        fetch(`${h.s.url}/saml/acs`, {
          method: "POST",
          headers: cookie ? { cookie } : {},
          body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString("base64") }),
          redirect: "manual",
        });
      // An attacker's own sign-in, answered into the victim's browser (no or another cookie).
      const attacker = await start();
      const victim = await start();
      const csrf = await post(await answer(attacker.id), victim.cookie);
      assert.equal(csrf.status, 400);
      assert.equal(await refusalCode(csrf), "browser");
      const none = await start();
      assert.equal(await refusalCode(await post(await answer(none.id))), "browser");
      const own = await start();
      const ok = await post(await answer(own.id), own.cookie);
      assert.equal(ok.status, 303);
      assert.match(ok.headers.get("set-cookie") ?? "", /^__Host-herald_session=/);
    } finally {
      await h.close();
    }
  });
});

describe(`the sign-in rate limit on ${TEST_DB}`, () => {
  test("past the burst, sign-in endpoints answer 429 with Retry-After; SP metadata stays open", async () => {
    const h = await startSamlServer({ HERALD_SAML_RATE_PER_SECOND: "1", HERALD_SAML_BURST: "3" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await h.post("<junk/>")).status);
      assert.deepEqual(statuses.slice(0, 3), [400, 400, 400]);
      const limited = await h.post("<junk/>");
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get("retry-after")) >= 1);
      assert.equal((await fetch(`${h.s.url}/saml/metadata`)).status, 200);
    } finally {
      await h.close();
    }
  });
});

describe("IdP metadata from a file or a URL, refreshed", () => {
  test("a changed file is picked up; a broken one keeps the last good copy", async () => {
    const file = path.join(tmpdir(), `herald-md-${process.pid}.xml`);
    writeFileSync(file, testIdpMetadata([IDP.certPem]));
    const errors: unknown[] = [];
    const source = await loadMetadata(file, { refreshMs: 30, onError: (e) => errors.push(e) });
    try {
      assert.equal(source.current().signingCerts.length, 1);
      writeFileSync(file, testIdpMetadata([IDP.certPem, IDP_NEXT.certPem]));
      await waitFor(() => source.current().signingCerts.length === 2 || undefined, { timeoutMs: 3000 });
      writeFileSync(file, "<broken");
      await waitFor(() => errors.length > 0 || undefined, { timeoutMs: 3000 });
      assert.equal(source.current().signingCerts.length, 2, "the last good copy stays");
    } finally {
      source.stop();
    }
  });

  test("metadata is fetched from a URL; an unusable one fails startup with the variable named", async () => {
    const server = createServer((req, res) => {
      if (req.url === "/md") res.end(testIdpMetadata());
      else if (req.url === "/moved") res.writeHead(302, { location: "/md" }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const source = await loadMetadata(`${base}/md`, { refreshMs: 60_000, onError: () => undefined });
      assert.equal(source.current().entityId, IDP_ENTITY);
      source.stop();
      await assert.rejects(
        loadMetadata(`${base}/missing`, { refreshMs: 60_000, onError: () => undefined }),
        /HERALD_SAML_IDP_METADATA .*404/,
      );
      await assert.rejects(
        loadMetadata(`${base}/md`, { refreshMs: 60_000, onError: () => undefined, httpsOnly: true }),
        /must use https in production/,
      );
      await assert.rejects(
        loadMetadata(`${base}/moved`, { refreshMs: 60_000, onError: () => undefined }),
        /redirects to \/md: configure that URL instead/,
      );
    } finally {
      server.close();
    }
  });
});

describe(`the development IdP (npm start's demo sign-in) on ${TEST_DB}`, () => {
  test("a full round trip: Herald's signed request, the person picked, a signed and encrypted answer", async () => {
    const s = await startTestServer({ HERALD_DEV_IDP: "true" });
    try {
      await s.services.scim.createUser({ userName: "jane@corp.example", displayName: "Jane Doe" }, actor);
      await s.services.scim.createUser({ userName: "gone@corp.example", active: false }, actor);
      const start = await fetch(`${s.url}/saml/login?next=/api/me`, { redirect: "manual" });
      const idpUrl = (start.headers.get("location") ?? "").replace("http://127.0.0.1:3999", s.url);
      assert.match(idpUrl, /\/dev-idp\/sso\?SAMLRequest=.*&Signature=/);
      const chooser = await (await fetch(idpUrl)).text();
      assert.match(chooser, /value="jane@corp.example"/);
      assert.doesNotMatch(chooser, /gone@corp.example/, "only active people are offered");
      const request = /name="request" value="([^"]+)"/.exec(chooser)?.[1] ?? "";
      const form = await (
        await fetch(`${s.url}/dev-idp/sso`, {
          method: "POST",
          body: new URLSearchParams({ request, relay: "", userName: "jane@corp.example" }),
        })
      ).text();
      const samlResponse = /name="SAMLResponse" value="([^"]+)"/.exec(form)?.[1] ?? "";
      assert.match(Buffer.from(samlResponse, "base64").toString(), /EncryptedAssertion/);
      const acs = await fetch(`${s.url}/saml/acs`, {
        method: "POST",
        body: new URLSearchParams({ SAMLResponse: samlResponse }),
        redirect: "manual",
      });
      assert.equal(acs.status, 303);
      assert.equal(acs.headers.get("location"), "/api/me");
      const me = await fetch(`${s.url}/api/me`, { headers: { cookie: cookieOf(acs) } });
      assert.equal(((await me.json()) as { userName: string }).userName, "jane@corp.example");
    } finally {
      await s.close();
    }
  });

  test("without HERALD_DEV_IDP (tests, production) there is no /dev-idp", async () => {
    const s = await startTestServer();
    try {
      assert.equal((await fetch(`${s.url}/dev-idp/metadata`)).status, 404);
      const login = await fetch(`${s.url}/saml/login`, { redirect: "manual" });
      assert.equal(login.status, 503);
      assert.equal(await refusalCode(login), "not-configured");
    } finally {
      await s.close();
    }
  });
});
