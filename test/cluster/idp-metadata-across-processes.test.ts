/**
 * IdP metadata given at /admin/connect takes effect in every process without a restart (issue
 * 17): A (in this process) takes the upload; B (`herald web`, a child process on the same
 * database, started before any IdP was connected) follows the stored version
 * (HERALD_SAML_METADATA_CHECK_SECONDS) — its /saml/login starts sending people to the uploaded
 * IdP, its ACS verifies a test sign-in's answer with the uploaded certificates, and a second upload
 * replaces the first there too.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildResponse, readAuthnRequest } from "../../src/saml/dev-idp.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import {
  freePort,
  freshDatabaseUrl,
  TEST_DB,
  type TestDatabaseUrl,
  testConfig,
  waitFor,
} from "../helpers/env.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process.ts";
import { ACS, IDP, IDP_ENTITY, IDP_SSO, SP_ENTITY, testIdpMetadata } from "../saml/helpers.ts";

const who = { name: "test" };

describe(
  `IdP metadata uploaded through one process is used by another without a restart (${TEST_DB})`,
  { skip: TEST_DB === "sqlite" && "SQLite serves one process" },
  () => {
    let fresh: TestDatabaseUrl;
    let a: RunningServer;
    let b: ServerProcess;
    let cookie: string;
    let csrf: string;

    before(async () => {
      fresh = await freshDatabaseUrl();
      a = await startServer(testConfig(fresh.url, fresh.dir));
      b = await startServerProcess(
        {
          DATABASE_URL: fresh.url,
          HERALD_DATA_DIR: fresh.dir,
          HERALD_ORIGIN: a.services.config.origin.origin,
          HERALD_SAML_METADATA_CHECK_SECONDS: "1",
        },
        await freePort(),
        undefined,
        { role: "web", ready: true },
      );
      for (const u of ["ada", "jane"])
        await a.services.scim.createUser({ userName: `${u}@corp.example`, displayName: u }, who);
      const sub = await a.services.authz.resolveSubject("user:ada@corp.example");
      assert.ok(!("error" in sub));
      assert.ok((await a.services.authz.grant(sub, "org-admin", "org", "test")).ok);
      const ada = await a.services.directory.personByUserName("ada@corp.example");
      assert.ok(ada);
      const link = await a.services.sessions.createLoginLink(ada.id, "test");
      const res = await fetch(`${a.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
      cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
      const auth = await a.services.sessions.resolve(cookie.split("=")[1] ?? "");
      assert.ok(auth);
      csrf = auth.csrf;
    });
    after(async () => {
      b?.child.kill("SIGTERM");
      await b?.exited;
      await a?.shutdown("test");
      await fresh?.cleanup();
    });

    const upload = async (xml: string) => {
      const form = new FormData();
      form.set("csrf", csrf);
      form.set("xml", xml);
      const res = await fetch(`${a.url}/admin/connect/metadata`, {
        method: "POST",
        headers: { cookie },
        body: form,
        redirect: "manual",
      });
      assert.equal(res.status, 303);
    };
    /** Where B's /saml/login sends a browser ("HTTP 503" while no IdP is connected there). */
    const bLogin = async () => {
      const res = await fetch(`${b.url}/saml/login`, { redirect: "manual" });
      return res.status === 302 ? new URL(res.headers.get("location") ?? "").origin : `HTTP ${res.status}`;
    };

    test("B follows the upload, verifies with it, and follows the next one", async () => {
      assert.equal(await bLogin(), "HTTP 503", "no IdP connected yet");
      await upload(testIdpMetadata());
      await waitFor(async () => ((await bLogin()) === new URL(IDP_SSO).origin ? true : undefined), {
        what: "B's sign-in to go to the uploaded IdP",
        timeoutMs: 10_000,
      });

      // A test sign-in started on A, answered to B's ACS: B verifies it with the uploaded certificate.
      const started = await fetch(`${a.url}/admin/connect/test`, {
        method: "POST",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf }),
        redirect: "manual",
      });
      const request = readAuthnRequest(started.headers.get("location") ?? "");
      const xml = await buildResponse({
        idpEntityId: IDP_ENTITY,
        audience: SP_ENTITY,
        acsUrl: ACS,
        inResponseTo: request.id,
        nameId: "jane@corp.example",
        key: IDP,
      });
      const back = await fetch(`${b.url}/saml/acs`, {
        method: "POST",
        body: new URLSearchParams({
          SAMLResponse: Buffer.from(xml).toString("base64"),
          RelayState: request.relayState ?? "",
        }),
        redirect: "manual",
      });
      assert.equal(back.status, 303);
      const result = await (await fetch(`${a.url}${request.relayState}`, { headers: { cookie } })).text();
      assert.match(result, /<h1>Test sign-in succeeded<\/h1>/);
      assert.match(result, /<strong id="matched-person">jane<\/strong>/);

      await upload(testIdpMetadata([IDP.certPem]).replaceAll("idp.test.example", "idp2.test.example"));
      await waitFor(async () => ((await bLogin()) === "https://idp2.test.example" ? true : undefined), {
        what: "B's sign-in to follow the second upload",
        timeoutMs: 10_000,
      });
    });
  },
);
