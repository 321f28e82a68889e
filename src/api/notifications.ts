/**
 * Notifications, conversations and markers (docs.joinmastodon.org/methods/notifications/,
 * /conversations/, /markers/) for the account a token acts as, read by those who may read its
 * inbox (Casbin's view-inbox):
 *
 * - `mention`: replies, mentions and direct messages received (inbound rows);
 * - `follow` / `follow_request`: its followers, accepted or waiting for approval;
 * - `favourite` / `reblog`: likes and boosts of its posts, by remote accounts and by Herald's
 *   other accounts (src/api/status-actions.ts; not its own).
 *
 * A notification's id is its source row's api id (one counter: they interleave). Dismissing one,
 * or clearing all, is remembered per person and account (someone else acting for @recruiting
 * still sees them). Conversations are the direct messages received, one per remote sender.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import { In } from "typeorm";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import {
  type FollowerRow,
  FollowerSchema,
  type InboundRow,
  InboundSchema,
  iriHash,
  type PostRow,
  PostSchema,
  type ReactionRow,
  ReactionSchema,
} from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { koa } from "../http/routes.ts";
import type { ApiAuth, UserCaller } from "./auth.ts";
import { parseApiId } from "./ids.ts";
import { list, type Params, str } from "./params.ts";
import { ClearSchema, DismissalSchema, MarkerSchema } from "./records.ts";
import type { RemoteAccounts } from "./remote-accounts.ts";
import { keyset, merged, type Page, pageOf, remoteAccountJson, setLink, type Statuses } from "./statuses.ts";
import type { Wire } from "./wire.ts";

export const NOTIFICATION_PATHS = {
  list: "/api/v1/notifications",
  one: "/api/v1/notifications/{id}",
  clear: "/api/v1/notifications/clear",
  dismiss: "/api/v1/notifications/{id}/dismiss",
  dismissOld: "/api/v1/notifications/dismiss",
  conversations: "/api/v1/conversations",
  markers: "/api/v1/markers",
} as const;

const TYPES = ["mention", "follow", "follow_request", "favourite", "reblog"] as const;
type NotificationType = (typeof TYPES)[number];

type Source =
  | { type: "mention"; id: number; at: Date; row: InboundRow }
  | { type: "follow" | "follow_request"; id: number; at: Date; row: FollowerRow }
  | { type: "favourite" | "reblog"; id: number; at: Date; row: ReactionRow & { post: PostRow } };

function notFound(): never {
  fail(404, "Record not found");
}

export function notificationRoutes(deps: {
  config: Config;
  db: Database;
  auth: ApiAuth;
  wire: Wire;
  statuses: Statuses;
  remoteAccounts: RemoteAccounts;
  accounts: Accounts;
}) {
  const { config, db, auth, wire, statuses, remoteAccounts, accounts } = deps;

  async function reader(ctx: Context, scope: string): Promise<UserCaller> {
    const c = await auth.caller(ctx, "user", scope);
    if (!(await c.can("view-inbox", c.account)).allow)
      fail(403, `This action is not allowed: you may not read the inbox of @${c.account.handle}`);
    return c;
  }

  /** What this person dismissed or cleared on this account. */
  async function hidden(c: UserCaller) {
    return db.run(async (em) => {
      const clear = await em
        .getRepository(ClearSchema)
        .findOneBy({ personId: c.person.id, accountId: c.account.id });
      const dismissed = await em
        .getRepository(DismissalSchema)
        .findBy({ personId: c.person.id, accountId: c.account.id });
      return {
        upTo: clear ? Number(clear.upTo) : 0,
        ids: new Set(dismissed.map((d) => Number(d.notificationId))),
      };
    });
  }

  /** One page of notifications of the given types, newest first (or the one with id `only`). */
  async function sources(c: UserCaller, types: Set<NotificationType>, page: Page, only?: number) {
    const h = await hidden(c);
    const account = c.account.id;
    const lists = await db.run(async (em) => {
      const out: Source[][] = [];
      const floor = (qb: { andWhere: (w: string, p: object) => unknown }, col: string) => {
        qb.andWhere(`${col} > :upTo`, { upTo: h.upTo });
        if (only !== undefined) qb.andWhere(`${col} = :only`, { only });
      };
      if (types.has("mention")) {
        const qb = em
          .getRepository(InboundSchema)
          .createQueryBuilder("i")
          .where("i.actor_id = :account AND i.deleted_at IS NULL", { account })
          .andWhere("i.kind IN (:...kinds)", { kinds: ["reply", "mention", "direct"] });
        floor(qb, "i.api_id");
        const rows = await keyset(qb, "i.api_id", page, "m").getMany();
        out.push(rows.map((row) => ({ type: "mention", id: Number(row.apiId), at: row.receivedAt, row })));
      }
      const follows = [types.has("follow") && "accepted", types.has("follow_request") && "pending"].filter(
        (x): x is string => !!x,
      );
      if (follows.length > 0) {
        const qb = em
          .getRepository(FollowerSchema)
          .createQueryBuilder("f")
          .where("f.actor_id = :account", { account })
          .andWhere("f.status IN (:...follows)", { follows });
        floor(qb, "f.api_id");
        const rows = await keyset(qb, "f.api_id", page, "f").getMany();
        out.push(
          rows.map((row) => ({
            type: row.status === "pending" ? ("follow_request" as const) : ("follow" as const),
            id: Number(row.apiId),
            at: row.createdAt,
            row,
          })),
        );
      }
      const kinds = [types.has("favourite") && "like", types.has("reblog") && "announce"].filter(
        (x): x is string => !!x,
      );
      if (kinds.length > 0) {
        const qb = em
          .getRepository(ReactionSchema)
          .createQueryBuilder("r")
          .innerJoin(PostSchema.options.name, "p", "p.id = r.post_id")
          .where("p.actor_id = :account AND p.deleted_at IS NULL", { account })
          .andWhere("r.kind IN (:...kinds)", { kinds })
          .andWhere("r.remote_actor_iri IS NOT NULL")
          // Its own favourite or boost of its post (through the client API) is no news to it.
          .andWhere("r.remote_actor_hash <> :self", { self: iriHash(wire.actorUri(account)) });
        floor(qb, "r.api_id");
        const rows = await keyset(qb, "r.api_id", page, "r").getMany();
        const posts = rows.length
          ? await em.getRepository(PostSchema).findBy({ id: In(rows.map((r) => r.postId)) })
          : [];
        out.push(
          rows.flatMap((row) => {
            const post = posts.find((p) => p.id === row.postId);
            return post
              ? [
                  {
                    type: row.kind === "like" ? ("favourite" as const) : ("reblog" as const),
                    id: Number(row.apiId),
                    at: row.createdAt,
                    row: { ...row, post },
                  },
                ]
              : [];
          }),
        );
      }
      return out;
    });
    return merged(
      page,
      lists.map((l) => l.filter((s) => !h.ids.has(s.id))),
      (s) => s.id,
    );
  }

  async function render(c: UserCaller, list: Source[]) {
    const out = [];
    for (const s of list) {
      const base = {
        id: String(s.id),
        type: s.type,
        created_at: s.at.toISOString(),
        group_key: `ungrouped-${s.id}`,
      };
      const fallback = wire.avatar();
      switch (s.type) {
        case "mention": {
          const [status] = await statuses.remote([s.row], c.account);
          out.push({ ...base, account: status.account, status });
          break;
        }
        case "follow":
        case "follow_request":
          out.push({
            ...base,
            account: remoteAccountJson(await remoteAccounts.ensure(s.row.followerIri), fallback),
          });
          break;
        case "favourite":
        case "reblog": {
          const [status] = await statuses.local([s.row.post], [], c.account);
          const iri = s.row.remoteActorIri!;
          // One of our accounts (a colleague's, a shared one) reacted through the client API.
          if (iri.startsWith(wire.actorPrefix)) {
            const who = await accounts.byId(iri.slice(wire.actorPrefix.length));
            if (who && !who.deletedAt) out.push({ ...base, account: await wire.account(who), status });
            break;
          }
          const who = await remoteAccounts.ensure(iri);
          out.push({ ...base, account: remoteAccountJson(who, fallback), status });
        }
      }
    }
    return out;
  }

  function typesOf(p: Params): Set<NotificationType> {
    const only = list(p, "types").filter((t): t is NotificationType =>
      (TYPES as readonly string[]).includes(t),
    );
    const asked = list(p, "types").length > 0 ? only : [...TYPES];
    const excluded = new Set(list(p, "exclude_types"));
    return new Set(asked.filter((t) => !excluded.has(t)));
  }

  return (router: Router, params: (ctx: Context) => Promise<Params>) => {
    router.get(koa(NOTIFICATION_PATHS.list), async (ctx) => {
      const c = await reader(ctx, "read:notifications");
      const p = await params(ctx);
      const page = pageOf(p, 80, 40);
      if (!page) {
        ctx.body = [];
        return;
      }
      const found = await sources(c, typesOf(p), page);
      setLink(
        ctx,
        config,
        p,
        found.map((s) => String(s.id)),
      );
      ctx.body = await render(c, found);
    });

    router.post(koa(NOTIFICATION_PATHS.clear), async (ctx) => {
      const c = await reader(ctx, "write:notifications");
      // Everything up to the newest id handed out so far.
      const [row] = await db.query<{ value: number | string }>(
        "SELECT value FROM api_sequence WHERE name = 'id'",
      );
      await db.transaction(async (em) => {
        const repo = em.getRepository(ClearSchema);
        const key = { personId: c.person.id, accountId: c.account.id };
        if (await repo.existsBy(key))
          await repo.update(key, { upTo: Number(row.value), clearedAt: new Date() });
        else await repo.insert({ ...key, upTo: Number(row.value), clearedAt: new Date() });
      });
      ctx.body = {};
    });

    const dismiss = async (ctx: Context, id: string | undefined) => {
      const c = await reader(ctx, "write:notifications");
      const n = parseApiId(id);
      if (n === undefined || (await sources(c, new Set(TYPES), { limit: 1 }, n)).length === 0) notFound();
      await db.transaction(async (em) => {
        const key = { personId: c.person.id, accountId: c.account.id, notificationId: n };
        if (!(await em.getRepository(DismissalSchema).existsBy(key)))
          await em.getRepository(DismissalSchema).insert(key);
      });
      ctx.body = {};
    };
    router.post(koa(NOTIFICATION_PATHS.dismiss), (ctx) => dismiss(ctx, ctx.params.id));
    router.post(koa(NOTIFICATION_PATHS.dismissOld), async (ctx) =>
      dismiss(ctx, str(await params(ctx), "id")),
    );

    router.get(koa(NOTIFICATION_PATHS.one), async (ctx) => {
      const c = await reader(ctx, "read:notifications");
      const n = parseApiId(ctx.params.id);
      const [found] = n === undefined ? [] : await sources(c, new Set(TYPES), { limit: 1 }, n);
      if (!found) notFound();
      ctx.body = (await render(c, [found]))[0];
    });

    // Direct messages received, newest first, one conversation per sender.
    router.get(koa(NOTIFICATION_PATHS.conversations), async (ctx) => {
      const c = await reader(ctx, "read:statuses");
      const p = await params(ctx);
      const page = pageOf(p);
      if (!page) {
        ctx.body = [];
        return;
      }
      const rows = await db.run((em) =>
        keyset(
          em
            .getRepository(InboundSchema)
            .createQueryBuilder("i")
            .where("i.actor_id = :account AND i.kind = :direct AND i.deleted_at IS NULL", {
              account: c.account.id,
              direct: "direct",
            }),
          "i.api_id",
          { ...page, limit: 200 },
        ).getMany(),
      );
      const latest = new Map<string, InboundRow>();
      for (const r of rows.sort((a, b) => Number(b.apiId) - Number(a.apiId)))
        if (!latest.has(r.remoteActorIri)) latest.set(r.remoteActorIri, r);
      const chosen = [...latest.values()].slice(0, page.limit);
      const rendered = await statuses.remote(chosen, c.account);
      setLink(
        ctx,
        config,
        p,
        rendered.map((s) => s.id),
      );
      ctx.body = rendered.map((status) => ({
        id: status.id,
        unread: false,
        accounts: [status.account],
        last_status: status,
      }));
    });

    router.get(koa(NOTIFICATION_PATHS.markers), async (ctx) => {
      const c = await auth.caller(ctx, "user", "read:statuses");
      const p = await params(ctx);
      const asked = list(p, "timeline");
      const rows = await db.run((em) =>
        em.getRepository(MarkerSchema).findBy({ personId: c.person.id, accountId: c.account.id }),
      );
      const out: Record<string, unknown> = {};
      for (const r of rows)
        if (asked.length === 0 || asked.includes(r.timeline))
          out[r.timeline] = {
            last_read_id: r.lastReadId,
            version: r.version,
            updated_at: r.updatedAt.toISOString(),
          };
      ctx.body = out;
    });

    router.post(koa(NOTIFICATION_PATHS.markers), async (ctx) => {
      const c = await auth.caller(ctx, "user", "write:statuses");
      const p = await params(ctx);
      const out: Record<string, unknown> = {};
      for (const timeline of ["home", "notifications"]) {
        // JSON `{"home": {"last_read_id": "…"}}` or a form's `home[last_read_id]=…`.
        const nested = p[timeline];
        const lastRead =
          (nested && typeof nested === "object" ? str(nested as Params, "last_read_id") : undefined) ??
          str(p, `${timeline}[last_read_id]`);
        if (!lastRead) continue;
        if (parseApiId(lastRead) === undefined)
          fail(422, `Validation failed: ${timeline} last_read_id is not an id`);
        const saved = await db.transaction(async (em) => {
          const repo = em.getRepository(MarkerSchema);
          const key = { personId: c.person.id, accountId: c.account.id, timeline };
          const row = await repo.findOneBy(key);
          const next = { lastReadId: lastRead, version: (row?.version ?? 0) + 1, updatedAt: new Date() };
          if (row) await repo.update(key, next);
          else await repo.insert({ ...key, ...next });
          return next;
        });
        out[timeline] = {
          last_read_id: saved.lastReadId,
          version: saved.version,
          updated_at: saved.updatedAt.toISOString(),
        };
      }
      ctx.body = out;
    });
  };
}
