/**
 * One rule for paths (src/http/paths.ts): every mounted route, asked for in another spelling —
 * letter case, trailing slash, `//`, a percent-encoded letter, a dot segment — gets no more than
 * its canonical spelling gets. Routes are read off the running app's routers, so a route added
 * later is walked too. Requests go over a raw socket (fetch would normalise the path first).
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";
import type Router from "@koa/router";
import { normalizePath } from "../../src/http/paths.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface Answer {
  status: number;
  location: string | null;
  body: string;
  /** The Allow header of a 405. */
  allow?: string;
}

function raw(base: string, method: string, path: string, headers: Record<string, string> = {}) {
  const u = new URL(base);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, method, path, headers: { connection: "close", ...headers } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            location: res.headers.location ?? null,
            body,
            allow: res.headers.allow,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(method === "GET" || method === "HEAD" ? undefined : "");
  });
}

/** Literal-segment spellings of a canonical path (params already filled in). */
export function variants(path: string, literal: readonly boolean[]): { kind: string; path: string }[] {
  const segs = path.split("/").slice(1);
  const out: { kind: string; path: string }[] = [];
  const join = (s: string[]) => `/${s.join("/")}`;
  segs.forEach((seg, i) => {
    if (!literal[i] || !/[a-z]/i.test(seg)) return;
    const upper = seg.toUpperCase() === seg ? seg.toLowerCase() : seg.toUpperCase();
    out.push({ kind: `case of "${seg}"`, path: join(segs.map((s, j) => (j === i ? upper : s))) });
    const at = seg.search(/[a-z]/i);
    const enc = `${seg.slice(0, at)}%${seg.charCodeAt(at).toString(16)}${seg.slice(at + 1)}`;
    out.push({ kind: `"${seg}" percent-encoded`, path: join(segs.map((s, j) => (j === i ? enc : s))) });
  });
  if (path !== "/") {
    if (path.toUpperCase() !== path) out.push({ kind: "upper case", path: path.toUpperCase() });
    out.push({ kind: "trailing slash", path: `${path}/` });
    out.push({ kind: "leading //", path: `/${path}` });
    out.push({ kind: "inner //", path: path.replace(/\/([^/]*)$/, "//$1") });
    out.push({ kind: "dot segment", path: `/x/..${path}` });
    out.push({ kind: "./ segment", path: `/.${path}` });
    out.push({ kind: "encoded dot segment", path: `/x/%2e%2e${path}` });
  }
  return out;
}

interface Route {
  method: string;
  /** The canonical path, params filled. */
  path: string;
  /** Which segments are literal (route text) rather than filled-in params. */
  literal: boolean[];
}

const SAMPLE: Record<string, string> = {
  id: "00000000-0000-4000-8000-000000000000",
  token: "x".repeat(43),
  handle: "nobody",
  name: "User",
};

function routesOf(router: Router): Route[] {
  const out: Route[] = [];
  for (const layer of router.stack) {
    if (typeof layer.path !== "string" || layer.methods.length === 0) continue;
    const segs = layer.path.split("/").slice(1);
    const filled = segs.map((s) => s.replace(/:(\w+)/g, (_, n: string) => SAMPLE[n] ?? "x"));
    const literal = segs.map((s) => !s.includes(":"));
    for (const method of layer.methods) {
      // CONNECT never reaches Koa (Node answers it itself); HEAD and OPTIONS are derived.
      if (method === "HEAD" || method === "OPTIONS" || method === "CONNECT") continue;
      out.push({ method, path: `/${filled.join("/")}`, literal });
    }
  }
  return out;
}

describe(`one rule for paths on ${TEST_DB}`, () => {
  let s: TestServer;
  let routes: Route[];
  let scimToken: string;

  before(async () => {
    s = await startTestServer({
      HERALD_DEV_IDP: "true",
      HERALD_SAML_RATE_PER_SECOND: "100000",
      HERALD_SAML_BURST: "100000",
      HERALD_VERIFY_RATE_PER_SECOND: "100000",
      HERALD_VERIFY_BURST: "100000",
    });
    const routers = s.app.middleware
      .map((m) => (m as { router?: Router }).router)
      .filter((r): r is Router => r !== undefined);
    routes = routers.flatMap(routesOf);
    // Fedify's and the middleware-mounted paths are not in a router's stack.
    const fixed: [string, string][] = [
      ["GET", "/healthz"],
      ["GET", "/.well-known/webfinger"],
      ["GET", "/.well-known/nodeinfo"],
      ["GET", "/nodeinfo/2.1"],
      ["GET", `/ap/actors/${SAMPLE.id}`],
      ["POST", "/ap/inbox"],
      ["POST", `/ap/actors/${SAMPLE.id}/inbox`],
    ];
    for (const [method, path] of fixed)
      routes.push({
        method,
        path,
        literal: path
          .split("/")
          .slice(1)
          .map((seg) => seg !== SAMPLE.id),
      });
    const created = await s.services.tokens.create("paths-test", "test");
    assert.ok(created.ok);
    scimToken = created.token;
    await waitFor(async () => (await raw(s.url, "GET", "/healthz")).status === 200 || undefined);
  });
  after(async () => {
    await s.close();
  });

  test("the walk covers every guarded surface", () => {
    const prefixes = new Set(routes.map((r) => r.path.split("/")[1]));
    for (const p of ["scim", "app", "admin", "saml", "login", "logout", "api", "verify", "dev-idp", "ap"])
      assert.ok(prefixes.has(p), `routes under /${p} are walked`);
    assert.ok(routes.length > 60, `${routes.length} routes`);
  });

  test("normalizePath: RFC 3986 normal form, or a reason", () => {
    const cases: [string, string | null][] = [
      ["/", "/"],
      ["/app/", "/app"],
      ["//app//inbox", "/app/inbox"],
      ["/%61pp", "/app"],
      ["/a/%2fb", "/a/%2Fb"],
      ["/x/../app", "/app"],
      ["/../../app", "/app"],
      ["/x/%2E%2E/app", "/app"],
      ["/./app/.", "/app"],
      ["/@jane", "/@jane"],
      ["/a%zz", null],
      ["/a%0", null],
      ["/a%00", null],
      ["/a\\b", null],
      ["/a\tb", null],
    ];
    for (const [input, want] of cases) {
      const got = normalizePath(input);
      if (want === null) assert.equal(got.ok, false, input);
      else assert.deepEqual(got, { ok: true, path: want }, input);
    }
  });

  test("the classes found by the adversarial pass", async () => {
    const noToken = await raw(s.url, "GET", "/SCIM/v2/Users");
    assert.equal(noToken.status, 401, "GET /SCIM/v2/Users without a token");
    assert.equal((await raw(s.url, "GET", "/scim/v2/users/")).status, 401);
    assert.equal(
      (await raw(s.url, "GET", "/scim/v2/NoSuchThing")).status,
      401,
      "unknown SCIM paths are guarded too",
    );
    const withToken = await raw(s.url, "GET", "/SCIM/V2/users/", { authorization: `Bearer ${scimToken}` });
    assert.equal(withToken.status, 200);
    assert.equal(JSON.parse(withToken.body).totalResults, 0);
    assert.equal((await raw(s.url, "GET", "/APP")).status, 404);
    assert.equal((await raw(s.url, "GET", "/ADMIN")).status, 404);
    assert.equal((await raw(s.url, "GET", "/Admin/audit")).status, 404);
    const slash = await raw(s.url, "GET", "/app/?x=1");
    assert.equal(slash.status, 308);
    assert.equal(slash.location, "/app?x=1");
    assert.equal((await raw(s.url, "GET", "/app")).status, 302, "the canonical path sends to sign-in");
    assert.equal((await raw(s.url, "POST", "/SAML/acs")).status, 404);
    assert.equal((await raw(s.url, "GET", "//evil.example/app")).location, "/evil.example/app");
    assert.equal((await raw(s.url, "GET", "/a%zz")).status, 400);
    // Another route's path (GET /api/v1/notifications/:id): 405 with the Allow header RFC 9110 requires.
    const other = await raw(s.url, "POST", "/api/v1/notifications/CLEAR");
    assert.equal(other.status, 405);
    assert.equal(other.allow, "HEAD, GET");
  });

  /** The answer a spelling gets must be no more than the canonical one's. */
  async function walk(headersFor: (path: string) => Record<string, string>) {
    const failures: string[] = [];
    let checked = 0;
    for (const r of routes) {
      const canonical = await raw(s.url, r.method, r.path, headersFor(r.path)).catch((e: Error) => {
        throw new Error(`${r.method} ${r.path}: ${e.message}`);
      });
      // 501: SCIM's deliberate refusals (Bulk, /.search, /Me).
      assert.ok(
        canonical.status < 500 || canonical.status === 501,
        `${r.method} ${r.path}: ${canonical.status} ${canonical.body.slice(0, 200)}`,
      );
      const scim = r.path.startsWith("/scim/");
      for (const v of variants(r.path, r.literal)) {
        checked++;
        const got = await raw(s.url, r.method, v.path, headersFor(r.path)).catch((e: Error): Answer => ({
          status: 599,
          location: null,
          body: e.message,
        }));
        const where = `${r.method} ${v.path} (${v.kind}; canonical ${r.path} → ${canonical.status})`;
        if (got.status >= 500 && got.status !== canonical.status) {
          failures.push(`${where}: ${got.status} ${got.body.slice(0, 100)}`);
          continue;
        }
        if (got.status === 308) {
          // A redirect carries nothing: it must lead to the canonical spelling, where the guards are.
          const target = new URL(got.location ?? "", "http://x");
          const want = normalizePath(v.path);
          if (!want.ok || target.pathname !== want.path || target.host !== "x")
            failures.push(`${where}: redirected to ${got.location}`);
          else if (r.method !== "GET" && r.method !== "HEAD")
            failures.push(`${where}: ${r.method} redirected`);
          continue;
        }
        const caseOnly = v.kind.startsWith("case") || v.kind === "upper case";
        if (scim) {
          // SCIM forgives case and slashes, after authentication: the same answer as canonical
          // (a refused token is 401, or 429 once the failed-authentication budget is spent).
          const refused = (n: number) => (n === 429 ? 401 : n);
          if (refused(got.status) !== refused(canonical.status)) failures.push(`${where}: ${got.status}`);
        } else if (caseOnly) {
          // Routing is case-sensitive: another case is not this resource. It may be another
          // route's (POST /api/v1/notifications/CLEAR is GET /api/v1/notifications/:id's path):
          // then a 405 whose Allow lacks the method, which runs no handler, is as good as a 404.
          const otherRoute =
            got.status === 405 && got.allow !== undefined && !got.allow.split(/,\s*/).includes(r.method);
          if (got.status !== 404 && !otherRoute) failures.push(`${where}: ${got.status}, want 404`);
        } else if (got.status !== 404 && got.status !== 400) {
          failures.push(`${where}: ${got.status}, want 308, 404 or 400`);
        }
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${checked} spellings`);
    return checked;
  }

  test("without credentials: every spelling of every route is 308 to the canonical, 404, or (SCIM) the same 401", async () => {
    const checked = await walk(() => ({ accept: "text/html" }));
    assert.ok(checked > 500, `${checked} spellings`);
  });

  test("with a SCIM token: SCIM spellings answer exactly as the canonical path does", async () => {
    await walk((p): Record<string, string> =>
      p.startsWith("/scim/") ? { authorization: `Bearer ${scimToken}` } : {},
    );
  });
});
