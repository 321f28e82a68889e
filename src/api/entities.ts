/**
 * The Mastodon client API's tables (migration 0018): registered apps, authorization codes, access
 * tokens and idempotency keys. Secrets (client secrets, codes, tokens) are stored only as their
 * SHA-256: a leaked table opens nothing.
 */
import { EntitySchema } from "typeorm";

export interface ApiAppRow {
  id: string;
  name: string;
  website: string | null;
  /** Registered redirect URIs, one per line (exact match at /oauth/authorize and /oauth/token). */
  redirectUris: string;
  /** Scopes the app may ask for, space-separated. */
  scopes: string;
  clientId: string;
  secretHash: string;
  createdAt: Date;
  /** `api` (POST /api/v1/apps) or the operator who made it (`cli:…`). */
  createdBy: string;
}

export interface ApiCodeRow {
  codeHash: string;
  appId: string;
  personId: string;
  accountId: string;
  scopes: string;
  redirectUri: string;
  /** PKCE (RFC 7636): the S256 challenge, when the client sent one. */
  challenge: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  /** The token this code was exchanged for (revoked if the code is presented again, RFC 6749 §4.1.2). */
  tokenId: string | null;
}

export interface ApiTokenRow {
  id: string;
  tokenHash: string;
  /** The first characters, for listings (never enough to use). */
  tokenHint: string;
  appId: string;
  /** Who the token acts for; null for an app-level (client_credentials) token. */
  personId: string | null;
  /** The account it speaks as (the person's own or a shared one); null for app-level tokens. */
  accountId: string | null;
  scopes: string;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  revokedBy: string | null;
}

export interface ApiIdempotencyRow {
  /** SHA-256 of (person, account, Idempotency-Key). */
  keyHash: string;
  createdAt: Date;
  /** What the first request made: a post or a draft, and its id (null while it runs). */
  kind: string | null;
  resultId: string | null;
}

const dt = (name: string, nullable = false) => ({ name, type: "datetime" as const, nullable });
const vc = (name: string, nullable = false) => ({ name, type: "varchar" as const, nullable });

export const ApiAppSchema = new EntitySchema<ApiAppRow>({
  name: "ApiApp",
  tableName: "api_app",
  columns: {
    id: { type: "varchar", primary: true },
    name: vc("name"),
    website: vc("website", true),
    redirectUris: { name: "redirect_uris", type: "text" },
    scopes: vc("scopes"),
    clientId: vc("client_id"),
    secretHash: vc("secret_hash"),
    createdAt: dt("created_at"),
    createdBy: vc("created_by"),
  },
});

export const ApiCodeSchema = new EntitySchema<ApiCodeRow>({
  name: "ApiCode",
  tableName: "api_code",
  columns: {
    codeHash: { name: "code_hash", type: "varchar", primary: true },
    appId: vc("app_id"),
    personId: vc("person_id"),
    accountId: vc("account_id"),
    scopes: vc("scopes"),
    redirectUri: vc("redirect_uri"),
    challenge: vc("challenge", true),
    createdAt: dt("created_at"),
    expiresAt: dt("expires_at"),
    usedAt: dt("used_at", true),
    tokenId: vc("token_id", true),
  },
});

export const ApiTokenSchema = new EntitySchema<ApiTokenRow>({
  name: "ApiToken",
  tableName: "api_token",
  columns: {
    id: { type: "varchar", primary: true },
    tokenHash: vc("token_hash"),
    tokenHint: vc("token_hint"),
    appId: vc("app_id"),
    personId: vc("person_id", true),
    accountId: vc("account_id", true),
    scopes: vc("scopes"),
    createdAt: dt("created_at"),
    createdBy: vc("created_by"),
    lastUsedAt: dt("last_used_at", true),
    revokedAt: dt("revoked_at", true),
    revokedBy: vc("revoked_by", true),
  },
});

export const ApiIdempotencySchema = new EntitySchema<ApiIdempotencyRow>({
  name: "ApiIdempotency",
  tableName: "api_idempotency",
  columns: {
    keyHash: { name: "key_hash", type: "varchar", primary: true },
    createdAt: dt("created_at"),
    kind: vc("kind", true),
    resultId: vc("result_id", true),
  },
});

export const apiEntities = [ApiAppSchema, ApiCodeSchema, ApiTokenSchema, ApiIdempotencySchema];
