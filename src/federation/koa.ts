/**
 * Koa ↔ Fedify adapter (no @fedify/koa build is published; RUNTIME.md). Mounted before any body
 * parser: Fedify reads the raw body to verify digests and signatures. Requests Fedify does not
 * handle, or cannot answer in an acceptable type (a browser asking for HTML), fall through to
 * the rest of the Koa chain.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import type { Context, Middleware } from "koa";
import { parseBoundedJson } from "../http/json.ts";
import type { RateLimiter } from "../http/rate-limit.ts";
import { matcher, ROUTES } from "../http/routes.ts";
import { cacheKey, type DocumentCache } from "./document-cache.ts";
import { cursorProblem, type FederationContextData, type HeraldFederation } from "./federation.ts";
import { createInboundGate, type InboundGate } from "./signatures.ts";

/**
 * Mastodon's `attributionDomains` (toot:attributionDomains, which lets articles on the company's
 * sites credit its accounts) is not in Fedify 2.3's vocabulary: it is added to actor documents
 * on the way out.
 */
export function withAttributionDomains(
  json: Record<string, unknown>,
  domains: readonly string[],
): Record<string, unknown> {
  const type = json.type;
  if (
    domains.length === 0 ||
    !["Person", "Organization", "Service", "Application", "Group"].includes(String(type))
  ) {
    return json;
  }
  const context = [json["@context"]].flat().filter((c) => c !== undefined);
  context.push({
    toot: "http://joinmastodon.org/ns#",
    attributionDomains: { "@id": "toot:attributionDomains", "@type": "@id" },
  });
  return { ...json, "@context": context, attributionDomains: [...domains] };
}

/**
 * Answers WebFinger and actor requests from the document cache, before the rest of the chain:
 * a hit is a memory lookup, so it goes first (right after the request context).
 */
export function cachedDocuments(cache: DocumentCache): Middleware {
  return async (ctx, next) => {
    const key = cacheKey(ctx.method, ctx.path, ctx.search, ctx.get("accept"));
    const hit = key ? cache.get(key) : undefined;
    if (!hit) return next();
    ctx.status = hit.status;
    for (const [name, value] of hit.headers) ctx.set(name, value);
    ctx.body = hit.body;
    ctx.state.fastPath = true;
  };
}

/** What Fedify serves: the ActivityPub paths, WebFinger and NodeInfo (src/http/routes.ts). */
const FEDIFY_PATHS = matcher([
  ...Object.values(ROUTES.ap),
  ROUTES.webfinger,
  ROUTES.nodeinfoLink,
  ROUTES.nodeinfo,
]);
/** The shared inbox and the per-actor inboxes. */
const INBOX_PATH = matcher([ROUTES.ap.inbox, ROUTES.ap.sharedInbox]);
/** RFC 9110 §15.5.2: a 401 names how to authenticate (here, as draft-cavage-http-signatures-12 shows). */
const SIGNATURE_CHALLENGE = 'Signature headers="(request-target) host date digest"';

export interface InboundLimits {
  readonly maxBodyBytes: number;
  /** Per client address, for POSTs (inbox deliveries). */
  readonly limiter: RateLimiter;
}

export function fedifyMiddleware(
  federation: HeraldFederation,
  origin: URL,
  limits: InboundLimits,
  attributionDomains: readonly string[] = [],
  cache?: DocumentCache,
): Middleware {
  // Built on first use, from the federation's own loaders: the SSRF guard stays as configured.
  let gate: InboundGate | undefined;
  const inboundGate = () => (gate ??= createInboundGate(federation.createContext(origin, { requestId: "" })));
  return async (ctx, next) => {
    const key = cache ? cacheKey(ctx.method, ctx.path, ctx.search, ctx.get("accept")) : undefined;
    const since = cache?.generation() ?? 0;
    // Only Fedify's own routes go through its router (ActivityPub, WebFinger,
    // NodeInfo); everything else is Herald's and skips that work.
    if (!FEDIFY_PATHS.test(ctx.path)) return next();
    // Fedify's router matches paths, not methods: a PUT, PATCH or DELETE to an inbox ran its inbox
    // handler — JSON-LD expansion of an unsigned body, its `@context` fetched — around the
    // signature gate below, which only POSTs meet; a TRACE made `new Request()` throw (500).
    // So Fedify sees only POSTs to an inbox (any other method there: 405 with Allow, RFC 9110
    // §15.5.6) and GETs or HEADs of its documents; other requests go on to Herald's routes,
    // which answer them as they answer any other path (404, 405 or 501).
    const inbox = INBOX_PATH.test(ctx.path);
    if (inbox && ctx.method !== "POST") {
      ctx.set("Allow", "POST");
      if (ctx.method === "OPTIONS") {
        ctx.status = 204;
        return;
      }
      ctx.throw(405, `${ctx.path} takes POST only (ActivityPub §7), not ${ctx.method}.`);
    }
    if (!inbox && ctx.method !== "GET" && ctx.method !== "HEAD") return next();
    if (inbox) {
      // Deliveries: refuse oversized bodies before Fedify reads them, and throttle per sender
      // address (the remote host, on the network level) before any signature work.
      const declared = Number(ctx.get("content-length") || "0");
      if (declared > limits.maxBodyBytes)
        ctx.throw(413, `Activities are limited to ${limits.maxBodyBytes} bytes.`);
      const d = await limits.limiter.take(ctx.ip);
      if (!d.allowed) {
        ctx.set("Retry-After", String(d.retryAfterSeconds));
        ctx.throw(429, "Too many deliveries from this address; retry later.");
      }
    }
    const cursor = ctx.query.cursor;
    if (cursor !== undefined) {
      const problem = cursorProblem(ctx.path, cursor);
      if (problem) ctx.throw(400, problem);
    }
    // The configured public origin, not the Host header: ids, WebFinger answers and RFC 9421's
    // @authority must all agree with what remote servers were told, whatever proxy sits between.
    // Never the request target's own scheme and host: an absolute-form target (RFC 9112 §3.2.2,
    // `POST http://other.example/ap/inbox`) would let a delivery signed for another server verify.
    const url = new URL(origin.origin);
    url.pathname = ctx.path;
    url.search = ctx.search;
    const hasBody = ctx.method !== "GET" && ctx.method !== "HEAD";
    const headers = new Headers();
    for (const [name, value] of Object.entries(ctx.request.headers)) {
      if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      else if (value !== undefined) headers.set(name, value);
    }
    let request: Request;
    const delivery = ctx.method === "POST" && INBOX_PATH.test(ctx.path);
    if (delivery) {
      // A delivery is read, bounded and authenticated here, before Fedify's inbox handler does
      // any JSON-LD work on it (signatures.ts says why).
      const body = await readBoundedBody(ctx, limits.maxBodyBytes);
      const parsed = parseBoundedJson(new TextDecoder().decode(body));
      if (!parsed.ok) return ctx.throw(400, parsed.message);
      if (typeof parsed.value !== "object" || parsed.value === null || Array.isArray(parsed.value))
        return ctx.throw(400, "An activity is a JSON object (Activity Streams 2.0 §2).");
      const auth = await inboundGate().verify(new Request(url, { method: "POST", headers, body }));
      if (!auth.ok) ctx.throw(401, auth.reason, { headers: { "WWW-Authenticate": SIGNATURE_CHALLENGE } });
      const contexts = await inboundGate().contextsProblem(parsed.value);
      if (contexts) ctx.throw(400, contexts);
      request = new Request(url, { method: "POST", headers, body });
    } else {
      request = new Request(url, {
        method: ctx.method,
        headers,
        body: hasBody ? lazyBody(ctx.req, limits.maxBodyBytes) : undefined,
        // @ts-expect-error: Node's fetch needs duplex for a streamed body; lib.dom lacks it.
        duplex: hasBody ? "half" : undefined,
      });
    }
    let fellThrough = false;
    // What the rest of the chain threw while Fedify waited: rethrown after fetch() returns, so
    // that the error boundary answers it — thrown through Fedify, a 404 or 405 of Herald's routes
    // was logged by Fedify as a server error.
    let downstream: { error: unknown } | undefined;
    const rest = async () => {
      try {
        await next();
      } catch (error) {
        downstream = { error };
      }
    };
    const fallThrough = async () => {
      fellThrough = true;
      await rest();
      return new Response(null, { status: 404 });
    };
    const notAcceptable = async () => {
      fellThrough = true;
      await rest();
      if (downstream) return new Response(null, { status: 406 });
      // Nothing else serves this URL in HTML: keep Fedify's answer (RFC 9110 §15.5.7).
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 406;
        ctx.body = "Not Acceptable: this resource is available as ActivityStreams JSON only.";
      }
      return new Response(null, { status: 406 });
    };
    const contextData: FederationContextData = { requestId: String(ctx.state.requestId ?? "") };
    let response: Response;
    try {
      response = await federation.fetch(request, {
        contextData,
        onNotFound: fallThrough,
        onNotAcceptable: notAcceptable,
      });
    } catch (error) {
      // JSON-LD that cannot be processed (jsonld.js throws `jsonld.*` errors out of Fedify's
      // inbox handler) is the sender's fault, not an outage.
      const name = (error as { name?: unknown } | null)?.name;
      if (delivery && typeof name === "string" && name.startsWith("jsonld.")) {
        const code = (error as { details?: { code?: unknown } }).details?.code;
        ctx.throw(400, `The activity's JSON-LD could not be processed (${String(code ?? name)}).`);
      }
      throw error;
    }
    if (downstream) throw downstream.error;
    if (fellThrough) return;
    ctx.status = response.status;
    response.headers.forEach((value, name) => {
      ctx.set(name, value);
    });
    // Fedify's own refusals (a signer who is not the activity's actor) carry the challenge too.
    if (response.status === 401 && !response.headers.has("www-authenticate"))
      ctx.set("WWW-Authenticate", SIGNATURE_CHALLENGE);
    if (key && response.status === 200) {
      let body = Buffer.from(await response.arrayBuffer());
      if (attributionDomains.length > 0 && key.startsWith("actor ")) {
        body = Buffer.from(
          JSON.stringify(withAttributionDomains(JSON.parse(body.toString("utf8")), attributionDomains)),
        );
      }
      const headers: [string, string][] = [];
      response.headers.forEach((value, name) => {
        if (name !== "content-length") headers.push([name, value]);
      });
      cache!.set(key, { status: 200, headers, body }, since);
      ctx.remove("content-length");
      ctx.body = body;
      return;
    }
    if (
      attributionDomains.length > 0 &&
      response.ok &&
      ctx.method === "GET" &&
      /^\/ap\/actors\/[^/]+$/.test(ctx.path)
    ) {
      const json = (await response.json()) as Record<string, unknown>;
      ctx.remove("content-length");
      ctx.body = JSON.stringify(withAttributionDomains(json, attributionDomains));
      return;
    }
    ctx.body = response.body === null ? null : Readable.fromWeb(response.body as never);
  };
}

/**
 * The whole request body, refused with 413 as soon as it passes `maxBytes` (a chunked body has
 * no Content-Length to check up front). The stream is not destroyed on a refusal: the request
 * context drains the rest, so the connection stays usable.
 */
async function readBoundedBody(ctx: Context, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) ctx.throw(413, `Activities are limited to ${maxBytes} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size) as Uint8Array<ArrayBuffer>;
}

/**
 * A request body stream that touches the Node request only when Fedify reads it, so a request
 * Fedify does not handle reaches the Koa routes (and their body parsers) untouched.
 */
function lazyBody(req: IncomingMessage, maxBytes = Number.POSITIVE_INFINITY): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let seen = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= (Readable.toWeb(req) as ReadableStream<Uint8Array>).getReader();
        const { done, value } = await reader.read();
        if (done) return controller.close();
        seen += value.byteLength;
        // Chunked bodies carry no Content-Length: stop reading past the limit.
        if (seen > maxBytes) return controller.error(new Error("request body too large"));
        controller.enqueue(value);
      },
      cancel(reason) {
        return reader?.cancel(reason);
      },
      // highWaterMark 0: never pull before someone reads.
    },
    { highWaterMark: 0 },
  );
}
