import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTokenService } from "../../src/scim/tokens.ts";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { cases, expand } from "./helpers.ts";

const ERROR = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

describe(`SCIM over HTTP on ${TEST_DB}`, () => {
  let s: TestServer;
  let token: string;
  let base: string;
  before(async () => {
    s = await startTestServer({ HERALD_SCIM_MAX_BODY_BYTES: "65536" });
    const created = await createTokenService(s.services.db).create("http-test", "test");
    assert.ok(created.ok);
    token = created.token;
    base = `${s.url}/scim/v2`;
  });
  after(async () => {
    await s.close();
  });

  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/scim+json" }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });

  test("authentication: none, a non-bearer header, a wrong token, a revoked token → 401 SCIM errors", async () => {
    for (const authorization of [undefined, "non-token", "Bearer hrld_wrong", "Basic dXNlcjpwYXNz"]) {
      const res = await fetch(`${base}/Users`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, String(authorization));
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="Herald SCIM"');
      const body = await res.json();
      assert.deepEqual(body.schemas, [ERROR]);
      assert.equal(body.status, "401");
      assert.ok(body.detail.length > 0);
    }
    const tokens = createTokenService(s.services.db);
    const t = await tokens.create("soon-revoked", "test");
    assert.ok(t.ok);
    assert.equal(
      (await fetch(`${base}/Users`, { headers: { authorization: `Bearer ${t.token}` } })).status,
      200,
    );
    await tokens.revoke("soon-revoked", "test");
    assert.equal(
      (await fetch(`${base}/Users`, { headers: { authorization: `Bearer ${t.token}` } })).status,
      401,
    );
  });

  test("POST answers 201 with Location, ETag and application/scim+json; GET honours If-None-Match", async () => {
    const res = await call("POST", "/Users", {
      userName: "http1@corp.example",
      password: "secret!",
      name: { givenName: "H" },
    });
    assert.equal(res.status, 201);
    const user = await res.json();
    assert.equal(res.headers.get("location"), `http://127.0.0.1:3999/scim/v2/Users/${user.id}`);
    assert.equal(user.meta.location, res.headers.get("location"));
    assert.match(res.headers.get("content-type") ?? "", /^application\/scim\+json/);
    assert.equal(res.headers.get("etag"), 'W/"1"');
    assert.equal(user.password, undefined, "passwords are never returned");
    const again = await call("GET", `/Users/${user.id}`, undefined, { "if-none-match": 'W/"1"' });
    assert.equal(again.status, 304);
  });

  test("If-Match: a stale version is 412; the current one or * succeeds", async () => {
    const user = await (await call("POST", "/Users", { userName: "etag@corp.example" })).json();
    const patch = { schemas: [PATCH], Operations: [{ op: "replace", path: "title", value: "x" }] };
    assert.equal((await call("PATCH", `/Users/${user.id}`, patch, { "if-match": 'W/"1"' })).status, 200);
    const stale = await call("PATCH", `/Users/${user.id}`, patch, { "if-match": 'W/"1"' });
    assert.equal(stale.status, 412);
    assert.deepEqual((await stale.json()).schemas, [ERROR]);
    assert.equal(
      (await call("PUT", `/Users/${user.id}`, { userName: "etag@corp.example" }, { "if-match": "*" })).status,
      200,
    );
    assert.equal((await call("DELETE", `/Users/${user.id}`, undefined, { "if-match": 'W/"1"' })).status, 412);
  });

  test("PATCH: Users answer 200 with the resource; Groups 204, or 200 when attributes= asks for a body", async () => {
    const user = await (await call("POST", "/Users", { userName: "patch@corp.example" })).json();
    const res = await call("PATCH", `/Users/${user.id}`, {
      schemas: [PATCH],
      Operations: [{ op: "Replace", path: "active", value: "False" }],
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).active, false);
    const group = await (await call("POST", "/Groups", { displayName: "HTTP group" })).json();
    const add = {
      schemas: [PATCH],
      Operations: [{ op: "add", path: "members", value: [{ value: user.id }] }],
    };
    const g = await call("PATCH", `/Groups/${group.id}`, add);
    assert.equal(g.status, 204);
    assert.equal(await g.text(), "");
    const withBody = await call("PATCH", `/Groups/${group.id}?attributes=members`, add);
    assert.equal(withBody.status, 200);
    assert.deepEqual(
      (await withBody.json()).members.map((m: { value: string }) => m.value),
      [user.id],
    );
  });

  test("lists: integer paging fields, Resources always present, paths case-insensitive with a trailing slash", async () => {
    const res = await call("GET", "/users/?filter=userName+eq+%22nobody%40corp.example%22");
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body.schemas, [LIST]);
    assert.equal(body.totalResults, 0);
    assert.equal(body.itemsPerPage, 0);
    assert.equal(body.startIndex, 1);
    assert.deepEqual(body.Resources, []);
    const page = await (await call("GET", "/Users?startIndex=1&count=1")).json();
    assert.equal(typeof page.totalResults, "number");
    assert.equal(page.itemsPerPage, 1);
    assert.equal(page.Resources.length, 1);
  });

  test("attributes and excludedAttributes, including Microsoft's value filter inside attributes", async () => {
    await call("POST", "/Users", {
      userName: "proj@corp.example",
      title: "T",
      emails: [{ value: "proj@corp.example", type: "work" }],
    });
    const f = encodeURIComponent('userName eq "proj@corp.example"');
    const only = (await (await call("GET", `/Users?filter=${f}&attributes=userName,emails.value`)).json())
      .Resources[0];
    assert.deepEqual(Object.keys(only).sort(), ["emails", "id", "schemas", "userName"]);
    assert.deepEqual(only.emails, [{ value: "proj@corp.example" }]);
    const ms = await call(
      "GET",
      `/Users?filter=${f}&attributes=${encodeURIComponent('emails[type eq "work"]')}`,
    );
    assert.equal(ms.status, 200);
    assert.equal((await ms.json()).Resources[0].emails[0].value, "proj@corp.example");
    const without = (
      await (await call("GET", `/Users?filter=${f}&excludedAttributes=title,groups,meta`)).json()
    ).Resources[0];
    assert.equal(without.title, undefined);
    assert.equal(without.meta, undefined);
    assert.equal(without.userName, "proj@corp.example");
  });

  test("POST /Users/.search", async () => {
    const res = await call("POST", "/Users/.search", {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
      filter: 'userName sw "http1"',
      attributes: ["userName"],
      count: 5,
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.totalResults, 1);
    assert.deepEqual(Object.keys(body.Resources[0]).sort(), ["id", "schemas", "userName"]);
  });

  test("discovery tells the truth", async () => {
    const spc = await (await call("GET", "/ServiceProviderConfig")).json();
    assert.equal(spc.patch.supported, true);
    assert.equal(spc.bulk.supported, false);
    assert.equal(spc.filter.supported, true);
    assert.equal(spc.etag.supported, true);
    assert.equal(spc.changePassword.supported, false);
    const rt = await (await call("GET", "/ResourceTypes")).json();
    assert.equal(rt.Resources[0].endpoint, "/Users");
    assert.equal(
      rt.Resources[0].schemaExtensions[0].schema,
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    );
    const schemas = await (await call("GET", "/Schemas")).json();
    const user = schemas.Resources.find(
      (r: { id: string }) => r.id === "urn:ietf:params:scim:schemas:core:2.0:User",
    );
    assert.equal(user.description, "User Account");
    const userName = user.attributes.find((a: { name: string }) => a.name === "userName");
    assert.equal(userName.caseExact, false);
    assert.equal(userName.uniqueness, "server");
    assert.equal((await call("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")).status, 200);
  });

  test("409 carries a SCIM error with detail", async () => {
    const res = await call("POST", "/Users", { userName: "HTTP1@corp.example" });
    assert.equal(res.status, 409);
    const body = await res.json();
    assert.equal(body.scimType, "uniqueness");
    assert.match(body.detail, /already exists/);
  });

  test("413 for a body over the limit; the server keeps serving", async () => {
    const res = await call("POST", "/Users", { userName: "big@corp.example", note: "x".repeat(70_000) });
    assert.equal(res.status, 413);
    assert.deepEqual((await res.json()).schemas, [ERROR]);
    assert.equal((await call("GET", "/Users?count=0")).status, 200);
  });

  const listRows = (
    cases("list-params.json") as { rows: [string, string, unknown, number, number, string][] }
  ).rows;
  for (const [method, path, body, startIndex, itemsPerPage, why] of listRows) {
    test(`${method} ${path} → 200, startIndex ${startIndex} (${why})`, async () => {
      const res = await call(method, path, body ?? undefined);
      assert.equal(res.status, 200, await res.clone().text());
      const list = await res.json();
      assert.deepEqual(list.schemas, [LIST]);
      assert.equal(list.startIndex, startIndex);
      assert.equal(list.itemsPerPage, itemsPerPage);
      assert.equal(list.Resources.length, itemsPerPage);
    });
  }

  const table = cases("http-errors.json") as [string, string, string | null, number, string | null, string][];
  for (const [method, path, body, status, scimType, why] of table) {
    test(`${method} ${path.slice(0, 40)} → ${status}${scimType ? ` ${scimType}` : ""} (${why})`, async () => {
      let p = path;
      if (p.includes("{{id}}")) {
        const u = await (await call("POST", "/Users", { userName: `e${Math.random()}@corp.example` })).json();
        p = p.replace("{{id}}", u.id);
      }
      const b = body === null ? null : expand(body.replace("{{long}}", "x".repeat(300)));
      const res = await fetch(`${base}${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: b ?? undefined,
      });
      assert.equal(res.status, status, await res.clone().text());
      if (status >= 400) {
        const json = await res.json();
        assert.deepEqual(json.schemas, [ERROR]);
        assert.equal(json.status, String(status));
        assert.ok(typeof json.detail === "string" && json.detail.length > 0);
        if (scimType) assert.equal(json.scimType, scimType);
        else assert.equal(json.scimType, undefined);
      }
    });
  }
});

describe("SCIM rate limit", () => {
  test("per token: 429 with Retry-After past the burst; other tokens unaffected", async () => {
    const s = await startTestServer({ HERALD_SCIM_RATE_PER_SECOND: "1", HERALD_SCIM_BURST: "3" });
    try {
      const tokens = createTokenService(s.services.db);
      const a = await tokens.create("a", "test");
      const b = await tokens.create("b", "test");
      assert.ok(a.ok && b.ok);
      const get = (t: string) =>
        fetch(`${s.url}/scim/v2/Users?count=0`, { headers: { authorization: `Bearer ${t}` } });
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await get(a.token)).status);
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      const limited = await get(a.token);
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get("retry-after")) >= 1);
      assert.deepEqual((await limited.json()).schemas, [ERROR]);
      assert.equal((await get(b.token)).status, 200);
    } finally {
      await s.close();
    }
  });
});
