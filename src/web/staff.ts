/**
 * The staff web app at `/app`: server-rendered, escaped by construction, usable without
 * JavaScript. A signed-in person sees a preview of their actor and edits what is theirs to edit
 * (bio, follower approval — name and title come from the directory); composes and posts as
 * themselves; lists and deletes their posts; reads replies and mentions. Every form carries the
 * session's CSRF token. The "acting as" switcher lists only the person's own account for now; the
 * RBAC capability adds the shared accounts they may act for.
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Context } from "koa";
import { In, IsNull } from "typeorm";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import { type ActorRow, InboundSchema, PostSchema, type Visibility } from "../federation/entities.ts";
import type { Posting } from "../federation/posting.ts";
import { fail } from "../http/errors.ts";
import { csrfForm, requireSession } from "../sessions/middleware.ts";
import { type Html, html, page, raw, relativeTime, safeHref, timeTag } from "../http/html.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { type Action, type Authz, ORG } from "../authz/authz.ts";
import { type DraftRow, DraftSchema, type DraftStatus, type Drafts } from "../federation/drafts.ts";
import type { Directory } from "../identity/directory.ts";
import { isMultipart, readMultipart } from "../media/multipart.ts";
import { MAX_DESCRIPTION, type Media } from "../media/service.ts";
import type { AppTokenPages } from "./app-tokens.ts";
import { postMedia } from "./public.ts";
import { remoteMedia, remoteMediaKind } from "../federation/remote-media.ts";
import { orgIdentity } from "./design.ts";

const VISIBILITIES: Record<Visibility, string> = {
  public: "Public",
  unlisted: "Unlisted (not in public timelines)",
  followers: "Followers only",
  direct: "Only the people mentioned",
};

export function staffRoutes(deps: {
  config: Config;
  db: Database;
  directory: Directory;
  accounts: Accounts;
  posting: Posting;
  sessions: Sessions;
  authz: Authz;
  drafts: Drafts;
  /** Pictures: the compose form's image (src/media/). */
  media: Media;
  /** The apps the person authorized (/app/tokens). */
  tokens: AppTokenPages;
}): Router {
  const { config, db, directory, accounts, posting, sessions, authz, drafts, media } = deps;
  const router = caseSensitiveRouter({ prefix: ROUTES.app.prefix });
  const domain = config.handleDomain;

  router.use(requireSession());

  async function ownActor(auth: ActiveSession): Promise<ActorRow | undefined> {
    const actor = auth.person.handle ? await accounts.byHandle(auth.person.handle) : null;
    return actor && actor.personId === auth.person.id && !actor.deletedAt && !actor.suspendedAt
      ? actor
      : undefined;
  }

  const requireForm = (ctx: Context) => csrfForm(ctx, sessions, 64_000);

  /** The compose form: multipart when it carries an image (and its alt text), CSRF-checked either way. */
  async function composeForm(
    ctx: Context,
  ): Promise<{ auth: ActiveSession; form: URLSearchParams; image?: Buffer }> {
    if (!isMultipart(ctx)) return requireForm(ctx);
    const auth = ctx.state.auth as ActiveSession;
    const m = await readMultipart(ctx, media.limits.maxBytes + 64_000);
    if (!sessions.verifyCsrf(auth, m.fields.get("csrf") ?? null))
      fail(403, "This form has expired; reload the page and try again.");
    return { auth, form: new URLSearchParams([...m.fields]), image: m.files.get("image") };
  }

  function shell(ctx: Context, auth: ActiveSession, title: string, body: Html): void {
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    const links: [string, string][] = [
      ["/app", "Home"],
      ["/app/inbox", "Inbox"],
      ["/app/profile", "Profile"],
      ["/app/tokens", "Apps"],
      ...(ctx.state.canAdmin ? [["/admin", "Admin"] as [string, string]] : []),
    ];
    ctx.body = page(title, body, {
      org: { ...orgIdentity(config), href: "/app" },
      navLabel: "Herald",
      nav: links.map(([href, label]) => ({ href, label, current: ctx.path === href })),
      session: { name: auth.person.displayName ?? auth.person.userName, csrf: auth.csrf },
    });
  }

  function noAccount(): Html {
    return html`<p class="notice">
      You have no fediverse account yet. Accounts are made from the directory a few seconds after you are
      provisioned${
        config.accounts.eligibleGroups.length > 0
          ? html`, for members of ${config.accounts.eligibleGroups.join(", ")}`
          : ""
      }.
      Reload in a moment, or ask IT.
    </p>`;
  }

  interface Acting {
    readonly actor: ActorRow;
    readonly actions: Set<Action>;
  }

  /**
   * A received post's images, loaded from their own server (Herald keeps no copy; the page CSP
   * allows https images), with the alt text its author gave; no referrer goes with the request.
   * A video or audio is a plain link to it on its server, named by its alt text (no player: the
   * CSP keeps media-src to Herald itself).
   */
  const remoteImages = (row: { readonly media?: string | null }): Html | "" => {
    const items = remoteMedia(row);
    if (items.length === 0) return "";
    return html`<div class="post-media">
      ${items.map((m) => {
        const kind = remoteMediaKind(m);
        if (kind !== "image") {
          const what = `${kind === "video" ? "Video" : "Audio"}: ${m.description ?? "no description"}`;
          return html`<a class="remote-media" href="${safeHref(m.url)}" rel="nofollow noopener noreferrer"
            >${`${what} (opens on its server)`}</a
          >`;
        }
        return html`<a href="${safeHref(m.url)}" rel="nofollow noopener noreferrer"
          ><img
            src="${safeHref(m.url)}"
            alt="${m.description ?? "Image without a description"}"
            ${m.width && m.height ? html`width="${m.width}" height="${m.height}"` : ""}
            loading="lazy"
            referrerpolicy="no-referrer"
        /></a>`;
      })}
    </div>`;
  };

  const label = (a: ActorRow, self: boolean) => `@${a.handle}@${domain}${self ? " (you)" : ""}`;

  /**
   * A page about one account the person acts for: `?account=<id>` (the switcher), by default
   * their own. Asking for an account they may not act for is a 403, not a silent fallback.
   * `accountId` replaces the query when a refused form is shown again (the account it was for).
   */
  async function accountPage(
    ctx: Context,
    title: string,
    need: Action | undefined,
    accountId: string | undefined,
    render: (auth: ActiveSession, current: Acting, all: Acting[]) => Promise<Html>,
  ): Promise<void> {
    const auth = ctx.state.auth as ActiveSession;
    // The accounts this person may act for right now (own first), decided afresh per request,
    // with one read of their groups and the policy for every question the page asks.
    const can = await authz.decider(auth.person);
    const all = await authz.actingAccounts(auth.person, can);
    // The admin pages' link, for those who may use them.
    ctx.state.canAdmin =
      (await can("manage-accounts", ORG)).allow ||
      (await can("view-audit", ORG)).allow ||
      // An analyst's admin pages are the insights of their accounts (/admin lists them).
      all.some((a) => a.actor.kind !== "person" && a.actions.has("view-insights"));
    const wanted = accountId ?? (typeof ctx.query.account === "string" ? ctx.query.account : undefined);
    const current =
      (wanted ? all.find((a) => a.actor.id === wanted) : undefined) ??
      (accountId || !wanted ? all.find((a) => a.actor.kind === "person") : undefined);
    if (wanted && !accountId && (!current || (need && !current.actions.has(need))))
      fail(403, "You may not act for that account. Ask its owner or an administrator for a role.");
    if (!current)
      return shell(
        ctx,
        auth,
        title,
        html`<h1>${title}</h1>
          ${noAccount()}`,
      );
    const switcher =
      all.length > 1
        ? html`<nav aria-label="Accounts you act for" class="accounts">
            Acting for:
            ${all.map(
              (a, i) =>
                html`${i > 0 ? " · " : ""}${
                  a.actor.id === current.actor.id
                    ? html`<strong aria-current="page">@${a.actor.handle}</strong>`
                    : html`<a
                        href="${ctx.method === "GET" ? ctx.path : ROUTES.app.prefix}?account=${a.actor.id}"
                        >@${a.actor.handle}</a
                      >`
                }`,
            )}
          </nav>`
        : html``;
    shell(ctx, auth, title, html`${switcher}${await render(auth, current, all)}`);
  }

  /** Confirmations after a change: a flag in the redirect's query picks one fixed sentence. */
  const NOTICES = {
    posted: "Posted. Followers receive it within seconds.",
    drafted:
      "Submitted for approval. Your draft awaits approval: it is published once someone with approval rights approves it.",
    approved: "Approved and published.",
    rejected: "Rejected; the author sees your comment on their home page.",
    deleted: "Deleted; followers' servers are told to remove it.",
  } as const;

  const DRAFT_STATUS: Record<DraftStatus, Html> = {
    pending: html`<span class="badge badge-neutral">Awaiting approval</span>`,
    approved: html`<span class="badge badge-current">Approved and published</span>`,
    rejected: html`<span class="badge badge-former">Rejected</span>`,
    withdrawn: html`<span class="badge badge-neutral">Withdrawn</span>`,
    discarded: html`<span class="badge badge-neutral">Discarded</span>`,
  };

  /** What the compose form held when it was refused: shown again, with the problem beside its field. */
  interface Compose {
    readonly as: string;
    readonly text: string;
    readonly visibility: string;
    readonly alt?: string;
    /** What a refused reply answered (the inbox's reply form): kept, so resending still replies. */
    readonly inReplyTo?: string;
    readonly error: { readonly field?: "text" | "visibility" | "image"; readonly message: string };
  }

  const fieldError = (id: string, message: string | undefined) =>
    message ? html`<p class="error" id="${id}-error">${message}</p>` : "";
  const invalid = (id: string, message: string | undefined) =>
    message ? html`aria-invalid="true" aria-describedby="${id}-error"` : "";

  const home = (
    ctx: Context,
    shown: { readonly compose?: Compose; readonly alert?: string; readonly account?: string } = {},
  ) =>
    accountPage(ctx, "Home", undefined, shown.compose?.as ?? shown.account, async (auth, current, all) => {
      const { compose, alert } = shown;
      const actor = current.actor;
      const own = actor.kind === "person";
      // Everyone who may act for the account sees what it has published (drafters included).
      const posts = await db.run((em) =>
        em.getRepository(PostSchema).find({
          where: { actorId: actor.id, deletedAt: IsNull() },
          order: { publishedAt: "DESC" },
          take: 50,
        }),
      );
      const speakable = all.filter((a) => a.actions.has("post") || a.actions.has("draft"));
      const selected =
        speakable.find((a) => a.actor.id === (compose?.as ?? actor.id)) ??
        speakable.find((a) => a.actor.kind === "person") ??
        speakable[0];
      const needsApproval = selected !== undefined && !selected.actions.has("post");
      const submitLabel = needsApproval ? "Submit for approval" : compose?.inReplyTo ? "Send reply" : "Post";
      const mixed =
        speakable.some((a) => a.actions.has("post")) && speakable.some((a) => !a.actions.has("post"));

      // Drafts waiting: on their own home, every account the person may approve for; on an
      // account's page, that account's queue (approvers decide, drafters see theirs wait).
      const queueOf = own
        ? all.filter((a) => a.actions.has("approve"))
        : current.actions.has("approve") || current.actions.has("draft")
          ? [current]
          : [];
      const queues: { acting: Acting; drafts: DraftRow[] }[] = [];
      for (const a of queueOf) {
        const list = await drafts.pending(a.actor.id);
        if (list.length > 0) queues.push({ acting: a, drafts: list });
      }
      const mine = own ? (await drafts.byAuthor(auth.person.id)).slice(0, 10) : [];
      const people = new Map<string, string>();
      for (const d of queues.flatMap((q) => q.drafts))
        if (!people.has(d.authorPersonId)) {
          const p = await directory.personById(d.authorPersonId);
          people.set(d.authorPersonId, p?.displayName ?? p?.userName ?? "?");
        }
      const handles = new Map(all.map((a) => [a.actor.id, a.actor.handle]));
      for (const d of mine)
        if (!handles.has(d.accountId))
          handles.set(d.accountId, (await accounts.byId(d.accountId))?.handle ?? "?");
      const decidable = (a: Acting, d: DraftRow) =>
        a.actions.has("approve") && d.authorPersonId !== auth.person.id;
      const waiting = queues.reduce((n, q) => n + q.drafts.filter((d) => decidable(q.acting, d)).length, 0);
      const flags = Object.entries(NOTICES).filter(([flag]) => typeof ctx.query[flag] === "string");

      return html`<h1>${own ? "Home" : html`@${actor.handle}`}</h1>
        ${
          !own && current.actions.has("view-insights")
            ? html`<p id="account-insights">
                <a href="/admin/insights?account=${actor.handle}">Insights of @${actor.handle}</a>: followers,
                replies, boosts and likes.
              </p>`
            : ""
        }
        ${flags.map(([, text]) => html`<p class="notice notice-success" role="status">${text}</p>`)}
        ${alert ? html`<p class="notice notice-error" role="alert">${alert}</p>` : ""}
        ${
          compose && !compose.error.field
            ? html`<p class="notice notice-error" role="alert">${compose.error.message}</p>`
            : ""
        }
        ${
          waiting > 0
            ? html`<p class="notice notice-warning">
                <a href="#waiting"
                  >${waiting === 1 ? "1 draft waits" : `${waiting} drafts wait`} for your approval</a
                >
              </p>`
            : ""
        }
        ${
          selected
            ? html`<form method="post" action="/app/posts" enctype="multipart/form-data">
                <input type="hidden" name="csrf" value="${auth.csrf}" />
                ${
                  compose?.inReplyTo
                    ? html`<input type="hidden" name="inReplyTo" value="${compose.inReplyTo}" />
                        <p>
                          Replying to
                          <a href="${safeHref(compose.inReplyTo)}" rel="nofollow noopener"
                            >${compose.inReplyTo}</a
                          >
                        </p>`
                    : ""
                }
                <div class="field">
                  <label for="as">Post as</label>
                  <select id="as" name="as" ${mixed ? raw('aria-describedby="as-hint"') : ""}>
                    ${speakable.map(
                      (a) =>
                        html`<option
                          value="${a.actor.id}"
                          ${a.actor.id === selected.actor.id ? "selected" : ""}
                        >
                          ${label(a.actor, a.actor.kind === "person")}${a.actions.has("post") ? "" : " — needs approval"}
                        </option>`,
                    )}
                  </select>
                  ${
                    mixed
                      ? html`<p class="hint" id="as-hint">
                          As an account marked “needs approval” your text becomes a draft: it is published
                          once someone with approval rights approves it.
                        </p>`
                      : ""
                  }
                </div>
                <div class="field">
                  <label for="text">What do you want to say?</label>
                  <textarea
                    id="text"
                    name="text"
                    rows="5"
                    maxlength="5000"
                    required
                    ${invalid("text", compose?.error.field === "text" ? compose.error.message : undefined)}
                  >
${compose?.text ?? ""}</textarea>
                  ${fieldError("text", compose?.error.field === "text" ? compose.error.message : undefined)}
                </div>
                <div class="field">
                  <label for="visibility">Who can see it</label>
                  <select
                    id="visibility"
                    name="visibility"
                    ${invalid("visibility", compose?.error.field === "visibility" ? compose.error.message : undefined)}
                  >
                    ${Object.entries(VISIBILITIES).map(
                      ([v, l]) =>
                        html`<option
                          value="${v}"
                          ${v === (compose?.visibility ?? "public") ? "selected" : ""}
                        >
                          ${l}
                        </option>`,
                    )}
                  </select>
                  ${fieldError(
                    "visibility",
                    compose?.error.field === "visibility" ? compose.error.message : undefined,
                  )}
                </div>
                <div class="field">
                  <label for="image">Image (optional)</label>
                  <input
                    type="file"
                    id="image"
                    name="image"
                    accept="image/jpeg,image/png,image/webp,image/gif"
                    aria-describedby="image-hint${compose?.error.field === "image" ? " image-error" : ""}"
                    ${compose?.error.field === "image" ? raw('aria-invalid="true"') : ""}
                  />
                  <p class="hint" id="image-hint">
                    JPEG, PNG, WebP or GIF, up to ${Math.floor(media.limits.maxBytes / 1048576)} MB. Its
                    location and camera details are removed.
                  </p>
                  ${fieldError("image", compose?.error.field === "image" ? compose.error.message : undefined)}
                </div>
                <div class="field">
                  <label for="alt">Image description (alt text)</label>
                  <textarea
                    id="alt"
                    name="alt"
                    rows="2"
                    maxlength="${MAX_DESCRIPTION}"
                    aria-describedby="alt-hint"
                  >
${compose?.alt ?? ""}</textarea>
                  <p class="hint" id="alt-hint">What the image shows, for people who cannot see it.</p>
                </div>
                <p><button type="submit">${submitLabel}</button></p>
              </form>`
            : ""
        }
        ${
          queues.length > 0
            ? html`<h2 id="waiting">${own ? "Drafts waiting for your approval" : "Waiting for approval"}</h2>
                ${queues.map(
                  (q) =>
                    html`${
                      own || queues.length > 1
                        ? html`<h3>
                            @${q.acting.actor.handle}:
                            ${q.drafts.length === 1 ? "1 draft" : `${q.drafts.length} drafts`} waiting
                          </h3>`
                        : ""
                    }
                    ${q.drafts.map(
                      (d) =>
                        html`<article class="post">
                          <div>${d.text}</div>
                          ${postMedia(d)}
                          <p class="muted">
                            Drafted by ${people.get(d.authorPersonId)} for @${q.acting.actor.handle} ·
                            ${timeTag(d.createdAt)} ·
                            ${VISIBILITIES[d.visibility as Visibility] ?? d.visibility}
                          </p>
                          ${
                            decidable(q.acting, d)
                              ? html`<form method="post" action="/app/drafts/${d.id}/decide">
                                  <input type="hidden" name="csrf" value="${auth.csrf}" />
                                  <label for="comment-${d.id}">Comment for the author</label>
                                  <input type="text" id="comment-${d.id}" name="comment" maxlength="2000" />
                                  <p class="actions">
                                    <button type="submit" name="verdict" value="approve">
                                      Approve and publish
                                    </button>
                                    <button type="submit" name="verdict" value="reject" class="btn-secondary">
                                      Reject
                                    </button>
                                  </p>
                                </form>`
                              : html`<p class="muted">Someone else with approval rights decides.</p>`
                          }
                        </article>`,
                    )}`,
                )}`
            : ""
        }
        ${
          mine.length > 0
            ? html`<h2>Your drafts</h2>
                ${mine.map(
                  (d) =>
                    html`<article class="post">
                      <div>${d.text}</div>
                      ${postMedia(d)}
                      <p class="muted">
                        For @${handles.get(d.accountId)} · ${timeTag(d.createdAt)} · ${DRAFT_STATUS[d.status]}
                      </p>
                      ${d.comment ? html`<p>Comment: ${d.comment}</p>` : ""}
                    </article>`,
                )}`
            : ""
        }
        <h2>${own ? "Your posts" : html`Posts of @${actor.handle}`}</h2>
        ${
          posts.length === 0
            ? html`<p class="muted">Nothing yet.</p>`
            : posts.map(
                (p) =>
                  html`<article class="post">
                    <div>${p.contentText}</div>
                    ${postMedia(p)}
                    <p class="muted">
                      ${
                        p.visibility === "public" || p.visibility === "unlisted"
                          ? html`<a href="/@${actor.handle}/${p.id}"
                                >${timeTag(p.publishedAt, { relative: false })}</a
                              >
                              <span class="muted">(${relativeTime(p.publishedAt)})</span>`
                          : timeTag(p.publishedAt)
                      }
                      · ${VISIBILITIES[p.visibility]}${own ? "" : html` · sent by ${p.authorLabel}`}
                    </p>
                    ${
                      current.actions.has("delete")
                        ? html`<form method="post" action="/app/posts/${p.id}/delete">
                            <input type="hidden" name="csrf" value="${auth.csrf}" />
                            <button
                              type="submit"
                              class="btn-secondary"
                              aria-label="Delete the post of ${p.publishedAt.toISOString().slice(0, 16)}"
                            >
                              Delete
                            </button>
                          </form>`
                        : ""
                    }
                  </article>`,
              )
        }`;
    });

  router.get(koa(ROUTES.app.home), (ctx) => home(ctx));

  /** Who pressed send, for the audit log (DESIGN rule 4): the person, SAML subject and session. */
  const pressedSend = (auth: ActiveSession, decision: string) => ({
    via: "web",
    personId: auth.person.id,
    userName: auth.person.userName,
    samlSubject: auth.session.samlNameId ?? undefined,
    session: auth.session.idHash.slice(0, 12),
    signIn: auth.session.method,
    decision,
  });

  router.post(koa(ROUTES.app.posts), async (ctx) => {
    const { auth, form, image } = await composeForm(ctx);
    const text = form.get("text") ?? "";
    const alt = form.get("alt") ?? "";
    const actor = await accounts.byId(form.get("as") ?? "");
    if (!actor) fail(403, "You may not post as that account.");
    const visibility = (form.get("visibility") ?? "public") as Visibility;
    const inReplyTo = form.get("inReplyTo") || undefined;
    if (inReplyTo !== undefined && !/^https?:\/\//.test(inReplyTo))
      fail(400, "A reply needs the URL of what it answers.");
    // A refused form comes back with what was typed, what it answers and the problem beside its field.
    const again = (status: number, message: string, field?: "text" | "visibility" | "image") => {
      ctx.status = status;
      return home(ctx, {
        compose: { as: actor.id, text, visibility, alt, inReplyTo, error: { field, message } },
      });
    };
    if (!Object.hasOwn(VISIBILITIES, visibility))
      return again(422, "Choose who can see the post.", "visibility");
    const back = actor.kind === "person" ? "/app" : `/app?account=${actor.id}`;
    const can = await authz.decider(auth.person);
    const direct = await can(inReplyTo ? "reply" : "post", actor);
    // Drafters' posts (and their image) wait for approval; anyone else is refused, with the reason logged.
    const asDraft = direct.allow ? undefined : await can("draft", actor);
    if (asDraft && !asDraft.allow) fail(403, `You may not post as @${actor.handle}.`);
    let mediaIds: string[] = [];
    if (image) {
      const up = await media.upload({ personId: auth.person.id, accountId: actor.id, tokenId: null }, image, {
        description: alt,
      });
      if (!up.ok)
        return again(up.status === 413 ? 413 : 422, `${up.message} (choose the image again)`, "image");
      mediaIds = [up.media.id];
    }
    if (asDraft) {
      const r = await drafts.propose(
        auth.person,
        actor,
        { text, visibility, inReplyTo, mediaIds },
        pressedSend(auth, asDraft.rule),
      );
      if (!r.ok) return r.status === 400 ? again(422, r.message, "text") : again(r.status, r.message);
      ctx.status = 303;
      return ctx.redirect(`${back}${back.includes("?") ? "&" : "?"}drafted=${r.draft.id}`);
    }
    const result = await posting.post({
      actorId: actor.id,
      text,
      visibility,
      inReplyTo,
      mediaIds,
      author: { personId: auth.person.id, label: auth.person.displayName ?? auth.person.userName },
      audit: pressedSend(auth, direct.rule),
    });
    if (!result.ok)
      return result.reason === "invalid"
        ? again(422, result.message, /visibility/.test(result.message) ? "visibility" : "text")
        : again(409, result.message);
    ctx.status = 303;
    ctx.redirect(`${back}${back.includes("?") ? "&" : "?"}posted=${result.post.id}`);
  });

  router.post(koa(ROUTES.app.decideDraft), async (ctx) => {
    const { auth, form } = await requireForm(ctx);
    const verdict = form.get("verdict");
    if (verdict !== "approve" && verdict !== "reject") fail(400, "Choose approve or reject.");
    const r = await drafts.decide(
      ctx.params.id,
      auth.person,
      verdict,
      form.get("comment") ?? "",
      pressedSend(auth, "approval"),
    );
    if (!r.ok) {
      // Who may decide is Casbin's answer (403); a draft decided meanwhile or an author who left
      // is a conflict, shown on the account's page with its queue.
      if (r.status !== 409) fail(r.status, r.message);
      const draft = await db.run((em) => em.getRepository(DraftSchema).findOneBy({ id: ctx.params.id }));
      ctx.status = 409;
      return home(ctx, {
        alert: `Not ${verdict === "approve" ? "approved" : "rejected"}: ${r.message}`,
        account: draft?.accountId,
      });
    }
    ctx.status = 303;
    ctx.redirect(
      `/app?account=${r.draft.accountId}&${verdict === "approve" ? "approved" : "rejected"}=${r.draft.id}`,
    );
  });

  router.post(koa(ROUTES.app.deletePost), async (ctx) => {
    const { auth } = await requireForm(ctx);
    const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: ctx.params.id }));
    if (!post || post.deletedAt) fail(404, "That post does not exist (or was already deleted).");
    const actor = await accounts.byId(post.actorId);
    if (!actor || !(await authz.decide(auth.person, "delete", actor)).allow)
      fail(403, "You may only delete posts of accounts you act for.");
    await posting.remove(post.id, `person:${auth.person.id}`);
    ctx.status = 303;
    ctx.redirect(actor.kind === "person" ? "/app?deleted=1" : `/app?account=${actor.id}&deleted=1`);
  });

  router.get(koa(ROUTES.app.inbox), (ctx) =>
    accountPage(ctx, "Inbox", "view-inbox", undefined, async (auth, current) => {
      const actor = current.actor;
      if (!current.actions.has("view-inbox")) fail(403, `You may not read the inbox of @${actor.handle}.`);
      const items = await db.run((em) =>
        em.getRepository(InboundSchema).find({
          where: { actorId: actor.id, deletedAt: IsNull(), kind: In(["reply", "mention", "direct"]) },
          order: { receivedAt: "DESC" },
          take: 100,
        }),
      );
      const kinds = { reply: "Reply", mention: "Mention", direct: "Direct message", post: "Post" } as const;
      return html`<h1>Inbox of @${actor.handle}@${domain}</h1>
        ${
          items.length === 0
            ? html`<p class="muted">No replies or mentions yet.</p>`
            : items.map(
                (i) =>
                  html`<article class="post">
                    <p class="muted">
                      ${kinds[i.kind]} from
                      <a href="${safeHref(i.remoteActorIri)}" rel="nofollow noopener">${i.remoteActorIri}</a>
                      · ${(i.publishedAt ?? i.receivedAt).toISOString().slice(0, 16).replace("T", " ")} UTC
                    </p>
                    <div>${plainText(i.contentHtml ?? "")}</div>
                    ${remoteImages(i)}
                    ${
                      i.url && safeHref(i.url) !== "#"
                        ? html`<p>
                            <a href="${safeHref(i.url)}" rel="nofollow noopener">Open on its server</a>
                          </p>`
                        : ""
                    }
                    ${
                      current.actions.has("reply") || current.actions.has("draft")
                        ? html`<details>
                            <summary>
                              Reply as
                              @${actor.handle}${current.actions.has("reply") ? "" : " (needs approval)"}
                            </summary>
                            <form method="post" action="/app/posts">
                              <input type="hidden" name="csrf" value="${auth.csrf}" />
                              <input type="hidden" name="as" value="${actor.id}" />
                              <input type="hidden" name="inReplyTo" value="${i.objectIri}" />
                              <input
                                type="hidden"
                                name="visibility"
                                value="${i.kind === "direct" ? "direct" : "public"}"
                              />
                              <label for="reply-${i.id}"
                                >Your reply${i.kind === "direct" ? " (only they see it)" : ""}</label
                              >
                              <textarea
                                id="reply-${i.id}"
                                name="text"
                                rows="3"
                                maxlength="5000"
                                required
                              ></textarea>
                              <p><button type="submit">Send reply</button></p>
                            </form>
                          </details>`
                        : ""
                    }
                  </article>`,
              )
        }`;
    }),
  );

  /** The profile page; `kept` is a refused form's input, shown again with the problem under the bio. */
  const profile = (ctx: Context, kept?: { summary: string; manualApproval: boolean; error: string }) =>
    accountPage(ctx, "Profile", undefined, undefined, async (auth, { actor }) => {
      if (actor.kind !== "person") fail(403, "Shared accounts' profiles are edited in the admin pages.");
      const p = auth.person;
      const approval = kept ? kept.manualApproval : actor.manualApproval;
      return html`<h1>Profile</h1>
        ${typeof ctx.query.saved === "string" ? html`<p class="notice notice-success" role="status">Saved; followers' servers get the update.</p>` : ""}
        <section aria-labelledby="preview">
          <h2 id="preview">How others see you</h2>
          <p><strong>${actor.displayName}</strong> <code>@${actor.handle}@${domain}</code></p>
          ${p.title ? html`<p>${p.title}</p>` : ""} ${actor.summary ? html`<p>${actor.summary}</p>` : ""}
          <p>
            <a href="/@${actor.handle}">Public profile</a> ·
            <a href="/verify?handle=${encodeURIComponent(`@${actor.handle}@${domain}`)}">Verification page</a>
          </p>
          <p class="muted">Name and title come from ${config.orgName}'s directory; ask IT to change them.</p>
        </section>
        <form method="post" action="/app/profile">
          <input type="hidden" name="csrf" value="${auth.csrf}" />
          <label for="summary">Bio</label>
          <textarea
            id="summary"
            name="summary"
            rows="3"
            maxlength="500"
            ${kept ? raw(' aria-invalid="true" aria-describedby="summary-error"') : ""}
          >
${kept?.summary ?? actor.summary ?? ""}</textarea>
          ${fieldError("summary", kept?.error)}
          <label
            ><input type="checkbox" name="manualApproval" value="1" ${approval ? "checked" : ""} /> Approve
            new followers by hand</label
          >
          <p><button type="submit">Save</button></p>
        </form>`;
    });

  router.get(koa(ROUTES.app.tokens), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    shell(ctx, auth, "Apps", await deps.tokens.listing(ctx, auth, "own"));
  });
  router.post(koa(ROUTES.app.revokeToken), async (ctx) => {
    const auth = ctx.state.auth as ActiveSession;
    const again = await deps.tokens.revoke(ctx, "own", auth);
    if (again) shell(ctx, auth, "Apps", again);
  });

  router.get(koa(ROUTES.app.profile), (ctx) => profile(ctx));

  router.post(koa(ROUTES.app.profile), async (ctx) => {
    const { auth, form } = await requireForm(ctx);
    const actor = await ownActor(auth);
    if (!actor) fail(409, "You have no fediverse account yet.");
    const summary = (form.get("summary") ?? "").trim();
    const manualApproval = form.get("manualApproval") === "1";
    if (summary.length > 500) {
      ctx.status = 422;
      return profile(ctx, { summary, manualApproval, error: "The bio is limited to 500 characters." });
    }
    await accounts.configure(actor.id, { summary, manualApproval }, `person:${auth.person.id}`);
    ctx.status = 303;
    ctx.redirect("/app/profile?saved=1");
  });

  return router;
}

/** Remote HTML reduced to its text: Herald never renders other servers' markup. */
function plainText(remoteHtml: string): string {
  return remoteHtml
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/p>/gi, "\n\n")
    .replace(/<[^>]*>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .trim();
}
