/**
 * The admin console of issue 17 in Debian's headless Chromium: the directory, a person's page,
 * provisioning health and insights at a phone's 390 px and a desktop's 1280 px, light and dark.
 * Each answers with the page CSP, and under it the charts render as inline SVG (visible, with
 * their tables) with no script in the page and no CSP violation reported by the browser; no page
 * overflows and axe-core finds no WCAG 2.1 A/AA violation. An analyst reaches insights but gets
 * 403 on /admin/connect and /admin/directory. Screenshots go to test-results/console/.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { ORG } from "../../src/authz/authz.ts";
import { PAGE_CSP } from "../../src/http/request-context.ts";
import { seedAudience } from "../helpers/audience.ts";
import { browserAvailable, launchBrowser, layoutProblems, linkSession } from "../helpers/browser.ts";
import { freePort, LAYOUT_ON_SQLITE_ONLY, TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const skip =
  (!browserAvailable && process.env.CI !== "true" ? "needs Debian's chromium" : false) ||
  LAYOUT_ON_SQLITE_ONLY;
const SHOTS = path.resolve(import.meta.dirname, "../../test-results/console");

describe(`the admin console in a browser on ${TEST_DB}`, { skip }, () => {
  let s: TestServer;
  let origin: string;
  let browser: Browser;
  let closeBrowser: (() => Promise<void>) | undefined;
  const ids: Record<string, string> = {};
  const cookies: Record<string, { name: string; value: string }> = {};

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    const svc = s.services;
    for (const u of ["ada", "anna", "bartholomew-with-a-rather-long-name", "dave"])
      ids[u] = String(
        (
          await svc.scim.createUser(
            { userName: `${u}@corp.example`, displayName: u.replace(/-/g, " ") },
            { name: "t" },
          )
        ).id,
      );
    await svc.scim.createGroup({ displayName: "Recruiting", members: [{ value: ids.ada }] }, { name: "t" });
    await svc.scim.patchUser(ids.dave, [{ op: "replace", path: "active", value: false }], { name: "t" });
    const admin = await svc.authz.resolveSubject("user:ada@corp.example");
    assert.ok(!("error" in admin));
    assert.ok((await svc.authz.grant(admin, "org-admin", ORG, "test")).ok);
    const r = await svc.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(r.ok);
    const analyst = await svc.authz.resolveSubject("user:anna@corp.example");
    assert.ok(!("error" in analyst));
    assert.ok((await svc.authz.grant(analyst, "analyst", r.actor, "test")).ok);
    await seedAudience(svc.db, r.actor.id);
    // SCIM traffic for the provisioning page: creates, a refusal, an unknown id.
    const t = await svc.tokens.create("okta", "test");
    assert.ok(t.ok);
    const scim = (method: string, p: string, body?: unknown) =>
      fetch(`${origin}/scim/v2${p}`, {
        method,
        headers: { authorization: `Bearer ${t.token}`, "content-type": "application/scim+json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    for (let i = 0; i < 3; i++) await scim("POST", "/Users", { userName: `hire${i}@corp.example` });
    await scim("POST", "/Users", { userName: "" });
    await scim("GET", "/Users/no-such-id");
    for (const u of ["ada", "anna"]) cookies[u] = await linkSession(s, ids[u]);
    mkdirSync(SHOTS, { recursive: true });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });
  after(async () => {
    await closeBrowser?.();
    await s?.close();
  });

  test("every console page: CSP, charts as SVG without script or CSP violation, no overflow, axe-clean", async () => {
    const visits = [
      { name: "directory", path: "/admin/directory", charts: 0 },
      { name: "person", path: `/admin/directory/${ids.ada}`, charts: 0 },
      { name: "provisioning", path: "/admin/provisioning", charts: 1 },
      { name: "insights", path: "/admin/insights?account=recruiting", charts: 3 },
    ];
    const problems: string[] = [];
    for (const width of [390, 1280])
      for (const colorScheme of ["light", "dark"] as const) {
        const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
        try {
          await context.addCookies([{ ...cookies.ada, url: origin }]);
          const page = await context.newPage();
          const violations: string[] = [];
          page.on("console", (m) => {
            if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
          });
          for (const v of visits) {
            const where = `${v.name} at ${width}px, ${colorScheme}`;
            const res = await page.goto(`${origin}${v.path}`);
            assert.equal(res?.status(), 200, where);
            assert.equal(res?.headers()["content-security-policy"], PAGE_CSP, where);
            assert.equal(await page.locator("script").count(), 0, where);
            const charts = page.locator("figure.chart > svg.chart-svg[role=img]");
            assert.equal(await charts.count(), v.charts, where);
            for (let i = 0; i < v.charts; i++) {
              const chart = charts.nth(i);
              const box = await chart.boundingBox();
              assert.ok(
                box && box.width > 200 && box.height > 40,
                `${where}: chart ${i} is drawn (${JSON.stringify(box)})`,
              );
              assert.ok((await chart.locator("text").count()) > 0, `${where}: chart ${i} has its labels`);
              // The font sizes the renderer set arrive as presentation attributes, applied.
              const size = await chart
                .locator("text")
                .first()
                .evaluate((el) => getComputedStyle(el).fontSize);
              assert.equal(size, "12px", where);
              assert.equal(
                await page.locator("figure.chart").nth(i).locator(".table-wrap table").count(),
                1,
                where,
              );
            }
            problems.push(...(await layoutProblems(page, where)));
            await page.screenshot({
              path: path.join(SHOTS, `${v.name}-${width}-${colorScheme}.png`),
              fullPage: true,
            });
          }
          assert.deepEqual(violations, [], `${width}px ${colorScheme}: CSP violations`);
        } finally {
          await context.close();
        }
      }
    assert.deepEqual(problems, []);
  });

  test("an analyst reaches insights, not the directory nor /admin/connect", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      await context.addCookies([{ ...cookies.anna, url: origin }]);
      const page = await context.newPage();
      assert.equal((await page.goto(`${origin}/admin/insights`))?.status(), 200);
      assert.equal(await page.locator("h1").textContent(), "Insights of @recruiting");
      assert.equal(await page.locator("svg.chart-svg").count(), 3);
      assert.equal((await page.goto(`${origin}/admin/connect`))?.status(), 403);
      assert.equal((await page.goto(`${origin}/admin/directory`))?.status(), 403);
      assert.equal((await page.goto(`${origin}/admin/provisioning`))?.status(), 403);
    } finally {
      await context.close();
    }
  });
});
