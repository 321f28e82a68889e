/**
 * Inbound deliveries are authenticated before anything reads them as JSON-LD.
 *
 * Fedify 2.3's inbox handler tries Linked Data Signatures, then Object Integrity Proofs, and only
 * then the HTTP signature: for an unsigned request it has already expanded the body's JSON-LD,
 * fetching whatever `@context` the sender named (a `file:` URL answered 500; a URL of the
 * sender's choosing was fetched). Herald's Koa adapter therefore asks this gate first: a POST to
 * an inbox must carry an HTTP signature (draft-cavage-http-signatures-12 or RFC 9421) that
 * verifies, over a body whose digest it covers, dated within the window, before Fedify sees it.
 * Fedify then verifies again (and checks that the signer owns the activity's actor, or accepts a
 * forwarded activity by its own Linked Data Signature): the key is in the caches by then.
 *
 * Before a signature verifies, the only thing fetched is the signer's key document (the `keyId`,
 * and a JSON-LD context that document names, if not a well-known one), through the federation's
 * own loaders (src/federation/loader.ts): http(s) only, the SSRF guard as configured, by default
 * at most 1 MiB and 10 s per document, so a key id naming a huge or dripping document costs a refusal,
 * not the process's memory or a held request. Nothing the body names is fetched. After it
 * verifies, the body's contexts are loaded here too, so one that cannot be loaded is a 400 with
 * its URL rather than an exception inside Fedify.
 *
 * Keys are kept in a bounded in-memory cache: this check costs a key lookup in memory and one RSA
 * verification (Fedify's own check afterwards reads its key cache in the KV store).
 */
import { type Context, type FetchKeyErrorResult, type KeyCache, verifyRequestDetailed } from "@fedify/fedify";
import type { CryptographicKey, Multikey } from "@fedify/vocab";
import { logger } from "../logging.ts";

const log = logger("federation", "signatures");

/**
 * How far a signature's date may be from this server's clock, either way: Fedify's default
 * `signatureTimeWindow` (one hour), which it applies again after this gate.
 */
export const SIGNATURE_WINDOW_MS = 60 * 60 * 1000;

export type InboundAuth =
  { readonly ok: true; readonly keyId: URL } | { readonly ok: false; readonly reason: string };

export interface InboundGate {
  /** Checks `request` (its body already buffered) before Fedify may read it. */
  verify(request: Request): Promise<InboundAuth>;
  /**
   * For an authenticated delivery: why the JSON-LD contexts `activity` names cannot be used, or
   * undefined when they all load (they are then in the loader's cache for Fedify).
   */
  contextsProblem(activity: unknown): Promise<string | undefined>;
}

/** More distinct remote contexts than any real peer names in one activity (Mastodon: 2). */
const MAX_CONTEXT_URLS = 16;

/**
 * The context documents `json` names (every `@context` and `@import` string, at any depth), or
 * a reason to refuse it: JSON-LD contexts are loaded over http(s) only — never `file:`, `data:`
 * or `javascript:` (JSON-LD 1.1 §3.1 lets a context be any IRI; a server must not follow all).
 */
export function contextUrls(json: unknown): { urls: string[] } | { problem: string } {
  const urls = new Set<string>();
  const pending: unknown[] = [json];
  while (pending.length > 0) {
    const node = pending.pop();
    if (Array.isArray(node)) {
      pending.push(...node);
      continue;
    }
    if (typeof node !== "object" || node === null) continue;
    for (const [key, value] of Object.entries(node)) {
      if (key === "@context" || key === "@import") {
        for (const ref of [value].flat()) {
          if (typeof ref !== "string") continue;
          let url: URL;
          try {
            url = new URL(ref);
          } catch {
            continue; // a relative reference: JSON-LD resolves it against the document's own URL
          }
          if (url.protocol !== "https:" && url.protocol !== "http:")
            return { problem: `A JSON-LD context must be an http(s) URL, not ${url.protocol}` };
          urls.add(url.href);
        }
      }
      if (typeof value === "object" && value !== null) pending.push(value);
    }
  }
  if (urls.size > MAX_CONTEXT_URLS)
    return { problem: `An activity may name at most ${MAX_CONTEXT_URLS} JSON-LD context documents.` };
  return { urls: [...urls] };
}

interface CachedKey {
  key: CryptographicKey | Multikey | null;
  until: number;
  /** Why an unavailable key could not be fetched (Fedify asks, to report it again). */
  fetchError?: FetchKeyErrorResult;
}

/**
 * An in-memory, bounded, least-recently-used cache of remote public keys. A key that fails to
 * verify a signature is fetched again by Fedify (a rotated key heals itself); an unavailable one
 * is remembered for a shorter while, as Fedify's own cache does.
 */
export function memoryKeyCache(
  maxEntries = 1000,
  ttlMs = 60 * 60 * 1000,
  unavailableTtlMs = 10 * 60 * 1000,
): KeyCache & {
  readonly size: number;
  getFetchError(keyId: URL): Promise<FetchKeyErrorResult | undefined>;
  setFetchError(keyId: URL, error: FetchKeyErrorResult | null): Promise<void>;
} {
  const entries = new Map<string, CachedKey>();
  const live = (keyId: URL): CachedKey | undefined => {
    const entry = entries.get(keyId.href);
    if (!entry) return undefined;
    entries.delete(keyId.href);
    if (entry.until < Date.now()) return undefined;
    entries.set(keyId.href, entry);
    return entry;
  };
  return {
    get size() {
      return entries.size;
    },
    async get(keyId) {
      return live(keyId)?.key;
    },
    async set(keyId, key) {
      entries.delete(keyId.href);
      entries.set(keyId.href, { key, until: Date.now() + (key === null ? unavailableTtlMs : ttlMs) });
      for (const oldest of entries.keys()) {
        if (entries.size <= maxEntries) break;
        entries.delete(oldest);
      }
    },
    async getFetchError(keyId) {
      return live(keyId)?.fetchError;
    },
    async setFetchError(keyId, error) {
      const entry = entries.get(keyId.href);
      if (entry) entry.fetchError = error ?? undefined;
    },
  };
}

/**
 * What is wrong with the signature's headers and dates, judged without any key or body: a
 * request without a signature, or dated outside the window, costs no fetch and no parsing.
 */
export function signatureHeadersProblem(headers: Headers, now = Date.now()): string | undefined {
  const rfc9421 = headers.has("signature-input");
  if (!headers.has("signature"))
    return "Deliveries to this inbox must be signed with an HTTP signature (draft-cavage-http-signatures-12 or RFC 9421).";
  const date = headers.get("date");
  // draft-cavage-http-signatures-12 signs the Date header (Fedify requires it); RFC 9421
  // dates the signature by its `created` parameter (§2.3), and a Date, if sent, must be sane too.
  if (date === null) {
    return rfc9421 ? undefined : "A draft-cavage HTTP signature needs a Date header.";
  }
  const at = Date.parse(date);
  if (!Number.isFinite(at)) return "The Date header is not an HTTP date (RFC 9110 §5.6.7).";
  if (Math.abs(at - now) > SIGNATURE_WINDOW_MS)
    return `The Date header is more than ${SIGNATURE_WINDOW_MS / 60_000} minutes away from this server's clock.`;
  return undefined;
}

/**
 * The components an RFC 9421 signature labelled `label` covers, from Signature-Input (§4.1), or
 * none unless the label is there exactly once. Signature-Input is a structured-field dictionary
 * (RFC 8941 §3.2): of a repeated label the last member wins, and that is the one Fedify verifies;
 * reading the first let a decoy member claim "content-digest" for a signature that left the body
 * out. Names compare as Fedify compares them (it checks the body's digest for "content-digest"
 * only, not for another spelling).
 */
function rfc9421Components(signatureInput: string, label: string): string[] {
  const members = signatureInput
    .split(/,(?=\s*[a-z*][a-z0-9_.*-]*=\()/i)
    .map((member) => /^\s*([a-z*][a-z0-9_.*-]*)=\(([^)]*)\)/i.exec(member))
    .filter((m) => m !== null && m[1] === label);
  if (members.length !== 1) return [];
  return [...members[0]![2].matchAll(/"([^"]*)"/g)].map((c) => c[1]);
}

/**
 * `loaders` are the federation's (a context's `documentLoader` and `contextLoader`): the bounded,
 * http(s)-only loaders of src/federation/loader.ts, so the gate fetches as Fedify does after it.
 */
export function createInboundGate(
  loaders: Pick<Context<unknown>, "documentLoader" | "contextLoader">,
  keyCache: KeyCache = memoryKeyCache(),
): InboundGate {
  return {
    async verify(request) {
      const problem = signatureHeadersProblem(request.headers);
      if (problem) return { ok: false, reason: problem };
      let result;
      try {
        result = await verifyRequestDetailed(request, {
          documentLoader: loaders.documentLoader,
          contextLoader: loaders.contextLoader,
          timeWindow: { milliseconds: SIGNATURE_WINDOW_MS },
          keyCache,
        });
      } catch (error) {
        // A key document that is not JSON-LD Fedify can read (or names a context it cannot
        // load): the sender's problem, not a server error.
        log.info("A delivery's signing key could not be read: {error}", { error: String(error) });
        return { ok: false, reason: "The signing key could not be read." };
      }
      if (!result.verified) {
        const r = result.reason;
        switch (r.type) {
          case "noSignature":
            return {
              ok: false,
              reason:
                "Deliveries to this inbox must be signed with an HTTP signature (draft-cavage-http-signatures-12 or RFC 9421).",
            };
          case "keyFetchError": {
            const why = "status" in r.result ? `HTTP ${r.result.status}` : r.result.error.message;
            return { ok: false, reason: `The signing key ${r.keyId.href} could not be fetched (${why}).` };
          }
          case "invalidSignature":
            return {
              ok: false,
              reason: r.keyId
                ? `The signature does not verify with the key ${r.keyId.href} (its digest, signed headers and date are checked).`
                : "The signature names no usable key.",
            };
        }
      }
      // RFC 9421 lets a signature leave the body out; a delivery's signature must cover it
      // (draft-cavage's does: Fedify requires the Digest header to be signed on a POST).
      if (result.signatureLabel !== undefined) {
        const covered = rfc9421Components(
          request.headers.get("signature-input") ?? "",
          result.signatureLabel,
        );
        if (!covered.includes("content-digest"))
          return { ok: false, reason: "The RFC 9421 signature must cover the content-digest of the body." };
      }
      return { ok: true, keyId: result.key.id ?? new URL("urn:unknown") };
    },
    async contextsProblem(activity) {
      const found = contextUrls(activity);
      if ("problem" in found) return found.problem;
      for (const url of found.urls) {
        try {
          // Through the federation's context loader: well-known contexts are preloaded, others
          // cached, so Fedify's own expansion finds them there.
          await loaders.contextLoader(url);
        } catch (error) {
          log.info("A delivery's JSON-LD context {url} could not be loaded: {error}", {
            url,
            error: String(error),
          });
          return `The JSON-LD context ${url} could not be loaded.`;
        }
      }
      return undefined;
    },
  };
}
