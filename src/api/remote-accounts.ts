/**
 * Remote accounts as the client API shows them (those who reply, mention, follow, like or boost,
 * and those found by search): a numeric id from the api_id counter, kept with what their actor
 * document said. An actor that cannot be fetched now is still shown, by what its IRI says.
 *
 * Only an actor seen for the first time is looked up before answering (its account needs an id).
 * One known already is answered as kept, and looked up again in the background when its row is a
 * day old or its last lookup failed — at most one lookup per actor at a time in a process, and
 * none for RETRY_MS after one failed — so a page of posts by the accounts of a server that no
 * longer answers costs no waiting (each lookup may take up to the fetch timeout).
 */
import type { Database } from "../db/database.ts";
import { isUniqueViolation } from "../db/errors.ts";
import { logger } from "../logging.ts";
import { fitsIri, iriHash } from "../federation/entities.ts";
import type { Remote } from "../federation/remote.ts";
import { nextApiId } from "./ids.ts";
import { type RemoteAccountRow, RemoteAccountSchema } from "./records.ts";

const log = logger("api", "remote-accounts");

const FRESH_MS = 86_400_000;
/** After a failed background lookup, an actor is not looked up again for this long (per process). */
export const RETRY_MS = 10 * 60_000;
/** Actors whose failure a process remembers (the oldest forgotten first). */
const REMEMBERED = 10_000;
/** Background lookups under way at once in a process; a stale account beyond them waits for a later read. */
const MAX_REFRESHING = 16;
/** The username and display name columns' length (characters). */
const NAME_LENGTH = 255;

/** The first `n` characters (code points) of `s`. */
const chars = (s: string, n: number) => (s.length <= n ? s : Array.from(s).slice(0, n).join(""));

export function createRemoteAccounts(deps: { db: Database; remote: Remote }) {
  const { db, remote } = deps;
  const refreshing = new Set<string>();
  const failedAt = new Map<string, number>();

  /** Looks `row`'s actor up again without waiting for it (see above). */
  function refreshLater(row: RemoteAccountRow): void {
    const failed = failedAt.get(row.iri);
    if (refreshing.has(row.iri) || (failed !== undefined && Date.now() - failed < RETRY_MS)) return;
    // A page of many stale accounts on servers that do not answer holds a few sockets, not one each.
    if (refreshing.size >= MAX_REFRESHING) return;
    refreshing.add(row.iri);
    const failure = () => {
      failedAt.delete(row.iri);
      failedAt.set(row.iri, Date.now());
      if (failedAt.size > REMEMBERED) failedAt.delete(failedAt.keys().next().value as string);
    };
    store(row.iri, row)
      .then((fresh) => (fresh.fetchedAt.getTime() === 0 ? failure() : failedAt.delete(row.iri)))
      .catch((error: unknown) => {
        log.info("Could not refresh the remote account {iri}: {error}", {
          iri: row.iri,
          error: String(error),
        });
        failure();
      })
      .finally(() => refreshing.delete(row.iri));
  }

  async function store(iri: string, existing: RemoteAccountRow | null): Promise<RemoteAccountRow> {
    const info = await remote.describe(iri);
    const u = new URL(iri);
    // Cut to what the columns keep (migration 0020): MySQL refuses longer values.
    const username = chars(
      info?.username || existing?.username || u.pathname.split("/").filter(Boolean).at(-1) || u.host,
      NAME_LENGTH,
    );
    const link = (v: string | null | undefined) => (v && fitsIri(v) ? v : null);
    const fields = {
      iri: info?.iri && fitsIri(info.iri) ? info.iri : iri,
      username,
      acct: `${username}@${info?.host ?? u.host}`,
      displayName: chars(info?.displayName ?? existing?.displayName ?? "", NAME_LENGTH),
      url: link(info?.url ?? existing?.url),
      avatar: link(info?.avatar ?? existing?.avatar),
      note: info?.summary ?? existing?.note ?? null,
      // Not found now: looked up again on a later read (in the background).
      fetchedAt: info ? new Date() : new Date(0),
    };
    const iriKey = iriHash(iri);
    const write = () =>
      db.transaction(async (em) => {
        const repo = em.getRepository(RemoteAccountSchema);
        const row = await repo.findOneBy({ iriHash: iriKey });
        if (row && !info) {
          // Not found now: only its time changes (what it said stays as the row holds it, which
          // another process may just have refreshed — then it is left alone).
          if (Date.now() - row.fetchedAt.getTime() < FRESH_MS || row.fetchedAt.getTime() === 0) return row;
          await repo.update({ iriHash: iriKey }, { fetchedAt: new Date(0) });
          return { ...row, fetchedAt: new Date(0) };
        }
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
    try {
      return await write();
    } catch (err) {
      // Seen for the first time by two calls at once: the other stored it; this one's fields win.
      if (!isUniqueViolation(err)) throw err;
      return write();
    }
  }

  /** The account of a remote actor IRI: looked up now if never seen, else as kept (refreshed in the background when stale). */
  async function ensure(iri: string): Promise<RemoteAccountRow> {
    const row = await db.run((em) =>
      em.getRepository(RemoteAccountSchema).findOneBy({ iriHash: iriHash(iri) }),
    );
    if (!row) return store(iri, null);
    if (Date.now() - row.fetchedAt.getTime() >= FRESH_MS) refreshLater(row);
    return row;
  }

  return {
    ensure,

    /** The accounts of `iris`, each looked up once, side by side (see `ensure`). */
    async ensureAll(iris: Iterable<string>): Promise<Map<string, RemoteAccountRow>> {
      return new Map(
        await Promise.all([...new Set(iris)].map(async (iri) => [iri, await ensure(iri)] as const)),
      );
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
