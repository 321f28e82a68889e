/**
 * The one way Herald and Fedify fetch remote JSON-LD documents (actors, keys, objects, contexts):
 * bounded in size and time, whoever names the URL.
 *
 * Fedify's built-in loader reads a whole body, however large, and has no overall deadline (Node's
 * fetch only times out between chunks): one unsigned POST whose `keyId` named a 3 GB document
 * took the process from 230 MB to 8.3 GB, and a document dripped a byte every few seconds held
 * the request as long as the sender liked. Here every fetch has
 *
 * - a byte cap (1 MiB): a larger Content-Length is refused before the body is read, and the body
 *   is counted as it streams in; past the cap the connection is dropped;
 * - one deadline (10 s) for the whole load — DNS check, every redirect hop, alternate link, body —
 *   combined with the caller's own signal;
 * - manual redirects (at most 5), each hop checked again by Fedify's `validatePublicUrl` unless
 *   private addresses are allowed (outside production only), with loop detection;
 * - http(s) only, and Fedify's preloaded contexts answered locally.
 *
 * Failures are Fedify's own error kinds (`UrlError` for an address refused, `FetchError` for the
 * rest), so Fedify reports them as it did (a key fetch error, an object that is not there).
 * They are the remote party's doing and logged at info, never at error with a stack.
 *
 * The authenticated loader (signed GETs for servers that require authorized fetch) is the same
 * loader with each hop signed by Fedify's `signRequest`, double-knocking as Fedify does: the
 * first spec is the one remembered for that origin (else `firstKnock`), and a 4xx/5xx is retried
 * once with the other spec. Fedify's RFC 9421 `Accept-Signature` challenge answer is not
 * repeated here: a server that insists on it gets the plain double knock.
 */
import { kvCache, type KvKey, type KvStore, signRequest } from "@fedify/fedify";
import {
  type AuthenticatedDocumentLoaderFactory,
  createActivityPubRequest,
  type DocumentLoader,
  type DocumentLoaderFactory,
  type DocumentLoaderFactoryOptions,
  FetchError,
  getRemoteDocument,
  type GetUserAgentOptions,
  preloadedContexts,
  type RemoteDocument,
  UrlError,
  validatePublicUrl,
} from "@fedify/vocab-runtime";
import { logger } from "../logging.ts";

const log = logger("federation", "loader");

export interface FetchLimits {
  /** The most bytes of one document (after content decoding). */
  readonly maxBytes: number;
  /** The most time one load may take, redirects and body included. */
  readonly timeoutMs: number;
  /** The most redirects (and alternate links) one load follows. */
  readonly maxRedirects: number;
}

export const DEFAULT_FETCH_LIMITS: FetchLimits = {
  maxBytes: 1024 * 1024,
  timeoutMs: 10_000,
  maxRedirects: 5,
};

export interface BoundedLoaderOptions {
  /** Loopback and other private addresses may be fetched (never in production). */
  readonly allowPrivateAddress: boolean;
  readonly limits?: Partial<FetchLimits>;
  readonly userAgent?: GetUserAgentOptions | string;
}

/** Sends one hop's request; the authenticated loader signs it first. */
type Send = (request: Request, signal: AbortSignal) => Promise<Response>;

const plainSend: Send = (request, signal) => fetch(request, { redirect: "manual", signal });

/** Fedify's KV keys, so documents cached before this loader existed are still found. */
const REMOTE_DOCUMENT_PREFIX: KvKey = ["_fedify", "remoteDocument"];
const SPEC_PREFIX: KvKey = ["_fedify", "httpMessageSignaturesSpec"];

type Spec = "draft-cavage-http-signatures-12" | "rfc9421";

/** `promise`, or the signal's reason as soon as it aborts (a DNS lookup takes no signal). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function refuse(url: string, why: string, response?: Response): FetchError {
  log.info("Refused the remote document {url}: {why}", { url, why });
  return new FetchError(url, why, response);
}

function createLoader(options: BoundedLoaderOptions, send: Send): DocumentLoader {
  const limits = { ...DEFAULT_FETCH_LIMITS, ...options.limits };

  async function check(url: string, signal: AbortSignal): Promise<string> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UrlError(`Not a URL: ${url}`);
    }
    // JSON-LD lets a context or key id be any IRI (JSON-LD 1.1 §3.1); a server fetches only the web.
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      log.info("Refused to fetch {url}: not an http(s) URL", { url });
      throw new UrlError(`Not an http(s) URL: ${url}`);
    }
    if (!options.allowPrivateAddress) {
      try {
        await untilAborted(validatePublicUrl(parsed.href), signal);
      } catch (error) {
        if (error instanceof UrlError) log.info("Refused to fetch {url}: {why}", { url, why: error.message });
        throw error;
      }
    }
    return parsed.href;
  }

  /** The body, at most `limits.maxBytes` of it; past that the connection is dropped. */
  async function readBounded(
    url: string,
    response: Response,
    drop: () => void,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const tooLarge = () => {
      drop();
      return refuse(url, `The document is larger than ${limits.maxBytes} bytes.`);
    };
    const declared = Number(response.headers.get("content-length") ?? "");
    if (Number.isFinite(declared) && declared > limits.maxBytes) throw tooLarge();
    if (response.body === null) return new Uint8Array();
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limits.maxBytes) {
        reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks, total);
  }

  async function fetchDocument(
    start: string,
    signal: AbortSignal,
    drop: () => void,
    state: { hops: number; visited: Set<string> },
  ): Promise<RemoteDocument> {
    let url = await check(start, signal);
    for (;;) {
      state.visited.add(url);
      let response: Response;
      try {
        response = await send(createActivityPubRequest(url, { userAgent: options.userAgent }), signal);
      } catch (error) {
        if (signal.aborted) throw error;
        throw refuse(url, error instanceof Error ? error.message : String(error));
      }
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel();
        if (state.hops >= limits.maxRedirects)
          throw refuse(url, `More than ${limits.maxRedirects} redirects.`);
        state.hops++;
        let next: string;
        try {
          next = new URL(location, url).href;
        } catch {
          throw refuse(url, `The redirect's Location is not a URL: ${location}`);
        }
        if (state.visited.has(next)) throw refuse(url, `A redirect loop: ${next}`);
        url = await check(next, signal);
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        // A bodiless copy: Fedify reads the status (404 and 410 mean gone) and nothing else.
        // (A status past 599 cannot be copied into a Response; then there is no copy.)
        const copy =
          response.status <= 599
            ? new Response(null, { status: response.status, headers: response.headers })
            : undefined;
        throw refuse(url, `HTTP ${response.status}: ${url}`, copy);
      }
      const body = await readBounded(url, response, drop);
      const buffered = new Response(body, { status: response.status, headers: response.headers });
      // Fedify's own reading of the answer (JSON-LD or an alternate link in HTML or a Link
      // header); an alternate is one more hop of this same load.
      return await getRemoteDocument(url, buffered, async (alternate) => {
        if (state.hops >= limits.maxRedirects)
          throw refuse(url, `More than ${limits.maxRedirects} redirects.`);
        state.hops++;
        if (state.visited.has(alternate)) throw refuse(url, `A redirect loop: ${alternate}`);
        return fetchDocument(alternate, signal, drop, state);
      });
    }
  }

  return async (url, loadOptions) => {
    loadOptions?.signal?.throwIfAborted();
    if (Object.hasOwn(preloadedContexts, url))
      return { contextUrl: null, document: preloadedContexts[url], documentUrl: url };
    const deadline = AbortSignal.timeout(limits.timeoutMs);
    // Aborted to drop a connection whose body is no longer wanted (past the byte cap).
    const dropped = new AbortController();
    const signal = AbortSignal.any(
      [deadline, dropped.signal, loadOptions?.signal].filter((s): s is AbortSignal => s !== undefined),
    );
    try {
      return await fetchDocument(url, signal, () => dropped.abort(), { hops: 0, visited: new Set() });
    } catch (error) {
      if (loadOptions?.signal?.aborted) throw error;
      if (deadline.aborted && !(error instanceof FetchError))
        throw refuse(url, `No complete answer within ${limits.timeoutMs} ms.`);
      throw error;
    }
  };
}

/** A document loader with the bounds above (not cached: see `boundedLoaderFactories`). */
export function boundedDocumentLoader(options: BoundedLoaderOptions): DocumentLoader {
  return createLoader(options, plainSend);
}

export interface AuthenticatedLoaderOptions extends BoundedLoaderOptions {
  /** Where the spec each origin accepted is remembered (Fedify's own keys). */
  readonly kv: KvStore;
  /** The spec tried first at an origin not seen before. */
  readonly firstKnock: Spec;
}

/**
 * A bounded loader whose every request is signed as `identity` (draft-cavage-http-signatures-12 or
 * RFC 9421, double-knocking as Fedify's `getAuthenticatedDocumentLoader` does).
 */
export function boundedAuthenticatedLoader(
  identity: { readonly keyId: URL; readonly privateKey: CryptoKey },
  options: AuthenticatedLoaderOptions,
): DocumentLoader {
  const signed = async (request: Request, spec: Spec, signal: AbortSignal) =>
    fetch(await signRequest(request, identity.privateKey, identity.keyId, { spec }), {
      redirect: "manual",
      signal,
    });
  const remember = async (origin: string, spec: Spec) => {
    try {
      await options.kv.set([...SPEC_PREFIX, origin], spec);
    } catch (error) {
      log.warn("Could not remember the signature spec of {origin}: {error}", {
        origin,
        error: String(error),
      });
    }
  };
  return createLoader(options, async (request, signal) => {
    const origin = new URL(request.url).origin;
    const first = ((await options.kv.get<Spec>([...SPEC_PREFIX, origin])) ?? options.firstKnock) as Spec;
    const response = await signed(request, first, signal);
    if (response.status < 300) await remember(origin, first);
    if (response.status < 400) return response;
    // The double knock (https://swicg.github.io/activitypub-http-signature/#how-to-upgrade-supported-versions).
    await response.body?.cancel();
    const second: Spec = first === "rfc9421" ? "draft-cavage-http-signatures-12" : "rfc9421";
    const retried = await signed(request, second, signal);
    if (retried.status < 300) await remember(origin, second);
    return retried;
  });
}

export interface LoaderFactoryOptions {
  readonly kv: KvStore;
  /** Loopback and other private addresses may be fetched (never in production). */
  readonly allowPrivateAddress: boolean;
  readonly limits?: Partial<FetchLimits>;
  readonly firstKnock: Spec;
}

/**
 * The three loader factories for `createFederation`. Documents and contexts are cached in the KV
 * store as Fedify caches its own (`kvCache`: five minutes, its keys); signed fetches are not
 * cached, as in Fedify. Fedify refuses `allowPrivateAddress` alongside custom factories and then
 * hands every factory `allowPrivateAddress: false`, so the decision is made here and what Fedify
 * passes is not read; its `userAgent` (Fedify and Herald's origin) is.
 */
export function boundedLoaderFactories(options: LoaderFactoryOptions): {
  documentLoaderFactory: DocumentLoaderFactory;
  contextLoaderFactory: DocumentLoaderFactory;
  authenticatedDocumentLoaderFactory: AuthenticatedDocumentLoaderFactory;
} {
  const { kv, allowPrivateAddress, limits, firstKnock } = options;
  const cached = (kind: "object" | "context") => (factoryOptions?: DocumentLoaderFactoryOptions) =>
    kvCache({
      loader: boundedDocumentLoader({ allowPrivateAddress, limits, userAgent: factoryOptions?.userAgent }),
      kv,
      prefix: REMOTE_DOCUMENT_PREFIX,
      kind,
    });
  return {
    documentLoaderFactory: cached("object"),
    contextLoaderFactory: cached("context"),
    authenticatedDocumentLoaderFactory: (identity, factoryOptions) =>
      boundedAuthenticatedLoader(identity, {
        allowPrivateAddress,
        limits,
        userAgent: factoryOptions?.userAgent,
        kv,
        firstKnock,
      }),
  };
}
