/**
 * Provisioning health (/admin/provisioning, issue 17): for each SCIM token, the requests of the
 * last 24 hours by status class, its last failed requests with their request ids (to find them in
 * the logs), and a chart of the people it created, updated and deactivated per day over the last
 * 30 days. Counts come from the SCIM request log (src/scim/request-log.ts), changes from the
 * directory's events. Needs view-provisioning (Casbin).
 */
import type Router from "@koa/router";
import { type Html, html, timeTag } from "../http/html.ts";
import { koa, ROUTES } from "../http/routes.ts";
import type { Roster, ScimChangeKind } from "../identity/roster.ts";
import type { ScimRequestLog, StatusClass } from "../scim/request-log.ts";
import type { TokenService } from "../scim/tokens.ts";
import { type AdminKit, consoleRouter, dataTable } from "./admin-kit.ts";
import { chartFigure, lastDays } from "./charts.ts";

const CLASSES: readonly StatusClass[] = ["2xx", "3xx", "4xx", "5xx"];
const KINDS: readonly [ScimChangeKind, string][] = [
  ["created", "Created"],
  ["updated", "Updated"],
  ["deactivated", "Deactivated"],
];
export const CHART_DAYS = 30;

export function provisioningRoutes(deps: {
  tokens: TokenService;
  scimLog: ScimRequestLog;
  roster: Roster;
  kit: AdminKit;
}): Router {
  const { tokens, scimLog, roster, kit } = deps;
  const router = consoleRouter();

  router.get(koa(ROUTES.admin.provisioning), async (ctx) => {
    const auth = await kit.requireOrg(ctx, "view-provisioning", "Provisioning health");
    // This process's counts first; other processes write theirs every few seconds.
    await scimLog.flush();
    const now = new Date();
    const all = await tokens.list();
    const counts = await scimLog.countsSince(new Date(now.getTime() - 24 * 3_600_000));
    const days = lastDays(CHART_DAYS, now);
    const changes = await roster.scimChangesByDay(new Date(`${days[0]}T00:00:00.000Z`));
    const sections: Html[] = [];
    for (const [i, t] of all.entries()) {
      const c = counts.get(t.id) ?? { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
      const errors = await scimLog.lastErrors(t.id, 10);
      const actor = `scim-token:${t.name}`;
      const perDay = (kind: ScimChangeKind) =>
        days.map((d) => changes.find((x) => x.actor === actor && x.day === d && x.kind === kind)?.n ?? 0);
      const series = KINDS.map(([kind, name]) => ({ name, data: perDay(kind) }));
      const id = `chart-${i + 1}`;
      sections.push(
        html`<section aria-labelledby="token-${i + 1}">
          <h2 id="token-${i + 1}">
            Token <code>${t.name}</code>
            ${t.revokedAt ? html`<span class="badge badge-former">revoked</span>` : html`<span class="badge badge-current">active</span>`}
          </h2>
          <p class="muted">Last used: ${t.lastUsedAt ? timeTag(t.lastUsedAt) : "never"}.</p>
          ${dataTable({
            label: `Requests of ${t.name} in the last 24 hours`,
            caption: "Requests in the last 24 hours, by status",
            headers: CLASSES,
            rows: [
              html`<tr class="scim-counts" data-token="${t.name}">
                ${CLASSES.map((k) => html`<td>${c[k]}</td>`)}
              </tr>`,
            ],
          })}
          <h3>Last errors</h3>
          ${
            errors.length === 0
              ? html`<p class="muted">No failed requests kept (30 days).</p>`
              : dataTable({
                  label: `Last errors of ${t.name}`,
                  headers: ["When", "Status", "Request", "Request id", "Reason"],
                  records: true,
                  rows: errors.map(
                    (e) =>
                      html`<tr>
                        <td>${timeTag(e.at)}</td>
                        <td>${e.status}</td>
                        <td class="words"><code>${e.method} ${e.path}</code></td>
                        <td><code>${e.requestId}</code></td>
                        <td>${e.message}</td>
                      </tr>`,
                  ),
                })
          }
          ${chartFigure(
            id,
            `People created, updated and deactivated by ${t.name}, per day (last ${CHART_DAYS} days, UTC)`,
            { type: "line", categories: days.map((d) => d.slice(5)), series },
            dataTable({
              label: `Changes by ${t.name} per day`,
              headers: ["Day", ...KINDS.map(([, n]) => n)],
              rows: days
                .map((d, j) => ({ d, v: series.map((s) => s.data[j]) }))
                .filter((r) => r.v.some((n) => n > 0))
                .map(
                  (r) =>
                    html`<tr>
                      <td class="words">${r.d}</td>
                      ${r.v.map((n) => html`<td>${n}</td>`)}
                    </tr>`,
                ),
              records: true,
            }),
          )}
        </section>`,
      );
    }
    await kit.shell(
      ctx,
      auth,
      "Provisioning",
      html`<h1>Provisioning health</h1>
        <p class="muted">
          What each identity provider's SCIM token asked of Herald. Request counts are kept 30 days; 4xx
          answers are the IdP's requests Herald refused (with the reason it was given), 5xx are Herald's own
          failures.
        </p>
        ${all.length === 0 ? html`<p>No SCIM token yet: create one (<code>npx herald token create okta</code>).</p>` : sections}`,
    );
  });

  return router;
}
