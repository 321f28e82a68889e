/**
 * Property-based fuzzing of a real Herald process (fast-check, seeded and bounded): random and
 * adversarial SCIM filters, PATCH operations, resource bodies, list parameters, inbox deliveries
 * and requests to every route. What must hold, whatever comes in:
 *
 * - no 5xx (the SCIM endpoints Herald refuses on purpose — Bulk, /.search, /Me — answer 501),
 *   no hang (every request has a deadline), and refusals say why;
 * - no ERROR record and no stack trace in the server's log;
 * - the directory stays consistent: every listed user reads back the same by id, userNames and
 *   handles are unique.
 *
 * HERALD_FUZZ_RUNS scales the number of runs per property (default 600 — about 3,700 requests);
 * HERALD_FUZZ_SEED changes the seed. The status histograms are printed at the end.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { createDatabase, type Database } from "../../src/db/database.ts";
import { HandleSchema, PersonSchema } from "../../src/identity/entities.ts";
import { entities } from "../../src/services.ts";
import { freePort, freshDatabaseUrl, TEST_DB, testConfig, type TestDatabaseUrl } from "../helpers/env.ts";
import { runCli, type ServerProcess, startServerProcess } from "../helpers/process.ts";

const RUNS = Number(process.env.HERALD_FUZZ_RUNS ?? 600);
const SEED = Number(process.env.HERALD_FUZZ_SEED ?? 20261204);
const DEADLINE_MS = 15_000;
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/** The string with lone surrogates replaced (a URL cannot carry them; lib es2023 lacks toWellFormed). */
const wellFormed = (s: string) =>
  s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");

// ---- generators ----------------------------------------------------------------------------

const attribute = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "userName",
      "UserName",
      "name.givenName",
      "name.familyName",
      "name",
      "emails",
      "emails.value",
      "emails.type",
      "emails.primary",
      "active",
      "externalId",
      "id",
      "meta.created",
      "meta.lastModified",
      "meta.resourceType",
      "displayName",
      "title",
      "members",
      "members.value",
      "groups",
      "groups.value",
      "phoneNumbers",
      "addresses.country",
      `${USER}:userName`,
      `${ENTERPRISE}:department`,
      `${ENTERPRISE}:manager.value`,
      "urn:x:y:z",
      "meta.Created",
      "x",
      "a.b.c.d",
      "emails[",
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 16 }) },
);
const operator = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Co") },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);
const literal = fc.oneof(
  fc.string({ maxLength: 24 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: "binary", maxLength: 12 }).map((v) => JSON.stringify(v)),
  fc.integer().map(String),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom(
    "true",
    "false",
    "null",
    "1e400",
    "-0",
    "2015-10-10T14:38:21.8617979-07:00",
    "Employee",
    "O",
    '"2026-01-01T00:00:00Z"',
    '"\\"',
    '"\\u0000"',
    "'single'",
    '"unterminated',
  ),
  fc.string({ maxLength: 8 }),
);
const comparison = fc.tuple(attribute, operator, literal).map(([a, o, v]) => `${a} ${o} ${v}`);
const filterTree = fc.letrec<{ f: string }>((tie) => ({
  f: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    comparison,
    attribute.map((a) => `${a} pr`),
    fc
      .tuple(tie("f"), fc.constantFrom("and", "or", "AND", "Or", "", "not"), tie("f"))
      .map(([a, c, b]) => `${a} ${c} ${b}`),
    tie("f").map((f) => `not (${f})`),
    tie("f").map((f) => `(${f})`),
    fc.tuple(attribute, tie("f")).map(([a, f]) => `${a}[${f}]`),
    fc.tuple(attribute, tie("f"), attribute).map(([a, f, s]) => `${a}[${f}].${s} eq "x"`),
  ),
})).f;
/** A filter with a few characters inserted or removed somewhere. */
const mutated = fc
  .tuple(filterTree, fc.nat(), fc.nat({ max: 3 }), fc.string({ maxLength: 3 }))
  .map(([f, at, drop, insert]) => {
    const i = at % (f.length + 1);
    return f.slice(0, i) + insert + f.slice(i + drop);
  });
const ADVERSARIAL_FILTERS = [
  "userName pr not (userName pr)",
  'userName eq "a" userName eq "b"',
  "(".repeat(5000) + 'userName eq "x"' + ")".repeat(5000),
  "not (".repeat(3000) + "userName pr" + ")".repeat(3000),
  'emails[type eq "work" x].value eq "a"',
  'emails[type eq "work"]]',
  "members[value eq]",
  `userName eq "${"a".repeat(100_000)}"`,
  Array.from({ length: 2000 }, (_, i) => `userName eq "u${i}"`).join(" or "),
  'userName eq "\\',
  "",
  " ",
  "\u0000",
  "%",
];
const filterInput = fc.oneof(
  { weight: 5, arbitrary: filterTree },
  { weight: 3, arbitrary: mutated },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom(...ADVERSARIAL_FILTERS) },
);

const numberLike = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -5, max: 600 }).map(String) },
  fc.integer().map(String),
  fc.constantFrom(
    "1e20",
    "99999999999999999999",
    "-1",
    "0",
    "1.5",
    "abc",
    "",
    "NaN",
    "Infinity",
    "0x10",
    " 7 ",
    "2147483648",
    "9007199254740993",
  ),
  fc.double().map(String),
);
const listParams = fc.record(
  {
    startIndex: numberLike,
    count: numberLike,
    sortBy: fc.oneof(attribute, fc.string({ maxLength: 10 })),
    sortOrder: fc.oneof(
      fc.constantFrom("ascending", "descending", "DESCENDING"),
      fc.string({ maxLength: 10 }),
    ),
    attributes: fc.oneof(
      { weight: 6, arbitrary: attribute },
      { weight: 3, arbitrary: fc.array(attribute, { maxLength: 5 }).map((a) => a.join(",")) },
      { weight: 1, arbitrary: fc.constant(Array.from({ length: 3000 }, (_, i) => `a${i}`).join(",")) },
    ),
    excludedAttributes: fc.oneof(attribute, fc.string({ maxLength: 20 })),
    filter: filterInput,
  },
  { requiredKeys: [] },
);

/** Deeply nested JSON text (arrays or objects), past any sane depth. */
const deepJson = fc
  .tuple(fc.integer({ min: 65, max: 20_000 }), fc.boolean())
  .map(([n, arr]) => (arr ? "[".repeat(n) + "]".repeat(n) : '{"a":'.repeat(n) + "1" + "}".repeat(n)));
const jsonish = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, [], {}, "", 0, true, { schemas: "x" }, { schemas: [] }) },
);

const pathExpression = fc.oneof(
  { weight: 4, arbitrary: attribute },
  {
    weight: 3,
    arbitrary: fc
      .tuple(attribute, filterInput, fc.option(attribute))
      .map(([a, f, s]) => `${a}[${f}]${s ? `.${s}` : ""}`),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
const patchOperation = fc.record(
  {
    op: fc.oneof(
      fc.constantFrom("add", "replace", "remove", "Add", "REPLACE", "Remove"),
      fc.string({ maxLength: 8 }),
      fc.integer(),
    ),
    path: fc.oneof(pathExpression, fc.integer(), fc.constant(null)),
    value: jsonish,
  },
  { requiredKeys: ["op"] },
);
/** Operations a real IdP sends (Entra's and Okta's shapes), with values that may or may not fit. */
const plausibleOperation = fc.oneof(
  fc.record({
    op: fc.constant("replace"),
    path: fc.constantFrom("displayName", "title", "name.givenName", "nickName"),
    value: fc.oneof(fc.string({ maxLength: 40 }), jsonish),
  }),
  fc.record({
    op: fc.constantFrom("replace", "Replace"),
    value: fc.record(
      { active: fc.oneof(fc.boolean(), fc.constantFrom("True", "false", "x")) },
      { requiredKeys: [] },
    ),
  }),
  fc.record(
    {
      op: fc.constantFrom("replace", "remove", "add"),
      path: fc.constant("active"),
      value: fc.oneof(fc.boolean(), fc.constantFrom("False", null)),
    },
    { requiredKeys: ["op", "path"] },
  ),
  fc.record({
    op: fc.constant("add"),
    path: fc.constant("emails"),
    value: fc.array(fc.record({ value: fc.emailAddress(), type: fc.constantFrom("work", "home") }), {
      maxLength: 2,
    }),
  }),
  fc.record(
    {
      op: fc.constantFrom("remove", "replace"),
      path: fc.constantFrom(
        'emails[type eq "work"]',
        'emails[type eq "work"].value',
        'emails[value co "@"]',
        'addresses[type eq "work"].country',
      ),
      value: fc.oneof(fc.emailAddress(), jsonish),
    },
    { requiredKeys: ["op", "path"] },
  ),
  fc.record({
    op: fc.constantFrom("replace", "add"),
    path: fc.constantFrom(`${ENTERPRISE}:department`, `${ENTERPRISE}:manager`, "userName", "externalId"),
    value: fc.oneof(fc.string({ maxLength: 30 }), fc.emailAddress(), jsonish),
  }),
  fc.record(
    {
      op: fc.constantFrom("add", "remove"),
      path: fc.constantFrom("members", 'members[value eq "00000000-0000-4000-8000-000000000000"]'),
      value: fc.array(fc.record({ value: fc.uuid() }), { maxLength: 2 }),
    },
    { requiredKeys: ["op", "path"] },
  ),
);
const patchBody = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(plausibleOperation, { minLength: 1, maxLength: 3 })
      .map((ops) => ({ schemas: [PATCH_OP], Operations: ops })),
  },
  {
    weight: 6,
    arbitrary: fc
      .array(patchOperation, { maxLength: 4 })
      .map((ops) => ({ schemas: [PATCH_OP], Operations: ops })),
  },
  { weight: 1, arbitrary: fc.array(patchOperation, { maxLength: 4 }).map((ops) => ({ Operations: ops })) },
  { weight: 1, arbitrary: jsonish },
);
const plausibleUser = fc.record({
  schemas: fc.constant([USER, ENTERPRISE]),
  userName: fc.oneof(
    fc.emailAddress(),
    fc.string({ minLength: 1, maxLength: 30 }),
    fc.constantFrom(
      "Ann@corp.example",
      "ann@corp.example",
      "A\u030Ann@corp.example",
      "\u00C5nn@corp.example",
    ),
  ),
  externalId: fc.oneof(fc.constantFrom("ext-ann", "ext-bob"), fc.string({ maxLength: 10 })),
  displayName: fc.string({ maxLength: 40 }),
  active: fc.boolean(),
  emails: fc.array(
    fc.record({ value: fc.emailAddress(), type: fc.constant("work"), primary: fc.boolean() }),
    { maxLength: 2 },
  ),
});
const resourceBody = fc.oneof(
  { weight: 4, arbitrary: plausibleUser },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        schemas: fc.oneof(fc.constant([USER]), fc.constant([USER, ENTERPRISE]), jsonish),
        userName: fc.oneof(
          fc.emailAddress(),
          fc.string({ maxLength: 40 }),
          fc.string({ unit: "binary", maxLength: 20 }),
          jsonish,
        ),
        active: fc.oneof(fc.boolean(), fc.constantFrom("true", "False", "maybe", 0, 1, null)),
        name: fc.oneof(
          fc.record({ givenName: fc.string(), familyName: jsonish }, { requiredKeys: [] }),
          jsonish,
        ),
        emails: fc.oneof(
          fc.array(
            fc.record(
              {
                value: fc.oneof(fc.emailAddress(), jsonish),
                type: fc.oneof(fc.constantFrom("work", "home"), jsonish),
                primary: fc.oneof(fc.boolean(), jsonish),
              },
              { requiredKeys: [] },
            ),
            { maxLength: 3 },
          ),
          jsonish,
        ),
        externalId: fc.oneof(fc.string({ maxLength: 20 }), jsonish),
        displayName: fc.oneof(fc.string({ maxLength: 300 }), jsonish),
        members: fc.oneof(
          fc.array(fc.record({ value: fc.oneof(fc.uuid(), fc.string()) }), { maxLength: 3 }),
          jsonish,
        ),
        [ENTERPRISE]: fc.oneof(
          fc.record({ department: jsonish, manager: jsonish }, { requiredKeys: [] }),
          jsonish,
        ),
        id: jsonish,
        meta: jsonish,
        password: fc.string(),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: jsonish },
);
/** A body as raw text: JSON of the value, or something that is not JSON, or nested too deep. */
const rawBody = (value: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 8, arbitrary: value.map((v) => JSON.stringify(v) ?? "null") },
    { weight: 1, arbitrary: deepJson },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.string({ maxLength: 100 }),
        fc.constantFrom("{", "[1,", '{"a":}', "\u0000", "null", "💥"),
      ),
    },
  );

const activity = fc.record(
  {
    "@context": fc.oneof(
      fc.constant("https://www.w3.org/ns/activitystreams"),
      fc.constantFrom(
        "file:///etc/passwd",
        "http://127.0.0.1:1/ctx",
        "http://169.254.169.254/latest/meta-data/",
        "data:,{}",
        "gopher://x",
      ),
      fc.array(fc.oneof(fc.constant("https://www.w3.org/ns/activitystreams"), jsonish), { maxLength: 3 }),
      jsonish,
    ),
    id: fc.oneof(fc.webUrl(), jsonish),
    type: fc.oneof(
      fc.constantFrom(
        "Create",
        "Update",
        "Delete",
        "Follow",
        "Undo",
        "Accept",
        "Like",
        "Announce",
        "Move",
        "Block",
        "Note",
      ),
      jsonish,
    ),
    actor: fc.oneof(fc.webUrl(), jsonish),
    object: fc.oneof(
      fc.webUrl(),
      fc.record({ type: fc.constant("Note"), id: fc.webUrl(), content: fc.string() }),
      jsonish,
    ),
    signature: fc.oneof(
      fc.record({
        type: fc.constant("RsaSignature2017"),
        creator: fc.webUrl(),
        signatureValue: fc.base64String(),
      }),
      jsonish,
    ),
    proof: jsonish,
  },
  { requiredKeys: [] },
);
const inboxHeaders = fc.record(
  {
    "content-type": fc.constantFrom(
      "application/activity+json",
      'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
      "application/json",
      "text/plain",
      "x",
    ),
    date: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()),
      fc.string({ maxLength: 30 }),
      fc.constant(new Date().toUTCString()),
    ),
    signature: fc.oneof(
      fc.string({ maxLength: 100 }),
      fc
        .tuple(fc.webUrl(), fc.base64String())
        .map(
          ([k, s]) =>
            `keyId="${k}#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="${s}"`,
        ),
      fc.constant('keyId="file:///etc/passwd",headers="date",signature="AAAA"'),
    ),
    "signature-input": fc.string({ maxLength: 60 }),
    digest: fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.base64String().map((b) => `SHA-256=${b}`),
    ),
  },
  { requiredKeys: ["content-type"] },
);

// ---- the run -------------------------------------------------------------------------------

interface Outcome {
  status: number;
  body: string;
}

describe(`fuzzing a running Herald on ${TEST_DB} (seed ${SEED}, ${RUNS} runs per property)`, () => {
  let fresh: TestDatabaseUrl;
  let p: ServerProcess;
  let db: Database;
  let auth: Record<string, string>;
  const userIds: string[] = [];
  const groupIds: string[] = [];
  const histograms = new Map<string, Map<number, number>>();
  const failures: string[] = [];
  let total = 0;

  async function send(
    kind: string,
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<Outcome> {
    total++;
    let outcome: Outcome;
    try {
      const res = await fetch(`${p.url}${path}`, {
        method,
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(DEADLINE_MS),
      });
      outcome = { status: res.status, body: await res.text() };
    } catch (error) {
      outcome = { status: 0, body: String(error) };
    }
    const h = histograms.get(kind) ?? new Map<number, number>();
    h.set(outcome.status, (h.get(outcome.status) ?? 0) + 1);
    histograms.set(kind, h);
    return outcome;
  }

  /** No 5xx (but SCIM's deliberate 501s), no hang, and the answer is the caller's format. */
  function acceptable(o: Outcome, path: string): boolean {
    if (o.status === 0) return false;
    if (o.status === 501) return /^\/scim\/v2\/(Bulk|\.search|Me)\b/i.test(path);
    return o.status < 500;
  }

  function check(kind: string, o: Outcome, method: string, path: string, body?: string): boolean {
    if (acceptable(o, path)) return true;
    failures.push(
      `${kind}: ${method} ${path.slice(0, 300)} ${body?.slice(0, 300) ?? ""} → ${o.status} ${o.body.slice(0, 300)}`,
    );
    return false;
  }

  const scim = (kind: string, method: string, path: string, body?: string) =>
    send(kind, method, path, body, { ...auth, "content-type": "application/scim+json" });

  before(async () => {
    fresh = await freshDatabaseUrl();
    const port = await freePort();
    const env = {
      DATABASE_URL: fresh.url,
      HERALD_DATA_DIR: fresh.dir,
      HERALD_LOG_FORMAT: "json",
      HERALD_ORIGIN: `http://127.0.0.1:${port}`,
      // Single sign-on configured (the development IdP), so /saml/* and /dev-idp/* are live.
      HERALD_DEV_IDP: "true",
      HERALD_SCIM_RATE_PER_SECOND: "100000",
      HERALD_SCIM_BURST: "100000",
      HERALD_INBOX_RATE_PER_SECOND: "100000",
      HERALD_INBOX_BURST: "100000",
      HERALD_VERIFY_RATE_PER_SECOND: "100000",
      HERALD_VERIFY_BURST: "100000",
      HERALD_SAML_RATE_PER_SECOND: "100000",
      HERALD_SAML_BURST: "100000",
    };
    p = await startServerProcess(env, port);
    const made = await runCli(["token", "create", "fuzz"], {
      DATABASE_URL: fresh.url,
      HERALD_DATA_DIR: fresh.dir,
    });
    assert.equal(made.code, 0, made.stderr);
    auth = { authorization: `Bearer ${made.stdout.trim().split("\n").at(-1)}` };
    for (const [i, name] of ["ann", "bob", "cyd", "dee"].entries()) {
      const o = await scim(
        "seed",
        "POST",
        "/scim/v2/Users",
        JSON.stringify({
          schemas: [USER, ENTERPRISE],
          userName: `${name}@corp.example`,
          externalId: `ext-${name}`,
          name: { givenName: name, familyName: "Fuzz" },
          emails: [{ value: `${name}@corp.example`, type: "work", primary: true }],
          active: i !== 3,
          [ENTERPRISE]: { department: "QA" },
        }),
      );
      assert.equal(o.status, 201, o.body);
      userIds.push(JSON.parse(o.body).id);
    }
    const g = await scim(
      "seed",
      "POST",
      "/scim/v2/Groups",
      JSON.stringify({
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        displayName: "Fuzzers",
        members: userIds.slice(0, 2).map((value) => ({ value })),
      }),
    );
    assert.equal(g.status, 201, g.body);
    groupIds.push(JSON.parse(g.body).id);
    db = await createDatabase(testConfig(fresh.url, fresh.dir).database, { entities });
  });

  after(async () => {
    const lines = [...histograms].map(
      ([kind, h]) =>
        `  ${kind.padEnd(18)} ${[...h]
          .sort(([a], [b]) => a - b)
          .map(([s, n]) => `${s}×${n}`)
          .join("  ")}`,
    );
    process.stdout.write(
      `\nfuzz on ${TEST_DB}: ${total} requests, seed ${SEED}, ${RUNS} runs per property\n${lines.join("\n")}\n`,
    );
    await db?.close();
    p?.child.kill("SIGTERM");
    await p?.exited;
    await fresh?.cleanup();
  });

  const property = async <T>(name: string, arb: fc.Arbitrary<T>, run: (v: T) => Promise<boolean>) => {
    await fc.assert(fc.asyncProperty(arb, run), {
      seed: SEED,
      numRuns: RUNS,
      endOnFailure: true,
      // Counterexamples can be 100 kB filters: a short report, the seed and path replay it.
      reporter(details) {
        if (!details.failed) return;
        const example = JSON.stringify(details.counterexample);
        throw new Error(
          `${name}: failed with seed ${details.seed}, path "${details.counterexamplePath}": ` +
            `${example.length > 600 ? `${example.slice(0, 600)}… (${example.length} chars)` : example}`,
        );
      },
    });
  };

  test("SCIM filters (GET and POST .search, Users and Groups)", async () => {
    await property(
      "filters",
      fc.tuple(filterInput, fc.constantFrom("Users", "Groups"), fc.boolean()),
      async ([filter, res, viaSearch]) => {
        const path = viaSearch
          ? `/scim/v2/${res}/.search`
          : // A URL cannot carry a lone surrogate (encodeURIComponent throws); a JSON body can.
            `/scim/v2/${res}?filter=${encodeURIComponent(wellFormed(filter))}`;
        const body = viaSearch
          ? JSON.stringify({ schemas: ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], filter })
          : undefined;
        const o = await scim("filter", viaSearch ? "POST" : "GET", path, body);
        if (!check("filter", o, viaSearch ? "POST" : "GET", path, body)) return false;
        // 200; a 400 that names the problem (RFC 7644 §3.12); 413 (a search body past the SCIM
        // limit); 414/431 (a URL past Node's 16 KiB header limit, refused before Herald).
        const scimType =
          o.status === 400 ? (JSON.parse(o.body) as { scimType?: string }).scimType : undefined;
        const fine =
          o.status === 200 ||
          [413, 414, 431].includes(o.status) ||
          (o.status === 400 &&
            ["invalidFilter", "invalidValue", "invalidSyntax", "tooMany"].includes(scimType ?? ""));
        if (!fine)
          failures.push(
            `filter: ${path.slice(0, 200)} ${body?.slice(0, 200) ?? ""} → ${o.status} ${o.body.slice(0, 300)}`,
          );
        return fine;
      },
    );
  });

  test("SCIM list parameters", async () => {
    await property(
      "params",
      fc.tuple(listParams, fc.constantFrom("Users", "Groups")),
      async ([params, res]) => {
        const qs = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
        const path = `/scim/v2/${res}?${qs}`;
        const o = await scim("list params", "GET", path);
        return check("list params", o, "GET", path) && [200, 400, 414, 431].includes(o.status);
      },
    );
  });

  test("SCIM PATCH operations and value paths", async () => {
    await property(
      "patch",
      fc.tuple(rawBody(patchBody), fc.nat(), fc.boolean()),
      async ([body, n, group]) => {
        const id = group ? groupIds[0] : userIds[n % userIds.length];
        const path = `/scim/v2/${group ? "Groups" : "Users"}/${id}`;
        const o = await scim("patch", "PATCH", path, body);
        return check("patch", o, "PATCH", path, body);
      },
    );
  });

  test("SCIM resource bodies (POST and PUT)", async () => {
    await property(
      "bodies",
      fc.tuple(
        rawBody(resourceBody),
        fc.constantFrom("POST Users", "PUT Users", "POST Groups", "PUT Groups"),
        fc.nat(),
      ),
      async ([body, what, n]) => {
        const [method, res] = what.split(" ");
        const id = res === "Groups" ? groupIds[0] : userIds[n % userIds.length];
        const path = `/scim/v2/${res}${method === "PUT" ? `/${id}` : ""}`;
        const o = await scim("bodies", method, path, body);
        if (o.status === 201 && res === "Users") userIds.push(JSON.parse(o.body).id);
        return check("bodies", o, method, path, body);
      },
    );
  });

  test("inbox deliveries, unsigned or forged", async () => {
    await property(
      "inbox",
      fc.tuple(rawBody(activity), inboxHeaders, fc.boolean()),
      async ([body, headers, shared]) => {
        const path = shared ? "/ap/inbox" : `/ap/actors/00000000-0000-4000-8000-000000000000/inbox`;
        const o = await send("inbox", "POST", path, body, headers);
        return check("inbox", o, "POST", path, body) && o.status >= 400;
      },
    );
  });

  test("every route, any query string and Accept header", async () => {
    const routes = [
      "/",
      "/healthz",
      "/verify",
      "/api/verification",
      "/api/me",
      "/.well-known/webfinger",
      "/.well-known/nodeinfo",
      "/.well-known/host-meta",
      "/.well-known/jwks.json",
      "/nodeinfo/2.1",
      "/login",
      "/saml/metadata",
      "/saml/login",
      "/saml/acs",
      "/saml/slo",
      "/app",
      "/admin",
      "/@ann",
      "/@ann/x",
      "/ap/actors/x",
      "/ap/actors/x/outbox",
      "/ap/actors/x/followers",
      "/ap/actors/x/following",
      "/ap/posts/x",
      "/scim/v2/Users",
      "/scim/v2/Schemas/x",
      "/scim/v2/ResourceTypes/x",
      "/logout",
      "/login/link/x",
      "/verify/report",
    ];
    const query = fc.array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom(
            "resource",
            "handle",
            "url",
            "q",
            "email",
            "cursor",
            "page",
            "next",
            "SAMLRequest",
            "SAMLResponse",
            "RelayState",
            "filter",
            "rel",
          ),
          fc.string({ maxLength: 8 }),
        ),
        fc.oneof(
          fc.string({ maxLength: 60 }),
          fc.string({ unit: "binary", maxLength: 20 }),
          fc.constantFrom(
            "acct:ann@127.0.0.1",
            "acct:",
            "@@",
            "https://x/@ann",
            "1e400",
            "-1",
            "a".repeat(5000),
            "%",
            "http://169.254.169.254/",
          ),
        ),
      ),
      { maxLength: 4 },
    );
    await property(
      "routes",
      fc.tuple(
        fc.constantFrom(...routes),
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
        query,
        fc.constantFrom("text/html", "application/json", "application/activity+json", "*/*", "x/y", ""),
        fc.option(fc.string({ maxLength: 200 })),
      ),
      async ([route, method, q, accept, body]) => {
        const qs = q
          .map(([k, v]) => `${encodeURIComponent(wellFormed(k))}=${encodeURIComponent(wellFormed(v))}`)
          .join("&");
        const path = route.replace("/ap/actors/x", `/ap/actors/${userIds[0]}`) + (qs ? `?${qs}` : "");
        const withBody = method !== "GET" && method !== "HEAD" && body !== null;
        const o = await send("routes", method, path, withBody ? body : undefined, {
          ...(accept ? { accept } : {}),
          ...(withBody ? { "content-type": "application/x-www-form-urlencoded" } : {}),
          ...(route.startsWith("/scim") ? auth : {}),
        });
        return check("routes", o, method, path, withBody ? body : undefined);
      },
    );
  });

  test("no failures: every answer below 500, none hung", () => {
    assert.deepEqual(failures, []);
  });

  test("the log: no ERROR, no stack trace", async () => {
    await new Promise((r) => setTimeout(r, 300));
    const records = p
      .output()
      .stderr.split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: string; logger: string; message: string });
    const bad = records
      .filter((r) => r.level === "ERROR" || r.level === "FATAL")
      .map((r) => `${r.logger}: ${r.message.slice(0, 300)}`);
    assert.deepEqual(bad, []);
    const stacks = records.filter((r) => /\bat .+:\d+:\d+\)?/.test(JSON.stringify(r)));
    assert.deepEqual(
      stacks.map((r) => r.message.slice(0, 200)),
      [],
    );
    const unparsed = p
      .output()
      .stderr.split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("{"));
    assert.deepEqual(unparsed.slice(0, 5), [], "everything on stderr is a log record");
  });

  test("the directory is consistent: list and get agree, userNames and handles unique", async () => {
    const listed: Record<string, unknown>[] = [];
    for (let start = 1; ; start += 100) {
      const o = await scim("consistency", "GET", `/scim/v2/Users?startIndex=${start}&count=100`);
      assert.equal(o.status, 200);
      const page = JSON.parse(o.body) as { Resources: Record<string, unknown>[]; totalResults: number };
      listed.push(...page.Resources);
      if (listed.length >= page.totalResults || page.Resources.length === 0) break;
    }
    for (const u of listed) {
      const o = await scim("consistency", "GET", `/scim/v2/Users/${u.id}`);
      assert.equal(o.status, 200);
      assert.deepEqual(JSON.parse(o.body), u, `GET /Users/${u.id} equals its list entry`);
    }
    const keys = listed.map((u) => String(u.userName).normalize("NFC").toLowerCase());
    assert.equal(new Set(keys).size, keys.length, "userNames unique (case and normalization folded)");
    const people = await db.run((em) => em.getRepository(PersonSchema).find());
    const handles = people.map((x) => x.handle).filter((h): h is string => h !== null);
    assert.equal(new Set(handles).size, handles.length, "handles unique among people");
    const issued = await db.run((em) => em.getRepository(HandleSchema).find());
    for (const person of people.filter((x) => x.handle !== null && x.deletedAt === null)) {
      const rows = issued.filter((h) => h.handle === person.handle);
      assert.equal(rows.length, 1, `@${person.handle} is issued once`);
      assert.equal(rows[0].ownerId, person.id, `@${person.handle} is issued to its person`);
    }
    assert.ok(listed.length >= 4);
  });
});
