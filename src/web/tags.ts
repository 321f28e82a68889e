/**
 * `/tags/<tag>`: the organization's public posts carrying a hashtag, newest first, 20 to a page
 * with an "older posts" link (`?before=<post id>`, a keyset cursor). The hashtag links that
 * renderText puts in posts (src/federation/posting.ts) land here.
 *
 * Only posts the profiles show: public (not unlisted, as Mastodon's tag timelines), not deleted,
 * from an account that speaks for the organization now — a current employee's (the directory
 * decides, src/identity/standing.ts) or a live shared or organization account.
 */
import type Router from "@koa/router";
import { Brackets } from "typeorm";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import { ActorSchema, type PostRow, PostSchema } from "../federation/entities.ts";
import { html, page } from "../http/html.ts";
import { href, koa, ROUTES } from "../http/routes.ts";
import type { Directory } from "../identity/directory.ts";
import { currentPersonSql, publicIdentity } from "../identity/standing.ts";
import { postArticle, publicChrome } from "./public.ts";

export const TAG_PAGE_SIZE = 20;
/** A hashtag as renderText recognises one: letters, digits and "_", at most 100 of them. */
const TAG = /^[\p{L}\p{N}_]{1,100}$/u;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A hashtag's one spelling (as posts store and link it): without a leading "#", NFC, lower case.
 * `null` when it is not a hashtag (empty, too long, other characters).
 */
export function normalizeTag(input: string): string | null {
  if (input.length > 1000) return null;
  const tag = input.replace(/^#/, "").normalize("NFC").toLowerCase();
  return TAG.test(tag) ? tag : null;
}

/** `%`, `_` and the escape character itself, escaped for `LIKE … ESCAPE '!'`. */
const likeEscape = (s: string) => s.replace(/[!%_]/g, (c) => `!${c}`);

/** Adds `/tags/<tag>` to the public pages' router (profileRoutes mounts it beside `/@handle`). */
export function addTagRoutes(
  router: Router,
  config: Config,
  db: Database,
  accounts: Accounts,
  directory: Directory,
): void {
  const chrome = publicChrome(config);
  const domain = config.handleDomain;

  /**
   * One page of the tag's posts older than `before`, and whether there are more. Posts store
   * their tags as a JSON array of strings; `LIKE '%"tag"%'` finds candidates on both databases
   * (on MySQL a case- or accent-insensitive collation may find a few too many), and each is then
   * checked exactly.
   */
  async function postsTagged(tag: string, before: PostRow | undefined) {
    const found: PostRow[] = [];
    let cursor = before;
    for (;;) {
      const batch = await db.run((em) => {
        const current = currentPersonSql("a.person_id");
        const qb = em
          .getRepository(PostSchema)
          .createQueryBuilder("p")
          .innerJoin(ActorSchema.options.name, "a", "a.id = p.actor_id")
          .where("p.deleted_at IS NULL AND p.visibility = :public", { public: "public" })
          .andWhere("p.hashtags LIKE :like ESCAPE '!'", { like: `%${likeEscape(JSON.stringify(tag))}%` })
          .andWhere("a.deleted_at IS NULL AND a.suspended_at IS NULL AND a.keys_ready_at IS NOT NULL")
          .andWhere(`(a.kind <> :person OR (a.person_id IS NOT NULL AND ${current.sql}))`, {
            person: "person",
            ...current.params,
          });
        if (cursor) {
          const { publishedAt, id } = cursor;
          qb.andWhere(
            new Brackets((b) =>
              b
                .where("p.published_at < :beforeT", { beforeT: publishedAt })
                .orWhere("(p.published_at = :beforeT AND p.id < :beforeId)", { beforeId: id }),
            ),
          );
        }
        return qb
          .orderBy("p.published_at", "DESC")
          .addOrderBy("p.id", "DESC")
          .take(TAG_PAGE_SIZE + 1)
          .getMany();
      });
      for (const post of batch) {
        const tags = JSON.parse(post.hashtags ?? "[]") as unknown;
        if (Array.isArray(tags) && tags.includes(tag)) found.push(post);
      }
      if (found.length > TAG_PAGE_SIZE || batch.length <= TAG_PAGE_SIZE) break;
      cursor = batch[batch.length - 1];
    }
    return { posts: found.slice(0, TAG_PAGE_SIZE), more: found.length > TAG_PAGE_SIZE };
  }

  /** Who wrote each post, as the profile names them (every author here is current). */
  async function authors(posts: readonly PostRow[]) {
    const out = new Map<string, { handle: string; name: string | null }>();
    for (const actorId of new Set(posts.map((p) => p.actorId))) {
      const actor = await accounts.byId(actorId);
      if (!actor) continue;
      const person = actor.personId ? await directory.personById(actor.personId) : null;
      out.set(actorId, { handle: actor.handle, name: publicIdentity(actor, person).displayName });
    }
    return out;
  }

  const badRequest = (message: string) =>
    page(
      "Not a hashtag",
      html`<h1>Not a hashtag</h1>
        <p class="notice notice-error" role="alert">${message}</p>
        <p><a href="${ROUTES.home}">Back to ${config.orgName}'s home page</a></p>`,
      chrome,
    );

  router.get(koa(ROUTES.tag), async (ctx) => {
    ctx.type = "text/html; charset=utf-8";
    const asked = String(ctx.params.tag ?? "");
    const tag = normalizeTag(asked);
    if (!tag) {
      ctx.status = 400;
      ctx.body = badRequest("A hashtag is 1 to 100 letters, digits or underscores (for example #careers).");
      return;
    }
    // One address per tag: /tags/Careers and /tags/%23careers are /tags/careers.
    if (tag !== asked) {
      ctx.status = 301;
      ctx.redirect(href(ROUTES.tag, { tag }) + (ctx.querystring ? `?${ctx.querystring}` : ""));
      return;
    }
    const beforeId = ctx.query.before;
    let before: PostRow | undefined;
    if (beforeId !== undefined) {
      const id = typeof beforeId === "string" && UUID.test(beforeId) ? beforeId : undefined;
      before = id
        ? ((await db.run((em) => em.getRepository(PostSchema).findOneBy({ id }))) ?? undefined)
        : undefined;
      if (!before) {
        ctx.status = 400;
        ctx.body = badRequest("That page of older posts does not exist; start from the newest.");
        return;
      }
    }
    const { posts, more } = await postsTagged(tag, before);
    const by = await authors(posts);
    const self = href(ROUTES.tag, { tag });
    ctx.body = page(
      `#${tag} · ${config.orgName}`,
      html`<h1>#${tag}</h1>
        <p class="muted">Public posts from ${config.orgName}'s accounts, newest first.</p>
        ${
          posts.length === 0
            ? html`<p class="notice">
                ${before ? html`No older posts with #${tag}.` : html`No public posts with #${tag} yet.`}
              </p>`
            : html`<div>
                ${posts.map((p) => {
                  const a = by.get(p.actorId);
                  const profile = a ? href(ROUTES.profile, { handle: a.handle }) : undefined;
                  return postArticle(
                    p,
                    { handle: a?.handle ?? "" },
                    a && profile
                      ? html`<p>
                          ${a.name ? html`<a href="${profile}"><strong>${a.name}</strong></a> ` : ""}<a
                            href="${profile}"
                            ><code>@${a.handle}@${domain}</code></a
                          >
                        </p>`
                      : undefined,
                  );
                })}
              </div>`
        }
        ${
          more || before
            ? html`<p class="actions">
                ${
                  more
                    ? html`<a class="btn btn-secondary" href="${self}?before=${posts[posts.length - 1].id}"
                        >Older posts</a
                      >`
                    : ""
                }
                ${before ? html`<a href="${self}">Newest posts</a>` : ""}
              </p>`
            : ""
        }`,
      chrome,
    );
  });
}
