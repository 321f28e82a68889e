import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { ConfigError, parseConfig } from "../src/config.ts";
import { loadSecrets } from "../src/secrets.ts";
import { FIXTURES, testEnv } from "./helpers/env.ts";

function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    parseConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("parseConfig", () => {
  test("development defaults: port 3000, localhost origin, handle domain with port, embedded SQLite", () => {
    const c = parseConfig({});
    assert.equal(c.mode, "development");
    assert.equal(c.port, 3000);
    assert.equal(c.origin.href, "http://localhost:3000/");
    assert.equal(c.handleDomain, "localhost:3000");
    assert.equal(c.database.kind, "sqlite");
    assert.equal(c.database.kind === "sqlite" && c.database.path, path.resolve("data/herald.sqlite"));
    assert.equal(c.isDemoDatabase, true);
    assert.equal(c.migrateOnStart, true);
    assert.equal(c.trustProxy, false);
    assert.equal(c.log.format, "pretty");
  });

  test("handle domain follows the origin's host; port dropped for 443; explicit value wins", () => {
    assert.equal(
      parseConfig({ HERALD_ORIGIN: "https://social.corp.example" }).handleDomain,
      "social.corp.example",
    );
    assert.equal(parseConfig({ HERALD_ORIGIN: "http://127.0.0.1:4123" }).handleDomain, "127.0.0.1:4123");
    assert.equal(
      parseConfig({
        HERALD_ORIGIN: "https://social.corp.example",
        HERALD_HANDLE_DOMAIN: "Careers.Corp.Example",
      }).handleDomain,
      "careers.corp.example",
    );
  });

  test("DATABASE_URL selects MySQL and turns the demo off; mariadb:// is accepted", () => {
    const c = parseConfig({ DATABASE_URL: "mysql://u:p@db:3306/herald" });
    assert.equal(c.database.kind, "mysql");
    assert.equal(c.isDemoDatabase, false);
    assert.equal(parseConfig({ DATABASE_URL: "mariadb://u@db/herald" }).database.url, "mysql://u@db/herald");
    // An explicit sqlite URL is not the demo either.
    assert.equal(parseConfig({ DATABASE_URL: "sqlite:./x.sqlite" }).isDemoDatabase, false);
  });

  test("rate limits: shared through MySQL by default, per process on SQLite; memory may be chosen", () => {
    assert.equal(parseConfig({}).rateLimitStore, "memory");
    assert.equal(parseConfig({ DATABASE_URL: "mysql://u@db/herald" }).rateLimitStore, "database");
    assert.equal(
      parseConfig({ DATABASE_URL: "mysql://u@db/herald", HERALD_RATE_LIMIT_STORE: "memory" }).rateLimitStore,
      "memory",
    );
  });

  test("empty variables count as unset", () => {
    const c = parseConfig({ PORT: "", DATABASE_URL: "", HERALD_ORIGIN: "" });
    assert.equal(c.port, 3000);
    assert.equal(c.isDemoDatabase, true);
  });

  const invalid: [string, Record<string, string>, RegExp][] = [
    ["port out of range", { PORT: "70000" }, /^PORT="70000": expected 0–65535/],
    ["port not a number", { PORT: "http" }, /^PORT="http": expected a port number/],
    [
      "unknown database",
      { DATABASE_URL: "postgres://x/y" },
      /DATABASE_URL must start with sqlite: .* or mysql:\/\//,
    ],
    ["mysql without a database", { DATABASE_URL: "mysql://root@localhost:3306" }, /needs a database name/],
    ["origin with a path", { HERALD_ORIGIN: "https://corp.example/herald" }, /origin without a path/],
    ["origin not a URL", { HERALD_ORIGIN: "corp example" }, /is not a URL/],
    ["bad boolean", { HERALD_MIGRATE: "maybe" }, /^HERALD_MIGRATE="maybe": expected true or false/],
    [
      "bad handle domain",
      { HERALD_HANDLE_DOMAIN: "corp example!" },
      /^HERALD_HANDLE_DOMAIN=.*expected a host name/,
    ],
    ["bad log level", { HERALD_LOG_LEVEL: "loud" }, /^HERALD_LOG_LEVEL="loud"/],
    [
      "bad SAML match rule",
      { HERALD_SAML_MATCH: "nameid=phone" },
      /^HERALD_SAML_MATCH="nameid=phone": expected nameid=<field> or attribute:<name>=<field>/,
    ],
    [
      "clock drift beyond ten minutes",
      { HERALD_SAML_CLOCK_DRIFT_SECONDS: "3600" },
      /^HERALD_SAML_CLOCK_DRIFT_SECONDS="3600"/,
    ],
    ["short session secret", { HERALD_SESSION_SECRET: "short" }, /HERALD_SESSION_SECRET is too short/],
    [
      "a shared rate-limit store on SQLite",
      { HERALD_RATE_LIMIT_STORE: "database" },
      /^HERALD_RATE_LIMIT_STORE=database needs a MySQL or MariaDB DATABASE_URL/,
    ],
    ["an unknown rate-limit store", { HERALD_RATE_LIMIT_STORE: "redis" }, /^HERALD_RATE_LIMIT_STORE="redis"/],
    [
      "unreadable secret file",
      { HERALD_SESSION_SECRET_FILE: "/nonexistent/s" },
      /HERALD_SESSION_SECRET_FILE=\/nonexistent\/s cannot be read \(ENOENT\)/,
    ],
  ];
  for (const [name, env, expected] of invalid) {
    test(`refuses ${name} and says what to fix`, () => {
      const problems = problemsOf(env);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `got: ${problems.join(" | ")}`,
      );
    });
  }

  test("production names every missing secret and the origin, all at once", () => {
    const problems = problemsOf({ NODE_ENV: "production" });
    for (const v of [
      "HERALD_ORIGIN",
      "HERALD_SESSION_SECRET",
      "HERALD_ORG_SIGNING_KEY",
      "HERALD_SAML_SP_KEY",
      "HERALD_SAML_SP_CERT",
    ]) {
      assert.ok(
        problems.some((p) => p.startsWith(`${v} `) && /required in production/.test(p)),
        `${v} missing from: ${problems.join(" | ")}`,
      );
    }
    // Each names how to fix it.
    assert.ok(problems.some((p) => p.includes("openssl genpkey -algorithm ed25519")));
  });

  test("production refuses plain http", () => {
    const problems = problemsOf({
      ...testEnv(),
      NODE_ENV: "production",
      HERALD_ORIGIN: "http://corp.example",
    });
    assert.deepEqual(problems, [
      "HERALD_ORIGIN must use https in production (ActivityPub peers and SAML IdPs expect it)",
    ]);
  });

  test("production with every secret parses; JSON logs; binds all interfaces", () => {
    const c = parseConfig({
      ...testEnv(),
      NODE_ENV: "production",
      HERALD_ORIGIN: "https://corp.example",
    });
    assert.equal(c.mode, "production");
    assert.equal(c.log.format, "json");
    assert.equal(c.host, "0.0.0.0");
    assert.match(c.secrets.orgSigningKey.value ?? "", /BEGIN PRIVATE KEY/);
    assert.equal(c.saml.devIdp, false, "no development IdP in production");
  });

  test("the development IdP: on for npm start without an IdP, off in tests, refused in production", () => {
    assert.equal(parseConfig({}).saml.devIdp, true);
    assert.equal(parseConfig({ HERALD_SAML_IDP_METADATA: "/idp.xml" }).saml.devIdp, false);
    assert.equal(parseConfig({ NODE_ENV: "test" }).saml.devIdp, false);
    assert.equal(parseConfig({ NODE_ENV: "test", HERALD_DEV_IDP: "true" }).saml.devIdp, true);
    const problems = problemsOf({
      ...testEnv(),
      NODE_ENV: "production",
      HERALD_ORIGIN: "https://corp.example",
      HERALD_DEV_IDP: "true",
    });
    assert.ok(
      problems.some((p) => /HERALD_DEV_IDP=true is refused in production/.test(p)),
      problems.join(" | "),
    );
  });

  test("SAML match rules", () => {
    assert.deepEqual(parseConfig({}).saml.match, { attribute: undefined, field: "userName" });
    assert.deepEqual(parseConfig({ HERALD_SAML_MATCH: "attribute:mail=EMAIL" }).saml.match, {
      attribute: "mail",
      field: "email",
    });
  });
});

describe("loadSecrets", () => {
  test("development generates secrets once, persists them with mode 0600, and reuses them", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "herald-secrets-"));
    const config = parseConfig({ HERALD_DATA_DIR: dataDir });
    const first = await loadSecrets(config);
    const file = path.join(dataDir, "dev-secrets.json");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(first.orgSigningKeyPem, /BEGIN PRIVATE KEY/);
    assert.match(first.samlSpCertPem, /BEGIN CERTIFICATE/);
    assert.ok(Buffer.from(first.sessionSecret, "base64url").length >= 32);
    const second = await loadSecrets(config);
    assert.deepEqual(second, first);
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), first);
  });

  test("two processes starting together agree on one set", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "herald-secrets-"));
    const config = parseConfig({ HERALD_DATA_DIR: dataDir });
    const [a, b] = await Promise.all([loadSecrets(config), loadSecrets(config)]);
    assert.deepEqual(a, b);
  });

  test("a certificate that does not match the SP key is refused, naming both variables", async () => {
    const config = parseConfig({
      ...testEnv(),
      HERALD_SAML_SP_KEY_FILE: path.join(FIXTURES, "secrets/other.key"),
    });
    await assert.rejects(loadSecrets(config), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, ["HERALD_SAML_SP_CERT does not match HERALD_SAML_SP_KEY"]);
      return true;
    });
  });

  test("an org signing key that is not Ed25519 is refused", async () => {
    const config = parseConfig({
      ...testEnv(),
      HERALD_ORG_SIGNING_KEY_FILE: path.join(FIXTURES, "secrets/other.key"),
    });
    await assert.rejects(loadSecrets(config), /HERALD_ORG_SIGNING_KEY must be an Ed25519 key, got rsa/);
  });
});
