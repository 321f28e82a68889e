/**
 * `/`: what this Herald is, and the organization's official accounts (shared and organization
 * accounts are public: always listed, each linking to its profile). On the demo database
 * (development only) it also lists the demo directory, so a first `npm start` shows something
 * real (a list, readable on a phone); elsewhere the directory stays private.
 */
import { href, koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Config } from "../config.ts";
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import { html, page } from "../http/html.ts";
import type { Directory } from "../identity/directory.ts";
import { employmentStatus } from "../identity/standing.ts";
import { publicChrome } from "./public.ts";

/** An account whose profile page answers (`/@handle` needs its keys; see profile.ts). */
const hasProfile = (a: ActorRow) => a.keysReadyAt !== null && a.movedToId === null;

export function homeRoutes(config: Config, directory: Directory, accounts: Accounts): Router {
  const router = caseSensitiveRouter();
  const showDirectory = config.isDemoDatabase && config.mode !== "production";
  const chrome = publicChrome(config, "home");
  router.get(koa(ROUTES.home), async (ctx) => {
    const domain = config.handleDomain;
    const actors = await accounts.list();
    const official = actors.filter(
      (a) => a.kind !== "person" && hasProfile(a) && !a.suspendedAt && !a.deletedAt,
    );
    const profileOf = (handle: string) => href(ROUTES.profile, { handle });
    let listing = html``;
    if (showDirectory) {
      const { people, groups } = await directory.summary();
      const byPerson = new Map(
        actors.filter((a) => a.kind === "person" && a.personId && hasProfile(a)).map((a) => [a.personId, a]),
      );
      listing = html` <h2>Demo directory</h2>
        <p class="muted">
          Seeded on the embedded demo database only. In production the directory comes from your IdP over
          SCIM.
        </p>
        <h3>People</h3>
        <ul class="stack">
          ${people.map((p) => {
            const current = employmentStatus(p).kind === "active";
            // Their profile when it answers; else (no account was ever made) their verification.
            const actor = byPerson.get(p.id);
            const link = actor
              ? profileOf(actor.handle)
              : p.handle
                ? href(ROUTES.verifyHandle, { handle: p.handle })
                : undefined;
            const name = p.displayName ?? p.userName;
            return html`<li>
              ${link ? html`<a href="${link}"><strong>${name}</strong></a>` : html`<strong>${name}</strong>`}
              <span class="badge ${current ? "badge-current" : "badge-former"}"
                >${current ? "current employee" : "former employee"}</span
              ><br />
              ${p.handle && link ? html`<a href="${link}"><code>@${p.handle}@${domain}</code></a>` : ""}
              ${p.title ? html`<span class="muted">· ${p.title}</span>` : ""}
            </li>`;
          })}
        </ul>
        <p>Groups: ${groups.map((g, i) => html`${i > 0 ? ", " : ""}${g.displayName} (${g.members})`)}</p>`;
    }
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `${config.orgName} on the fediverse`,
      html`<h1>${config.orgName} on the fediverse</h1>
        <p>
          This is Herald: ${config.orgName}'s verified accounts live here, with handles on
          <code>${domain}</code>. Accounts exist because ${config.orgName}'s directory says so, and close the
          moment someone leaves.
        </p>
        <p>
          ${
            ctx.state.auth
              ? html`<a href="/app">Open Herald</a> (signed in as ${ctx.state.auth.person.userName})`
              : html`Staff: <a href="/login">sign in</a>.`
          }
          Anyone: <a href="${ROUTES.verify}">check whether an account belongs to a current employee</a>.
        </p>
        <h2>Official accounts</h2>
        ${
          official.length > 0
            ? html`<ul>
                ${official.map(
                  (a) =>
                    html`<li>
                      <a href="${profileOf(a.handle)}">${a.displayName}</a>
                      <a href="${profileOf(a.handle)}"><code>@${a.handle}@${domain}</code></a>
                      <span class="muted small"
                        >${a.kind === "org" ? "the organization" : "shared account"}</span
                      >
                    </li>`,
                )}
              </ul>`
            : html`<p class="muted">No shared accounts yet.</p>`
        }
        ${listing}
        <p class="muted"><a href="/healthz">Health</a> · <a href="/.well-known/nodeinfo">NodeInfo</a></p>`,
      chrome,
    );
  });
  return router;
}
