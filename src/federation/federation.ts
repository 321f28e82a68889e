/**
 * The Fedify federation: persistent KV and queue on the configured database, handles on the
 * company domain while ids live on the web origin, and interop settings from RUNTIME.md. Actors,
 * collections, notes and inbox listeners are registered here; what they do lives in accounts.ts,
 * posting.ts and inbox.ts.
 */
import { type Context, createFederation, type KvStore, type MessageQueue } from "@fedify/fedify";
import { Create, Note, Person, type Recipient } from "@fedify/vocab";
import { type EntityManager, type FindOptionsWhere, In, IsNull, LessThan, MoreThan } from "typeorm";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import { logger } from "../logging.ts";
import type { Directory } from "../identity/directory.ts";
import { currentPersonSql, publicIdentity } from "../identity/standing.ts";
import type { Accounts } from "./accounts.ts";
import { actorDocument } from "./actors.ts";
import {
  type ActorRow,
  ActorSchema,
  DomainBlockSchema,
  type FollowerRow,
  FollowerSchema,
  FollowingSchema,
  type PostRow,
  PostSchema,
} from "./entities.ts";
import type { FederationContextData, HeraldFederation } from "./context.ts";
import { ROUTES } from "../http/routes.ts";
import { registerInbox } from "./inbox.ts";
import type { Archive } from "../archive/records.ts";
import type { KeyStore } from "./keys.ts";
import { boundedLoaderFactories } from "./loader.ts";
import { createStores } from "./stores.ts";
import { noteOf } from "./notes.ts";

export { createStores };
export type { FederationContextData, HeraldFederation };

export interface FederationDeps {
  readonly db: Database;
  readonly accounts: Accounts;
  readonly keys: KeyStore;
  /** Reads of people: whether an account's person still works here (identity/standing.ts). */
  readonly directory: Pick<Directory, "personById">;
  /** The archive: the inbox records what accounts hear in the same transaction (src/archive/). */
  readonly archive: Archive;
}

const log = logger("federation");
const PAGE = 50;

/** Fedify's dispatcher paths: the ActivityPub part of the one table of paths. */
export const paths = ROUTES.ap;

/** The name of the custom collection of the organization's verified accounts. */
export const VERIFIED_COLLECTION = "verified";

/**
 * The cursors the paged collections hand out (empty: the first page): a publication time in
 * milliseconds for the outbox, a follower hash, a handle. Anything else is not a page of ours;
 * the Koa adapter refuses it with 400 before Fedify runs, and the dispatchers find nothing for it.
 */
const CURSORS = {
  outbox: /^\d{1,15}$/,
  followers: /^[0-9a-f]{64}$/,
  [VERIFIED_COLLECTION]: /^[a-z0-9_]{1,64}$/,
} as const;

/** Why `cursor` cannot be a page of the collection at `path`, or undefined if it can. */
export function cursorProblem(path: string, cursor: string | string[]): string | undefined {
  const collection = /^\/ap\/actors\/[^/]+\/([a-z]+)$/.exec(path)?.[1];
  if (!collection || !(collection in CURSORS)) return undefined;
  if (Array.isArray(cursor)) return "Give one cursor.";
  if (cursor === "" || CURSORS[collection as keyof typeof CURSORS].test(cursor)) return undefined;
  return `The cursor is not one this ${collection} collection hands out.`;
}

export function createHeraldFederation(
  config: Pick<
    Config,
    "mode" | "origin" | "handleDomain" | "queue" | "accounts" | "orgName" | "remoteFetch" | "inbox"
  >,
  db: Database,
  deps?: Omit<FederationDeps, "db">,
): HeraldFederation {
  const { kv, queue }: { kv: KvStore; queue: MessageQueue } = createStores(config, db);
  const federation = createFederation<FederationContextData>({
    kv,
    queue,
    // The server starts the queue after boot (and drains it on shutdown); the CLI never starts
    // it, so it only enqueues and the server delivers (DESIGN: CLI contract).
    manuallyStartQueue: true,
    origin: { handleHost: config.handleDomain, webOrigin: config.origin.origin },
    // Most of the fediverse reads draft-cavage first; some servers accept RFC 9421 with 202 and
    // then drop what they can't verify, so double-knocking never falls back (RUNTIME.md).
    firstKnock: "draft-cavage-http-signatures-12",
    // Every remote document (keys, actors, objects, contexts, signed fetches) through one loader
    // bounded in size and time. Loopback peers are allowed only outside production: the SSRF
    // guard stays on there (Fedify refuses its own allowPrivateAddress beside these factories).
    ...boundedLoaderFactories({
      kv,
      allowPrivateAddress: config.mode !== "production",
      limits: config.remoteFetch,
      firstKnock: "draft-cavage-http-signatures-12",
    }),
  });

  federation.setNodeInfoDispatcher(ROUTES.nodeinfo, async () => {
    const users = deps
      ? (await deps.accounts.list()).filter((a) => !a.deletedAt && !a.suspendedAt).length
      : 0;
    const posts = await db.run((em) => em.getRepository(PostSchema).countBy({ deletedAt: IsNull() }));
    return {
      software: { name: "herald", version: "0.1.0", homepage: new URL(config.origin.origin) },
      protocols: ["activitypub"],
      openRegistrations: false,
      usage: { users: { total: users }, localPosts: posts, localComments: 0 },
      metadata: {},
    };
  });
  if (!deps) return federation;
  const { accounts, keys, directory, archive } = deps;

  const actorDoc = (ctx: Context<FederationContextData>, actor: ActorRow) =>
    actorDocument(ctx, { db, directory, config }, actor);

  federation
    .setActorDispatcher(paths.actor, async (ctx, identifier) => {
      const actor = await accounts.byId(identifier);
      // Served only once its keys exist (RUNTIME.md: never generate keys on first request).
      if (!actor || (!actor.keysReadyAt && !actor.deletedAt)) return null;
      return actorDoc(ctx, actor);
    })
    .setKeyPairsDispatcher(async (_ctx, identifier) => keys.load(identifier))
    .mapHandle(async (_ctx, username) => {
      const actor = await accounts.byHandle(username);
      // A deleted account no longer resolves (its actor id answers 410 with a Tombstone).
      return actor && actor.keysReadyAt && !actor.deletedAt ? actor.id : null;
    });

  const blockedDomains = async (): Promise<Set<string>> =>
    new Set([
      ...config.accounts.blockedDomains,
      ...(await db.run((em) => em.getRepository(DomainBlockSchema).find())).map((b) => b.domain),
    ]);

  federation
    .setFollowersDispatcher(paths.followers, async (_ctx, identifier, cursor) => {
      if (cursor !== null && cursorProblem(paths.followers, cursor)) return null;
      const blocked = await blockedDomains();
      const where: FindOptionsWhere<FollowerRow> = { actorId: identifier, status: "accepted" };
      if (cursor !== null && cursor !== "") where.followerHash = MoreThan(cursor);
      const rows = await db.run((em) =>
        em.getRepository(FollowerSchema).find({
          where,
          order: { followerHash: "ASC" },
          ...(cursor === null ? {} : { take: 1000 }),
        }),
      );
      const items: Recipient[] = rows
        .filter((r) => !blocked.has(new URL(r.followerIri).hostname))
        .map((r) => ({
          id: new URL(r.followerIri),
          inboxId: new URL(r.inboxIri),
          endpoints: r.sharedInboxIri ? { sharedInbox: new URL(r.sharedInboxIri) } : null,
        }));
      const nextCursor = cursor !== null && rows.length === 1000 ? rows[rows.length - 1].followerHash : null;
      return { items, nextCursor };
    })
    .setCounter(async (_ctx, identifier) =>
      db.run((em) => em.getRepository(FollowerSchema).countBy({ actorId: identifier, status: "accepted" })),
    )
    .setFirstCursor(async () => "");

  federation
    .setFollowingDispatcher(paths.following, async (_ctx, identifier) => {
      const rows = await db.run((em) =>
        em.getRepository(FollowingSchema).findBy({ actorId: identifier, status: "accepted" }),
      );
      return { items: rows.map((r) => new URL(r.targetIri)) };
    })
    .setCounter(async (_ctx, identifier) =>
      db.run((em) => em.getRepository(FollowingSchema).countBy({ actorId: identifier, status: "accepted" })),
    );

  federation
    .setOutboxDispatcher(paths.outbox, async (ctx, identifier, cursor) => {
      const actor = await accounts.byId(identifier);
      if (!actor || cursor === null) return { items: [] };
      if (cursorProblem(paths.outbox, cursor)) return null;
      // A former employee's (or a closed account's) posts are not listed, as on its profile page.
      if (!(await speaksNow(actor))) return { items: [], nextCursor: null };
      const where: FindOptionsWhere<PostRow> = {
        actorId: identifier,
        deletedAt: IsNull(),
        visibility: In(["public", "unlisted"]),
      };
      if (cursor !== "") where.publishedAt = LessThan(new Date(Number(cursor)));
      const posts = await db.run((em) =>
        em.getRepository(PostSchema).find({ where, order: { publishedAt: "DESC" }, take: PAGE }),
      );
      const items = posts.map((p) => {
        const note = noteOf(ctx, config.origin, actor, p);
        return new Create({
          id: new URL(`${note.id!.href}#create`),
          actor: ctx.getActorUri(identifier),
          object: note,
          published: note.published,
          tos: note.toIds,
          ccs: note.ccIds,
        });
      });
      const nextCursor = posts.length === PAGE ? String(posts[posts.length - 1].publishedAt.getTime()) : null;
      return { items, nextCursor };
    })
    .setCounter(async (_ctx, identifier) => {
      const actor = await accounts.byId(identifier);
      if (!actor || !(await speaksNow(actor))) return 0;
      return db.run((em) =>
        em
          .getRepository(PostSchema)
          .countBy({ actorId: identifier, deletedAt: IsNull(), visibility: In(["public", "unlisted"]) }),
      );
    })
    .setFirstCursor(async () => "");

  /** Whether the account still speaks for the organization (src/identity/standing.ts). */
  async function speaksNow(actor: ActorRow): Promise<boolean> {
    const personId = actor.personId ?? actor.formerPersonId;
    const person = personId ? await directory.personById(personId) : null;
    return publicIdentity(actor, person).status === "active";
  }

  // The organization's actor lists every current employee's and official account: a machine-
  // readable roster of who speaks for the organization. Former employees drop out at once.
  federation
    .setOrderedCollectionDispatcher(
      VERIFIED_COLLECTION,
      Person,
      paths.verified,
      async (ctx, values, cursor) => {
        const org = await accounts.byId(values.identifier);
        if (!org || org.kind !== "org" || cursor === null || cursorProblem(paths.verified, cursor))
          return null;
        const rows = await verifiedAccounts(cursor === "" ? undefined : cursor);
        const items = rows.map(
          (a) =>
            new Person({
              id: ctx.getActorUri(a.id),
              preferredUsername: a.handle,
              name: a.displayName,
              url: new URL(`/@${a.handle}`, config.origin),
            }),
        );
        return { items, nextCursor: rows.length === PAGE ? rows[rows.length - 1].handle : null };
      },
    )
    .setCounter(async (_ctx, values) => {
      const org = await accounts.byId(values.identifier);
      return org?.kind === "org" ? db.run((em) => verifiedQuery(em).getCount()) : null;
    })
    // No first cursor for other actors: Fedify then asks the dispatcher, which answers 404.
    .setFirstCursor(async (_ctx, values) =>
      (await accounts.byId(values.identifier))?.kind === "org" ? "" : null,
    );

  /**
   * Person and shared actors that are live (not suspended, tombstoned or moved) with keys, and
   * whose person, if any, is a current employee by the directory's rule (identity/standing.ts),
   * from the moment of the change, before the bridge has suspended the actor.
   */
  function verifiedQuery(em: EntityManager) {
    const current = currentPersonSql("a.person_id");
    return em
      .getRepository(ActorSchema)
      .createQueryBuilder("a")
      .where("a.kind IN (:...kinds)", { kinds: ["person", "shared"] })
      .andWhere("a.deleted_at IS NULL AND a.suspended_at IS NULL AND a.moved_to_id IS NULL")
      .andWhere("a.keys_ready_at IS NOT NULL")
      .andWhere(`(a.person_id IS NULL OR ${current.sql})`, current.params);
  }

  /** A page of them by handle, after the cursor. */
  async function verifiedAccounts(after: string | undefined): Promise<ActorRow[]> {
    return db.run((em) => {
      const q = verifiedQuery(em).orderBy("a.handle", "ASC").take(PAGE);
      if (after) q.andWhere("a.handle > :after", { after });
      return q.getMany();
    });
  }

  federation.setObjectDispatcher(Note, paths.note, async (ctx, values) => {
    const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: values.id }));
    if (!post || post.deletedAt || post.visibility === "direct" || post.visibility === "followers")
      return null;
    const actor = await accounts.byId(post.actorId);
    if (!actor || actor.deletedAt) return null;
    return noteOf(ctx, config.origin, actor, post);
  });

  registerInbox(federation, {
    db,
    accounts,
    blockedDomains,
    archive,
    remoteMediaHttp: config.mode !== "production",
    boostsPerBooster: config.inbox.boostsPerBooster,
  });
  log.debug("Federation dispatchers registered.");
  return federation;
}
