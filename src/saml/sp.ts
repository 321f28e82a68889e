/**
 * Herald as a SAML 2.0 service provider. samlify builds the SP metadata and the outgoing
 * messages (AuthnRequest, LogoutRequest, LogoutResponse) and its xmllint-wasm validator checks
 * incoming XML against the SAML schemas. Everything samlify 2.13 leaves to the application is done
 * here, on the signed bytes only (see xml.ts): Issuer, status, Destination, Audience, Recipient,
 * NotBefore/NotOnOrAfter with clock drift, InResponseTo against a one-time store and an
 * assertion-ID replay cache, both in the database so they hold across processes.
 */
import { isUniqueViolation } from "../db/errors.ts";
import { createHash, createPublicKey, randomBytes, verify as verifySignature } from "node:crypto";
import { inflateRawSync } from "node:zlib";
import xmlenc from "@authenio/xml-encryption";
import * as samlify from "samlify";
import { EntitySchema, LessThan } from "typeorm";
import type { Database } from "../db/database.ts";
import { isSchemaValid } from "./schema.ts";
import { SamlIdpMetadataSchema } from "./stored.ts";
import { SamlTestSchema } from "./test-sign-in.ts";
import { BINDING, type IdpMetadata, type MetadataSource } from "./metadata.ts";
import {
  allElements,
  checkStructure,
  childElements,
  firstChild,
  NS,
  parseStrict,
  reject,
  SamlRejection,
  textOf,
} from "./xml.ts";

export interface SamlRequestRow {
  id: string;
  kind: string;
  relayState: string | null;
  /** SHA-256 of the nonce cookie of the browser that started the sign-in (https only). */
  browserHash: string | null;
  createdAt: Date;
  expiresAt: Date;
}

export const SamlRequestSchema = new EntitySchema<SamlRequestRow>({
  name: "SamlRequest",
  tableName: "saml_request",
  columns: {
    id: { type: "varchar", primary: true },
    kind: { type: "varchar" },
    relayState: { name: "relay_state", type: "varchar", nullable: true },
    browserHash: { name: "browser_hash", type: "varchar", nullable: true },
    createdAt: { name: "created_at", type: "datetime" },
    expiresAt: { name: "expires_at", type: "datetime" },
  },
});

export interface SamlReplayRow {
  idHash: string;
  expiresAt: Date;
}

export const SamlReplaySchema = new EntitySchema<SamlReplayRow>({
  name: "SamlReplay",
  tableName: "saml_replay",
  columns: {
    idHash: { name: "id_hash", type: "varchar", primary: true },
    expiresAt: { name: "expires_at", type: "datetime" },
  },
});

export const samlEntities = [SamlRequestSchema, SamlReplaySchema, SamlIdpMetadataSchema, SamlTestSchema];

const SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const REQUEST_TTL_MS = 10 * 60_000;
/** How old a logout message may be (plus the clock drift). */
const LOGOUT_MAX_AGE_MS = 5 * 60_000;
/** Base64 of a SAML message: anything real is far below this. */
const MAX_MESSAGE_CHARS = 1_000_000;

export interface SpSettings {
  /** The public origin: entity ID, ACS and SLO URLs derive from it (DESIGN). */
  readonly origin: URL;
  readonly privateKeyPem: string;
  readonly certificatePem: string;
  readonly clockDriftMs: number;
  readonly idpInitiated: boolean;
}

export interface SamlLogin {
  readonly issuer: string;
  readonly nameId: string;
  readonly nameIdFormat: string | undefined;
  readonly sessionIndex: string | undefined;
  /** Attribute values by Name and by FriendlyName. */
  readonly attributes: ReadonlyMap<string, readonly string[]>;
  /** Where to go after signing in: a local path. */
  readonly next: string;
  readonly idpInitiated: boolean;
}

export type SloOutcome =
  | { readonly kind: "request"; readonly redirect: string; readonly sessionsEnded: number }
  | { readonly kind: "response"; readonly success: boolean; readonly next: string };

/** A local path to return to after signing in, or "/" for anything else (no open redirects). */
export function safeNext(value: string | null | undefined): string {
  if (!value || value.length > 1000) return "/";
  if (!value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\\]/.test(value)) return "/";
  return value;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const short = (urn: string | null | undefined) => (urn ?? "(none)").split(":").pop() ?? "(none)";

function parseTime(value: string | null, what: string): number | undefined {
  if (value === null || value === "") return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) reject("structure", `${what} is not a date`);
  return t;
}

function decrypt(xml: string, keyPem: string): Promise<string> {
  return new Promise((resolve, rejectPromise) =>
    xmlenc.decrypt(
      xml,
      { key: keyPem, disallowDecryptionWithInsecureAlgorithm: true, warnInsecureAlgorithm: false },
      (err, out) =>
        err || !out
          ? rejectPromise(
              new SamlRejection(
                "decrypt",
                "the encrypted assertion could not be decrypted with Herald's key",
              ),
            )
          : resolve(out),
    ),
  );
}

async function schemaValid(xml: string): Promise<void> {
  if (!(await isSchemaValid(xml)))
    reject("schema", "the message does not validate against the SAML 2.0 schemas");
}

/** Decodes a base64 POST parameter, or a base64 + DEFLATE redirect parameter. */
function decodeMessage(value: string, deflated: boolean): string {
  if (value.length > MAX_MESSAGE_CHARS) reject("too-large", "the SAML message is too large");
  const compact = value.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) reject("encoding", "the SAML message is not base64");
  const bytes = Buffer.from(compact, "base64");
  if (!deflated) return bytes.toString("utf8");
  try {
    return inflateRawSync(bytes, { maxOutputLength: 2_000_000 }).toString("utf8");
  } catch {
    return reject("encoding", "the SAML message is not DEFLATE-compressed as the redirect binding requires");
  }
}

const SIG_ALGS: Record<string, string> = {
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": "sha256",
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": "sha512",
  "http://www.w3.org/2000/09/xmldsig#rsa-sha1": "sha1",
};

/** Raw (still URL-encoded) query parameters: the redirect binding signs the encoded bytes. */
function rawQuery(querystring: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of querystring.split("&")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    const name = decodeQueryValue(part.slice(0, i));
    if (out.has(name)) reject("structure", `the query repeats ${name}`);
    out.set(name, part.slice(i + 1));
  }
  return out;
}

const decodeQueryValue = (v: string): string => {
  try {
    return decodeURIComponent(v.replace(/\+/g, " "));
  } catch {
    return reject("encoding", "the query string is not valid percent-encoding");
  }
};

/** SAML bindings §3.4.4.1: the signature covers `SAMLxxx=…&RelayState=…&SigAlg=…` as sent. */
function verifyRedirectSignature(raw: Map<string, string>, param: string, certs: readonly string[]): void {
  const sigAlg = raw.get("SigAlg");
  const signature = raw.get("Signature");
  if (!sigAlg || !signature) reject("unsigned", "the redirect-binding message is not signed");
  const hash = SIG_ALGS[decodeQueryValue(sigAlg)];
  if (!hash) reject("signature-algorithm", `signature algorithm ${decodeQueryValue(sigAlg)} is not accepted`);
  let octets = `${param}=${raw.get(param)}`;
  if (raw.has("RelayState")) octets += `&RelayState=${raw.get("RelayState")}`;
  octets += `&SigAlg=${sigAlg}`;
  const sig = Buffer.from(decodeQueryValue(signature), "base64");
  const ok = certs.some((pem) => {
    try {
      return verifySignature(hash, Buffer.from(octets), createPublicKey(pem), sig);
    } catch {
      return false;
    }
  });
  if (!ok)
    reject(
      "bad-signature",
      "the redirect-binding signature does not verify against the identity provider's certificates",
    );
}

export function createServiceProvider(
  db: Database,
  settings: SpSettings,
  source: MetadataSource | undefined,
) {
  const metadata = {
    current(): IdpMetadata {
      const md = source?.current();
      if (!md)
        reject(
          "not-configured",
          "no identity provider is configured (HERALD_SAML_IDP_METADATA, or its metadata at /admin/connect)",
        );
      return md;
    },
  };
  const entityId = new URL("/saml/metadata", settings.origin).href;
  const acsUrl = new URL("/saml/acs", settings.origin).href;
  const sloUrl = new URL("/saml/slo", settings.origin).href;
  const drift = settings.clockDriftMs;

  /** Herald as samlify sees it: signing and encryption key, ACS, SLO, the checks it asks for. */
  const serviceProvider = (authnRequestsSigned: boolean) =>
    samlify.ServiceProvider({
      entityID: entityId,
      authnRequestsSigned,
      wantAssertionsSigned: true,
      wantLogoutRequestSigned: true,
      wantLogoutResponseSigned: true,
      privateKey: settings.privateKeyPem,
      signingCert: settings.certificatePem,
      encryptCert: settings.certificatePem,
      encPrivateKey: settings.privateKeyPem,
      requestSignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
      nameIDFormat: ["urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"],
      assertionConsumerService: [{ Binding: BINDING.post, Location: acsUrl }],
      singleLogoutService: [
        { Binding: BINDING.redirect, Location: sloUrl },
        { Binding: BINDING.post, Location: sloUrl },
      ],
      clockDrifts: [-drift, drift],
    });

  // samlify entities are rebuilt only when the IdP metadata changes (never per request).
  let built:
    { xml: string; sp: samlify.ServiceProviderInstance; idp: samlify.IdentityProviderInstance } | undefined;
  function entities(md: IdpMetadata) {
    if (built?.xml === md.xml) return built;
    built = {
      xml: md.xml,
      // RUNTIME.md: must equal the IdP's WantAuthnRequestsSigned.
      sp: serviceProvider(md.wantAuthnRequestsSigned),
      idp: samlify.IdentityProvider({ metadata: md.xml, wantLogoutRequestSigned: true }),
    };
    return built;
  }

  // Before an IdP is known, promise nothing: with one, requests are signed when it asks (above).
  const spOnly = serviceProvider(false);

  async function remember(
    id: string,
    kind: "login" | "logout",
    relayState: string | null,
    browserNonce?: string,
  ): Promise<void> {
    const now = new Date();
    await db.transaction(async (em) => {
      const repo = em.getRepository(SamlRequestSchema);
      await repo.insert({
        id,
        kind,
        relayState,
        browserHash: browserNonce ? sha256(browserNonce) : null,
        createdAt: now,
        expiresAt: new Date(now.getTime() + REQUEST_TTL_MS),
      });
      await repo.delete({ expiresAt: LessThan(now) });
    });
  }

  /** Spends a pending request exactly once (across processes): its relay state, or undefined. */
  async function spend(id: string, kind: "login" | "logout"): Promise<SamlRequestRow | undefined> {
    return db.transaction(async (em) => {
      const repo = em.getRepository(SamlRequestSchema);
      const row = await repo.findOneBy({ id, kind });
      if (!row) return undefined;
      const r = await repo.delete({ id, kind });
      if ((r.affected ?? 0) !== 1) return undefined;
      return row.expiresAt.getTime() + drift < Date.now() ? undefined : row;
    });
  }

  /** Records a message ID in the replay cache (all processes): false if it was seen before. */
  async function firstUse(key: string, expiresAt: Date): Promise<boolean> {
    return db
      .transaction(async (em) => {
        const repo = em.getRepository(SamlReplaySchema);
        const idHash = sha256(key);
        if (await repo.findOneBy({ idHash })) return false;
        await repo.insert({ idHash, expiresAt });
        await repo.delete({ expiresAt: LessThan(new Date()) });
        return true;
      })
      .catch((e: unknown) => {
        if (isUniqueViolation(e)) return false;
        throw e;
      });
  }

  function checkIssuer(el: Element, md: IdpMetadata, required: boolean, what: string): void {
    const issuers = childElements(el, NS.assertion, "Issuer");
    if (issuers.length === 0) {
      if (required) reject("issuer", `the ${what} names no issuer`);
      return;
    }
    if (issuers.length > 1) reject("structure", `the ${what} names several issuers`);
    const format = issuers[0].getAttribute("Format");
    if (format && format !== "urn:oasis:names:tc:SAML:2.0:nameid-format:entity")
      reject("issuer", `the ${what}'s issuer has format ${format}`);
    const issuer = textOf(issuers[0]);
    if (issuer !== md.entityId)
      reject(
        "issuer",
        `the ${what} was issued by "${issuer}", not by the configured identity provider "${md.entityId}"`,
      );
  }

  function checkStatus(envelope: Element): void {
    const status = firstChild(envelope, NS.protocol, "Status");
    const code = status && firstChild(status, NS.protocol, "StatusCode");
    const value = code?.getAttribute("Value");
    if (value === SUCCESS) return;
    const sub = code && firstChild(code, NS.protocol, "StatusCode")?.getAttribute("Value");
    const message = status && textOf(firstChild(status, NS.protocol, "StatusMessage"));
    reject(
      "status",
      `the identity provider answered ${short(value)}${sub ? ` / ${short(sub)}` : ""}${message ? `: ${message.slice(0, 200)}` : ""}`,
    );
  }

  /** Verifies a SAMLResponse from the ACS and spends its InResponseTo and assertion ID. */
  async function acceptResponse(
    samlResponse: string,
    relayState: string | undefined,
    browserNonce?: string,
  ): Promise<SamlLogin> {
    const md = metadata.current();
    const xml = decodeMessage(samlResponse, false);
    const doc = parseStrict(xml);
    const root = doc.documentElement;
    if (root.namespaceURI !== NS.protocol || root.localName !== "Response")
      reject("structure", `expected a SAML Response, got <${root.localName}>`);
    // A refusal is usually unsigned: say what the IdP said before asking for signatures.
    checkStatus(root);
    const carried = allElements(root).filter(
      (e) =>
        e.namespaceURI === NS.assertion &&
        (e.localName === "Assertion" || e.localName === "EncryptedAssertion"),
    );
    if (carried.length !== 1)
      reject("assertion-count", `the response carries ${carried.length} assertions; exactly one is accepted`);
    if (carried[0].parentNode !== root)
      reject("assertion-placement", "the assertion is not a direct child of the response");
    const { signatures } = checkStructure(
      xml,
      doc,
      md.signingCerts,
      (el) => el === root || el === carried[0],
    );
    // The schemas after the structure checks: those give the more precise reasons for forgeries.
    await schemaValid(xml);
    const responseSig = signatures.find((s) => s.signed === root);
    const envelope = responseSig?.trusted ?? root;

    let assertion: Element | undefined;
    if (carried[0].localName === "EncryptedAssertion") {
      const encrypted = firstChild(envelope, NS.assertion, "EncryptedAssertion");
      if (!encrypted) reject("structure", "the signed response lost its encrypted assertion");
      // Whatever fails from decryption to the inner signature answers the same "decrypt": telling
      // bad padding from bad plaintext apart would be a decryption oracle (Jager & Somorovsky,
      // "How to Break XML Encryption", 2011). The precise reason goes to the log only.
      try {
        const plain = await decrypt(encrypted.toString(), settings.privateKeyPem);
        const adoc = parseStrict(plain);
        const a = adoc.documentElement;
        if (a.namespaceURI !== NS.assertion || a.localName !== "Assertion")
          reject("structure", "the encrypted assertion does not hold an Assertion");
        const nested = allElements(a).filter(
          (e) => e.namespaceURI === NS.assertion && /Assertion$/.test(e.localName),
        );
        if (nested.length !== 1)
          reject("assertion-count", "the decrypted assertion contains further assertions");
        const inner = checkStructure(plain, adoc, md.signingCerts, (el) => el === a);
        // Signed inside, or covered by the response's signature over the ciphertext.
        assertion = inner.signatures[0]?.trusted ?? (responseSig ? a : undefined);
      } catch (e) {
        if (!(e instanceof SamlRejection)) throw e;
        reject("decrypt", `the encrypted assertion was refused: ${e.code}: ${e.message}`);
      }
    } else {
      const own = signatures.find((s) => s.signed === carried[0]);
      assertion =
        own?.trusted ??
        (responseSig ? firstChild(responseSig.trusted, NS.assertion, "Assertion") : undefined);
    }
    if (!assertion) reject("unsigned", "neither the response nor its assertion is signed");

    if (envelope.getAttribute("Version") !== "2.0" || assertion.getAttribute("Version") !== "2.0")
      reject("structure", "only SAML 2.0 is accepted");
    checkIssuer(envelope, md, false, "response");
    checkIssuer(assertion, md, true, "assertion");
    checkStatus(envelope);
    // SAML bindings §3.5.5.2: a signed response must name its Destination.
    const destination = envelope.getAttribute("Destination");
    if (responseSig && !destination) reject("destination", "the signed response has no Destination");
    if (destination && destination !== acsUrl)
      reject("destination", `the response is addressed to ${destination}, not to ${acsUrl}`);

    const now = Date.now();
    // Conditions (SAML core §2.5.1): time window and every AudienceRestriction naming Herald.
    const conditions = firstChild(assertion, NS.assertion, "Conditions");
    if (!conditions) reject("audience", "the assertion has no Conditions (no audience restriction)");
    const notBefore = parseTime(conditions.getAttribute("NotBefore"), "Conditions NotBefore");
    const notOnOrAfter = parseTime(conditions.getAttribute("NotOnOrAfter"), "Conditions NotOnOrAfter");
    if (notBefore !== undefined && now + drift < notBefore)
      reject("not-yet-valid", "the assertion is not valid yet (check the clocks of Herald and the IdP)");
    if (notOnOrAfter !== undefined && now - drift >= notOnOrAfter)
      reject("expired", "the assertion has expired");
    const restrictions = childElements(conditions, NS.assertion, "AudienceRestriction");
    if (restrictions.length === 0) reject("audience", "the assertion has no audience restriction");
    for (const r of restrictions) {
      const audiences = childElements(r, NS.assertion, "Audience").map((a) => textOf(a));
      if (!audiences.includes(entityId))
        reject(
          "audience",
          `the assertion is meant for ${audiences.join(", ") || "nobody"}, not for ${entityId}`,
        );
    }

    // Subject: a NameID and a bearer confirmation for Herald's ACS (SAML profiles §4.1.4.2).
    const subject = firstChild(assertion, NS.assertion, "Subject");
    if (!subject) reject("subject", "the assertion has no Subject");
    if (firstChild(subject, NS.assertion, "EncryptedID"))
      reject("subject", "encrypted NameIDs are not supported");
    const nameIdEl = firstChild(subject, NS.assertion, "NameID");
    const nameId = textOf(nameIdEl);
    if (!nameId) reject("subject", "the assertion has no NameID");
    const envelopeIrt = envelope.getAttribute("InResponseTo") || undefined;
    let confirmedIrt: string | undefined;
    let confirmedUntil = 0;
    let why = "the assertion has no bearer subject confirmation";
    for (const sc of childElements(subject, NS.assertion, "SubjectConfirmation")) {
      if (sc.getAttribute("Method") !== BEARER) continue;
      const data = firstChild(sc, NS.assertion, "SubjectConfirmationData");
      if (!data) {
        why = "the bearer confirmation has no SubjectConfirmationData";
        continue;
      }
      const recipient = data.getAttribute("Recipient");
      const until = parseTime(data.getAttribute("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter");
      const from = parseTime(data.getAttribute("NotBefore"), "SubjectConfirmationData NotBefore");
      const irt = data.getAttribute("InResponseTo") || undefined;
      if (recipient !== acsUrl) why = `the assertion's recipient is ${recipient ?? "missing"}, not ${acsUrl}`;
      else if (until === undefined) why = "the bearer confirmation has no NotOnOrAfter";
      else if (now - drift >= until) why = "the assertion's subject confirmation has expired";
      else if (from !== undefined) why = "a bearer confirmation must not carry NotBefore";
      else if (envelopeIrt !== undefined && irt !== envelopeIrt)
        why = "the response and its assertion answer different requests";
      else {
        confirmedIrt = irt;
        confirmedUntil = until;
        why = "";
        break;
      }
    }
    if (why)
      reject(why.includes("recipient") ? "recipient" : why.includes("expired") ? "expired" : "subject", why);

    const authn = firstChild(assertion, NS.assertion, "AuthnStatement");
    if (!authn) reject("structure", "the assertion has no AuthnStatement");
    const sessionUntil = parseTime(authn.getAttribute("SessionNotOnOrAfter"), "SessionNotOnOrAfter");
    if (sessionUntil !== undefined && now - drift >= sessionUntil)
      reject("expired", "the IdP session has ended");

    const attributes = new Map<string, string[]>();
    for (const statement of childElements(assertion, NS.assertion, "AttributeStatement"))
      for (const attr of childElements(statement, NS.assertion, "Attribute")) {
        const values = childElements(attr, NS.assertion, "AttributeValue").map((v) =>
          (v.textContent ?? "").trim(),
        );
        for (const key of [attr.getAttribute("Name"), attr.getAttribute("FriendlyName")])
          if (key) attributes.set(key, [...(attributes.get(key) ?? []), ...values]);
      }

    const assertionId = assertion.getAttribute("ID");
    if (!assertionId) reject("structure", "the assertion has no ID");

    // One-time state, shared by every process: the request answered, then the assertion ID.
    let next: string;
    if (confirmedIrt !== undefined) {
      const pending = await spend(confirmedIrt, "login");
      if (!pending)
        reject(
          "in-response-to",
          "this answers a sign-in Herald did not start, or one that already finished or expired",
        );
      // Login CSRF: the answer must come back to the browser that asked (when Herald could mark it).
      if (pending.browserHash !== null && (!browserNonce || sha256(browserNonce) !== pending.browserHash))
        reject("browser", "this sign-in was started in another browser (or its cookie was blocked)");
      next = safeNext(pending.relayState);
    } else {
      if (!settings.idpInitiated)
        reject(
          "unsolicited",
          "sign-in started at the identity provider is turned off (HERALD_SAML_IDP_INITIATED)",
        );
      next = safeNext(relayState);
    }
    const expiresAt = new Date(Math.max(confirmedUntil, notOnOrAfter ?? 0) + drift);
    if (!(await firstUse(`${md.entityId}\u0000${assertionId}`, expiresAt)))
      reject("replay", "this assertion was already used to sign in");

    return {
      issuer: md.entityId,
      nameId,
      nameIdFormat: nameIdEl?.getAttribute("Format") || undefined,
      sessionIndex: authn.getAttribute("SessionIndex") || undefined,
      attributes,
      next,
      idpInitiated: confirmedIrt === undefined,
    };
  }

  /** A LogoutRequest or LogoutResponse: verified like a response, whichever binding carried it. */
  async function readLogoutMessage(
    param: "SAMLRequest" | "SAMLResponse",
    source: { query?: string; body?: URLSearchParams },
  ): Promise<{ root: Element; relayState: string | undefined }> {
    const md = metadata.current();
    const expected = param === "SAMLRequest" ? "LogoutRequest" : "LogoutResponse";
    let xml: string;
    let relayState: string | undefined;
    let signedByBinding = false;
    if (source.body?.has(param)) {
      xml = decodeMessage(source.body.get(param) ?? "", false);
      relayState = source.body.get("RelayState") ?? undefined;
    } else {
      const raw = rawQuery(source.query ?? "");
      const value = raw.get(param);
      if (!value) reject("structure", `no ${param}`);
      verifyRedirectSignature(raw, param, md.signingCerts);
      signedByBinding = true;
      xml = decodeMessage(decodeQueryValue(value), true);
      relayState = raw.has("RelayState") ? decodeQueryValue(raw.get("RelayState")!) : undefined;
    }
    const doc = parseStrict(xml);
    const root = doc.documentElement;
    if (root.namespaceURI !== NS.protocol || root.localName !== expected)
      reject("structure", `expected a ${expected}, got <${root.localName}>`);
    if (allElements(root).some((e) => e.namespaceURI === NS.assertion && /Assertion$/.test(e.localName)))
      reject("structure", `a ${expected} must not carry assertions`);
    const { signatures } = checkStructure(xml, doc, md.signingCerts, (el) => el === root);
    await schemaValid(xml);
    // GHSA-63ch-w8pw-4mf2: never act on an unsigned or wrongly signed logout message.
    const trusted = signatures[0]?.trusted ?? (signedByBinding ? root : undefined);
    if (!trusted) reject("unsigned", `the ${expected} is not signed`);
    if (trusted.getAttribute("Version") !== "2.0") reject("structure", "only SAML 2.0 is accepted");
    checkIssuer(trusted, md, true, expected);
    // SAML bindings §3.4.5.2 / §3.5.5.2: a signed message names its Destination; without it, a
    // logout request the IdP addressed to another service provider would work here too.
    const destination = trusted.getAttribute("Destination");
    if (!destination) reject("destination", `the ${expected} has no Destination`);
    if (destination !== sloUrl)
      reject("destination", `the ${expected} is addressed to ${destination}, not to ${sloUrl}`);
    // Fresh, and used once: a captured logout URL (browser history, logs) cannot be replayed.
    const issued = parseTime(trusted.getAttribute("IssueInstant"), "IssueInstant");
    if (issued === undefined) reject("structure", `the ${expected} has no IssueInstant`);
    const now = Date.now();
    if (issued > now + drift || issued < now - drift - LOGOUT_MAX_AGE_MS)
      reject(
        "expired",
        `the ${expected} was issued at ${new Date(issued).toISOString()}, too long ago or in the future`,
      );
    const id = trusted.getAttribute("ID") ?? "";
    if (
      !(await firstUse(
        `logout\u0000${md.entityId}\u0000${id}`,
        new Date(now + LOGOUT_MAX_AGE_MS + 2 * drift),
      ))
    )
      reject("replay", `this ${expected} was already processed`);
    return { root: trusted, relayState };
  }

  function sloEndpoint(md: IdpMetadata) {
    return md.singleLogout.find((e) => e.binding === BINDING.redirect);
  }

  return {
    entityId,
    acsUrl,
    sloUrl,

    /** SP metadata for the IdP administrator (signing and encryption certificate, ACS, SLO). */
    metadataXml(): string {
      const md = source?.current();
      return (md ? entities(md).sp : spOnly).getMetadata();
    },

    /** The IdP's metadata, or undefined when none is configured. */
    idp(): IdpMetadata | undefined {
      return source?.current();
    },

    /** SP-initiated sign-in: where to send the browser (an AuthnRequest over HTTP-Redirect). */
    async startLogin(next: string, browserNonce?: string, relayState?: string): Promise<string> {
      const md = metadata.current();
      const { sp, idp } = entities(md);
      // The RelayState (a test sign-in's, /admin/connect) only routes the answer; what it returns
      // to is the `next` remembered here, server-side.
      const { id, context } = sp.createLoginRequest(
        idp,
        "redirect",
        relayState ? { relayState } : undefined,
      ) as {
        id: string;
        context: string;
      };
      await remember(id, "login", safeNext(next), browserNonce);
      return context;
    },

    acceptResponse,

    /** SP-initiated logout: the IdP URL to send the browser to, if the IdP takes logout requests. */
    async startLogout(nameId: string, sessionIndex: string | undefined): Promise<string | undefined> {
      const md = metadata.current();
      if (!sloEndpoint(md)) return undefined;
      const { sp, idp } = entities(md);
      const relay = randomBytes(12).toString("base64url");
      const { id, context } = sp.createLogoutRequest(
        idp,
        "redirect",
        { logoutNameID: nameId, sessionIndex },
        { relayState: relay },
      ) as { id: string; context: string };
      await remember(id, "logout", "/");
      return context;
    },

    /**
     * `/saml/slo`: a LogoutRequest from the IdP (end the person's sessions, answer with a
     * LogoutResponse) or the LogoutResponse that finishes a logout Herald started.
     */
    async handleSlo(
      source: { query?: string; body?: URLSearchParams },
      endSessions: (nameId: string, sessionIndexes: string[]) => Promise<number>,
    ): Promise<SloOutcome> {
      const md = metadata.current();
      const has = (p: string) => Boolean(source.body?.has(p)) || rawQuery(source.query ?? "").has(p);
      if (has("SAMLRequest")) {
        const { root, relayState } = await readLogoutMessage("SAMLRequest", source);
        const until = parseTime(root.getAttribute("NotOnOrAfter"), "NotOnOrAfter");
        if (until !== undefined && Date.now() - drift >= until)
          reject("expired", "the logout request has expired");
        const nameId = textOf(firstChild(root, NS.assertion, "NameID"));
        if (!nameId) reject("subject", "the logout request names nobody");
        const indexes = childElements(root, NS.protocol, "SessionIndex").map((s) => textOf(s) ?? "");
        const ended = await endSessions(nameId, indexes);
        const endpoint = sloEndpoint(md);
        if (!endpoint)
          reject("structure", "the IdP metadata has no HTTP-Redirect SingleLogoutService to answer");
        const { sp, idp } = entities(md);
        const requestId = root.getAttribute("ID") ?? "";
        const { context } = sp.createLogoutResponse(
          idp,
          { extract: { request: { id: requestId } } } as unknown as Parameters<
            typeof sp.createLogoutResponse
          >[1],
          "redirect",
          relayState !== undefined ? { relayState } : {},
        ) as { context: string };
        return { kind: "request", redirect: context, sessionsEnded: ended };
      }
      if (has("SAMLResponse")) {
        const { root } = await readLogoutMessage("SAMLResponse", source);
        const irt = root.getAttribute("InResponseTo");
        const pending = irt ? await spend(irt, "logout") : undefined;
        if (!pending)
          reject("in-response-to", "this answers a logout Herald did not start, or one already finished");
        const code = firstChild(firstChild(root, NS.protocol, "Status") ?? root, NS.protocol, "StatusCode");
        return {
          kind: "response",
          success: code?.getAttribute("Value") === SUCCESS,
          next: safeNext(pending.relayState),
        };
      }
      return reject("structure", "expected SAMLRequest or SAMLResponse");
    },
  };
}

export type ServiceProvider = ReturnType<typeof createServiceProvider>;
