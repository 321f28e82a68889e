/**
 * The staff app and the admin pages in a real browser (Debian's headless Chromium), as an
 * employee, a drafter and an approver of @recruiting, and an organization admin, at a phone's
 * 390 px and a desktop's 1280 px (light), and at 390 px in the dark scheme, on data with long
 * words, long links and long audit details. On every page: no horizontal overflow (scrollWidth ≤ innerWidth), at 1280 px no table wider than its
 * box, no WCAG 2.1 A/AA violation found by axe-core, no 4xx/5xx for anything the page loads and no
 * 404 behind any same-origin link on it. Pages a role may not use are visited too: their 403 must
 * be as clean, and carry the site header with the signed-in name. Screenshots go to
 * test-results/staff-admin/ (gitignored).
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import type { ActorRow } from "../../src/federation/entities.ts";
import {
  browserAvailable,
  launchBrowser,
  layoutProblems,
  schemeProblems,
  VIEWS,
  viewName,
} from "../helpers/browser.ts";
import { freePort, LAYOUT_ON_SQLITE_ONLY, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type SignedIn, signInByLink } from "../helpers/sign-in.ts";

// Under CI a missing browser is a failure (.ci/run installs it), never a skip.
const skip =
  (!browserAvailable && process.env.CI !== "true" ? "needs Debian's chromium" : false) ||
  LAYOUT_ON_SQLITE_ONLY;
const SHOTS = path.resolve(import.meta.dirname, "../../test-results/staff-admin");
const who = { name: "test" };

const ROLES = {
  employee: { user: "emma", name: "Emma Employee" },
  drafter: { user: "dan", name: "Dan Drafter" },
  approver: { user: "amy", name: "Amy Approver" },
  admin: { user: "ada", name: "Ada Administrator" },
} as const;
type Role = keyof typeof ROLES;

describe(`the staff app and admin pages in a browser on ${TEST_DB}`, { skip }, () => {
  let s: TestServer;
  let origin: string;
  let browser: Browser;
  let closeBrowser: (() => Promise<void>) | undefined;
  let recruiting: ActorRow;
  const sessions = {} as Record<Role, SignedIn>;
  const long = "Supercalifragilisticexpialidocious".repeat(5);
  const url = `https://jobs.example/apply?${"position=senior-staff-engineer&".repeat(8)}ref=herald`;

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    const svc = s.services;
    const ids = {} as Record<Role, string>;
    for (const [role, { user, name }] of Object.entries(ROLES))
      ids[role as Role] = String(
        (await svc.scim.createUser({ userName: `${user}@corp.example`, displayName: name }, who)).id,
      );
    const pat = String(
      (await svc.scim.createUser({ userName: "pat@corp.example", displayName: "Pat Publisher" }, who)).id,
    );
    const created = await svc.accounts.createShared("recruiting", "Recruiting at Demo Corp", "test");
    assert.ok(created.ok);
    recruiting = created.actor;
    await waitFor(
      async () => {
        for (const h of ["emma", "dan", "amy", "ada", "pat", "recruiting"])
          if (!(await svc.accounts.byHandle(h))?.keysReadyAt) return undefined;
        return true;
      },
      { timeoutMs: 60_000, what: "everyone's account keys" },
    );
    const grant = async (user: string, role: string, on: ActorRow | "org") => {
      const sub = await svc.authz.resolveSubject(`user:${user}@corp.example`);
      assert.ok(!("error" in sub));
      assert.ok((await svc.authz.grant(sub, role, on, "person:" + ids.admin)).ok);
    };
    await grant("ada", "org-admin", "org");
    await grant("amy", "admin", recruiting);
    await grant("dan", "drafter", recruiting);
    await grant("pat", "publisher", recruiting);
    for (const role of Object.keys(ROLES) as Role[]) sessions[role] = await signInByLink(s, ids[role]);
    const patSession = await signInByLink(s, pat);
    const form = (session: SignedIn, where: string, fields: Record<string, string>) =>
      fetch(`${s.url}${where}`, {
        method: "POST",
        headers: { cookie: session.cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf: session.csrf, ...fields }),
        redirect: "manual",
      });
    // Posts, drafts (one waiting, one rejected with a comment) and a report, with long words and links.
    for (const [session, as, text] of [
      [patSession, recruiting.id, `We are hiring! ${long} Apply at ${url} #hiring`],
      [sessions.employee, "", `My first post, ${long}`],
      [sessions.drafter, recruiting.id, `Open day on Friday: ${url}`],
      [sessions.drafter, recruiting.id, `Draft to reject ${long}`],
    ] as const) {
      const me = as || (await svc.accounts.byHandle("emma"))!.id;
      assert.equal((await form(session, "/app/posts", { as: me, text, visibility: "public" })).status, 303);
    }
    const [, toReject] = await svc.drafts.pending(recruiting.id);
    const rejected = await form(sessions.approver, `/app/drafts/${toReject.id}/decide`, {
      verdict: "reject",
      comment: `Too long: ${long}`,
    });
    assert.equal(rejected.status, 303);
    await svc.reports.submit({
      reported: url,
      details: `Asked for a fee. ${long}`,
      contact: `worried.candidate.with.a.long.address@${"sub.".repeat(6)}example.net`,
      source: "198.51.100.7",
    });
    mkdirSync(SHOTS, { recursive: true });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });
  after(async () => {
    await closeBrowser?.();
    await s?.close();
  });

  /** Every staff and admin page, with the status each role gets (Casbin's answer). */
  const pages = (role: Role): { name: string; path: string; status: number }[] => {
    const acts = role !== "employee";
    const admin = role === "admin";
    const r = recruiting.id;
    return [
      { name: "app-home", path: "/app", status: 200 },
      { name: "app-inbox", path: "/app/inbox", status: 200 },
      { name: "app-profile", path: "/app/profile", status: 200 },
      { name: "app-recruiting", path: `/app?account=${r}`, status: acts ? 200 : 403 },
      { name: "app-recruiting-inbox", path: `/app/inbox?account=${r}`, status: acts ? 200 : 403 },
      // An account's admin (the approver) reads its archive and insights: /admin lists those.
      { name: "admin-home", path: "/admin", status: admin || role === "approver" ? 200 : 403 },
      { name: "admin-accounts", path: "/admin/accounts", status: admin ? 200 : 403 },
      {
        name: "admin-account",
        path: `/admin/accounts/${r}`,
        status: admin || role === "approver" ? 200 : 403,
      },
      { name: "admin-grants", path: "/admin/grants", status: admin ? 200 : 403 },
      { name: "admin-audit", path: "/admin/audit", status: admin ? 200 : 403 },
      {
        name: "admin-audit-refused",
        path: "/admin/audit?from=yesterday&actor=dan",
        status: admin ? 400 : 403,
      },
      { name: "admin-reports", path: "/admin/reports", status: admin ? 200 : 403 },
    ];
  };

  for (const role of Object.keys(ROLES) as Role[])
    test(`as ${role}: no overflow at 390 and 1280 px, light and dark, axe-clean, no 404 behind any link or asset`, async () => {
      const problems: string[] = [];
      const linkStatus = new Map<string, number>();
      for (const view of VIEWS) {
        const { width, colorScheme } = view;
        const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
        try {
          const { name, value } = sessions[role];
          await context.addCookies([{ name, value, url: origin }]);
          const page = await context.newPage();
          const failed: string[] = [];
          page.on("response", (r) => {
            if (r.status() >= 400 && r.request().resourceType() !== "document")
              failed.push(`${r.status()} ${r.url()}`);
          });
          page.on("requestfailed", (r) => failed.push(`failed ${r.url()}`));
          for (const v of pages(role)) {
            const where = `${role}: ${v.name} at ${viewName(view)}`;
            const res = await page.goto(`${origin}${v.path}`);
            assert.equal(res?.status(), v.status, where);
            // Refusals too: a 403 is a page of the site, with the header and who is signed in.
            assert.match(
              (await page.textContent(".site-header")) ?? "",
              new RegExp(`Signed in as\\s+${ROLES[role].name}`),
              `${where}: the signed-in name`,
            );
            problems.push(...(await schemeProblems(page, colorScheme, where)));
            problems.push(...(await layoutProblems(page, where)));
            const tables = await page.evaluate(() => ({
              over: [...document.querySelectorAll(".table-wrap")].map((t) => t.scrollWidth - t.clientWidth),
              bare: [...document.querySelectorAll("table")].filter((t) => !t.closest(".table-wrap")).length,
            }));
            if (tables.bare > 0) problems.push(`${where}: ${tables.bare} table(s) outside a .table-wrap`);
            if (width === 1280 && tables.over.some((over) => over > 1))
              problems.push(`${where}: a table wider than its box (${tables.over.join(", ")} px over)`);
            const links = await page.$$eval("a[href]", (as) => as.map((a) => (a as HTMLAnchorElement).href));
            for (const link of links) {
              const u = new URL(link);
              if (u.origin !== origin) continue;
              u.hash = "";
              if (!linkStatus.has(u.href))
                linkStatus.set(u.href, (await context.request.get(u.href, { maxRedirects: 0 })).status());
            }
            await page.screenshot({
              path: path.join(
                SHOTS,
                `${role}-${v.name}-${width}${colorScheme === "dark" ? "-dark" : ""}.png`,
              ),
              fullPage: true,
            });
          }
          assert.deepEqual(failed, [], `${role} at ${viewName(view)}: nothing the pages load fails`);
        } finally {
          await context.close();
        }
      }
      const dead = [...linkStatus].filter(([, status]) => status === 404).map(([href]) => href);
      assert.deepEqual(dead, [], `${role}: no link leads to a 404`);
      assert.ok(linkStatus.size > 5, `${role}: links were followed (${linkStatus.size})`);
      assert.deepEqual(problems, []);
    });
});
