/**
 * SCIM bearer tokens. A token is 256 random bits (base64url, prefixed `hrld_` so secret scanners
 * can spot a leaked one); only its SHA-256 is stored. Verification hashes the presented token and
 * looks the hash up, then compares in constant time. Tokens are named so an operator can rotate
 * one IdP without touching another; revocation is immediate.
 */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { EntitySchema, IsNull } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";

export interface ScimToken {
  id: string;
  name: string;
  tokenHash: string;
  tokenHint: string;
  createdAt: Date;
  createdBy: string;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export const ScimTokenSchema = new EntitySchema<ScimToken>({
  name: "ScimToken",
  tableName: "scim_token",
  columns: {
    id: { type: "varchar", length: 36, primary: true },
    name: { type: "varchar", length: 100, unique: true },
    tokenHash: { name: "token_hash", type: "varchar", length: 64, unique: true },
    tokenHint: { name: "token_hint", type: "varchar", length: 16 },
    createdAt: { name: "created_at", type: "datetime" },
    createdBy: { name: "created_by", type: "varchar", length: 255 },
    lastUsedAt: { name: "last_used_at", type: "datetime", nullable: true },
    revokedAt: { name: "revoked_at", type: "datetime", nullable: true },
  },
});

export const TOKEN_PREFIX = "hrld_";

/** What a request learns about the token it presented. */
export interface VerifiedToken {
  readonly id: string;
  readonly name: string;
}
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export type CreateTokenResult =
  | { readonly ok: true; readonly token: string; readonly record: ScimToken }
  | {
      readonly ok: false;
      readonly reason: "invalid-name" | "name-taken";
      readonly message: string;
    };

export type RevokeTokenResult =
  | { readonly ok: true; readonly record: ScimToken }
  | {
      readonly ok: false;
      readonly reason: "not-found" | "already-revoked";
      readonly message: string;
    };

function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function createTokenService(db: Database) {
  return {
    async create(name: string, actor: string): Promise<CreateTokenResult> {
      if (!NAME.test(name)) {
        return {
          ok: false,
          reason: "invalid-name",
          message: `Invalid token name ${JSON.stringify(name)}: use 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. okta-prod).`,
        };
      }
      const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
      const record: ScimToken = {
        id: randomUUID(),
        name,
        tokenHash: hashToken(token),
        tokenHint: token.slice(0, TOKEN_PREFIX.length + 4),
        createdAt: new Date(),
        createdBy: actor,
        lastUsedAt: null,
        revokedAt: null,
      };
      return db.transaction(async (em) => {
        const repo = em.getRepository(ScimTokenSchema);
        // Names stay unique forever, revoked ones included, so the audit log is unambiguous.
        if (await repo.existsBy({ name })) {
          return {
            ok: false,
            reason: "name-taken",
            message: `A token named ${JSON.stringify(name)} already exists (perhaps revoked); choose another name, e.g. ${name}-2.`,
          } as const;
        }
        await repo.insert(record);
        await recordAudit(em, {
          actor,
          action: "scim-token.create",
          targetType: "scim-token",
          targetId: name,
          detail: { hint: record.tokenHint },
        });
        return { ok: true, token, record } as const;
      });
    },

    async list(): Promise<ScimToken[]> {
      return db.run((em) => em.getRepository(ScimTokenSchema).find({ order: { createdAt: "ASC" } }));
    },

    async revoke(name: string, actor: string): Promise<RevokeTokenResult> {
      return db.transaction(async (em) => {
        const repo = em.getRepository(ScimTokenSchema);
        const record = await repo.findOneBy({ name });
        if (!record)
          return {
            ok: false,
            reason: "not-found",
            message: `No token named ${JSON.stringify(name)}.`,
          } as const;
        if (record.revokedAt) {
          return {
            ok: false,
            reason: "already-revoked",
            message: `Token ${JSON.stringify(name)} was already revoked.`,
          } as const;
        }
        record.revokedAt = new Date();
        await repo.update({ id: record.id, revokedAt: IsNull() }, { revokedAt: record.revokedAt });
        await recordAudit(em, {
          actor,
          action: "scim-token.revoke",
          targetType: "scim-token",
          targetId: name,
        });
        return { ok: true, record } as const;
      });
    },

    /** Records that a token was used (callers throttle this; it is informational). */
    async touch(id: string): Promise<void> {
      await db.run((em) => em.getRepository(ScimTokenSchema).update({ id }, { lastUsedAt: new Date() }));
    },

    /** The active token matching `presented`, or undefined. Constant-time on the hash. */
    async verify(presented: string): Promise<VerifiedToken | undefined> {
      if (!presented.startsWith(TOKEN_PREFIX) || presented.length > 200) return undefined;
      const hash = hashToken(presented);
      // Every SCIM request comes through here: one indexed lookup, no query builder.
      const rows = await db.query<{ id: string; name: string; token_hash: string }>(
        "SELECT id, name, token_hash FROM scim_token WHERE token_hash = ? AND revoked_at IS NULL",
        [hash],
      );
      if (rows.length === 0) return undefined;
      const a = Buffer.from(rows[0].token_hash, "hex");
      const b = Buffer.from(hash, "hex");
      return a.length === b.length && timingSafeEqual(a, b)
        ? { id: rows[0].id, name: rows[0].name }
        : undefined;
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
