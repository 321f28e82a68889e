/**
 * Public HTML for actors and posts: `/@handle` and `/@handle/<post id>` (the `url` of actors and
 * notes), and redirects from the ActivityPub ids when a browser opens them. A profile says where
 * its account stands (the one rule, src/identity/standing.ts), links to its verification and
 * shows that link as a QR code a recruiter can print or put on a slide.
 */
import { href, koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import { In, IsNull } from "typeorm";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import { PostSchema } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { type Html, html, page, raw, safeHref, timeTag } from "../http/html.ts";
import type { Directory } from "../identity/directory.ts";
import { employmentStatus, type PublicIdentity, publicIdentity } from "../identity/standing.ts";
import { postArticle, postMedia, publicChrome, qrImage } from "./public.ts";
import { addTagRoutes } from "./tags.ts";

/** Where an account stands, as a badge and, for a former one, a sentence. */
function standing(
  config: Pick<Config, "orgName">,
  actor: ActorRow,
  who: PublicIdentity,
  personLeft: boolean,
): { badge: Html; notice: Html } {
  if (who.status === "active")
    return {
      badge: html`<span class="badge badge-current"
        ><span aria-hidden="true">✔</span>
        ${actor.kind === "person" ? `Current ${config.orgName} employee` : `Official ${config.orgName} account`}</span
      >`,
      notice: html``,
    };
  const since = who.since ? html` since ${timeTag(who.since, { relative: false })}` : "";
  // "Former employee." and "This account was closed." are what readers of this page look for
  // (test/identity/surfaces-agree.test.ts): keep the sentences.
  return personLeft
    ? {
        badge: html`<span class="badge badge-former"
          ><span aria-hidden="true">✖</span> Former employee</span
        >`,
        notice: html`<p class="notice notice-error">
          <strong>Former employee.</strong>
          ${who.since ? html`This person has not worked at ${config.orgName}${since}` : html`This person no longer works at ${config.orgName}`};
          do not trust messages from this account.
        </p>`,
      }
    : {
        badge: html`<span class="badge badge-former"><span aria-hidden="true">✖</span> Closed account</span>`,
        notice: html`<p class="notice notice-error">
          <strong>This account was closed.</strong> Messages claiming to come from it are not from
          ${config.orgName}.
        </p>`,
      };
}

export function profileRoutes(
  config: Config,
  db: Database,
  accounts: Accounts,
  directory: Directory,
): Router {
  const router = caseSensitiveRouter();
  const domain = config.handleDomain;
  const chrome = publicChrome(config);

  router.get(koa(ROUTES.profile), async (ctx) => {
    const actor = await accounts.byHandle(ctx.params.handle);
    if (!actor || !actor.keysReadyAt) fail(404, `No account @${ctx.params.handle}@${domain}.`);
    const personId = actor.personId ?? actor.formerPersonId;
    const person = personId ? await directory.personById(personId) : null;
    // One rule for what the public sees (src/identity/standing.ts): a former employee's page
    // keeps the handle and says so, with no name, title, photo or posts — deactivated or deleted
    // alike (DESIGN rule 2). "Closed" is for the organization's accounts, and for the tombstone
    // a rehire leaves behind, whose person works here again.
    const who = publicIdentity(actor, person);
    const personLeft = actor.kind === "person" && employmentStatus(person).kind !== "active";
    const { badge, notice } = standing(config, actor, who, personLeft);
    const posts =
      who.status === "active"
        ? await db.run((em) =>
            em.getRepository(PostSchema).find({
              where: { actorId: actor.id, deletedAt: IsNull(), visibility: In(["public", "unlisted"]) },
              order: { publishedAt: "DESC", id: "DESC" },
              take: 20,
            }),
          )
        : [];
    const handle = `@${actor.handle}@${domain}`;
    const verifyPath = href(ROUTES.verifyHandle, { handle: actor.handle });
    const verifyUrl = new URL(verifyPath, config.origin).href;
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      handle,
      html`${who.photoUrl ? html`<img src="${safeHref(who.photoUrl)}" alt="" width="72" height="72" />` : ""}
        <h1>${who.displayName ?? html`<code>@${actor.handle}</code>`}</h1>
        <p><code>${handle}</code>${who.title ? html` · ${who.title}` : ""}</p>
        <p>${badge}</p>
        ${notice}
        <section class="card" aria-labelledby="verify-heading">
          <h2 id="verify-heading">Check this account</h2>
          <p>
            Anyone can confirm with ${config.orgName} whether <code>${handle}</code> speaks for it today:
            <a href="${verifyPath}">verify ${handle}</a>.
          </p>
          <p class="muted small">The QR code opens the same check: <code>${verifyUrl}</code></p>
          ${qrImage(verifyUrl, `QR code of the verification link for ${handle}`)}
        </section>
        ${
          who.status === "active"
            ? html`<h2>Posts</h2>
                ${
                  posts.length > 0
                    ? html`<div>${posts.map((p) => postArticle(p, actor))}</div>`
                    : html`<p class="muted">No public posts yet.</p>`
                }`
            : ""
        }`,
      chrome,
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
    const profilePath = href(ROUTES.profile, { handle: actor.handle });
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `@${actor.handle}@${domain}`,
      html`<article class="post">
        <p>
          ${who.displayName ? html`<a href="${profilePath}">${who.displayName}</a> ` : ""}<a
            href="${profilePath}"
            ><code>@${actor.handle}@${domain}</code></a
          >
        </p>
        ${
          who.status === "former"
            ? html`<p class="notice notice-error">
                <strong>${actor.kind === "person" ? "Former employee." : "Closed account."}</strong> This
                account no longer speaks for ${config.orgName}.
              </p>`
            : ""
        }
        <div>${raw(post.contentHtml)}</div>
        ${postMedia(post)}
        <p class="muted small">${timeTag(post.publishedAt)}</p>
      </article>`,
      chrome,
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
  // The hashtag pages that posts link to.
  addTagRoutes(router, config, db, accounts, directory);
  return router;
}
