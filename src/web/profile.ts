/**
 * Public HTML for actors and posts: `/@handle` and `/@handle/<post id>` (the `url` of actors and
 * notes), and redirects from the ActivityPub ids when a browser opens them.
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import { In, IsNull } from "typeorm";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import { PostSchema } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { html, page, raw } from "../http/html.ts";
import type { Directory } from "../identity/directory.ts";
import { employmentStatus, publicIdentity } from "../identity/standing.ts";

export function profileRoutes(
  config: Config,
  db: Database,
  accounts: Accounts,
  directory: Directory,
): Router {
  const router = caseSensitiveRouter();
  const domain = config.handleDomain;

  router.get(koa(ROUTES.profile), async (ctx) => {
    const actor = await accounts.byHandle(ctx.params.handle);
    if (!actor || !actor.keysReadyAt) fail(404, `No account @${ctx.params.handle}@${domain}.`);
    const personId = actor.personId ?? actor.formerPersonId;
    const person = personId ? await directory.personById(personId) : null;
    // One rule for what the public sees (src/identity/standing.ts): a former employee's page
    // keeps the handle and says so, with no name, title or posts — deactivated or deleted alike
    // (DESIGN rule 2). "Closed" is for the organization's accounts, and for the tombstone a
    // rehire leaves behind, whose person works here again.
    const who = publicIdentity(actor, person);
    const status =
      who.status === "active"
        ? html``
        : actor.kind === "person" && employmentStatus(person).kind !== "active"
          ? html`<p>
              <strong>Former employee.</strong> This person no longer works at ${config.orgName}; do not trust
              messages from this account.
            </p>`
          : html`<p>
              <strong>This account was closed.</strong> Messages claiming to come from it are not from
              ${config.orgName}.
            </p>`;
    const posts =
      who.status === "active"
        ? await db.run((em) =>
            em.getRepository(PostSchema).find({
              where: { actorId: actor.id, deletedAt: IsNull(), visibility: In(["public", "unlisted"]) },
              order: { publishedAt: "DESC" },
              take: 20,
            }),
          )
        : [];
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `@${actor.handle}@${domain}`,
      html`<h1>${who.displayName ?? html`<code>@${actor.handle}</code>`}</h1>
        <p><code>@${actor.handle}@${domain}</code>${who.title ? html` · ${who.title}` : ""}</p>
        ${status}
        ${posts.map(
          (p) =>
            html`<article>
              <div>${raw(p.contentHtml)}</div>
              <p class="muted"><a href="/@${actor.handle}/${p.id}">${p.publishedAt.toISOString()}</a></p>
            </article>`,
        )}`,
    );
  });

  router.get(koa(ROUTES.profilePost), async (ctx) => {
    const actor = await accounts.byHandle(ctx.params.handle);
    const post = actor
      ? await db.run((em) =>
          em.getRepository(PostSchema).findOneBy({ id: ctx.params.postId, actorId: actor.id }),
        )
      : null;
    if (
      !actor ||
      !post ||
      post.deletedAt ||
      post.visibility === "direct" ||
      post.visibility === "followers"
    ) {
      fail(404, "No such post.");
    }
    const personId = actor.personId ?? actor.formerPersonId;
    const person = personId ? await directory.personById(personId) : null;
    const who = publicIdentity(actor, person);
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `@${actor.handle}@${domain}`,
      html`<article>
        <p>
          ${who.displayName ? html`<a href="/@${actor.handle}">${who.displayName}</a> ` : ""}<a
            href="/@${actor.handle}"
            ><code>@${actor.handle}@${domain}</code></a
          >
        </p>
        ${
          who.status === "former"
            ? html`<p>
                <strong>${actor.kind === "person" ? "Former employee." : "Closed account."}</strong> This
                account no longer speaks for ${config.orgName}.
              </p>`
            : ""
        }
        <div>${raw(post.contentHtml)}</div>
        <p class="muted">${post.publishedAt.toISOString()}</p>
      </article>`,
    );
  });

  // A browser that opens an ActivityPub id lands on the HTML page.
  router.get(koa(ROUTES.ap.actor), async (ctx) => {
    const actor = await accounts.byId(ctx.params.identifier);
    if (!actor) fail(404, "No such account.");
    ctx.redirect(`/@${actor.handle}`);
  });
  router.get(koa(ROUTES.ap.note), async (ctx) => {
    const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: ctx.params.id }));
    const actor = post ? await accounts.byId(post.actorId) : null;
    if (!post || !actor) fail(404, "No such post.");
    ctx.redirect(`/@${actor.handle}/${post.id}`);
  });
  return router;
}
