/**
 * Server-side sessions: the cookie carries 256 random bits; the database keeps only their
 * SHA-256, so sessions work across processes and a leaked table opens nothing. Every request asks
 * the Directory whether the person is still a current employee, so a SCIM deactivation refuses
 * the very next request; an event consumer also deletes the rows (DESIGN rule 2). Idle and
 * absolute timeouts.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { EntitySchema, LessThan } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import type { Directory, Person } from "../identity/directory.ts";
import type { DirectoryEvent, EventConsumer } from "../identity/events.ts";
import { employmentStatus } from "../identity/standing.ts";

export interface SessionRow {
  idHash: string;
  personId: string;
  method: string;
  samlNameId: string | null;
  samlSessionIndex: string | null;
  userAgent: string | null;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

export const SessionSchema = new EntitySchema<SessionRow>({
  name: "Session",
  tableName: "session",
  columns: {
    idHash: { name: "id_hash", type: "varchar", primary: true },
    personId: { name: "person_id", type: "varchar" },
    method: { type: "varchar" },
    samlNameId: { name: "saml_name_id", type: "varchar", nullable: true },
    samlSessionIndex: { name: "saml_session_index", type: "varchar", nullable: true },
    userAgent: { name: "user_agent", type: "varchar", nullable: true },
    ip: { type: "varchar", nullable: true },
    createdAt: { name: "created_at", type: "datetime" },
    lastSeenAt: { name: "last_seen_at", type: "datetime" },
    expiresAt: { name: "expires_at", type: "datetime" },
  },
});

export interface LoginLinkRow {
  tokenHash: string;
  personId: string;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

export const LoginLinkSchema = new EntitySchema<LoginLinkRow>({
  name: "LoginLink",
  tableName: "login_link",
  columns: {
    tokenHash: { name: "token_hash", type: "varchar", primary: true },
    personId: { name: "person_id", type: "varchar" },
    createdBy: { name: "created_by", type: "varchar" },
    createdAt: { name: "created_at", type: "datetime" },
    expiresAt: { name: "expires_at", type: "datetime" },
    usedAt: { name: "used_at", type: "datetime", nullable: true },
  },
});

export const sessionEntities = [SessionSchema, LoginLinkSchema];

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export interface SessionOptions {
  readonly idleMs: number;
  readonly absoluteMs: number;
  readonly secret: string;
}

export interface ActiveSession {
  readonly session: SessionRow;
  readonly person: Person;
  /** The token for forms of this session (CSRF). */
  readonly csrf: string;
}

export function createSessions(db: Database, directory: Directory, options: SessionOptions) {
  const csrfFor = (idHash: string) =>
    createHmac("sha256", options.secret).update(`csrf:${idHash}`).digest("base64url");

  async function revokeAll(personId: string): Promise<number> {
    const r = await db.run((em) => em.getRepository(SessionSchema).delete({ personId }));
    return r.affected ?? 0;
  }

  const consumer: EventConsumer = {
    name: "sessions",
    kind: "cluster",
    async handle(event: DirectoryEvent) {
      if (
        event.type === "person.deactivated" ||
        event.type === "person.deleted" ||
        event.type === "person.erased"
      )
        await revokeAll(event.personId);
    },
  };

  return {
    consumer,
    revokeAll,

    async create(
      personId: string,
      meta: {
        method: string;
        userAgent?: string;
        ip?: string;
        samlNameId?: string;
        samlSessionIndex?: string;
      },
    ): Promise<{ token: string; expiresAt: Date }> {
      const token = randomBytes(32).toString("base64url");
      const now = new Date();
      const expiresAt = new Date(now.getTime() + options.absoluteMs);
      await db.transaction(async (em) => {
        await em.getRepository(SessionSchema).insert({
          idHash: sha256(token),
          personId,
          method: meta.method,
          samlNameId: meta.samlNameId ?? null,
          samlSessionIndex: meta.samlSessionIndex ?? null,
          userAgent: meta.userAgent?.slice(0, 512) ?? null,
          ip: meta.ip?.slice(0, 64) ?? null,
          createdAt: now,
          lastSeenAt: now,
          expiresAt,
        });
        await recordAudit(em, {
          actor: `person:${personId}`,
          action: "session.create",
          targetType: "person",
          targetId: personId,
          detail: { method: meta.method },
        });
        // Expired rows are removed as new ones are made.
        await em.getRepository(SessionSchema).delete({ expiresAt: LessThan(now) });
      });
      return { token, expiresAt };
    },

    /** The session and its person, if the token is valid, unexpired, and the person is active. */
    async resolve(token: string | undefined): Promise<ActiveSession | undefined> {
      if (!token || token.length > 100) return undefined;
      const idHash = sha256(token);
      const session = await db.run((em) => em.getRepository(SessionSchema).findOneBy({ idHash }));
      if (!session) return undefined;
      const now = Date.now();
      if (session.expiresAt.getTime() < now || session.lastSeenAt.getTime() + options.idleMs < now) {
        await db.run((em) => em.getRepository(SessionSchema).delete({ idHash }));
        return undefined;
      }
      const person = await directory.personById(session.personId);
      // A former employee's session opens nothing, even before the sessions consumer deletes it.
      if (!person || employmentStatus(person).kind !== "active") return undefined;
      if (now - session.lastSeenAt.getTime() > 60_000) {
        await db.run((em) =>
          em.getRepository(SessionSchema).update({ idHash }, { lastSeenAt: new Date(now) }),
        );
      }
      return { session, person, csrf: csrfFor(idHash) };
    },

    /**
     * IdP-initiated logout (SAML profiles §4.4): ends the sessions of this NameID, only those of
     * the listed IdP session indexes when there are any. Returns how many ended.
     */
    async revokeSaml(nameId: string, sessionIndexes: readonly string[]): Promise<number> {
      return db.transaction(async (em) => {
        const repo = em.getRepository(SessionSchema);
        const rows = await repo.findBy({ samlNameId: nameId, method: "saml" });
        const ending = rows.filter(
          (r) => sessionIndexes.length === 0 || sessionIndexes.includes(r.samlSessionIndex ?? ""),
        );
        for (const r of ending) await repo.delete({ idHash: r.idHash });
        if (ending.length > 0)
          await recordAudit(em, {
            actor: "saml:idp",
            action: "session.logout",
            targetType: "person",
            targetId: ending[0].personId,
            detail: { sessions: ending.length },
          });
        return ending.length;
      });
    },

    async revoke(token: string): Promise<void> {
      await db.run((em) => em.getRepository(SessionSchema).delete({ idHash: sha256(token) }));
    },

    verifyCsrf(active: ActiveSession, presented: unknown): boolean {
      if (typeof presented !== "string") return false;
      const a = Buffer.from(active.csrf);
      const b = Buffer.from(presented);
      return a.length === b.length && timingSafeEqual(a, b);
    },

    /** A one-time, short-lived sign-in link (`herald login-link`), for when the IdP is down. */
    async createLoginLink(
      personId: string,
      by: string,
      ttlMs = 10 * 60_000,
    ): Promise<{ token: string; expiresAt: Date }> {
      const token = randomBytes(32).toString("base64url");
      const now = new Date();
      const expiresAt = new Date(now.getTime() + ttlMs);
      await db.transaction(async (em) => {
        await em.getRepository(LoginLinkSchema).insert({
          tokenHash: sha256(token),
          personId,
          createdBy: by,
          createdAt: now,
          expiresAt,
          usedAt: null,
        });
        await recordAudit(em, {
          actor: by,
          action: "login-link.create",
          targetType: "person",
          targetId: personId,
          detail: { expiresAt: expiresAt.toISOString() },
        });
      });
      return { token, expiresAt };
    },

    /** Spends a sign-in link: its person, or why not. Exactly once, even under concurrency. */
    async redeemLoginLink(
      token: string,
    ): Promise<{ ok: true; personId: string } | { ok: false; message: string }> {
      const tokenHash = sha256(token);
      return db.transaction(async (em) => {
        const link = await em.getRepository(LoginLinkSchema).findOneBy({ tokenHash });
        if (!link) return { ok: false, message: "This sign-in link is not valid." } as const;
        if (link.usedAt)
          return { ok: false, message: "This sign-in link was already used; ask for a new one." } as const;
        if (link.expiresAt.getTime() < Date.now())
          return { ok: false, message: "This sign-in link has expired; ask for a new one." } as const;
        const r = await em
          .getRepository(LoginLinkSchema)
          .createQueryBuilder()
          .update()
          .set({ usedAt: new Date() })
          .where("token_hash = :h AND used_at IS NULL", { h: tokenHash })
          .execute();
        if (r.affected !== 1)
          return { ok: false, message: "This sign-in link was already used; ask for a new one." } as const;
        await recordAudit(em, {
          actor: `person:${link.personId}`,
          action: "login-link.redeem",
          targetType: "person",
          targetId: link.personId,
        });
        return { ok: true, personId: link.personId } as const;
      });
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
