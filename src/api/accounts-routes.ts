/**
 * Accounts beyond slice 1 (src/api/routes.ts): followers and following of a local account,
 * relationships of the token's account with others, update_credentials (display name and note of
 * an account the person may act for: Casbin's edit-profile decides; a person's own display name
 * comes from the directory and is not changed here), and search v2 by handle — local accounts
 * (`jane`, `@jane`, `@jane@<our domain>`) and remote ones (`@user@host`, looked up over WebFinger
 * with `resolve=true`). Statuses and hashtags are not searched: empty lists.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import {
  type ActorRow,
  ActorSchema,
  FollowerSchema,
  FollowingSchema,
  iriHash,
} from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { koa } from "../http/routes.ts";
import type { ApiAuth } from "./auth.ts";
import { parseApiId } from "./ids.ts";
import { bool, list, type Params, str } from "./params.ts";
import { RemoteAccountSchema } from "./records.ts";
import type { RemoteAccounts } from "./remote-accounts.ts";
import { keyset, pageOf, remoteAccountJson, setLink } from "./statuses.ts";
import type { Wire } from "./wire.ts";

export const ACCOUNT_PATHS = {
  followers: "/api/v1/accounts/{id}/followers",
  following: "/api/v1/accounts/{id}/following",
  relationships: "/api/v1/accounts/relationships",
  updateCredentials: "/api/v1/accounts/update_credentials",
  search: "/api/v2/search",
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function notFound(): never {
  fail(404, "Record not found");
}

export function accountRoutes(deps: {
  config: Config;
  db: Database;
  auth: ApiAuth;
  wire: Wire;
  accounts: Accounts;
  remoteAccounts: RemoteAccounts;
}) {
  const { config, db, auth, wire, accounts, remoteAccounts } = deps;

  async function local(id: string): Promise<ActorRow> {
    const actor = UUID.test(id) ? await accounts.byId(id) : null;
    if (!actor || actor.deletedAt || actor.kind === "org") notFound();
    return actor;
  }

  return (router: Router, params: (ctx: Context) => Promise<Params>) => {
    router.get(koa(ACCOUNT_PATHS.followers), async (ctx) => {
      await auth.caller(ctx, "optional", "read:accounts");
      const actor = await local(ctx.params.id);
      const p = await params(ctx);
      const page = pageOf(p, 80, 40);
      if (!page) {
        ctx.body = [];
        return;
      }
      const rows = await db.run((em) =>
        keyset(
          em
            .getRepository(FollowerSchema)
            .createQueryBuilder("f")
            .where("f.actor_id = :id AND f.status = :accepted", { id: actor.id, accepted: "accepted" }),
          "f.api_id",
          page,
        ).getMany(),
      );
      const ordered = page.min !== undefined ? rows.reverse() : rows;
      setLink(
        ctx,
        config,
        p,
        ordered.map((r) => String(r.apiId)),
      );
      const out = [];
      for (const r of ordered)
        out.push(remoteAccountJson(await remoteAccounts.ensure(r.followerIri), wire.avatar()));
      ctx.body = out;
    });

    // Following: at most `limit` (up to 80), newest first; not paged further (rows have no api id).
    router.get(koa(ACCOUNT_PATHS.following), async (ctx) => {
      await auth.caller(ctx, "optional", "read:accounts");
      const actor = await local(ctx.params.id);
      const page = pageOf(await params(ctx), 80, 40);
      const rows = await db.run((em) =>
        em.getRepository(FollowingSchema).find({
          where: { actorId: actor.id, status: "accepted" },
          order: { createdAt: "DESC" },
          take: page?.limit ?? 40,
        }),
      );
      const out = [];
      for (const r of rows)
        out.push(remoteAccountJson(await remoteAccounts.ensure(r.targetIri), wire.avatar()));
      ctx.body = out;
    });

    router.get(koa(ACCOUNT_PATHS.relationships), async (ctx) => {
      const c = await auth.caller(ctx, "user", "read:follows");
      const ids = list(await params(ctx), "id").slice(0, 80);
      const out = [];
      for (const id of ids) {
        const n = parseApiId(id);
        const other = n === undefined ? null : await remoteAccounts.byId(n);
        const rel = { following: false, requested: false, followed_by: false };
        if (other) {
          const hash = iriHash(other.iri);
          const [following, follower] = await db.run(async (em) => [
            await em.getRepository(FollowingSchema).findOneBy({ actorId: c.account.id, targetHash: hash }),
            await em.getRepository(FollowerSchema).findOneBy({ actorId: c.account.id, followerHash: hash }),
          ]);
          rel.following = following?.status === "accepted";
          rel.requested = following?.status === "pending";
          rel.followed_by = (follower as { status?: string } | null)?.status === "accepted";
        } else if (!(UUID.test(id) && (await accounts.byId(id)))) continue;
        out.push({
          id,
          ...rel,
          showing_reblogs: rel.following,
          notifying: false,
          languages: null,
          blocking: false,
          blocked_by: false,
          muting: false,
          muting_notifications: false,
          requested_by: false,
          domain_blocking: false,
          endorsed: false,
          note: "",
        });
      }
      ctx.body = out;
    });

    router.patch(koa(ACCOUNT_PATHS.updateCredentials), async (ctx) => {
      const c = await auth.caller(ctx, "user", "write:accounts");
      const decision = await c.can("edit-profile", c.account);
      if (!decision.allow)
        fail(403, `This action is not allowed: you may not edit the profile of @${c.account.handle}`);
      const p = await params(ctx);
      const name = str(p, "display_name");
      const note = str(p, "note");
      if (name !== undefined) {
        if (c.account.kind === "person" && name !== c.account.displayName)
          fail(422, "Validation failed: Display name comes from the company directory");
        if (name.trim() === "" || name.length > 100)
          fail(422, "Validation failed: Display name needs 1–100 characters");
      }
      if (note !== undefined && note.length > 500)
        fail(422, "Validation failed: Note is too long (500 at most)");
      const changed = await accounts.configure(
        c.account.id,
        {
          ...(name !== undefined && c.account.kind !== "person" ? { displayName: name.trim() } : {}),
          ...(note !== undefined ? { summary: note.trim() } : {}),
        },
        `person:${c.person.id}`,
      );
      if (!changed) notFound();
      ctx.body = await wire.account(changed, true);
    });

    router.get(koa(ACCOUNT_PATHS.search), async (ctx) => {
      await auth.caller(ctx, "user", "read:search");
      const p = await params(ctx);
      const q = (str(p, "q") ?? "").trim().slice(0, 300);
      const type = str(p, "type");
      const limit = Math.min(40, Math.max(1, Math.trunc(Number(str(p, "limit") ?? 20)) || 20));
      const found: unknown[] = [];
      if (q !== "" && (type === undefined || type === "accounts")) {
        const m = /^@?([a-z0-9_.-]+)(?:@([a-z0-9.-]+(?::\d+)?))?$/i.exec(q);
        const ours = config.handleDomain.toLowerCase();
        if (m && m[2] && m[2].toLowerCase() !== ours) {
          const r = await remoteAccounts.byAcct(`${m[1]}@${m[2]}`, bool(p, "resolve"));
          if (r) found.push(remoteAccountJson(r, wire.avatar()));
        } else if (m) {
          const prefix = m[1].toLowerCase().replace(/[%_!]/g, (x) => `!${x}`);
          const rows = await db.run((em) =>
            em
              .getRepository(ActorSchema)
              .createQueryBuilder("a")
              .where("a.handle LIKE :prefix ESCAPE '!'", { prefix: `${prefix}%` })
              .andWhere("a.deleted_at IS NULL AND a.moved_to_id IS NULL AND a.kind != :org", { org: "org" })
              .orderBy("a.handle", "ASC")
              .take(limit)
              .getMany(),
          );
          for (const a of rows) found.push(await wire.account(a));
          if (!m[2] && found.length < limit) {
            const remote = await db.run((em) =>
              em
                .getRepository(RemoteAccountSchema)
                .createQueryBuilder("r")
                .where("LOWER(r.username) LIKE :prefix ESCAPE '!'", { prefix: `${prefix}%` })
                .orderBy("r.acct", "ASC")
                .take(limit - found.length)
                .getMany(),
            );
            for (const r of remote) found.push(remoteAccountJson(r, wire.avatar()));
          }
        }
      }
      ctx.body = { accounts: found, statuses: [], hashtags: [] };
    });
  };
}
