/**
 * Remote accounts as the client API shows them (those who reply, mention, follow, like or boost,
 * and those found by search): a numeric id from the api_id counter, kept with what their actor
 * document said (refreshed after a day). An actor that cannot be fetched now is still shown, by
 * what its IRI says, and looked up again next time.
 */
import type { Database } from "../db/database.ts";
import { iriHash } from "../federation/entities.ts";
import type { Remote } from "../federation/remote.ts";
import { nextApiId } from "./ids.ts";
import { type RemoteAccountRow, RemoteAccountSchema } from "./records.ts";

const FRESH_MS = 86_400_000;

export function createRemoteAccounts(deps: { db: Database; remote: Remote }) {
  const { db, remote } = deps;

  async function store(iri: string, existing: RemoteAccountRow | null): Promise<RemoteAccountRow> {
    const info = await remote.describe(iri);
    const u = new URL(iri);
    const username =
      info?.username || existing?.username || u.pathname.split("/").filter(Boolean).at(-1) || u.host;
    const fields = {
      iri: info?.iri ?? iri,
      username,
      acct: `${username}@${info?.host ?? u.host}`,
      displayName: info?.displayName ?? existing?.displayName ?? "",
      url: info?.url ?? existing?.url ?? null,
      avatar: info?.avatar ?? existing?.avatar ?? null,
      note: info?.summary ?? existing?.note ?? null,
      // Not found now: try again on the next read.
      fetchedAt: info ? new Date() : new Date(0),
    };
    const iriKey = iriHash(iri);
    return db.transaction(async (em) => {
      const repo = em.getRepository(RemoteAccountSchema);
      const row = await repo.findOneBy({ iriHash: iriKey });
      if (row) {
        // Unchanged (an actor still unreachable): no write, so nothing cached goes stale for it
        // (every write here raises the client API's global feed version, src/api/feed.ts).
        const same = (Object.keys(fields) as (keyof typeof fields)[]).every((k) =>
          k === "fetchedAt" ? row.fetchedAt.getTime() === fields.fetchedAt.getTime() : row[k] === fields[k],
        );
        if (!same) await repo.update({ iriHash: iriKey }, fields);
        return { ...row, ...fields };
      }
      const fresh = { id: await nextApiId(em.queryRunner!), iriHash: iriKey, ...fields };
      await repo.insert(fresh);
      return fresh;
    });
  }

  return {
    /** The account of a remote actor IRI, fetched if not known or stale. */
    async ensure(iri: string): Promise<RemoteAccountRow> {
      const row = await db.run((em) =>
        em.getRepository(RemoteAccountSchema).findOneBy({ iriHash: iriHash(iri) }),
      );
      if (row && Date.now() - row.fetchedAt.getTime() < FRESH_MS) return row;
      return store(iri, row);
    },

    async byId(id: number): Promise<RemoteAccountRow | null> {
      return db.run((em) => em.getRepository(RemoteAccountSchema).findOneBy({ id }));
    },

    /** `user@host` → the account, looked up over WebFinger when not known yet. */
    async byAcct(acct: string, resolve: boolean): Promise<RemoteAccountRow | null> {
      const known = await db.run((em) =>
        em
          .getRepository(RemoteAccountSchema)
          .createQueryBuilder("r")
          .where("LOWER(r.acct) = :acct", { acct: acct.toLowerCase() })
          .getOne(),
      );
      if (known || !resolve) return known;
      const info = await remote.describe(`@${acct}`);
      return info ? store(info.iri, null) : null;
    },
  };
}

export type RemoteAccounts = ReturnType<typeof createRemoteAccounts>;
