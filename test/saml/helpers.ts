/** A test IdP (pre-generated test-only keys) and a Herald that trusts it, for the SAML tests. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  buildResponse,
  type IdpKey,
  type ResponseOptions,
  readAuthnRequest,
} from "../../src/saml/dev-idp.ts";
import { FIXTURES } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SECRETS = path.join(FIXTURES, "secrets");
const key = (name: string): IdpKey => ({
  keyPem: readFileSync(path.join(SECRETS, `${name}.key`), "utf8"),
  certPem: readFileSync(path.join(SECRETS, `${name}.crt`), "utf8"),
});

export const IDP = key("saml-idp");
/** The IdP's next key: listed in its metadata too, as during a certificate rollover. */
export const IDP_NEXT = key("saml-idp-next");
/** A key the IdP metadata does not list. */
export const FOREIGN = key("saml-foreign");
export const SP = key("saml-sp");

export const ORIGIN = "http://127.0.0.1:3999";
export const IDP_ENTITY = "https://idp.test.example/metadata";
export const IDP_SSO = "https://idp.test.example/sso";
export const IDP_SLO = "https://idp.test.example/slo";
export const SP_ENTITY = `${ORIGIN}/saml/metadata`;
export const ACS = `${ORIGIN}/saml/acs`;
export const SLO = `${ORIGIN}/saml/slo`;

const body = (pem: string) => pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");

export function testIdpMetadata(certs: readonly string[] = [IDP.certPem, IDP_NEXT.certPem]): string {
  return (
    `<?xml version="1.0"?>\n<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${IDP_ENTITY}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">` +
    certs
      .map(
        (c) =>
          `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body(c)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
      )
      .join("") +
    `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${IDP_SLO}"/>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${IDP_SSO}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`
  );
}

export interface SamlTestServer {
  readonly s: TestServer;
  /** The IdP metadata file the server reads. */
  readonly metadataFile: string;
  /** Starts an SP-initiated sign-in; the AuthnRequest's ID. */
  startLogin(next?: string): Promise<string>;
  /** A response to `inResponseTo`, valid unless `overrides` says otherwise. */
  response(inResponseTo: string | undefined, overrides?: Partial<ResponseOptions>): Promise<string>;
  /** POSTs a SAMLResponse (XML, base64-encoded here) to the ACS. */
  post(xml: string, relayState?: string): Promise<Response>;
  close(): Promise<void>;
}

export async function startSamlServer(env: Record<string, string> = {}): Promise<SamlTestServer> {
  const file = path.join(tmpdir(), `herald-idp-${process.pid}-${randomBytes(4).toString("hex")}.xml`);
  writeFileSync(file, testIdpMetadata());
  // The suites post dozens of messages in a row from one address: lift the sign-in rate limit.
  const s = await startTestServer({
    HERALD_SAML_IDP_METADATA: file,
    HERALD_SAML_RATE_PER_SECOND: "1000",
    HERALD_SAML_BURST: "1000",
    ...env,
  });
  return wrap(s, file);
}

function wrap(s: TestServer, metadataFile: string): SamlTestServer {
  return {
    s,
    metadataFile,
    async startLogin(next = "/") {
      const res = await fetch(`${s.url}/saml/login?next=${encodeURIComponent(next)}`, { redirect: "manual" });
      assert.equal(res.status, 302, "/saml/login redirects to the IdP");
      const location = res.headers.get("location") ?? "";
      assert.ok(location.startsWith(IDP_SSO), location);
      return readAuthnRequest(location).id;
    },
    response(inResponseTo, overrides = {}) {
      return buildResponse({
        idpEntityId: IDP_ENTITY,
        audience: SP_ENTITY,
        acsUrl: ACS,
        inResponseTo,
        nameId: "jane@corp.example",
        key: IDP,
        ...overrides,
      });
    },
    post(xml, relayState) {
      const form = new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString("base64") });
      if (relayState !== undefined) form.set("RelayState", relayState);
      return fetch(`${s.url}/saml/acs`, { method: "POST", body: form, redirect: "manual" });
    },
    close: () => s.close(),
  };
}

/** The refusal code a sign-in error page names: `(<code>)` after its reference. */
export async function refusalCode(res: Response): Promise<string> {
  const text = await res.text();
  return /<\/code> \(([a-z-]+)\)/.exec(text)?.[1] ?? `no code in: ${text.slice(0, 300)}`;
}
