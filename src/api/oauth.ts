/**
 * OAuth 2 for the Mastodon client API (RFC 6749 as Mastodon speaks it, PKCE RFC 7636, revocation
 * RFC 7009): apps, authorization codes and access tokens. A token is bound to (app, person,
 * account, scopes) and is only ever a claim: every API call decides afresh whether the person
 * still may act for the account (src/api/auth.ts). Client secrets, codes and tokens are 256 random
 * bits stored as SHA-256; secrets are compared in constant time.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { IsNull, LessThan } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import type { DirectoryEvent, EventConsumer } from "../identity/events.ts";
import {
  type ApiAppRow,
  ApiAppSchema,
  type ApiCodeRow,
  ApiCodeSchema,
  ApiIdempotencySchema,
  type ApiTokenRow,
  ApiTokenSchema,
} from "./entities.ts";
import { parseScopes, subsetOf } from "./scopes.ts";
import { AuthzStateSchema } from "../authz/entities.ts";
import { type ActorRow, ActorSchema } from "../federation/entities.ts";
import { type CallerPerson, type GroupRef, rawPersonAndGroups } from "../identity/directory.ts";
import { rawColumns } from "../db/raw.ts";
import { FEED_VERSION_COLUMN, globalFeedVersionSql } from "./feed.ts";

/** Out-of-band: the code is shown to the person, who pastes it into the app (Mastodon's). */
export const OOB = "urn:ietf:wg:oauth:2.0:oob";
/** Prefix of access tokens, so secret scanners can spot a leaked one. */
export const ACCESS_TOKEN_PREFIX = "hrla_";
/** Authorization codes live 10 minutes (RFC 6749 §4.1.2 recommends at most 10). */
export const CODE_TTL_MS = 10 * 60_000;

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const secret = (bytes = 32) => randomBytes(bytes).toString("base64url");

/** Same length, same bytes, in constant time (hex digests). */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** An OAuth error as RFC 6749 §5.2 names it, with the HTTP status to answer. */
export interface OAuthError {
  readonly ok: false;
  readonly status: 400 | 401 | 403;
  readonly error:
    | "invalid_request"
    | "invalid_client"
    | "invalid_grant"
    | "unauthorized_client"
    | "unsupported_grant_type"
    | "invalid_scope"
    | "access_denied";
  readonly description: string;
}

const oauthError = (
  status: OAuthError["status"],
  error: OAuthError["error"],
  description: string,
): OAuthError => ({ ok: false, status, error, description });

/** A redirect URI an app may register: absolute, no fragment, no script schemes. */
export function checkRedirectUri(uri: string, production: boolean): string | undefined {
  if (uri === OOB) return undefined;
  if (uri.length > 2000) return "a redirect URI is longer than 2,000 characters";
  if (!URL.canParse(uri)) return `${uri} is not an absolute URI`;
  const u = new URL(uri);
  if (u.hash || uri.includes("#")) return `${uri} has a fragment (RFC 6749 §3.1.2)`;
  if (["javascript:", "data:", "vbscript:", "file:", "blob:", "about:"].includes(u.protocol))
    return `${u.protocol} redirect URIs are not allowed`;
  // RFC 8252 §8.3: plain http only to the device itself (native apps' loopback redirect).
  const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(u.hostname);
  if (production && u.protocol === "http:" && !loopback)
    return `${uri}: http redirect URIs are allowed only to loopback; use https`;
  return undefined;
}

/** What one API call reads about its token, in one query (`resolveForCall`). */
export interface CallRead {
  readonly token: ApiTokenRow;
  readonly app: ApiAppRow | null;
  /** Who the token's person is and their standing (not their whole directory record). */
  readonly person: CallerPerson | null;
  readonly account: ActorRow | null;
  /** The person's groups now (ordered as the directory orders them). */
  readonly groups: readonly GroupRef[];
  /** The Casbin policy's version now (src/authz/authz.ts). */
  readonly policyVersion: number;
  /**
   * What the account's home timeline is at now (src/api/feed.ts): its own feed version and the
   * global one, as one opaque string ("" without an account).
   */
  readonly feedVersion: string;
  /**
   * This read's identity: the token's hash and the change stamp it was read under (SQLite), or a
   * number given to each different set of rows the token's reads returned (MySQL). Equal values
   * mean the same rows, so what was decided from one holds for the other (src/api/auth.ts keeps
   * the standing under it).
   */
  readonly unchangedSince?: string;
}

/** Tokens one decision statement reads at most (MySQL, calls that arrived together). */
const CALL_BATCH = 64;
/**
 * The statement sizes a batch is padded to (by repeating its last hash), so a connection holds a
 * handful of prepared statements, not one per batch size.
 */
const BATCH_SIZES = [1, 4, 16, CALL_BATCH] as const;
/** Tokens whose last read one process keeps; past it, the map starts again. */
const UNCHANGED_LIMIT = 10_000;

/** MySQL decision reads: how they are shared, bounded and timed out (tests shorten them). */
export interface DecisionReads {
  /** Reads under way at once at most. */
  readonly lanes: number;
  /** A read still under way after this long lets the next one start beside it (ms). */
  readonly slowMs: number;
  /** A read not answered in this long is abandoned: its calls are answered 503 (ms). */
  readonly timeoutMs: number;
  /**
   * Distinct tokens waiting for a read at most; calls of more are answered 503 at once, unless
   * their token was read as valid before by this process.
   */
  readonly maxWaiting: number;
}

export const DECISION_READS: DecisionReads = { lanes: 4, slowMs: 250, timeoutMs: 5000, maxWaiting: 4096 };

/** A call whose decision could not be read now (the database is slow or unreachable). */
export class DecisionUnavailableError extends Error {
  constructor(reason: string) {
    super(`The access token could not be checked now (${reason}); try again in a moment`);
  }
}

/** A read's rows as fresh objects: whatever a request does to them stays in that request. */
function copyOf(r: CallRead): CallRead {
  return {
    ...r,
    token: { ...r.token },
    app: r.app && { ...r.app },
    person: r.person && { ...r.person },
    account: r.account && { ...r.account },
    groups: r.groups.map((g) => ({ ...g })),
  };
}

export interface IssuedToken {
  readonly token: string;
  readonly row: ApiTokenRow;
}

export function createOAuth(deps: { db: Database; production: boolean; reads?: Partial<DecisionReads> }) {
  const { db } = deps;
  const reads: DecisionReads = { ...DECISION_READS, ...deps.reads };

  /**
   * The per-call read as one hand-written statement (built once from the entities' columns, run
   * through `Database.rows`): the token by its hash, joined with its app, account, person and the
   * person's groups (one row per group), the policy's version and the feed versions (src/api/feed.ts).
   */
  let callStatement: ReturnType<typeof buildCallStatement> | undefined;
  /**
   * Each token's last read, with what it was read under: SQLite, the change stamp; MySQL, the
   * rows themselves (resolveForCall).
   */
  const unchanged = new Map<string, { stamp: string; read: CallRead }>();
  /**
   * MySQL: the tokens whose calls wait for the next read (in arrival order: a Map iterates so),
   * the reads under way, and when the newest of them started.
   */
  type Waiter = { resolve: (rows: unknown[][]) => void; reject: (e: unknown) => void };
  const waiting = new Map<string, Waiter[]>();
  let lanes = 0;
  let newestStart = 0;
  let generation = 0;

  /**
   * MySQL: the token's rows, read by a statement that starts after this call began. The calls
   * that arrive while a read is under way, of any tokens, are read together by the next one (up
   * to CALL_BATCH tokens a statement): any commit before a call began is seen by the read it
   * gets (a revocation or a removal still counts on the very next call), and 64 concurrent calls
   * cost a statement at a time, not 64. One read at a time, unless it is slow: then another
   * starts beside it (up to `lanes`), so one stuck statement does not hold every call of the
   * process; a read past `timeoutMs` is abandoned and its calls answered 503.
   */
  function freshRows(tokenHash: string): Promise<unknown[][]> {
    return new Promise((resolve, reject) => {
      const calls = waiting.get(tokenHash);
      if (calls) calls.push({ resolve, reject });
      // Past the bound, only a token this process has read as valid may still wait (at most
      // UNCHANGED_LIMIT of them): made-up tokens fill the room, but cannot lock real ones out.
      else if (waiting.size >= reads.maxWaiting && !unchanged.has(tokenHash))
        return reject(new DecisionUnavailableError("too many calls are waiting for the database"));
      else waiting.set(tokenHash, [{ resolve, reject }]);
      if (lanes === 0) void lane();
      else startBesideSlow();
    });
  }

  /** Calls wait and the newest read under way is slow: the next one starts beside it (up to `lanes`). */
  function startBesideSlow(): void {
    if (waiting.size > 0 && lanes < reads.lanes && Date.now() - newestStart >= reads.slowMs) void lane();
  }

  /** Takes the next batch: the first CALL_BATCH waiting tokens, in arrival order. */
  function nextBatch() {
    const batch: [string, Waiter[]][] = [];
    for (const entry of waiting) {
      batch.push(entry);
      if (batch.length === CALL_BATCH) break;
    }
    for (const [hash] of batch) waiting.delete(hash);
    return batch;
  }

  /** One lane: reads batches while calls wait. */
  async function lane(): Promise<void> {
    lanes++;
    try {
      const statement = (callStatement ??= buildCallStatement());
      while (waiting.size > 0) {
        const batch = nextBatch();
        const size = BATCH_SIZES.find((n) => n >= batch.length) ?? CALL_BATCH;
        const hashes = batch.map(([hash]) => hash);
        while (hashes.length < size) hashes.push(hashes[hashes.length - 1]);
        newestStart = Date.now();
        // Still under way after slowMs, with calls waiting: the next read starts beside it.
        const slow = setTimeout(startBesideSlow, reads.slowMs);
        try {
          const rows = await db.rows(statement.sql(size), hashes, { timeoutMs: reads.timeoutMs });
          for (const [hash, calls] of batch) {
            const mine = rows.filter((r) => r[0] === hash);
            for (const c of calls) c.resolve(mine);
          }
        } catch (error) {
          const failed = /timeout/i.test(String((error as { code?: string }).code ?? error))
            ? new DecisionUnavailableError(`the database did not answer in ${reads.timeoutMs} ms`)
            : error;
          for (const [, calls] of batch) for (const c of calls) c.reject(failed);
        } finally {
          clearTimeout(slow);
        }
      }
    } finally {
      lanes--;
    }
  }

  function buildCallStatement() {
    const ds = db.dataSource;
    const e = (s: string) => ds.driver.escape(s);
    const col = (alias: string, column: string) => `${e(alias)}.${e(column)}`;
    const table = (schema: { options: { tableName?: string } }) => e(schema.options.tableName!);
    const token = rawColumns(ds, ApiTokenSchema, "t");
    const app = rawColumns(ds, ApiAppSchema, "app");
    const account = rawColumns(ds, ActorSchema, "account");
    const joined = rawPersonAndGroups(ds, col("t", "person_id"));
    // Each row starts with the token's hash (which token of a batch it belongs to).
    const at = {
      token: 1,
      app: 1 + token.width,
      account: 1 + token.width + app.width,
      versions: 1 + token.width + app.width + account.width,
      person: 1 + token.width + app.width + account.width + 3,
    };
    const head =
      `SELECT ${col("t", "token_hash")}, ${token.sql}, ${app.sql}, ${account.sql}, ${col("account", FEED_VERSION_COLUMN)}, ` +
      `(SELECT ${col("s", "version")} FROM ${table(AuthzStateSchema)} ${e("s")} WHERE ${col("s", "id")} = 1), ` +
      `(${globalFeedVersionSql(ds)}), ${joined.select} ` +
      `FROM ${table(ApiTokenSchema)} ${e("t")} ` +
      `LEFT JOIN ${table(ApiAppSchema)} ${e("app")} ON ${col("app", "id")} = ${col("t", "app_id")} ` +
      `LEFT JOIN ${table(ActorSchema)} ${e("account")} ON ${col("account", "id")} = ${col("t", "account_id")} ` +
      `${joined.joins} WHERE ${col("t", "token_hash")} `;
    const texts: string[] = [];
    return {
      /** The statement for `n` tokens' hashes (one text per n, each prepared once; n of BATCH_SIZES). */
      sql(n: number): string {
        return (texts[n] ??=
          head +
          (n === 1 ? "= ?" : `IN (${Array.from({ length: n }, () => "?").join(", ")})`) +
          ` ORDER BY ${col("t", "token_hash")}, ${joined.orderBy}`);
      },
      /** The read of one token from its rows (in the statement's order). */
      read(rows: readonly (readonly unknown[])[], tokenHash: string): CallRead | undefined {
        const first = rows[0];
        const row = first ? token.read(first, at.token) : null;
        if (!first || !row || row.revokedAt || !sameHash(row.tokenHash, tokenHash)) return undefined;
        const accountRow = account.read(first, at.account);
        return {
          token: row,
          app: app.read(first, at.app),
          person: joined.person(first, at.person),
          account: accountRow,
          groups: joined.groups(rows, at.person),
          policyVersion: Number(first[at.versions + 1] ?? 0),
          feedVersion: accountRow
            ? `${Number(first[at.versions] ?? 0)}.${Number(first[at.versions + 2] ?? 0)}`
            : "",
        };
      },
    };
  }

  async function issueToken(input: {
    appId: string;
    personId: string | null;
    accountId: string | null;
    scopes: readonly string[];
    by: string;
  }): Promise<IssuedToken> {
    const token = ACCESS_TOKEN_PREFIX + secret();
    const row: ApiTokenRow = {
      id: randomUUID(),
      tokenHash: sha256(token),
      tokenHint: token.slice(0, ACCESS_TOKEN_PREFIX.length + 4),
      appId: input.appId,
      personId: input.personId,
      accountId: input.accountId,
      scopes: input.scopes.join(" "),
      createdAt: new Date(),
      createdBy: input.by,
      lastUsedAt: null,
      revokedAt: null,
      revokedBy: null,
    };
    await db.transaction(async (em) => {
      await em.getRepository(ApiTokenSchema).insert(row);
      await recordAudit(em, {
        actor: input.by,
        action: "api-token.create",
        targetType: "api-token",
        targetId: row.id,
        detail: {
          app: input.appId,
          personId: input.personId,
          accountId: input.accountId,
          scopes: row.scopes,
          hint: row.tokenHint,
        },
      });
    });
    return { token, row };
  }

  async function revokeToken(id: string, by: string): Promise<boolean> {
    return db.transaction(async (em) => {
      const r = await em
        .getRepository(ApiTokenSchema)
        .update({ id, revokedAt: IsNull() }, { revokedAt: new Date(), revokedBy: by });
      if ((r.affected ?? 0) === 0) return false;
      await recordAudit(em, { actor: by, action: "api-token.revoke", targetType: "api-token", targetId: id });
      return true;
    });
  }

  /** A person's tokens end with their employment (DESIGN rule 2), like their sessions. */
  async function revokeAllOf(personId: string, by: string): Promise<number> {
    const live = await db.run((em) =>
      em.getRepository(ApiTokenSchema).findBy({ personId, revokedAt: IsNull() }),
    );
    let n = 0;
    for (const t of live) if (await revokeToken(t.id, by)) n++;
    return n;
  }

  const consumer: EventConsumer = {
    name: "api-tokens",
    kind: "cluster",
    async handle(event: DirectoryEvent) {
      if (
        event.type === "person.deactivated" ||
        event.type === "person.deleted" ||
        event.type === "person.erased"
      )
        await revokeAllOf(event.personId, "system:deprovisioning");
    },
  };

  return {
    consumer,
    issueToken,
    revokeToken,
    revokeAllOf,

    /** POST /api/v1/apps (and the CLI's app): a client id and a secret shown once. */
    async registerApp(input: {
      name: string;
      redirectUris: readonly string[];
      scopes: string | undefined;
      website: string | null;
      by: string;
    }): Promise<{ ok: true; app: ApiAppRow; clientSecret: string } | { ok: false; message: string }> {
      const name = input.name.trim();
      if (name === "" || name.length > 255)
        return { ok: false, message: "client_name must be 1–255 characters" };
      if (input.redirectUris.length === 0) return { ok: false, message: "redirect_uris can't be blank" };
      if (input.redirectUris.length > 10) return { ok: false, message: "at most 10 redirect_uris" };
      for (const uri of input.redirectUris) {
        const problem = checkRedirectUri(uri, deps.production);
        if (problem) return { ok: false, message: `redirect_uris: ${problem}` };
      }
      const scopes = parseScopes(input.scopes);
      if (!scopes.ok) return { ok: false, message: `scopes: unknown scope ${scopes.unknown}` };
      if (input.website && (input.website.length > 2048 || !/^https?:\/\//.test(input.website)))
        return { ok: false, message: "website must be an http(s) URL" };
      const clientSecret = secret();
      const app: ApiAppRow = {
        id: randomUUID(),
        name,
        website: input.website || null,
        redirectUris: input.redirectUris.join("\n"),
        scopes: scopes.scopes.join(" "),
        clientId: secret(24),
        secretHash: sha256(clientSecret),
        createdAt: new Date(),
        createdBy: input.by,
      };
      await db.transaction(async (em) => {
        await em.getRepository(ApiAppSchema).insert(app);
        await recordAudit(em, {
          actor: input.by,
          action: "api-app.create",
          targetType: "api-app",
          targetId: app.id,
          detail: { name, redirectUris: input.redirectUris, scopes: app.scopes },
        });
      });
      return { ok: true, app, clientSecret };
    },

    async appByClientId(clientId: string | undefined): Promise<ApiAppRow | null> {
      if (!clientId || clientId.length > 64) return null;
      return db.run((em) => em.getRepository(ApiAppSchema).findOneBy({ clientId }));
    },

    async appById(id: string): Promise<ApiAppRow | null> {
      return db.run((em) => em.getRepository(ApiAppSchema).findOneBy({ id }));
    },

    /** The app, if the secret is its own (RFC 6749 §2.3.1), compared in constant time. */
    async authenticateClient(
      clientId: string | undefined,
      clientSecret: string | undefined,
    ): Promise<ApiAppRow | OAuthError> {
      const app = await this.appByClientId(clientId);
      const presented = sha256(clientSecret ?? "");
      // Compare against something even for an unknown client: the same work either way.
      const ok = sameHash(app?.secretHash ?? sha256(randomUUID()), presented);
      if (!app || !clientSecret || !ok)
        return oauthError(
          401,
          "invalid_client",
          "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        );
      return app;
    },

    /** The consent was given: a one-time code for this app, person, account and scopes. */
    async issueCode(input: {
      app: ApiAppRow;
      personId: string;
      accountId: string;
      scopes: readonly string[];
      redirectUri: string;
      challenge: string | null;
    }): Promise<string> {
      const code = secret();
      const now = new Date();
      await db.transaction(async (em) => {
        await em.getRepository(ApiCodeSchema).insert({
          codeHash: sha256(code),
          appId: input.app.id,
          personId: input.personId,
          accountId: input.accountId,
          scopes: input.scopes.join(" "),
          redirectUri: input.redirectUri,
          challenge: input.challenge,
          createdAt: now,
          expiresAt: new Date(now.getTime() + CODE_TTL_MS),
          usedAt: null,
          tokenId: null,
        });
        // Spent and expired codes go as new ones are made.
        await em
          .getRepository(ApiCodeSchema)
          .delete({ expiresAt: LessThan(new Date(now.getTime() - CODE_TTL_MS)) });
        await recordAudit(em, {
          actor: `person:${input.personId}`,
          action: "api-app.authorize",
          targetType: "api-app",
          targetId: input.app.id,
          detail: {
            accountId: input.accountId,
            scopes: input.scopes.join(" "),
            pkce: input.challenge !== null,
          },
        });
      });
      return code;
    },

    /**
     * grant_type=authorization_code: the code exactly once, by the app it was issued to, with the
     * same redirect_uri and (PKCE) the verifier of its challenge. A code presented twice revokes
     * the token it was exchanged for (RFC 6749 §4.1.2). `stillAllowed` re-decides the person.
     */
    async exchangeCode(input: {
      app: ApiAppRow;
      code: string | undefined;
      redirectUri: string | undefined;
      verifier: string | undefined;
      stillAllowed: (code: ApiCodeRow) => Promise<string | undefined>;
    }): Promise<IssuedToken | OAuthError> {
      if (!input.code || input.code.length > 200)
        return oauthError(400, "invalid_request", "The code parameter is missing.");
      const codeHash = sha256(input.code);
      const row = await db.run((em) => em.getRepository(ApiCodeSchema).findOneBy({ codeHash }));
      const invalid = oauthError(
        400,
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
      );
      if (!row || !sameHash(row.codeHash, codeHash) || row.appId !== input.app.id) return invalid;
      if (row.usedAt) {
        if (row.tokenId) await revokeToken(row.tokenId, "system:code-reuse");
        return invalid;
      }
      if (row.expiresAt.getTime() < Date.now()) return invalid;
      if (input.redirectUri !== row.redirectUri) return invalid;
      if (row.challenge !== null) {
        // RFC 7636 §4.1: 43–128 characters of [A-Za-z0-9-._~].
        if (!input.verifier || !/^[A-Za-z0-9\-._~]{43,128}$/.test(input.verifier)) return invalid;
        const computed = createHash("sha256").update(input.verifier, "ascii").digest("base64url");
        const a = Buffer.from(computed);
        const b = Buffer.from(row.challenge);
        if (a.length !== b.length || !timingSafeEqual(a, b)) return invalid;
      }
      // Spend it: exactly one exchange wins, even under concurrency.
      const spent = await db.run((em) =>
        em
          .getRepository(ApiCodeSchema)
          .createQueryBuilder()
          .update()
          .set({ usedAt: new Date() })
          .where("code_hash = :h AND used_at IS NULL", { h: codeHash })
          .execute(),
      );
      if (spent.affected !== 1) return invalid;
      const refused = await input.stillAllowed(row);
      if (refused) return oauthError(400, "invalid_grant", refused);
      const issued = await issueToken({
        appId: row.appId,
        personId: row.personId,
        accountId: row.accountId,
        scopes: row.scopes.split(" "),
        by: `person:${row.personId}`,
      });
      await db.run((em) => em.getRepository(ApiCodeSchema).update({ codeHash }, { tokenId: issued.row.id }));
      return issued;
    },

    /** grant_type=client_credentials: an app-level token (instance, public timelines). */
    async clientCredentials(app: ApiAppRow, scope: string | undefined): Promise<IssuedToken | OAuthError> {
      const scopes = parseScopes(scope);
      if (!scopes.ok || !subsetOf(scopes.scopes, app.scopes.split(" ")))
        return oauthError(400, "invalid_scope", "The requested scope is invalid, unknown, or malformed.");
      return issueToken({
        appId: app.id,
        personId: null,
        accountId: null,
        scopes: scopes.scopes,
        by: `api-app:${app.id}`,
      });
    },

    /** RFC 7009: revokes the token if it is this app's; unknown tokens are not an error. */
    async revokeByValue(app: ApiAppRow, token: string | undefined): Promise<void> {
      if (!token || token.length > 200) return;
      const row = await this.resolve(token);
      if (row && row.appId === app.id) await revokeToken(row.id, `api-app:${app.id}`);
    },

    /** The live token presented, if any (one indexed lookup, then a constant-time comparison). */
    async resolve(token: string): Promise<ApiTokenRow | undefined> {
      if (!token.startsWith(ACCESS_TOKEN_PREFIX) || token.length > 200) return undefined;
      const tokenHash = sha256(token);
      const row = await db.run((em) => em.getRepository(ApiTokenSchema).findOneBy({ tokenHash }));
      if (!row || row.revokedAt || !sameHash(row.tokenHash, tokenHash)) return undefined;
      return row;
    },

    /**
     * The live token presented with everything a call's decision reads, in ONE indexed query
     * (the token's hash): its app, person, account, the person's groups now and the policy's
     * version now. Nothing of it is kept: the next call reads it all again (src/api/auth.ts).
     */
    async resolveForCall(token: string): Promise<CallRead | undefined> {
      if (!token.startsWith(ACCESS_TOKEN_PREFIX) || token.length > 200) return undefined;
      const tokenHash = sha256(token);
      const statement = (callStatement ??= buildCallStatement());
      // SQLite: if nothing was committed since this token's last read, by this process or another,
      // that read still holds (Database.changeStamp).
      const stamp = await db.changeStamp();
      if (stamp !== undefined) {
        const kept = unchanged.get(tokenHash);
        if (kept && kept.stamp === stamp) return copyOf(kept.read);
        const read = statement.read(await db.rows(statement.sql(1), [tokenHash]), tokenHash);
        if (!read) return undefined;
        if (unchanged.size >= UNCHANGED_LIMIT) unchanged.clear();
        const fresh = { ...read, unchangedSince: `${tokenHash} ${stamp}` };
        unchanged.set(tokenHash, { stamp, read: fresh });
        return copyOf(fresh);
      }
      // MySQL has no such stamp: a read (shared by the calls that arrived while the one before it
      // ran) that returns the very rows of the token's previous read is that read again, with the
      // same identity (what was decided from it holds: src/api/auth.ts).
      const rows = await freshRows(tokenHash);
      const seen = JSON.stringify(rows);
      const kept = unchanged.get(tokenHash);
      if (kept && kept.stamp === seen) return copyOf(kept.read);
      const read = statement.read(rows, tokenHash);
      if (!read) return undefined;
      if (unchanged.size >= UNCHANGED_LIMIT) unchanged.clear();
      const fresh = { ...read, unchangedSince: `${tokenHash} m${++generation}` };
      unchanged.set(tokenHash, { stamp: seen, read: fresh });
      return copyOf(fresh);
    },

    /** Records use at most once a minute per token (informational, for listings). */
    async touch(row: ApiTokenRow): Promise<void> {
      if (row.lastUsedAt && Date.now() - row.lastUsedAt.getTime() < 60_000) return;
      await db.run((em) =>
        em.getRepository(ApiTokenSchema).update({ id: row.id }, { lastUsedAt: new Date() }),
      );
    },

    /**
     * Tokens with their apps, for the staff app (a person's own: `personId`) and the admin pages
     * (everyone's). Never the tokens themselves.
     */
    async list(
      filter: { personId?: string; includeRevoked?: boolean } = {},
    ): Promise<{ token: ApiTokenRow; app: ApiAppRow | null }[]> {
      const tokens = await db.run((em) =>
        em.getRepository(ApiTokenSchema).find({
          where: {
            ...(filter.personId ? { personId: filter.personId } : {}),
            ...(filter.includeRevoked ? {} : { revokedAt: IsNull() }),
          },
          order: { createdAt: "DESC" },
          take: 500,
        }),
      );
      const apps = new Map<string, ApiAppRow | null>();
      for (const t of tokens) if (!apps.has(t.appId)) apps.set(t.appId, await this.appById(t.appId));
      return tokens.map((token) => ({ token, app: apps.get(token.appId) ?? null }));
    },

    /** Revokes one token; a person may revoke only their own (`asPerson`), an admin any. */
    async revoke(id: string, by: string, asPerson?: string): Promise<boolean> {
      if (asPerson !== undefined) {
        const row = await db.run((em) => em.getRepository(ApiTokenSchema).findOneBy({ id }));
        if (!row || row.personId !== asPerson) return false;
      }
      return revokeToken(id, by);
    },

    /** Idempotency keys older than an hour are forgotten (Mastodon keeps them an hour). */
    async sweepIdempotency(): Promise<void> {
      await db.run((em) =>
        em
          .getRepository(ApiIdempotencySchema)
          .delete({ createdAt: LessThan(new Date(Date.now() - 3_600_000)) }),
      );
    },
  };
}

export type OAuth = ReturnType<typeof createOAuth>;
