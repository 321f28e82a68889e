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
import { type Html, html, page, safeHref } from "../http/html.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { type Action, type Authz, ORG } from "../authz/authz.ts";
import type { Drafts } from "../federation/drafts.ts";
import type { Directory } from "../identity/directory.ts";
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
}): Router {
  const { config, db, directory, accounts, posting, sessions, authz, drafts } = deps;
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

  function shell(ctx: Context, auth: ActiveSession, title: string, body: Html): void {
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    const links: [string, string][] = [
      ["/app", "Home"],
      ["/app/inbox", "Inbox"],
      ["/app/profile", "Profile"],
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

  const label = (a: ActorRow, self: boolean) => `@${a.handle}@${domain}${self ? " (you)" : ""}`;

  /**
   * A page about one account the person acts for: `?account=<id>` (the switcher), by default
   * their own. Asking for an account they may not act for is a 403, not a silent fallback.
   */
  async function accountPage(
    ctx: Context,
    title: string,
    need: Action | undefined,
    render: (auth: ActiveSession, current: Acting, all: Acting[]) => Promise<Html>,
  ): Promise<void> {
    const auth = ctx.state.auth as ActiveSession;
    // The accounts this person may act for right now (own first), decided afresh per request,
    // with one read of their groups and the policy for every question the page asks.
    const can = await authz.decider(auth.person);
    const all = await authz.actingAccounts(auth.person, can);
    // The admin pages' link, for those who may use them.
    ctx.state.canAdmin = (await can("manage-accounts", ORG)).allow || (await can("view-audit", ORG)).allow;
    const wanted = typeof ctx.query.account === "string" ? ctx.query.account : undefined;
    const current = wanted
      ? all.find((a) => a.actor.id === wanted)
      : all.find((a) => a.actor.kind === "person");
    if (wanted && (!current || (need && !current.actions.has(need))))
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
                    : html`<a href="${ctx.path}?account=${a.actor.id}">@${a.actor.handle}</a>`
                }`,
            )}
          </nav>`
        : html``;
    shell(ctx, auth, title, html`${switcher}${await render(auth, current, all)}`);
  }

  const home = (ctx: Context, problem?: string, draft = "") =>
    accountPage(ctx, "Home", undefined, async (auth, current, all) => {
      const actor = current.actor;
      const own = actor.kind === "person";
      const posts =
        current.actions.has("view-archive") || current.actions.has("post") || own
          ? await db.run((em) =>
              em.getRepository(PostSchema).find({
                where: { actorId: actor.id, deletedAt: IsNull() },
                order: { publishedAt: "DESC" },
                take: 50,
              }),
            )
          : [];
      const speakable = all.filter((a) => a.actions.has("post") || a.actions.has("draft"));
      const canApprove = current.actions.has("approve");
      const pending = canApprove || current.actions.has("draft") ? await drafts.pending(actor.id) : [];
      const people = new Map<string, string>();
      for (const d of pending) {
        const p = await directory.personById(d.authorPersonId);
        people.set(d.authorPersonId, p?.displayName ?? p?.userName ?? "?");
      }
      const q = ctx.query;
      return html`<h1>${own ? "Home" : html`@${actor.handle}`}</h1>
        ${typeof q.posted === "string" ? html`<p class="notice" role="status">Posted. Followers receive it within seconds.</p>` : ""}
        ${typeof q.drafted === "string" ? html`<p class="notice" role="status">Sent for approval: it is published once someone approves it.</p>` : ""}
        ${typeof q.approved === "string" ? html`<p class="notice" role="status">Approved and published.</p>` : ""}
        ${typeof q.rejected === "string" ? html`<p class="notice" role="status">Rejected; the author sees your comment.</p>` : ""}
        ${typeof q.deleted === "string" ? html`<p class="notice" role="status">Deleted; followers' servers are told to remove it.</p>` : ""}
        ${problem ? html`<p class="error" role="alert">${problem}</p>` : ""}
        ${
          speakable.length > 0
            ? html`<form method="post" action="/app/posts">
                <input type="hidden" name="csrf" value="${auth.csrf}" />
                <label for="as">Post as</label>
                <select id="as" name="as">
                  ${speakable.map(
                    (a) =>
                      html`<option value="${a.actor.id}" ${a.actor.id === actor.id ? "selected" : ""}>
                        ${label(a.actor, a.actor.kind === "person")}${a.actions.has("post") ? "" : " — needs approval"}
                      </option>`,
                  )}
                </select>
                <label for="text">What do you want to say?</label>
                <textarea id="text" name="text" rows="5" maxlength="5000" required>${draft}</textarea>
                <label for="visibility">Who can see it</label>
                <select id="visibility" name="visibility">
                  ${Object.entries(VISIBILITIES).map(([v, l]) => html`<option value="${v}">${l}</option>`)}
                </select>
                <p><button type="submit">Post</button></p>
              </form>`
            : ""
        }
        ${
          pending.length > 0
            ? html`<h2>Waiting for approval</h2>
                ${pending.map(
                  (d) =>
                    html`<article class="post">
                      <div>${d.text}</div>
                      <p class="muted">
                        Drafted by ${people.get(d.authorPersonId)} ·
                        ${VISIBILITIES[d.visibility as Visibility] ?? d.visibility}
                      </p>
                      ${
                        canApprove && d.authorPersonId !== auth.person.id
                          ? html`<form method="post" action="/app/drafts/${d.id}/decide">
                              <input type="hidden" name="csrf" value="${auth.csrf}" />
                              <label for="comment-${d.id}">Comment for the author</label>
                              <input type="text" id="comment-${d.id}" name="comment" maxlength="2000" />
                              <p>
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
                    <p class="muted">
                      <a href="/@${actor.handle}/${p.id}"
                        >${p.publishedAt.toISOString().slice(0, 16).replace("T", " ")} UTC</a
                      >
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
    const { auth, form } = await requireForm(ctx);
    const text = form.get("text") ?? "";
    const actor = await accounts.byId(form.get("as") ?? "");
    if (!actor) fail(403, "You may not post as that account.");
    const visibility = (form.get("visibility") ?? "public") as Visibility;
    if (!Object.hasOwn(VISIBILITIES, visibility)) fail(400, "Choose who can see the post.");
    const back = actor.kind === "person" ? "/app" : `/app?account=${actor.id}`;
    const inReplyTo = form.get("inReplyTo") || undefined;
    if (inReplyTo !== undefined && !/^https?:\/\//.test(inReplyTo))
      fail(400, "A reply needs the URL of what it answers.");
    const can = await authz.decider(auth.person);
    const direct = await can(inReplyTo ? "reply" : "post", actor);
    if (!direct.allow) {
      // Drafters' posts wait for approval; anyone else is refused, with the reason logged.
      const asDraft = await can("draft", actor);
      if (!asDraft.allow) fail(403, `You may not post as @${actor.handle}.`);
      const r = await drafts.propose(
        auth.person,
        actor,
        { text, visibility, inReplyTo },
        pressedSend(auth, asDraft.rule),
      );
      if (!r.ok) {
        ctx.status = r.status === 400 ? 422 : r.status;
        return home(ctx, r.message, text);
      }
      ctx.status = 303;
      return ctx.redirect(`${back}${back.includes("?") ? "&" : "?"}drafted=${r.draft.id}`);
    }
    const result = await posting.post({
      actorId: actor.id,
      text,
      visibility,
      inReplyTo,
      author: { personId: auth.person.id, label: auth.person.displayName ?? auth.person.userName },
      audit: pressedSend(auth, direct.rule),
    });
    if (!result.ok) {
      ctx.status = result.reason === "invalid" ? 422 : 409;
      return home(ctx, result.message, text);
    }
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
    if (!r.ok) fail(r.status, r.message);
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
    accountPage(ctx, "Inbox", "view-inbox", async (auth, current) => {
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

  router.get(koa(ROUTES.app.profile), (ctx) =>
    accountPage(ctx, "Profile", undefined, async (auth, { actor }) => {
      if (actor.kind !== "person") fail(403, "Shared accounts' profiles are edited in the admin pages.");
      const p = auth.person;
      return html`<h1>Profile</h1>
        ${typeof ctx.query.saved === "string" ? html`<p class="notice" role="status">Saved; followers' servers get the update.</p>` : ""}
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
          <textarea id="summary" name="summary" rows="3" maxlength="500">${actor.summary ?? ""}</textarea>
          <label
            ><input
              type="checkbox"
              name="manualApproval"
              value="1"
              ${actor.manualApproval ? "checked" : ""}
            />
            Approve new followers by hand</label
          >
          <p><button type="submit">Save</button></p>
        </form>`;
    }),
  );

  router.post(koa(ROUTES.app.profile), async (ctx) => {
    const { auth, form } = await requireForm(ctx);
    const actor = await ownActor(auth);
    if (!actor) fail(409, "You have no fediverse account yet.");
    const summary = (form.get("summary") ?? "").trim();
    if (summary.length > 500) fail(400, "The bio is limited to 500 characters.");
    await accounts.configure(
      actor.id,
      { summary, manualApproval: form.get("manualApproval") === "1" },
      `person:${auth.person.id}`,
    );
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
