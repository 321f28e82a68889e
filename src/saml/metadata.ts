/**
 * The identity provider's metadata: read from a file or fetched from a URL, parsed strictly, and
 * refreshed on a timer (a failed refresh keeps the last good copy and says so in the log). Every
 * signing certificate it lists is accepted at once, so an IdP can roll its key over.
 */
import { readFile } from "node:fs/promises";
import { X509Certificate } from "node:crypto";
import { childElements, firstChild, parseStrict, SamlRejection } from "./xml.ts";

const MD = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS = "http://www.w3.org/2000/09/xmldsig#";
export const BINDING = {
  redirect: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
  post: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
} as const;

export interface IdpEndpoint {
  readonly binding: string;
  readonly location: string;
  readonly responseLocation?: string;
}

export interface IdpMetadata {
  readonly entityId: string;
  /** PEM certificates the IdP signs with (several during a rollover). */
  readonly signingCerts: readonly string[];
  readonly wantAuthnRequestsSigned: boolean;
  readonly singleSignOn: readonly IdpEndpoint[];
  readonly singleLogout: readonly IdpEndpoint[];
  /** The EntityDescriptor alone, as samlify wants it. */
  readonly xml: string;
}

export class MetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MetadataError";
  }
}

function toPem(base64: string): string {
  const body = base64.replace(/\s+/g, "");
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join("\n")}\n-----END CERTIFICATE-----\n`;
}

/** Parses IdP metadata (an EntityDescriptor, or an EntitiesDescriptor holding one IdP). */
export function parseIdpMetadata(xml: string): IdpMetadata {
  let doc: Document;
  try {
    doc = parseStrict(xml);
  } catch (e) {
    throw new MetadataError(
      `the IdP metadata is not usable XML: ${e instanceof SamlRejection ? e.message : e}`,
    );
  }
  const root = doc.documentElement;
  const candidates =
    root.namespaceURI === MD && root.localName === "EntitiesDescriptor"
      ? childElements(root, MD, "EntityDescriptor")
      : [root];
  const entity = candidates.find(
    (e) =>
      e.namespaceURI === MD && e.localName === "EntityDescriptor" && firstChild(e, MD, "IDPSSODescriptor"),
  );
  if (!entity) throw new MetadataError("the metadata has no EntityDescriptor with an IDPSSODescriptor");
  const entityId = entity.getAttribute("entityID");
  if (!entityId) throw new MetadataError("the IdP's EntityDescriptor has no entityID");
  const idp = firstChild(entity, MD, "IDPSSODescriptor")!;
  const signingCerts: string[] = [];
  for (const kd of childElements(idp, MD, "KeyDescriptor")) {
    const use = kd.getAttribute("use");
    if (use && use !== "signing") continue;
    for (const keyInfo of childElements(kd, DS, "KeyInfo"))
      for (const data of childElements(keyInfo, DS, "X509Data"))
        for (const c of childElements(data, DS, "X509Certificate")) {
          const pem = toPem(c.textContent ?? "");
          try {
            new X509Certificate(pem);
          } catch {
            throw new MetadataError(
              "a signing certificate in the IdP metadata is not a valid X.509 certificate",
            );
          }
          if (!signingCerts.includes(pem)) signingCerts.push(pem);
        }
  }
  if (signingCerts.length === 0) throw new MetadataError("the IdP metadata lists no signing certificate");
  const endpoints = (name: string): IdpEndpoint[] =>
    childElements(idp, MD, name)
      .map((e) => ({
        binding: e.getAttribute("Binding") ?? "",
        location: e.getAttribute("Location") ?? "",
        responseLocation: e.getAttribute("ResponseLocation") || undefined,
      }))
      .filter((e) => e.location !== "");
  const singleSignOn = endpoints("SingleSignOnService");
  if (!singleSignOn.some((e) => e.binding === BINDING.redirect))
    throw new MetadataError("the IdP metadata has no SingleSignOnService with the HTTP-Redirect binding");
  return {
    entityId,
    signingCerts,
    wantAuthnRequestsSigned: idp.getAttribute("WantAuthnRequestsSigned") === "true",
    singleSignOn,
    singleLogout: endpoints("SingleLogoutService"),
    xml: entity.toString(),
  };
}

export interface MetadataSource {
  /**
   * The current metadata (the last good copy after a failed refresh); undefined while no IdP is
   * connected (the database-held connection of /admin/connect, before anyone set one).
   */
  current(): IdpMetadata | undefined;
  /** Loads it again now. */
  refresh(): Promise<void>;
  stop(): void;
}

/** Metadata read from a file or URL: always there once loaded. */
export interface LoadedMetadata extends MetadataSource {
  current(): IdpMetadata;
}

const MAX_METADATA_BYTES = 2_000_000;

/**
 * The metadata decides which certificates Herald trusts: in production only over https, never
 * following a redirect (a redirect could downgrade or move it), and never more than 2 MB.
 */
export async function fetchText(source: string, timeoutMs: number, httpsOnly: boolean): Promise<string> {
  if (!/^https?:\/\//i.test(source)) return readFile(source, "utf8");
  if (httpsOnly && !/^https:\/\//i.test(source))
    throw new MetadataError("the IdP metadata URL must use https in production (or use a file)");
  const res = await fetch(source, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  if (res.status >= 300 && res.status < 400)
    throw new MetadataError(
      `GET ${source} redirects to ${res.headers.get("location")}: configure that URL instead`,
    );
  if (!res.ok) throw new MetadataError(`GET ${source} answered ${res.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_METADATA_BYTES) throw new MetadataError(`${source} is larger than 2 MB`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Loads metadata from a file path or URL, then refreshes it every `refreshMs`. The first load
 * must succeed (startup fails with a clear message otherwise).
 */
export async function loadMetadata(
  source: string,
  options: {
    refreshMs: number;
    onError: (error: unknown) => void;
    onChange?: (m: IdpMetadata) => void;
    httpsOnly?: boolean;
  },
): Promise<LoadedMetadata> {
  const load = async () => parseIdpMetadata(await fetchText(source, 10_000, options.httpsOnly ?? false));
  let metadata: IdpMetadata;
  try {
    metadata = await load();
  } catch (e) {
    throw new MetadataError(
      `HERALD_SAML_IDP_METADATA (${source}): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const refresh = async () => {
    try {
      const next = await load();
      if (next.xml !== metadata.xml) {
        metadata = next;
        options.onChange?.(next);
      }
    } catch (e) {
      options.onError(e);
    }
  };
  const timer = setInterval(() => void refresh(), options.refreshMs);
  timer.unref();
  return { current: () => metadata, refresh, stop: () => clearInterval(timer) };
}

/** Metadata that never changes (the development IdP, tests). */
export function fixedMetadata(metadata: IdpMetadata): LoadedMetadata {
  return { current: () => metadata, refresh: async () => undefined, stop: () => undefined };
}
