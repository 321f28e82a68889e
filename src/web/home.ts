/**
 * `/`: what this Herald is. On the demo database (development only) it also lists the demo
 * directory, so a first `npm start` shows something real; elsewhere the directory stays private.
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Config } from "../config.ts";
import { html, page } from "../http/html.ts";
import type { Directory } from "../identity/directory.ts";
import { employmentStatus } from "../identity/standing.ts";

export function homeRoutes(config: Config, directory: Directory): Router {
  const router = caseSensitiveRouter();
  const showDirectory = config.isDemoDatabase && config.mode !== "production";
  router.get(koa(ROUTES.home), async (ctx) => {
    const domain = config.handleDomain;
    let listing = html``;
    if (showDirectory) {
      const { people, groups } = await directory.summary();
      listing = html` <h2>Demo directory</h2>
        <p class="muted">
          Seeded on the embedded demo database only. In production the directory comes from your IdP over
          SCIM.
        </p>
        <table>
          <caption class="muted">
            People
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Handle</th>
              <th scope="col">Title</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            ${people.map(
              (p) =>
                html`<tr>
                  <td>${p.displayName ?? p.userName}</td>
                  <td><code>@${p.handle}@${domain}</code></td>
                  <td>${p.title ?? ""}</td>
                  <td>${employmentStatus(p).kind === "active" ? "current employee" : "former employee"}</td>
                </tr>`,
            )}
          </tbody>
        </table>
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
          Anyone: <a href="/verify">check whether an account belongs to a current employee</a>.
        </p>
        ${listing}
        <p class="muted"><a href="/healthz">Health</a> · <a href="/.well-known/nodeinfo">NodeInfo</a></p>`,
    );
  });
  return router;
}
