/**
 * The SCIM 2.0 HTTP surface at /scim/v2 (RFC 7644): bearer-token auth (constant-time, hashed at
 * rest), a per-token rate limit (429 + Retry-After), JSON bodies with a size limit, and the
 * endpoints. Letter case and a trailing slash are forgiven (Microsoft's validator sends `/users`
 * and `/Users/`) by rewriting the path to its canonical spelling *after* authentication: every
 * request under /scim — known endpoint or not, any spelling — meets the token check first.
 */

import { koa, ROUTES } from "../http/routes.ts";
import type { Context, Middleware, Next } from "koa";
import { parseBoundedJson } from "../http/json.ts";
import { caseSensitiveRouter, isScimPath } from "../http/paths.ts";
import type { RateLimiter } from "../http/rate-limit.ts";
import { logger } from "../logging.ts";
import type { TokenService, VerifiedToken } from "./tokens.ts";
import type { ScimRequestLog } from "./request-log.ts";
import { isObject, type JsonObject } from "./documents.ts";
import { badRequest, ScimError } from "./errors.ts";
import { listOf, MAX_RESULTS, resourceTypes, schemaDocuments, serviceProviderConfig } from "./discovery.ts";
import { parsePatchRequest } from "./patch.ts";
import { parseAttributeList, type Projection, project } from "./projection.ts";
import { GROUP_SCHEMA, LIST_SCHEMA, SEARCH_SCHEMA, USER_SCHEMA } from "./schemas.ts";
import type { ListQuery, ScimClient, ScimService } from "./service.ts";

const log = logger("scim");
const SCIM_TYPE = "application/scim+json; charset=utf-8";

export interface ScimRoutesOptions {
  readonly service: ScimService;
  readonly tokens: TokenService;
  /** Per-token limiter for authenticated requests. */
  readonly limiter: RateLimiter;
  /** Per-client-address limiter for failed authentication. */
  readonly authFailureLimiter: RateLimiter;
  readonly maxBodyBytes: number;
  /** Counts each authenticated request by token and status (the provisioning health page). */
  readonly requestLog?: ScimRequestLog;
}

interface ScimState {
  token: VerifiedToken;
  client: ScimClient;
}

function send(ctx: Context, status: number, body: JsonObject | undefined, etag?: string): void {
  ctx.status = status;
  if (etag) ctx.set("ETag", etag);
  if (body !== undefined) {
    ctx.type = SCIM_TYPE;
    ctx.body = JSON.stringify(body);
  }
}

async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const declared = Number(ctx.get("content-length") || "0");
  if (declared > limit) throw new ScimError(413, `The request body is larger than ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  // Not destroyed on an early exit: the rest is drained (settleBody), keeping the connection.
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ScimError(413, `The request body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw badRequest("invalidSyntax", "The request needs a JSON body.");
  // Depth is refused before parsing: PATCH application, normalisation and cloning recurse.
  const parsed = parseBoundedJson(text);
  if (!parsed.ok) throw badRequest("invalidSyntax", parsed.message);
  return parsed.value;
}

/** Query parameters by case-insensitive name. */
function param(ctx: Context, name: string): string | undefined {
  const key = Object.keys(ctx.query).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key === undefined) return undefined;
  const v = ctx.query[key];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The largest startIndex passed on to the database: any page past the last match is empty, so a
 * larger value (1e20, 99999999999999999999) means the same and is clamped to this one, which is
 * an OFFSET every driver binds exactly (docs/scim.md, "Listing and searching").
 */
export const MAX_START_INDEX = 2_147_483_647;

/** A decimal integer, optionally signed or in exponent form (`1e20`): never hex, never blank. */
const INTEGER_TEXT = /^[+-]?\d+(?:[eE]\+?\d+)?$/;

function intParam(raw: unknown, name: string): number | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  let n = Number.NaN;
  if (typeof raw === "number") n = raw;
  else if (typeof raw === "string" && INTEGER_TEXT.test(raw.trim())) n = Number(raw.trim());
  // Digits beyond a double's range (1e999) are still an integer: a huge one, clamped below.
  if (n === Number.POSITIVE_INFINITY || n === Number.NEGATIVE_INFINITY) n = Math.sign(n) * Number.MAX_VALUE;
  if (!Number.isInteger(n)) {
    const shown = typeof raw === "string" && raw.length > 40 ? `${raw.slice(0, 40)}…` : raw;
    throw badRequest(
      "invalidValue",
      `${name} must be an integer, got ${JSON.stringify(shown) ?? String(raw)}.`,
    );
  }
  return n;
}

function listQuery(src: {
  filter?: unknown;
  startIndex?: unknown;
  count?: unknown;
  sortBy?: unknown;
  sortOrder?: unknown;
}): Omit<ListQuery, "withMembers"> {
  // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count is 0; a count over the
  // maximum is the maximum, a startIndex past any page is the largest one (both mean the same).
  const startIndex = Math.min(MAX_START_INDEX, Math.max(1, intParam(src.startIndex, "startIndex") ?? 1));
  const count = Math.min(MAX_RESULTS, Math.max(0, intParam(src.count, "count") ?? MAX_RESULTS));
  const order = src.sortOrder === undefined ? undefined : String(src.sortOrder).toLowerCase();
  if (order !== undefined && order !== "ascending" && order !== "descending") {
    throw badRequest("invalidValue", `sortOrder must be "ascending" or "descending".`);
  }
  if (src.filter !== undefined && typeof src.filter !== "string")
    throw badRequest("invalidFilter", "filter must be a string.");
  if (src.sortBy !== undefined && typeof src.sortBy !== "string")
    throw badRequest("invalidValue", "sortBy must be a string.");
  return {
    filter: src.filter as string | undefined,
    startIndex,
    count,
    sortBy: src.sortBy as string | undefined,
    sortOrder: order as ListQuery["sortOrder"],
  };
}

/** A list request's query parameters (RFC 7644 §3.4.2). */
function queryParams(ctx: Context): Omit<ListQuery, "withMembers"> {
  return listQuery({
    filter: param(ctx, "filter"),
    startIndex: param(ctx, "startIndex"),
    count: param(ctx, "count"),
    sortBy: param(ctx, "sortBy"),
    sortOrder: param(ctx, "sortOrder"),
  });
}

function projectionOf(ctx: Context): Projection {
  return {
    attributes: parseAttributeList(param(ctx, "attributes")),
    excluded: parseAttributeList(param(ctx, "excludedAttributes")),
  };
}

/** The canonical spelling of an endpoint's name, by its lower case (RFC 7644 §3.2). */
const ENDPOINTS = new Map(
  ["Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me", ".search"].map(
    (e) => [e.toLowerCase(), e],
  ),
);

/**
 * `/SCIM/V2/users/` → `/scim/v2/Users`: the prefix and endpoint names in their canonical case
 * (ids and other segments untouched), trailing slashes already dropped by `canonicalPaths`.
 */
export function canonicalScimPath(path: string): string {
  const parts = path.split("/");
  if (parts[1]) parts[1] = parts[1].toLowerCase();
  if (parts[2]) parts[2] = parts[2].toLowerCase();
  if (parts[3]) parts[3] = ENDPOINTS.get(parts[3].toLowerCase()) ?? parts[3];
  if (parts[4]?.toLowerCase() === ".search") parts[4] = ".search";
  return parts.join("/");
}

/** Everything under /scim, any spelling: authenticated, then routed (404 in SCIM's format). */
export function scimRoutes(opts: ScimRoutesOptions): Middleware {
  const { service, tokens, limiter } = opts;
  const base = service.baseUrl;
  const router = caseSensitiveRouter({ prefix: ROUTES.scim.prefix });
  const lastUsed = new Map<string, number>();

  const authenticate: Middleware = async (ctx: Context, next: Next) => {
    const header = ctx.get("authorization");
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const token = m ? await tokens.verify(m[1]) : undefined;
    if (!token) {
      const d = await opts.authFailureLimiter.take(ctx.ip);
      if (!d.allowed) {
        throw new ScimError(429, "Too many failed authentication attempts; slow down.", undefined, {
          "Retry-After": String(d.retryAfterSeconds),
        });
      }
      log.info("SCIM authentication failed from {ip}", { ip: ctx.ip });
      throw new ScimError(
        401,
        header === ""
          ? "Authentication required: send Authorization: Bearer <token> (create one with `npx herald token create <name>`)."
          : "The bearer token is not valid or has been revoked.",
        undefined,
        { "WWW-Authenticate": 'Bearer realm="Herald SCIM"' },
      );
    }
    const decision = await limiter.take(token.id);
    if (!decision.allowed) {
      throw new ScimError(429, `Rate limit exceeded for token "${token.name}"; retry later.`, undefined, {
        "Retry-After": String(decision.retryAfterSeconds),
      });
    }
    const now = Date.now();
    if ((lastUsed.get(token.id) ?? 0) < now - 60_000) {
      lastUsed.set(token.id, now);
      tokens.touch(token.id).catch((error) => log.warn("Could not record token use: {error}", { error }));
    }
    (ctx.state as ScimState).token = token;
    (ctx.state as ScimState).client = {
      name: `scim-token:${token.name}`,
      requestId: String(ctx.state.requestId ?? ""),
    };
    if (!opts.requestLog) return next();
    const outcome = {
      tokenId: token.id,
      method: ctx.method,
      path: ctx.path,
      requestId: String(ctx.state.requestId ?? ""),
    };
    try {
      await next();
    } catch (err) {
      const status = err instanceof ScimError ? err.status : 500;
      opts.requestLog.record({
        ...outcome,
        status,
        message: err instanceof ScimError ? err.message : "Internal error",
      });
      throw err;
    }
    // A route that was not found leaves 404 here (the error is thrown further out).
    const status = ctx.status === 404 && ctx.body == null ? 404 : ctx.status;
    opts.requestLog.record({ ...outcome, status, message: status === 404 ? "No such endpoint" : undefined });
  };

  const client = (ctx: Context) => (ctx.state as ScimState).client;
  const ifMatch = (ctx: Context) => ctx.get("if-match") || undefined;
  const body = (ctx: Context) => readJson(ctx, opts.maxBodyBytes);

  const sendResource = (ctx: Context, status: number, resource: JsonObject, coreUrn: string) => {
    const meta = resource.meta as JsonObject | undefined;
    const etag = typeof meta?.version === "string" ? meta.version : undefined;
    if (status === 200 && etag && ctx.method === "GET" && ctx.get("if-none-match") === etag) {
      ctx.status = 304;
      ctx.set("ETag", etag);
      return;
    }
    if (status === 201 && typeof meta?.location === "string") ctx.set("Location", meta.location);
    send(ctx, status, project(resource, projectionOf(ctx), coreUrn), etag);
  };

  const sendList = (
    ctx: Context,
    q: ListQuery,
    total: number,
    resources: JsonObject[],
    coreUrn: string,
    p: Projection,
  ) => {
    send(ctx, 200, {
      schemas: [LIST_SCHEMA],
      totalResults: total,
      itemsPerPage: resources.length,
      startIndex: q.startIndex,
      Resources: resources.map((r) => project(r, p, coreUrn)),
    });
  };

  // Discovery.
  router.get(koa(ROUTES.scim.serviceProviderConfig), (ctx) => send(ctx, 200, serviceProviderConfig(base)));
  router.get(koa(ROUTES.scim.resourceTypes), (ctx) => send(ctx, 200, listOf(resourceTypes(base))));
  router.get(koa(ROUTES.scim.resourceType), (ctx) => {
    const rt = resourceTypes(base).find((r) => String(r.id).toLowerCase() === ctx.params.name.toLowerCase());
    if (!rt) throw new ScimError(404, `No resource type ${ctx.params.name}.`);
    send(ctx, 200, rt);
  });
  router.get(koa(ROUTES.scim.schemas), (ctx) => send(ctx, 200, listOf(schemaDocuments(base))));
  router.get(koa(ROUTES.scim.schema), (ctx) => {
    const s = schemaDocuments(base).find((d) => String(d.id).toLowerCase() === ctx.params.id.toLowerCase());
    if (!s) throw new ScimError(404, `No schema ${ctx.params.id}.`);
    send(ctx, 200, s);
  });

  // Users.
  router.get(koa(ROUTES.scim.users), async (ctx) => {
    const q = queryParams(ctx);
    const r = await service.listUsers(q);
    sendList(ctx, q, r.total, r.resources, USER_SCHEMA, projectionOf(ctx));
  });
  router.post(koa(ROUTES.scim.usersSearch), async (ctx) => {
    const { q, p } = searchRequest(await body(ctx));
    const r = await service.listUsers(q);
    sendList(ctx, q, r.total, r.resources, USER_SCHEMA, p);
  });
  router.post(koa(ROUTES.scim.users), async (ctx) => {
    sendResource(ctx, 201, await service.createUser(await body(ctx), client(ctx)), USER_SCHEMA);
  });
  router.get(koa(ROUTES.scim.user), async (ctx) => {
    sendResource(ctx, 200, await service.getUser(ctx.params.id), USER_SCHEMA);
  });
  router.put(koa(ROUTES.scim.user), async (ctx) => {
    sendResource(
      ctx,
      200,
      await service.replaceUser(ctx.params.id, await body(ctx), client(ctx), ifMatch(ctx)),
      USER_SCHEMA,
    );
  });
  router.patch(koa(ROUTES.scim.user), async (ctx) => {
    const ops = parsePatchRequest(await body(ctx));
    // 200 with the resource: Okta reads it (DESIGN; docs/decisions/0004-scim-conformance.md).
    sendResource(
      ctx,
      200,
      await service.patchUser(ctx.params.id, ops, client(ctx), ifMatch(ctx)),
      USER_SCHEMA,
    );
  });
  router.delete(koa(ROUTES.scim.user), async (ctx) => {
    await service.deleteUser(ctx.params.id, client(ctx), ifMatch(ctx));
    ctx.status = 204;
  });

  // Groups.
  router.get(koa(ROUTES.scim.groups), async (ctx) => {
    const q = queryParams(ctx);
    const p = projectionOf(ctx);
    const r = await service.listGroups({ ...q, withMembers: wantsMembers(p) });
    sendList(ctx, q, r.total, r.resources, GROUP_SCHEMA, p);
  });
  router.post(koa(ROUTES.scim.groupsSearch), async (ctx) => {
    const { q, p } = searchRequest(await body(ctx));
    const r = await service.listGroups({ ...q, withMembers: wantsMembers(p) });
    sendList(ctx, q, r.total, r.resources, GROUP_SCHEMA, p);
  });
  router.post(koa(ROUTES.scim.groups), async (ctx) => {
    sendResource(ctx, 201, await service.createGroup(await body(ctx), client(ctx)), GROUP_SCHEMA);
  });
  router.get(koa(ROUTES.scim.group), async (ctx) => {
    const p = projectionOf(ctx);
    sendResource(ctx, 200, await service.getGroup(ctx.params.id, wantsMembers(p)), GROUP_SCHEMA);
  });
  router.put(koa(ROUTES.scim.group), async (ctx) => {
    sendResource(
      ctx,
      200,
      await service.replaceGroup(ctx.params.id, await body(ctx), client(ctx), ifMatch(ctx)),
      GROUP_SCHEMA,
    );
  });
  router.patch(koa(ROUTES.scim.group), async (ctx) => {
    const ops = parsePatchRequest(await body(ctx));
    const result = await service.patchGroup(ctx.params.id, ops, client(ctx), ifMatch(ctx));
    // 204 for Groups (Entra and Okta expect it); asking for attributes= gets the resource.
    if (param(ctx, "attributes") !== undefined || param(ctx, "excludedAttributes") !== undefined) {
      sendResource(ctx, 200, result, GROUP_SCHEMA);
    } else {
      const meta = result.meta as JsonObject;
      ctx.set("ETag", String(meta.version));
      ctx.status = 204;
    }
  });
  router.delete(koa(ROUTES.scim.group), async (ctx) => {
    await service.deleteGroup(ctx.params.id, client(ctx), ifMatch(ctx));
    ctx.status = 204;
  });

  // Offered by RFC 7644 but not by Herald (and not claimed in ServiceProviderConfig).
  router.post(koa(ROUTES.scim.bulk), () => {
    throw new ScimError(501, "Bulk operations are not supported (see /ServiceProviderConfig).");
  });
  router.post(koa(ROUTES.scim.search), () => {
    throw new ScimError(
      501,
      "Search across resource types is not supported; use /Users/.search or /Groups/.search.",
    );
  });
  router.all(koa(ROUTES.scim.me), () => {
    throw new ScimError(501, "/Me is not supported: SCIM clients here are provisioning systems, not users.");
  });

  // Koa's and the router's context types differ only in what the router adds itself.
  const routes = router.routes() as Middleware;
  const allowed = router.allowedMethods({ throw: true }) as Middleware;
  const middleware: Middleware = async (ctx, next) => {
    if (!isScimPath(ctx.path)) return next();
    ctx.path = canonicalScimPath(ctx.path);
    await authenticate(ctx, () => routes(ctx, () => allowed(ctx, async () => undefined)));
    if (ctx.status === 404 && ctx.body == null)
      throw new ScimError(404, `No SCIM endpoint at ${ctx.method} ${ctx.path}; the base URL is /scim/v2.`);
  };
  // Like a router's routes(): the router is reachable for tools that list what is mounted.
  return Object.assign(middleware, { router });
}

function wantsMembers(p: Projection): boolean {
  if (p.excluded?.some((a) => a === "members" || a.endsWith(":members"))) return false;
  if (
    p.attributes &&
    !p.attributes.some((a) => a === "members" || a.startsWith("members.") || a.endsWith(":members"))
  ) {
    return false;
  }
  return true;
}

function searchRequest(raw: unknown): { q: ListQuery; p: Projection } {
  if (!isObject(raw)) throw badRequest("invalidSyntax", "A search request must be a JSON object.");
  const get = (name: string) =>
    raw[Object.keys(raw).find((k) => k.toLowerCase() === name.toLowerCase()) ?? ""];
  const schemas = get("schemas");
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.includes(SEARCH_SCHEMA))) {
    throw badRequest("invalidSyntax", `A search request's schemas must contain ${SEARCH_SCHEMA}.`);
  }
  const q = listQuery({
    filter: get("filter"),
    startIndex: get("startIndex"),
    count: get("count"),
    sortBy: get("sortBy"),
    sortOrder: get("sortOrder"),
  });
  return {
    q,
    p: {
      attributes: parseAttributeList(get("attributes")),
      excluded: parseAttributeList(get("excludedAttributes")),
    },
  };
}
