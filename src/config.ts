/**
 * Configuration: the only module that reads the environment.
 *
 * `parseConfig(env)` turns an environment into a typed, validated `Config`, or throws a
 * `ConfigError` whose message lists every problem with the variable to set and how to fix it.
 * Production (`NODE_ENV=production`) requires every secret explicitly; development has safe
 * defaults and generates its secrets once (see `secrets.ts`).
 */
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

export type Mode = "production" | "development" | "test";

export interface SamlMatch {
  /** `undefined` means the NameID; otherwise the attribute's Name (or FriendlyName). */
  readonly attribute: string | undefined;
  readonly field: "userName" | "email" | "externalId";
}

export interface SecretInput {
  /** The value, when given inline or read from `<NAME>_FILE`. */
  readonly value: string | undefined;
  /** The variable an operator sets to provide it. */
  readonly variable: string;
}

export interface Config {
  readonly mode: Mode;
  readonly port: number;
  readonly host: string;
  readonly origin: URL;
  /** The domain in handles: `@jane@<handleDomain>`. */
  readonly handleDomain: string;
  readonly database: DatabaseConfig;
  /** True when `DATABASE_URL` was not set: the embedded demo database. */
  readonly isDemoDatabase: boolean;
  readonly dataDir: string;
  readonly migrateOnStart: boolean;
  readonly trustProxy: boolean;
  readonly orgName: string;
  /**
   * The organization's logo in page headers: HERALD_ORG_LOGO_URL, else HERALD_ORG_AVATAR_URL;
   * undefined means a monogram of the name. https in production.
   */
  readonly orgLogoUrl: string | undefined;
  readonly log: { readonly level: LogLevel; readonly format: "pretty" | "json" };
  readonly shutdownTimeoutMs: number;
  readonly queue: { readonly pollIntervalMs: number; readonly workers: number; readonly leaseMs: number };
  /**
   * The term of the database lease that picks the one process running the once-per-deployment
   * event consumers (federation bridge, session revocation): another process takes over within
   * about this long after the holder dies.
   */
  readonly leaseMs: number;
  /** After SIGTERM: how long /readyz answers 503 while the process still serves (for balancers). */
  readonly drainDelayMs: number;
  /** The archive (src/archive/): records older than retentionDays are purged unless on legal hold. */
  readonly archive: { readonly retentionDays: number; readonly maintenanceIntervalMs: number };
  readonly secrets: {
    readonly sessionSecret: SecretInput;
    readonly orgSigningKey: SecretInput;
    readonly samlSpKey: SecretInput;
    readonly samlSpCert: SecretInput;
  };
  readonly saml: {
    /** The IdP's metadata: a file path or an http(s) URL. */
    readonly idpMetadata: string | undefined;
    /** How a login finds its person: the NameID or an attribute, against userName, email or externalId. */
    readonly match: SamlMatch;
    readonly idpInitiated: boolean;
    readonly clockDriftMs: number;
    readonly metadataRefreshMs: number;
    /** How often each process looks for IdP metadata changed at /admin/connect (stored in the database). */
    readonly metadataCheckMs: number;
    /** The development IdP under /dev-idp (never in production). */
    readonly devIdp: boolean;
    /** Sign-in messages per second per client address (login, ACS, SLO). */
    readonly ratePerSecond: number;
    readonly burst: number;
  };
  readonly scim: { readonly ratePerSecond: number; readonly burst: number; readonly maxBodyBytes: number };
  /**
   * The Mastodon client API (src/api/): requests per second per token (per client address without
   * one), and the OAuth endpoints' per-address limit (app registration, token exchange).
   */
  readonly api: {
    readonly ratePerSecond: number;
    readonly burst: number;
    readonly maxBodyBytes: number;
    readonly oauthRatePerSecond: number;
    readonly oauthBurst: number;
  };
  /**
   * Pictures (src/media/): where the processed files live — `disk` under HERALD_DATA_DIR/media, or
   * `database` (every process on several machines reads them; decision 0014) — and the bounds of
   * an upload: its bytes and its pixels (an animation's frames count together).
   */
  readonly media: {
    readonly store: "disk" | "database";
    readonly maxBytes: number;
    readonly maxPixels: number;
  };
  readonly sessions: { readonly idleMs: number; readonly absoluteMs: number };
  readonly verify: {
    readonly ratePerSecond: number;
    readonly burst: number;
    /** Yes/no lookups by email address (off unless the organization turns them on). */
    readonly emailLookup: boolean;
    /** The organization's email domains: the only ones a lookup answers for. */
    readonly emailDomains: readonly string[];
    /** Email lookups per minute per client address (enumeration guard). */
    readonly emailPerMinute: number;
    /** Public keys (PEM) of retired organization signing keys, still published in the JWKS. */
    readonly retiredKeys: readonly string[];
    /** Show current employees' public roles (the shared accounts they speak for). */
    readonly showRoles: boolean;
    /** The organization's scam guidance on /verify, one point per entry (undefined: the default). */
    readonly guidance: readonly string[] | undefined;
  };
  readonly inbox: {
    readonly ratePerSecond: number;
    readonly burst: number;
    readonly maxBodyBytes: number;
    /** Boosts by one followed remote account kept per account here (the newest; src/federation/received-boosts.ts). */
    readonly boostsPerBooster: number;
  };
  /**
   * Where rate limits are counted: `database` (MySQL/MariaDB only) shares one count among every
   * process on the database; `memory` counts per process (N processes: N× the limits).
   */
  readonly rateLimitStore: "memory" | "database";
  /** Bounds on every remote document Herald or Fedify fetches (src/federation/loader.ts). */
  readonly remoteFetch: { readonly maxBytes: number; readonly timeoutMs: number };
  readonly accounts: {
    /** When non-empty, only members of these SCIM groups (display names) get accounts. */
    readonly eligibleGroups: readonly string[];
    /** What people's handles are derived from (DESIGN rule 6: by default the userName). */
    readonly handleFrom: "userName" | "email" | "name";
    /** The organization actor's handle (default: derived from the org name). */
    readonly orgHandle: string | undefined;
    /** Person attributes shown as profile fields on actors. */
    readonly profileFields: readonly ("title" | "department")[];
    /** Sites whose articles may credit these accounts (Mastodon's attributionDomains). */
    readonly attributionDomains: readonly string[];
    /** Federation blocklist from the environment, added to the one managed with the CLI. */
    readonly blockedDomains: readonly string[];
    /** The avatar of the organization and its shared accounts. */
    readonly orgAvatarUrl: string | undefined;
  };
}

export type DatabaseConfig =
  | { readonly kind: "sqlite"; readonly path: string; readonly url: string }
  | { readonly kind: "mysql"; readonly url: string };

export type LogLevel = "trace" | "debug" | "info" | "warning" | "error" | "fatal";

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(
      `Herald cannot start: its configuration has ${problems.length} problem(s):\n` +
        problems.map((p) => `  - ${p}`).join("\n") +
        "\nSee README.md (Configuration) or .env.example for every variable.",
    );
    this.name = "ConfigError";
    this.problems = problems;
  }
}

const booleanString = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ["1", "0", "true", "false", "yes", "no", "on", "off"].includes(v), {
    message: "expected true or false",
  })
  .transform((v) => ["1", "true", "yes", "on"].includes(v));

const port = z.coerce
  .number({ message: "expected a port number" })
  .int("expected a whole number")
  .min(0, "expected 0–65535")
  .max(65535, "expected 0–65535");

const positiveInt = z.coerce.number().int().positive();

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  PORT: port.default(3000),
  HERALD_LISTEN_HOST: z.string().min(1).optional(),
  DATABASE_URL: z.string().trim().min(1).optional(),
  HERALD_ORIGIN: z.string().trim().optional(),
  HERALD_HANDLE_DOMAIN: z
    .string()
    .trim()
    .toLowerCase()
    .regex(
      /^(\[[0-9a-f:]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/,
      "expected a host name such as careers.corp.example (optionally with :port)",
    )
    .optional(),
  HERALD_DATA_DIR: z.string().trim().min(1).default("./data"),
  HERALD_MIGRATE: booleanString.default(true),
  HERALD_TRUST_PROXY: booleanString.default(false),
  HERALD_ORG_NAME: z.string().trim().min(1).max(200).optional(),
  HERALD_LOG_LEVEL: z.enum(["trace", "debug", "info", "warning", "error", "fatal"]).optional(),
  HERALD_LOG_FORMAT: z.enum(["pretty", "json"]).optional(),
  HERALD_SHUTDOWN_TIMEOUT_MS: positiveInt.default(10_000),
  HERALD_QUEUE_POLL_MS: positiveInt.max(60_000).default(500),
  HERALD_QUEUE_WORKERS: positiveInt.max(64).default(4),
  HERALD_QUEUE_LEASE_MS: positiveInt.min(500).default(30_000),
  HERALD_LEASE_MS: positiveInt.min(1000).max(600_000).default(5000),
  HERALD_DRAIN_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  // Seven years (FINRA 4511 / SEC 17a-4 keep most records six; many firms keep seven).
  HERALD_ARCHIVE_RETENTION_DAYS: positiveInt.max(36_500).default(2557),
  HERALD_ARCHIVE_MAINTENANCE_MS: positiveInt.min(1000).default(600_000),
  HERALD_SAML_IDP_METADATA: z.string().trim().min(1).optional(),
  HERALD_SAML_MATCH: z
    .string()
    .trim()
    .regex(
      /^(nameid|attribute:[^=\s]+)=(userName|email|externalId)$/i,
      "expected nameid=<field> or attribute:<name>=<field>, where field is userName, email or externalId",
    )
    .default("nameid=userName"),
  HERALD_SAML_IDP_INITIATED: booleanString.default(false),
  HERALD_SAML_CLOCK_DRIFT_SECONDS: z.coerce.number().int().min(0).max(600).default(60),
  HERALD_SAML_METADATA_REFRESH_MINUTES: positiveInt.default(60),
  HERALD_SAML_METADATA_CHECK_SECONDS: positiveInt.max(3600).default(5),
  HERALD_DEV_IDP: booleanString.optional(),
  HERALD_SAML_RATE_PER_SECOND: positiveInt.default(5),
  HERALD_SAML_BURST: positiveInt.default(30),
  HERALD_ACCOUNT_GROUPS: z.string().trim().optional(),
  HERALD_ORG_HANDLE: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9]([a-z0-9_]{0,28}[a-z0-9])?$/, "expected a handle: 1–30 of a-z, 0-9 and _")
    .optional(),
  HERALD_PROFILE_FIELDS: z.string().trim().default("title"),
  HERALD_HANDLE_FROM: z.enum(["userName", "email", "name"]).default("userName"),
  HERALD_ATTRIBUTION_DOMAINS: z.string().trim().optional(),
  HERALD_BLOCKED_DOMAINS: z.string().trim().optional(),
  HERALD_ORG_AVATAR_URL: z.string().trim().url("expected an https URL of an image").optional(),
  HERALD_ORG_LOGO_URL: z
    .string()
    .trim()
    .url("expected the URL of an image, e.g. https://corp.example/logo.svg")
    .refine(
      (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
      "expected an http(s) URL of an image",
    )
    .optional(),
  HERALD_SESSION_IDLE_MINUTES: positiveInt.default(480),
  HERALD_SESSION_MAX_HOURS: positiveInt.default(24),
  HERALD_VERIFY_RATE_PER_SECOND: positiveInt.default(20),
  HERALD_VERIFY_BURST: positiveInt.default(40),
  HERALD_VERIFY_EMAIL_LOOKUP: booleanString.default(false),
  HERALD_VERIFY_ROLES: booleanString.default(true),
  HERALD_VERIFY_GUIDANCE_FILE: z.string().trim().min(1).optional(),
  HERALD_VERIFY_EMAIL_DOMAINS: z.string().trim().optional(),
  HERALD_VERIFY_EMAIL_PER_MINUTE: positiveInt.max(600).default(10),
  HERALD_ORG_RETIRED_KEYS_FILE: z.string().trim().min(1).optional(),
  HERALD_INBOX_RATE_PER_SECOND: positiveInt.default(100),
  HERALD_INBOX_BURST: positiveInt.default(500),
  HERALD_INBOX_MAX_BODY_BYTES: positiveInt.default(1_048_576),
  HERALD_RECEIVED_BOOSTS_PER_BOOSTER: positiveInt.max(100_000).default(200),
  HERALD_REMOTE_FETCH_MAX_BYTES: positiveInt.default(1_048_576),
  HERALD_REMOTE_FETCH_TIMEOUT_MS: positiveInt.default(10_000),
  HERALD_SCIM_RATE_PER_SECOND: positiveInt.default(1000),
  HERALD_SCIM_BURST: positiveInt.default(2000),
  HERALD_SCIM_MAX_BODY_BYTES: positiveInt.default(1_048_576),
  HERALD_API_RATE_PER_SECOND: positiveInt.default(50),
  HERALD_API_BURST: positiveInt.default(300),
  HERALD_API_MAX_BODY_BYTES: positiveInt.default(65_536),
  HERALD_OAUTH_RATE_PER_SECOND: positiveInt.default(5),
  HERALD_OAUTH_BURST: positiveInt.default(30),
  HERALD_MEDIA_STORE: z.enum(["disk", "database"]).default("disk"),
  HERALD_MEDIA_MAX_BYTES: positiveInt.max(100 * 1024 * 1024).default(16 * 1024 * 1024),
  HERALD_MEDIA_MAX_PIXELS: positiveInt.max(268_402_689).default(33_177_600),
  HERALD_RATE_LIMIT_STORE: z.enum(["memory", "database"]).optional(),
});

/** Every environment variable Herald reads (README's configuration table and .env.example list each). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

const SECRETS = {
  sessionSecret: "HERALD_SESSION_SECRET",
  orgSigningKey: "HERALD_ORG_SIGNING_KEY",
  samlSpKey: "HERALD_SAML_SP_KEY",
  samlSpCert: "HERALD_SAML_SP_CERT",
} as const;

const SECRET_HELP: Record<keyof typeof SECRETS, string> = {
  sessionSecret: "at least 32 random bytes, e.g. `openssl rand -base64 48`",
  orgSigningKey: "an Ed25519 private key in PKCS#8 PEM, e.g. `openssl genpkey -algorithm ed25519`",
  samlSpKey: "the SAML SP's RSA private key in PEM, e.g. `openssl genrsa 2048`",
  samlSpCert:
    "the SAML SP's X.509 certificate in PEM, e.g. `openssl req -new -x509 -key sp.key -days 730 -subj /CN=herald`",
};

export const DEFAULT_SQLITE_URL = "sqlite:./data/herald.sqlite";

/** Parses the environment. Throws `ConfigError` listing every problem at once. */
export function parseConfig(env: Readonly<Record<string, string | undefined>>): Config {
  // Empty strings mean "unset": shells and compose files often export VAR= .
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") cleaned[k] = v;

  const problems: string[] = [];
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? "environment");
      problems.push(`${name}=${JSON.stringify(cleaned[name] ?? "")}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;

  const modeRaw = (e.NODE_ENV ?? "development").toLowerCase();
  const mode: Mode = modeRaw === "production" ? "production" : modeRaw === "test" ? "test" : "development";
  const production = mode === "production";

  let origin: URL;
  if (e.HERALD_ORIGIN === undefined) {
    if (production) {
      problems.push(
        "HERALD_ORIGIN is required in production: the public https URL people and remote servers use, e.g. https://social.corp.example",
      );
    }
    origin = new URL(`http://localhost:${e.PORT === 0 ? 3000 : e.PORT}`);
  } else {
    try {
      origin = new URL(e.HERALD_ORIGIN);
      if (origin.protocol !== "https:" && origin.protocol !== "http:") {
        problems.push(`HERALD_ORIGIN must be an http(s) URL, got ${origin.protocol}`);
      } else if (origin.pathname !== "/" || origin.search || origin.hash) {
        problems.push("HERALD_ORIGIN must be an origin without a path, e.g. https://social.corp.example");
      } else if (production && origin.protocol !== "https:") {
        problems.push(
          "HERALD_ORIGIN must use https in production (ActivityPub peers and SAML IdPs expect it)",
        );
      }
      origin = new URL(origin.origin);
    } catch {
      problems.push(
        `HERALD_ORIGIN=${JSON.stringify(e.HERALD_ORIGIN)} is not a URL; expected e.g. https://social.corp.example`,
      );
      origin = new URL("http://localhost:3000");
    }
  }

  const handleDomain = e.HERALD_HANDLE_DOMAIN ?? origin.host;

  let database: DatabaseConfig;
  const dbUrl = e.DATABASE_URL ?? DEFAULT_SQLITE_URL;
  if (dbUrl.startsWith("sqlite:")) {
    const file = dbUrl.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (file === "")
      problems.push("DATABASE_URL=sqlite: needs a file path, e.g. sqlite:./data/herald.sqlite");
    database = {
      kind: "sqlite",
      path: file === ":memory:" ? file : path.resolve(file),
      url: dbUrl,
    };
  } else if (dbUrl.startsWith("mysql://") || dbUrl.startsWith("mariadb://")) {
    try {
      const u = new URL(dbUrl);
      if (u.pathname.length <= 1)
        problems.push("DATABASE_URL needs a database name, e.g. mysql://herald:secret@db:3306/herald");
    } catch {
      problems.push("DATABASE_URL is not a valid URL; expected mysql://user:password@host:3306/database");
    }
    database = { kind: "mysql", url: dbUrl.replace(/^mariadb:/, "mysql:") };
  } else {
    problems.push(
      "DATABASE_URL must start with sqlite: (e.g. sqlite:./data/herald.sqlite) or mysql:// (e.g. mysql://herald:secret@db:3306/herald)",
    );
    database = {
      kind: "sqlite",
      path: path.resolve("./data/herald.sqlite"),
      url: DEFAULT_SQLITE_URL,
    };
  }

  /** A file a variable names, or undefined (and the problem noted) when it cannot be read. */
  const readSetting = (variable: string, file: string): string | undefined => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      problems.push(`${variable}=${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`);
      return undefined;
    }
  };

  const secret = (key: keyof typeof SECRETS): SecretInput => {
    const variable = SECRETS[key];
    const inline = cleaned[variable];
    const file = cleaned[`${variable}_FILE`];
    if (inline !== undefined && file !== undefined) {
      problems.push(`${variable} and ${variable}_FILE are both set; keep one`);
    }
    let value: string | undefined = inline;
    if (value === undefined && file !== undefined) value = readSetting(`${variable}_FILE`, file)?.trim();
    if (value === undefined && production) {
      problems.push(`${variable} (or ${variable}_FILE) is required in production: ${SECRET_HELP[key]}`);
    }
    if (key === "sessionSecret" && value !== undefined && Buffer.byteLength(value) < 32) {
      problems.push(`${variable} is too short: use ${SECRET_HELP.sessionSecret}`);
    }
    return { value, variable };
  };
  const secrets = {
    sessionSecret: secret("sessionSecret"),
    orgSigningKey: secret("orgSigningKey"),
    samlSpKey: secret("samlSpKey"),
    samlSpCert: secret("samlSpCert"),
  };

  const profileFields: ("title" | "department")[] = [];
  for (const f of e.HERALD_PROFILE_FIELDS.split(",")
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean)) {
    if (f === "title" || f === "department") profileFields.push(f);
    else if (f !== "none")
      problems.push(`HERALD_PROFILE_FIELDS: unknown field "${f}"; use title, department or none`);
  }

  // Rotation of the organization's signing key: the old public keys stay in the JWKS for a while.
  let retiredKeys: string[] = [];
  const retiredFile = e.HERALD_ORG_RETIRED_KEYS_FILE;
  const retiredText =
    retiredFile === undefined ? undefined : readSetting("HERALD_ORG_RETIRED_KEYS_FILE", retiredFile);
  if (retiredText !== undefined) {
    retiredKeys = retiredText.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
    if (retiredKeys.length === 0)
      problems.push(`HERALD_ORG_RETIRED_KEYS_FILE=${retiredFile} holds no PEM key`);
    for (const [i, pem] of retiredKeys.entries()) {
      let type: string | undefined;
      try {
        type = createPublicKey(pem).asymmetricKeyType;
      } catch {
        type = "unreadable";
      }
      if (type !== "ed25519")
        problems.push(
          `HERALD_ORG_RETIRED_KEYS_FILE: key ${i + 1} must be an Ed25519 key (public or private PEM), got ${type}`,
        );
    }
  }

  // The scam guidance on /verify: plain text, one point per line (the org edits it, no markup).
  let guidance: string[] | undefined;
  const guidanceFile = e.HERALD_VERIFY_GUIDANCE_FILE;
  const guidanceText =
    guidanceFile === undefined ? undefined : readSetting("HERALD_VERIFY_GUIDANCE_FILE", guidanceFile);
  if (guidanceText !== undefined) {
    guidance = guidanceText
      .split("\n")
      .map((l) => l.replace(/^[-*•]\s*/, "").trim())
      .filter((l) => l !== "" && !l.startsWith("#"));
    if (guidance.length === 0)
      problems.push(`HERALD_VERIFY_GUIDANCE_FILE=${guidanceFile} has no guidance lines`);
  }

  if (e.HERALD_RATE_LIMIT_STORE === "database" && database.kind !== "mysql")
    problems.push(
      "HERALD_RATE_LIMIT_STORE=database needs a MySQL or MariaDB DATABASE_URL; on SQLite (one process) use memory, the default",
    );

  const orgLogoUrl = e.HERALD_ORG_LOGO_URL ?? e.HERALD_ORG_AVATAR_URL;
  if (production && orgLogoUrl !== undefined && new URL(orgLogoUrl).protocol !== "https:")
    problems.push(
      `${e.HERALD_ORG_LOGO_URL ? "HERALD_ORG_LOGO_URL" : "HERALD_ORG_AVATAR_URL"} must be an https URL in production (pages allow images over https only)`,
    );
  else if (orgLogoUrl !== undefined && !/^https?:$/.test(new URL(orgLogoUrl).protocol))
    problems.push("HERALD_ORG_AVATAR_URL must be an http(s) URL of an image");

  if (production && e.HERALD_DEV_IDP === true)
    problems.push(
      "HERALD_DEV_IDP=true is refused in production: it signs in anyone; configure HERALD_SAML_IDP_METADATA",
    );

  if (problems.length > 0) throw new ConfigError(problems);

  return {
    mode,
    port: e.PORT,
    host: e.HERALD_LISTEN_HOST ?? (production ? "0.0.0.0" : "127.0.0.1"),
    origin,
    handleDomain,
    database,
    isDemoDatabase: e.DATABASE_URL === undefined,
    dataDir: path.resolve(e.HERALD_DATA_DIR),
    migrateOnStart: e.HERALD_MIGRATE,
    trustProxy: e.HERALD_TRUST_PROXY,
    orgName: e.HERALD_ORG_NAME ?? (production ? "Herald" : "Demo Corp"),
    orgLogoUrl,
    log: {
      level: e.HERALD_LOG_LEVEL ?? (mode === "test" ? "warning" : "info"),
      format: e.HERALD_LOG_FORMAT ?? (production ? "json" : "pretty"),
    },
    shutdownTimeoutMs: e.HERALD_SHUTDOWN_TIMEOUT_MS,
    queue: {
      pollIntervalMs: e.HERALD_QUEUE_POLL_MS,
      workers: e.HERALD_QUEUE_WORKERS,
      leaseMs: e.HERALD_QUEUE_LEASE_MS,
    },
    leaseMs: e.HERALD_LEASE_MS,
    drainDelayMs: e.HERALD_DRAIN_DELAY_MS,
    archive: {
      retentionDays: e.HERALD_ARCHIVE_RETENTION_DAYS,
      maintenanceIntervalMs: e.HERALD_ARCHIVE_MAINTENANCE_MS,
    },
    secrets,
    saml: {
      idpMetadata: e.HERALD_SAML_IDP_METADATA,
      match: samlMatch(e.HERALD_SAML_MATCH),
      idpInitiated: e.HERALD_SAML_IDP_INITIATED,
      clockDriftMs: e.HERALD_SAML_CLOCK_DRIFT_SECONDS * 1000,
      metadataRefreshMs: e.HERALD_SAML_METADATA_REFRESH_MINUTES * 60_000,
      metadataCheckMs: e.HERALD_SAML_METADATA_CHECK_SECONDS * 1000,
      ratePerSecond: e.HERALD_SAML_RATE_PER_SECOND,
      burst: e.HERALD_SAML_BURST,
      // On by default for `npm start` (development) without an IdP; tests and production opt in or never.
      devIdp:
        !production &&
        (e.HERALD_DEV_IDP ?? (mode === "development" && e.HERALD_SAML_IDP_METADATA === undefined)),
    },
    verify: {
      ratePerSecond: e.HERALD_VERIFY_RATE_PER_SECOND,
      burst: e.HERALD_VERIFY_BURST,
      emailLookup: e.HERALD_VERIFY_EMAIL_LOOKUP,
      emailDomains: emailDomains(e.HERALD_VERIFY_EMAIL_DOMAINS, handleDomain),
      emailPerMinute: e.HERALD_VERIFY_EMAIL_PER_MINUTE,
      retiredKeys,
      showRoles: e.HERALD_VERIFY_ROLES,
      guidance,
    },
    sessions: {
      idleMs: e.HERALD_SESSION_IDLE_MINUTES * 60_000,
      absoluteMs: e.HERALD_SESSION_MAX_HOURS * 3_600_000,
    },
    inbox: {
      ratePerSecond: e.HERALD_INBOX_RATE_PER_SECOND,
      burst: e.HERALD_INBOX_BURST,
      maxBodyBytes: e.HERALD_INBOX_MAX_BODY_BYTES,
      boostsPerBooster: e.HERALD_RECEIVED_BOOSTS_PER_BOOSTER,
    },
    rateLimitStore: e.HERALD_RATE_LIMIT_STORE ?? (database.kind === "mysql" ? "database" : "memory"),
    remoteFetch: {
      maxBytes: e.HERALD_REMOTE_FETCH_MAX_BYTES,
      timeoutMs: e.HERALD_REMOTE_FETCH_TIMEOUT_MS,
    },
    accounts: {
      eligibleGroups: (e.HERALD_ACCOUNT_GROUPS ?? "")
        .split(",")
        .map((g) => g.trim())
        .filter(Boolean),
      orgHandle: e.HERALD_ORG_HANDLE,
      handleFrom: e.HERALD_HANDLE_FROM,
      profileFields,
      attributionDomains: (e.HERALD_ATTRIBUTION_DOMAINS ?? "")
        .split(",")
        .map((d) => d.trim().toLowerCase())
        .filter(Boolean),
      blockedDomains: (e.HERALD_BLOCKED_DOMAINS ?? "")
        .split(",")
        .map((d) => d.trim().toLowerCase())
        .filter(Boolean),
      orgAvatarUrl: e.HERALD_ORG_AVATAR_URL,
    },
    scim: {
      ratePerSecond: e.HERALD_SCIM_RATE_PER_SECOND,
      burst: e.HERALD_SCIM_BURST,
      maxBodyBytes: e.HERALD_SCIM_MAX_BODY_BYTES,
    },
    api: {
      ratePerSecond: e.HERALD_API_RATE_PER_SECOND,
      burst: e.HERALD_API_BURST,
      maxBodyBytes: e.HERALD_API_MAX_BODY_BYTES,
      oauthRatePerSecond: e.HERALD_OAUTH_RATE_PER_SECOND,
      oauthBurst: e.HERALD_OAUTH_BURST,
    },
    media: {
      store: e.HERALD_MEDIA_STORE,
      maxBytes: e.HERALD_MEDIA_MAX_BYTES,
      maxPixels: e.HERALD_MEDIA_MAX_PIXELS,
    },
  };
}

function samlMatch(value: string): SamlMatch {
  const [source, field] = value.split("=");
  const fields = { username: "userName", email: "email", externalid: "externalId" } as const;
  return {
    attribute: source.toLowerCase() === "nameid" ? undefined : source.slice("attribute:".length),
    field: fields[field.toLowerCase() as keyof typeof fields],
  };
}

/** The email domains lookups answer for: the listed ones, or the handle domain's host. */
function emailDomains(value: string | undefined, handleDomain: string): string[] {
  const listed = (value ?? "")
    .split(",")
    .map((d) => d.trim().toLowerCase().replace(/^@/, ""))
    .filter(Boolean);
  return listed.length > 0 ? listed : [handleDomain.replace(/:\d+$/, "")];
}
