/**
 * Test sign-ins from /admin/connect: a real SP-initiated round trip to the connected IdP whose
 * answer is verified exactly like a sign-in (sp.ts, every check) but signs nobody in. The answer
 * comes back to /saml/acs as a cross-site POST, which carries no session cookie (SameSite=Lax), so
 * the ACS only records the outcome under the test's id, redacted (NameID, its format, the issuer,
 * the attributes; never signatures or the session index), and sends the browser to the result
 * page, which only the administrator who started the test may read. The row lives in the database,
 * so the answer may reach any process.
 */
import { randomUUID } from "node:crypto";
import { EntitySchema, IsNull, LessThan } from "typeorm";
import type { Database } from "../db/database.ts";

export interface SamlTestRow {
  id: string;
  personId: string;
  createdAt: Date;
  expiresAt: Date;
  /** JSON of a TestOutcome, once the answer came back. */
  outcome: string | null;
}

export const SamlTestSchema = new EntitySchema<SamlTestRow>({
  name: "SamlTest",
  tableName: "saml_test",
  columns: {
    id: { type: "varchar", length: 36, primary: true },
    personId: { name: "person_id", type: "varchar", length: 36 },
    createdAt: { name: "created_at", type: "datetime" },
    expiresAt: { name: "expires_at", type: "datetime" },
    outcome: { type: "text", nullable: true },
  },
});

/** Whom the verified answer names in the directory (match.ts's verdict). */
export type TestMatch =
  | {
      readonly ok: true;
      readonly personId: string;
      readonly userName: string;
      readonly displayName: string | null;
    }
  | { readonly ok: false; readonly reason: string; readonly value: string };

export type TestOutcome =
  | {
      readonly ok: true;
      readonly issuer: string;
      readonly nameId: string;
      readonly nameIdFormat: string | null;
      /** [name, values], in the assertion's order (Name and FriendlyName both listed). */
      readonly attributes: readonly (readonly [string, readonly string[]])[];
      readonly match: TestMatch;
      readonly at: string;
    }
  | {
      readonly ok: false;
      /** sp.ts's rejection code (bad-signature, audience, expired, not-yet-valid, …). */
      readonly code: string;
      readonly message: string;
      readonly at: string;
    };

/** Where a test's answer is shown; also the RelayState and the remembered `next` of its request. */
export const TEST_PATH_PREFIX = "/admin/connect/test/";
const TTL_MS = 15 * 60_000;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Bounds on what an IdP's answer may put in a stored outcome. */
const MAX_ATTRIBUTES = 100;
const MAX_VALUES = 20;
const MAX_CHARS = 500;

const clip = (s: string) => (s.length > MAX_CHARS ? `${s.slice(0, MAX_CHARS)}…` : s);

export function createTestSignIns(db: Database) {
  return {
    path: (id: string) => `${TEST_PATH_PREFIX}${id}`,

    /** The test a RelayState or path names, if it is one's shape. */
    idOf(relayState: string | undefined | null): string | undefined {
      if (!relayState?.startsWith(TEST_PATH_PREFIX)) return undefined;
      const id = relayState.slice(TEST_PATH_PREFIX.length);
      return ID.test(id) ? id : undefined;
    },

    async start(personId: string): Promise<string> {
      const now = new Date();
      const id = randomUUID();
      await db.transaction(async (em) => {
        const r = em.getRepository(SamlTestSchema);
        await r.insert({
          id,
          personId,
          createdAt: now,
          expiresAt: new Date(now.getTime() + TTL_MS),
          outcome: null,
        });
        await r.delete({ expiresAt: LessThan(now) });
      });
      return id;
    },

    /** The test, while it has not expired. */
    async get(id: string): Promise<SamlTestRow | undefined> {
      const row = await db.run((em) => em.getRepository(SamlTestSchema).findOneBy({ id }));
      return row && row.expiresAt.getTime() > Date.now() ? row : undefined;
    },

    /** Records the outcome of a pending test; false when there is none (unknown, expired, done). */
    async record(id: string, outcome: TestOutcome): Promise<boolean> {
      const bounded: TestOutcome = outcome.ok
        ? {
            ...outcome,
            nameId: clip(outcome.nameId),
            attributes: outcome.attributes
              .slice(0, MAX_ATTRIBUTES)
              .map(([k, v]) => [clip(k), v.slice(0, MAX_VALUES).map(clip)] as const),
          }
        : { ...outcome, message: clip(outcome.message) };
      return db.transaction(async (em) => {
        const r = em.getRepository(SamlTestSchema);
        const row = await r.findOneBy({ id });
        if (!row || row.outcome !== null || row.expiresAt.getTime() <= Date.now()) return false;
        const u = await r.update({ id, outcome: IsNull() }, { outcome: JSON.stringify(bounded) });
        return (u.affected ?? 0) === 1;
      });
    },
  };
}

export type TestSignIns = ReturnType<typeof createTestSignIns>;

export function outcomeOf(row: SamlTestRow): TestOutcome | undefined {
  return row.outcome === null ? undefined : (JSON.parse(row.outcome) as TestOutcome);
}
