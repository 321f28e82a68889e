/**
 * The development identity provider: `npm start`'s demo organization signs in through a real
 * SAML round trip (signed AuthnRequest → signed, optionally encrypted Response → ACS) without any
 * external tenant. It lists the directory's active people and signs in as the one you pick. It is
 * mounted under /dev-idp only outside production (server.ts refuses otherwise) and its key lives
 * in `<HERALD_DATA_DIR>/dev-idp.json`.
 *
 * The message builder is also what the SAML tests sign their forged responses with.
 */
import { koa, ROUTES } from "../http/routes.ts";
import { createHash, createPublicKey, createSign, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import xmlenc from "@authenio/xml-encryption";
import { SignedXml } from "xml-crypto";
import { formBody } from "../http/form.ts";
import { PAGE_CSP } from "../http/request-context.ts";
import { escapeHtml, html, page, raw } from "../http/html.ts";
import type { HeldRole } from "../authz/authz.ts";
import type { Directory, Person } from "../identity/directory.ts";
import { selfSignedRsa, writeOnce } from "../secrets.ts";
import { type IdpMetadata, parseIdpMetadata } from "./metadata.ts";
import { NS, parseStrict } from "./xml.ts";

const RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

export interface IdpKey {
  readonly keyPem: string;
  readonly certPem: string;
}

export interface ResponseOptions {
  readonly idpEntityId: string;
  readonly audience: string;
  readonly acsUrl: string;
  readonly inResponseTo?: string;
  readonly nameId: string;
  readonly sessionIndex?: string;
  readonly attributes?: Record<string, readonly string[]>;
  readonly now?: Date;
  readonly lifetimeMs?: number;
  readonly signResponse?: boolean;
  readonly signAssertion?: boolean;
  /** Encrypt the assertion for this SP certificate (PEM). */
  readonly encryptFor?: string;
  readonly key: IdpKey;
  readonly responseId?: string;
  readonly assertionId?: string;
  readonly statusCode?: string;
}

const newId = () => `_${randomBytes(20).toString("hex")}`;
const certBody = (pem: string) => pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
const esc = escapeHtml;

/** Signs the element with the given ID in place (enveloped, exc-c14n, RSA-SHA256), after its Issuer. */
export function signElement(xml: string, id: string, key: IdpKey): string {
  const sig = new SignedXml({
    privateKey: key.keyPem,
    publicCert: key.certPem,
    signatureAlgorithm: RSA_SHA256,
    canonicalizationAlgorithm: EXC_C14N,
  });
  const at = `//*[@ID='${id}']`;
  sig.addReference({
    xpath: at,
    transforms: [ENVELOPED, EXC_C14N],
    digestAlgorithm: "http://www.w3.org/2001/04/xmlenc#sha256",
  });
  sig.computeSignature(xml, {
    prefix: "ds",
    location: { reference: `${at}/*[local-name(.)='Issuer']`, action: "after" },
  });
  return sig.getSignedXml();
}

export function encryptAssertion(assertionXml: string, spCertPem: string): Promise<string> {
  const rsaPub = createPublicKey(spCertPem).export({ type: "spki", format: "pem" }).toString();
  return new Promise((resolve, reject) =>
    xmlenc.encrypt(
      assertionXml,
      {
        rsa_pub: rsaPub,
        pem: spCertPem,
        encryptionAlgorithm: "http://www.w3.org/2009/xmlenc11#aes256-gcm",
        keyEncryptionAlgorithm: "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        disallowEncryptionWithInsecureAlgorithm: true,
        warnInsecureAlgorithm: false,
      },
      (err, out) => (err || !out ? reject(err ?? new Error("encryption failed")) : resolve(out)),
    ),
  );
}

/** A SAML Response, signed as asked (by default: assertion and response). */
export async function buildResponse(o: ResponseOptions): Promise<string> {
  const now = o.now ?? new Date();
  const until = new Date(now.getTime() + (o.lifetimeMs ?? 5 * 60_000)).toISOString();
  const issued = now.toISOString();
  const responseId = o.responseId ?? newId();
  const assertionId = o.assertionId ?? newId();
  const irt = o.inResponseTo ? ` InResponseTo="${esc(o.inResponseTo)}"` : "";
  const attrs = Object.entries(o.attributes ?? {})
    .map(
      ([name, values]) =>
        `<saml:Attribute Name="${esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values
          .map(
            (v) =>
              `<saml:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`,
          )
          .join("")}</saml:Attribute>`,
    )
    .join("");
  let assertion =
    `<saml:Assertion xmlns:saml="${NS.assertion}" ID="${assertionId}" Version="2.0" IssueInstant="${issued}">` +
    `<saml:Issuer>${esc(o.idpEntityId)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${esc(o.nameId)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${until}" Recipient="${esc(o.acsUrl)}"${irt}/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${new Date(now.getTime() - 30_000).toISOString()}" NotOnOrAfter="${until}"><saml:AudienceRestriction><saml:Audience>${esc(o.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${issued}" SessionIndex="${esc(o.sessionIndex ?? newId())}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attrs ? `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` : "") +
    `</saml:Assertion>`;
  if (o.signAssertion ?? true) assertion = signElement(assertion, assertionId, o.key);
  if (o.encryptFor) {
    assertion = `<saml:EncryptedAssertion xmlns:saml="${NS.assertion}">${await encryptAssertion(assertion, o.encryptFor)}</saml:EncryptedAssertion>`;
  }
  let response =
    `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${responseId}" Version="2.0" IssueInstant="${issued}" Destination="${esc(o.acsUrl)}"${irt}>` +
    `<saml:Issuer>${esc(o.idpEntityId)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${esc(o.statusCode ?? "urn:oasis:names:tc:SAML:2.0:status:Success")}"/></samlp:Status>` +
    assertion +
    `</samlp:Response>`;
  if (o.signResponse ?? true) response = signElement(response, responseId, o.key);
  return response;
}

/** A redirect-binding URL carrying `message` (DEFLATE + base64), signed with the key (§3.4.4.1). */
export function redirectUrl(
  endpoint: string,
  param: "SAMLRequest" | "SAMLResponse",
  message: string,
  key: IdpKey | undefined,
  relayState?: string,
): string {
  let query = `${param}=${encodeURIComponent(deflateRawSync(Buffer.from(message)).toString("base64"))}`;
  if (relayState !== undefined) query += `&RelayState=${encodeURIComponent(relayState)}`;
  if (key) {
    query += `&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
    const signature = createSign("RSA-SHA256").update(query).sign(key.keyPem, "base64");
    query += `&Signature=${encodeURIComponent(signature)}`;
  }
  return `${endpoint}${endpoint.includes("?") ? "&" : "?"}${query}`;
}

export function logoutRequestXml(o: {
  issuer: string;
  destination: string;
  nameId: string;
  sessionIndex?: string;
  id?: string;
}): string {
  return (
    `<samlp:LogoutRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${o.id ?? newId()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${esc(o.destination)}">` +
    `<saml:Issuer>${esc(o.issuer)}</saml:Issuer><saml:NameID>${esc(o.nameId)}</saml:NameID>` +
    (o.sessionIndex ? `<samlp:SessionIndex>${esc(o.sessionIndex)}</samlp:SessionIndex>` : "") +
    `</samlp:LogoutRequest>`
  );
}

export function logoutResponseXml(o: { issuer: string; destination: string; inResponseTo: string }): string {
  return (
    `<samlp:LogoutResponse xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${newId()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${esc(o.destination)}" InResponseTo="${esc(o.inResponseTo)}">` +
    `<saml:Issuer>${esc(o.issuer)}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
    `</samlp:LogoutResponse>`
  );
}

export function idpMetadataXml(entityId: string, base: string, certPem: string): string {
  return (
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${esc(entityId)}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true">` +
    `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certBody(certPem)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
    `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${esc(base)}/slo"/>` +
    `<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${esc(base)}/sso"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`
  );
}

export interface DevIdp {
  readonly metadata: IdpMetadata;
  readonly router: Router;
}

/** Reads an AuthnRequest or LogoutRequest sent over HTTP-Redirect (the dev IdP trusts its SP). */
function readRedirect(value: string | undefined): Element | undefined {
  if (!value || value.length > 100_000) return undefined;
  try {
    return parseStrict(inflateRawSync(Buffer.from(value, "base64")).toString("utf8")).documentElement;
  } catch {
    return undefined;
  }
}

export async function createDevIdp(options: {
  origin: URL;
  dataDir: string;
  directory: Directory;
  spEntityId: string;
  acsUrl: string;
  sloUrl: string;
  spCertPem: string;
  orgName: string;
  /** The roles each person holds now (authz), so the page says who is who. */
  rolesOf?: (person: Person) => Promise<readonly HeldRole[]>;
}): Promise<DevIdp> {
  const file = path.join(options.dataDir, "dev-idp.json");
  const key: IdpKey = existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as IdpKey)
    : writeOnce(file, await selfSignedRsa("Herald development IdP"));
  const base = new URL("/dev-idp", options.origin).href;
  const entityId = `${base}/metadata`;
  const xml = idpMetadataXml(entityId, base, key.certPem);
  const metadata = parseIdpMetadata(xml);
  const router = caseSensitiveRouter({ prefix: ROUTES.devIdp.prefix });
  const banner = html`<p role="note">
    <strong>Development identity provider.</strong> It signs in anyone you pick from the directory and is
    never available in production.
  </p>`;

  router.get(koa(ROUTES.devIdp.metadata), (ctx) => {
    ctx.type = "application/samlmetadata+xml";
    ctx.body = xml;
  });

  router.get(koa(ROUTES.devIdp.sso), async (ctx) => {
    const request = readRedirect(
      typeof ctx.query.SAMLRequest === "string" ? ctx.query.SAMLRequest : undefined,
    );
    if (!request || request.localName !== "AuthnRequest") {
      ctx.status = 400;
      ctx.type = "text/html; charset=utf-8";
      ctx.body = page(
        "Development IdP",
        html`<h1>Development IdP</h1>
          ${banner}
          <p>This page expects a SAML AuthnRequest. <a href="/login">Start at Herald's sign-in page.</a></p>`,
      );
      return;
    }
    const people = await options.directory.activePeople(200);
    const roles = await Promise.all(people.map((p) => options.rolesOf?.(p) ?? Promise.resolve([])));
    const requestId = request.getAttribute("ID") ?? "";
    const relay = typeof ctx.query.RelayState === "string" ? ctx.query.RelayState : "";
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `Sign in to ${options.orgName} (development IdP)`,
      html`<h1>Sign in to ${options.orgName}</h1>
        ${banner}
        <form method="post" action="/dev-idp/sso">
          <input type="hidden" name="request" value="${requestId}" />
          <input type="hidden" name="relay" value="${relay}" />
          <fieldset>
            <legend>Sign in as</legend>
            ${people.map(
              (p, i) =>
                html`<p>
                  <button type="submit" name="userName" value="${p.userName}">
                    ${p.displayName ?? p.userName}
                  </button>
                  <span class="roles">— ${describeRoles(roles[i])}</span><br />
                  <span class="muted">${p.userName}${p.title ? ` · ${p.title}` : ""}</span>
                </p>`,
            )}
          </fieldset>
        </form>`,
    );
  });

  router.post(koa(ROUTES.devIdp.sso), async (ctx) => {
    const form = await formBody(ctx);
    const userName = form.get("userName") ?? "";
    const person = await options.directory.personByUserName(userName);
    // The dev IdP asserts whoever was picked; Herald itself refuses people who are not active.
    const response = await buildResponse({
      idpEntityId: entityId,
      audience: options.spEntityId,
      acsUrl: options.acsUrl,
      inResponseTo: form.get("request") || undefined,
      nameId: person?.userName ?? userName,
      attributes: person
        ? { email: [person.email ?? person.userName], displayName: [person.displayName ?? person.userName] }
        : {},
      encryptFor: options.spCertPem,
      key,
    });
    ctx.type = "text/html; charset=utf-8";
    ctx.set("Cache-Control", "no-store");
    ctx.body = postForm(options.acsUrl, "SAMLResponse", response, form.get("relay") ?? "");
    ctx.set("Content-Security-Policy", `${PAGE_CSP}; script-src '${AUTO_POST_HASH}'`);
  });

  router.get(koa(ROUTES.devIdp.slo), (ctx) => {
    const request = readRedirect(
      typeof ctx.query.SAMLRequest === "string" ? ctx.query.SAMLRequest : undefined,
    );
    if (!request || request.localName !== "LogoutRequest") {
      ctx.status = 400;
      ctx.body = "expected a LogoutRequest";
      return;
    }
    const relay = typeof ctx.query.RelayState === "string" ? ctx.query.RelayState : undefined;
    const answer = logoutResponseXml({
      issuer: entityId,
      destination: options.sloUrl,
      inResponseTo: request.getAttribute("ID") ?? "",
    });
    ctx.redirect(redirectUrl(options.sloUrl, "SAMLResponse", answer, key, relay));
  });

  return { metadata, router };
}

const ROLE_NAMES: Record<string, string> = {
  "org-admin": "org admin",
  "compliance-officer": "compliance officer",
};

/** "owner of @recruiting, publisher of @recruiting (Recruiting group), org admin". */
export function describeRoles(roles: readonly HeldRole[]): string {
  if (roles.length === 0) return "employee: posts as themselves";
  return roles
    .map((r) => {
      const what = r.account === "org" ? (ROLE_NAMES[r.role] ?? r.role) : `${r.role} of ${r.account}`;
      return r.group ? `${what} (${r.group} group)` : what;
    })
    .join(", ");
}

const AUTO_POST = `document.getElementById("saml-post").submit()`;
/** The only script Herald ever serves, allowed by its hash (CSP). */
const AUTO_POST_HASH = `sha256-${createHash("sha256").update(AUTO_POST).digest("base64")}`;

/** The HTTP-POST binding: a form the browser posts on (one click without JavaScript). */
export function postForm(action: string, param: string, xml: string, relayState: string): string {
  const value = Buffer.from(xml).toString("base64");
  return page(
    "Signing in…",
    html`<h1>Signing in…</h1>
      <form method="post" action="${action}" id="saml-post">
        <input type="hidden" name="${param}" value="${value}" />
        ${relayState ? html`<input type="hidden" name="RelayState" value="${relayState}" />` : ""}
        <button type="submit">Continue</button>
      </form>
      ${raw(`<script>${AUTO_POST}</script>`)}`,
  );
}

/** For tests: the parts of an AuthnRequest URL Herald sent. */
export function readAuthnRequest(url: string): { id: string; destination: string; relayState?: string } {
  const u = new URL(url);
  const request = readRedirect(u.searchParams.get("SAMLRequest") ?? undefined);
  if (!request) throw new Error(`no AuthnRequest in ${url}`);
  return {
    id: request.getAttribute("ID") ?? "",
    destination: request.getAttribute("Destination") ?? "",
    relayState: u.searchParams.get("RelayState") ?? undefined,
  };
}
