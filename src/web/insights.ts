/**
 * Insights (/admin/insights, issue 17): for each account the signed-in person may view insights
 * of (Casbin's view-insights: analysts, owners and admins of a shared account, org admins on
 * every one), followers over the last 30 days, replies, boosts and likes of its latest posts, and
 * the servers its followers come from — each a server-rendered SVG chart with the table of its
 * numbers, and each downloadable as CSV.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { Authz } from "../authz/authz.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import { accountInsights, type Insights } from "../federation/insights.ts";
import { fail } from "../http/errors.ts";
import { html, timeTag } from "../http/html.ts";
import { koa, ROUTES } from "../http/routes.ts";
import type { ActiveSession } from "../sessions/sessions.ts";
import { type AdminKit, consoleRouter, csv, dataTable, queryText } from "./admin-kit.ts";
import { chartFigure, lastDays } from "./charts.ts";

export const INSIGHT_DAYS = 30;
const EXPORTS = ["followers", "posts", "servers"] as const;
type ExportKind = (typeof EXPORTS)[number];

/** The accounts whose insights this person may view (shared accounts and the organization's). */
export async function insightAccounts(
  authz: Authz,
  accounts: Accounts,
  auth: ActiveSession,
): Promise<ActorRow[]> {
  const decide = await authz.decider(auth.person);
  const out: ActorRow[] = [];
  for (const a of await accounts.list())
    if (a.kind !== "person" && !a.deletedAt && (await decide("view-insights", a)).allow) out.push(a);
  return out.sort((x, y) => x.handle.localeCompare(y.handle));
}

/** Followers at the end of each day of the window: those before it, plus follows, minus unfollows. */
export function followerCurve(i: Insights, days: readonly string[]): number[] {
  let n = i.followersBefore;
  return days.map((d) => (n += (i.newFollowers.get(d) ?? 0) - (i.lostFollowers.get(d) ?? 0)));
}

export function insightsRoutes(deps: {
  db: Database;
  authz: Authz;
  accounts: Accounts;
  kit: AdminKit;
}): Router {
  const { db, authz, accounts, kit } = deps;
  const router = consoleRouter();

  /** The account asked for (?account=handle, else the first), or 403 when there is none to view. */
  async function chosen(ctx: Context): Promise<{ auth: ActiveSession; list: ActorRow[]; account: ActorRow }> {
    const auth = ctx.state.auth as ActiveSession;
    const list = await insightAccounts(authz, accounts, auth);
    if (list.length === 0)
      fail(403, "Insights need the view-insights permission on an account (analyst, owner, admin).");
    const asked = queryText(ctx, "account", 64).replace(/^@/, "");
    if (!asked) return { auth, list, account: list[0] };
    const account = list.find((a) => a.handle === asked);
    if (!account) {
      const exists = await accounts.byHandle(asked);
      fail(
        exists ? 403 : 404,
        exists ? `You may not view the insights of @${asked}.` : `No account @${asked}.`,
      );
    }
    return { auth, list, account };
  }

  const window = () => {
    const days = lastDays(INSIGHT_DAYS);
    return { days, since: new Date(`${days[0]}T00:00:00.000Z`) };
  };

  router.get(koa(ROUTES.admin.insights), async (ctx) => {
    const { auth, list, account } = await chosen(ctx);
    const { days, since } = window();
    const i = await accountInsights(db, account.id, { since });
    const curve = followerCurve(i, days);
    const servers = i.servers.slice(0, 10);
    const postLabel = (p: Insights["posts"][number]) =>
      `${p.publishedAt.toISOString().slice(0, 10)} ${p.text.length > 24 ? `${p.text.slice(0, 24)}…` : p.text}`;
    const posts = i.posts.slice(0, 10);
    const exportLink = (what: ExportKind) =>
      `/admin/insights/export.csv?${new URLSearchParams({ account: account.handle, what })}`;
    await kit.shell(
      ctx,
      auth,
      `Insights @${account.handle}`,
      html`<h1>Insights of @${account.handle}</h1>
        <form method="get" action="/admin/insights" class="actions">
          <label for="account">Account</label>
          <select id="account" name="account">
            ${list.map((a) => html`<option value="${a.handle}" ${a.id === account.id ? "selected" : ""}>@${a.handle}</option>`)}
          </select>
          <button type="submit">Show</button>
        </form>
        <p id="insights-summary">
          ${i.followers} ${i.followers === 1 ? "follower" : "followers"} from ${i.servers.length}
          ${i.servers.length === 1 ? "server" : "servers"}.
        </p>
        <h2>Followers</h2>
        ${chartFigure(
          "chart-followers",
          `Followers of @${account.handle} at the end of each day (last ${INSIGHT_DAYS} days, UTC)`,
          {
            type: "line",
            categories: days.map((d) => d.slice(5)),
            series: [{ name: "Followers", data: curve }],
          },
          dataTable({
            label: "Followers per day",
            headers: ["Day", "New followers", "Unfollows", "Followers"],
            rows: days
              .map((d, j) => ({
                d,
                added: i.newFollowers.get(d) ?? 0,
                lost: i.lostFollowers.get(d) ?? 0,
                total: curve[j],
              }))
              .filter((r) => r.added > 0 || r.lost > 0)
              .map(
                (r) =>
                  html`<tr class="follower-day" data-day="${r.d}">
                    <td class="words">${r.d}</td>
                    <td>${r.added}</td>
                    <td>${r.lost}</td>
                    <td>${r.total}</td>
                  </tr>`,
              ),
            records: true,
          }),
        )}
        <p><a href="${exportLink("followers")}">Followers per day as CSV</a></p>
        <p class="small muted">
          Follows minus unfollows (including blocks and domain blocks), each day; only days with a change are
          listed.
        </p>
        <h2>Posts</h2>
        ${
          posts.length === 0
            ? html`<p class="muted">No posts yet.</p>`
            : chartFigure(
                "chart-posts",
                `Replies, boosts and likes of ${posts.length === 1 ? "the latest post" : `the latest ${posts.length} posts`} of @${account.handle}`,
                {
                  type: "bar",
                  horizontal: true,
                  height: 80 + posts.length * 36,
                  categories: posts.map(postLabel),
                  series: [
                    { name: "Replies", data: posts.map((p) => p.replies) },
                    { name: "Boosts", data: posts.map((p) => p.boosts) },
                    { name: "Likes", data: posts.map((p) => p.likes) },
                  ],
                },
                dataTable({
                  label: "Posts",
                  headers: ["Published", "Post", "Replies", "Boosts", "Likes"],
                  records: true,
                  rows: i.posts.map(
                    (p) =>
                      html`<tr class="post-row" data-post="${p.id}">
                        <td>${timeTag(p.publishedAt, { relative: false })}</td>
                        <td>${p.text.length > 140 ? `${p.text.slice(0, 140)}…` : p.text}</td>
                        <td>${p.replies}</td>
                        <td>${p.boosts}</td>
                        <td>${p.likes}</td>
                      </tr>`,
                  ),
                }),
              )
        }
        <p><a href="${exportLink("posts")}">Posts as CSV</a></p>
        <h2>Where followers come from</h2>
        ${
          servers.length === 0
            ? html`<p class="muted">No followers yet.</p>`
            : chartFigure(
                "chart-servers",
                `Followers of @${account.handle} by server (the ${servers.length} largest)`,
                {
                  type: "bar",
                  horizontal: true,
                  height: 80 + servers.length * 30,
                  categories: servers.map((s) => s.host),
                  series: [{ name: "Followers", data: servers.map((s) => s.followers) }],
                },
                dataTable({
                  label: "Servers",
                  headers: ["Server", "Followers"],
                  rows: i.servers.map(
                    (s) =>
                      html`<tr class="server-row">
                        <td>${s.host}</td>
                        <td>${s.followers}</td>
                      </tr>`,
                  ),
                }),
              )
        }
        <p><a href="${exportLink("servers")}">Servers as CSV</a></p>`,
    );
  });

  router.get(koa(ROUTES.admin.insightsCsv), async (ctx) => {
    const { account } = await chosen(ctx);
    const what = EXPORTS.find((e) => e === queryText(ctx, "what"));
    if (!what) fail(400, `Say what to export: what=${EXPORTS.join(", what=")}.`);
    const { days, since } = window();
    const i = await accountInsights(db, account.id, { since, posts: 200 });
    const rows =
      what === "followers"
        ? [
            ["day", "new_followers", "unfollows", "followers"],
            ...followerCurve(i, days).map((total, j) => [
              days[j],
              i.newFollowers.get(days[j]) ?? 0,
              i.lostFollowers.get(days[j]) ?? 0,
              total,
            ]),
          ]
        : what === "posts"
          ? [
              ["post_id", "published_at", "text", "replies", "boosts", "likes"],
              ...i.posts.map((p) => [
                p.id,
                p.publishedAt.toISOString(),
                p.text,
                p.replies,
                p.boosts,
                p.likes,
              ]),
            ]
          : [["server", "followers"], ...i.servers.map((s) => [s.host, s.followers])];
    ctx.set("Cache-Control", "no-store");
    ctx.set("Content-Disposition", `attachment; filename="${account.handle}-${what}.csv"`);
    ctx.type = "text/csv; charset=utf-8";
    ctx.body = csv(rows);
  });

  return router;
}
