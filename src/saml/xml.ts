/**
 * Herald's own checks on SAML XML, done before anything in a message is trusted (RUNTIME.md:
 * samlify 2.13 passes a message when any one of its signatures verifies and hands back no
 * verified node). A message is trusted only if:
 * - it has no DOCTYPE (XXE, billion laughs), no comments or processing instructions inside the
 *   root (comment injection: `admin@corp<!---->.evil`), and parses without a single error;
 * - every ID in it is unique, and every signature is a direct child of the element it signs, with
 *   exactly one Reference to that element's ID and only the enveloped + exclusive-c14n transforms;
 * - every signature present verifies against one of the IdP's certificates (never a certificate
 *   carried in the message);
 * and what Herald reads afterwards comes from the signed bytes that xml-crypto returns
 * (`getSignedReferences`), never from the surrounding document (signature wrapping, XSW1–8).
 */
import { DOMParser } from "@xmldom/xmldom";
import { SignedXml } from "xml-crypto";

export const NS = {
  protocol: "urn:oasis:names:tc:SAML:2.0:protocol",
  assertion: "urn:oasis:names:tc:SAML:2.0:assertion",
  dsig: "http://www.w3.org/2000/09/xmldsig#",
} as const;

/** Why a message was refused: `code` for logs and tests, `message` for the log line. */
export class SamlRejection extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "SamlRejection";
    this.code = code;
  }
}

export function reject(code: string, message: string): never {
  throw new SamlRejection(code, message);
}

const ALLOWED_TRANSFORMS = new Set([
  "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
  "http://www.w3.org/2001/10/xml-exc-c14n#",
]);

const ALLOWED_SIGNATURE_ALGORITHMS = new Set([
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
  // SHA-1 is still what some ADFS and older Shibboleth installations sign with.
  "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
]);

/** Parses untrusted XML strictly: no DTD, no parse error of any kind. */
export function parseStrict(xml: string): Document {
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml))
    reject(
      "doctype",
      "the message contains a DOCTYPE or ENTITY declaration (refused: XXE, entity expansion)",
    );
  const problems: string[] = [];
  const parser = new DOMParser({
    locator: {},
    errorHandler: {
      warning: () => undefined,
      error: (m: string) => problems.push(m),
      fatalError: (m: string) => problems.push(m),
    },
  });
  let doc: Document | undefined;
  try {
    doc = parser.parseFromString(xml, "text/xml") as unknown as Document;
  } catch (e) {
    problems.push(e instanceof Error ? e.message : String(e));
  }
  if (problems.length > 0 || !doc?.documentElement)
    reject("malformed", `the message is not well-formed XML (${problems[0] ?? "no root element"})`);
  return doc;
}

export function childElements(parent: Node, ns?: string, localName?: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== 1) continue;
    const el = n as Element;
    if (ns !== undefined && el.namespaceURI !== ns) continue;
    if (localName !== undefined && el.localName !== localName) continue;
    out.push(el);
  }
  return out;
}

export function firstChild(parent: Node, ns: string, localName: string): Element | undefined {
  return childElements(parent, ns, localName)[0];
}

/** Every element under `root`, itself included, in document order. */
export function allElements(root: Element): Element[] {
  const out: Element[] = [];
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (n.nodeType !== 1) continue;
    out.push(n as Element);
    const kids: Node[] = [];
    for (let c = n.firstChild; c; c = c.nextSibling) kids.push(c);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
  }
  return out;
}

/** Text content of an element that must hold text only. */
export function textOf(el: Element | undefined): string | undefined {
  if (!el) return undefined;
  let text = "";
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 3 || n.nodeType === 4) text += n.nodeValue ?? "";
    else reject("structure", `<${el.localName}> must contain text only`);
  }
  return text.trim();
}

export interface VerifiedSignature {
  /** The element the signature is a child of (and signs). */
  readonly signed: Element;
  /** The exact bytes the signature covers, re-parsed: the only copy to read from. */
  readonly trusted: Element;
}

export interface StructureResult {
  readonly root: Element;
  readonly signatures: VerifiedSignature[];
}

/**
 * Structure and signatures of a parsed message. `signable(el)` says which elements may carry a
 * signature (the root, and for a Response its one assertion). Every signature must verify.
 */
export function checkStructure(
  xml: string,
  doc: Document,
  certs: readonly string[],
  signable: (el: Element) => boolean,
): StructureResult {
  const root = doc.documentElement;
  // Comments and processing instructions have no business inside a SAML message; a comment in a
  // NameID splits its text while the signature (c14n without comments) still verifies.
  const walk: Node[] = [root];
  while (walk.length > 0) {
    const n = walk.pop()!;
    if (n.nodeType === 8) reject("comment", "the message contains an XML comment");
    if (n.nodeType === 7) reject("comment", "the message contains a processing instruction");
    for (let c = n.firstChild; c; c = c.nextSibling) walk.push(c);
  }
  const elements = allElements(root);
  const ids = new Set<string>();
  for (const el of elements) {
    for (const name of ["ID", "Id", "id"]) {
      const v = el.getAttribute(name);
      if (!v) continue;
      if (ids.has(v)) reject("duplicate-id", `the ID "${v.slice(0, 80)}" appears more than once`);
      ids.add(v);
    }
  }
  const signatures: VerifiedSignature[] = [];
  for (const sig of elements.filter((e) => e.namespaceURI === NS.dsig && e.localName === "Signature")) {
    const parent = sig.parentNode as Element | null;
    if (!parent || parent.nodeType !== 1 || !signable(parent))
      reject(
        "signature-placement",
        `a signature sits inside <${parent?.localName ?? "?"}>, which may not be signed`,
      );
    const parentId = parent.getAttribute("ID");
    if (!parentId) reject("signature-placement", `the signed <${parent.localName}> has no ID`);
    const signedInfo = childElements(sig, NS.dsig, "SignedInfo");
    if (signedInfo.length !== 1)
      reject("signature-structure", "a signature must have exactly one SignedInfo");
    const method = firstChild(signedInfo[0], NS.dsig, "SignatureMethod")?.getAttribute("Algorithm") ?? "";
    if (!ALLOWED_SIGNATURE_ALGORITHMS.has(method))
      reject("signature-algorithm", `signature algorithm ${method || "(none)"} is not accepted`);
    const refs = childElements(signedInfo[0], NS.dsig, "Reference");
    if (refs.length !== 1)
      reject("signature-structure", `a signature must have one Reference, it has ${refs.length}`);
    if (refs[0].getAttribute("URI") !== `#${parentId}`)
      reject("signature-reference", `a signature on <${parent.localName}> references another element`);
    const transforms = firstChild(refs[0], NS.dsig, "Transforms");
    for (const t of transforms ? childElements(transforms, NS.dsig, "Transform") : []) {
      const alg = t.getAttribute("Algorithm") ?? "";
      if (!ALLOWED_TRANSFORMS.has(alg))
        reject("signature-transform", `transform ${alg || "(none)"} is not accepted`);
    }
    let trustedXml: string | undefined;
    for (const cert of certs) {
      try {
        // getCertFromKeyInfo stays the default no-op: a certificate in the message proves nothing.
        const verifier = new SignedXml({ publicCert: cert });
        verifier.loadSignature(sig);
        if (verifier.checkSignature(xml)) {
          const refsXml = verifier.getSignedReferences();
          if (refsXml.length === 1) trustedXml = refsXml[0];
          break;
        }
      } catch {
        // A certificate that does not verify this signature: try the next one.
      }
    }
    if (trustedXml === undefined)
      reject(
        "bad-signature",
        `the signature on <${parent.localName}> does not verify against the identity provider's certificates`,
      );
    const trusted = parseStrict(trustedXml).documentElement;
    if (
      trusted.localName !== parent.localName ||
      trusted.namespaceURI !== parent.namespaceURI ||
      trusted.getAttribute("ID") !== parentId
    )
      reject("signature-reference", "the signed content is not the element that carries the signature");
    signatures.push({ signed: parent, trusted });
  }
  return { root, signatures };
}
