/**
 * The compliance page in a real browser (Debian's headless Chromium): its search results (with
 * long words, a long remote IRI, an approver) and a refused search with the field's error, at a
 * phone's 390 px and a desktop's 1280 px, light and dark: no horizontal overflow of the page (the
 * table scrolls in its .table-wrap), the page CSP, and no WCAG 2.1 A/AA violation found by
 * axe-core. Screenshots go to test-results/design/.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { appendRecord } from "../../src/archive/records.ts";
import { ORG } from "../../src/authz/authz.ts";
import { PAGE_CSP } from "../../src/http/request-context.ts";
import { browserAvailable, launchBrowser, layoutProblems, linkSession } from "../helpers/browser.ts";
import { freePort, LAYOUT_ON_SQLITE_ONLY, TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// Under CI a missing browser is a failure (.ci/run installs it), never a skip.
const skip =
  (!browserAvailable && process.env.CI !== "true" ? "needs Debian's chromium" : false) ||
  LAYOUT_ON_SQLITE_ONLY;
const SHOTS = path.resolve(import.meta.dirname, "../../test-results/design");

describe(`the compliance page in a browser on ${TEST_DB}`, { skip }, () => {
  let s: TestServer;
  let origin: string;
  let browser: Browser;
  let closeBrowser: (() => Promise<void>) | undefined;
  let session: { name: string; value: string };

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    const svc = s.services;
    const ids: string[] = [];
    for (const u of ["morgan", "priya"])
      ids.push(
        String(
          (
            await svc.scim.createUser(
              { userName: `${u}@corp.example`, displayName: `${u[0].toUpperCase()}${u.slice(1)} Example` },
              { name: "t" },
            )
          ).id,
        ),
      );
    const sub = await svc.authz.resolveSubject("user:morgan@corp.example");
    assert.ok(!("error" in sub));
    assert.ok((await svc.authz.grant(sub, "compliance-officer", ORG, "test")).ok);
    const r = await svc.accounts.createShared("recruiting", "Recruiting", "test");
    assert.ok(r.ok);
    const long = "Supercalifragilisticexpialidocious".repeat(6);
    await svc.db.transaction(async (em) => {
      await appendRecord(em, {
        kind: "post.create",
        direction: "out",
        accountId: r.actor.id,
        accountHandle: "recruiting",
        personId: ids[1],
        actorLabel: "Priya Example",
        approverId: ids[0],
        content: { text: `We are hiring! ${long} #hiring`, draftId: "d1" },
      });
      await appendRecord(em, {
        kind: "inbound.reply",
        direction: "in",
        accountId: r.actor.id,
        accountHandle: "recruiting",
        remoteActor: `https://a-very-long-remote-host-name.example/users/${"x".repeat(80)}`,
        inReplyTo: "https://corp.example/ap/posts/1",
        content: { html: `<p>Interested! ${long}</p>` },
      });
      await appendRecord(em, {
        kind: "draft.approve",
        direction: "internal",
        accountId: r.actor.id,
        accountHandle: "recruiting",
        personId: ids[0],
        approverId: ids[0],
        content: { text: "Career fair", comment: "Looks good" },
      });
    });
    session = await linkSession(s, ids[0]);
    mkdirSync(SHOTS, { recursive: true });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });
  after(async () => {
    await closeBrowser?.();
    await s?.close();
  });

  test("results and a refused search: no overflow at 390 and 1280 px, axe-clean, light and dark", async () => {
    const visits = [
      { name: "compliance-archive", path: "/admin/archive", status: 200, rows: 3 },
      { name: "compliance-archive-error", path: "/admin/archive?from=2026-02-30", status: 400, rows: 0 },
    ];
    const problems: string[] = [];
    for (const width of [390, 1280])
      for (const colorScheme of ["light", "dark"] as const) {
        const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
        try {
          await context.addCookies([{ ...session, url: origin }]);
          const page = await context.newPage();
          for (const v of visits) {
            const where = `${v.name} at ${width}px, ${colorScheme}`;
            const res = await page.goto(`${origin}${v.path}`);
            assert.equal(res?.status(), v.status, where);
            assert.equal(res?.headers()["content-security-policy"], PAGE_CSP, where);
            assert.equal(await page.locator("tbody tr").count(), v.rows, where);
            if (v.status === 400)
              assert.equal(await page.locator("#f-from[aria-invalid=true]").count(), 1, where);
            problems.push(...(await layoutProblems(page, where)));
            await page.screenshot({
              path: path.join(SHOTS, `${v.name}-${width}-${colorScheme}.png`),
              fullPage: true,
            });
          }
        } finally {
          await context.close();
        }
      }
    assert.deepEqual(problems, []);
  });
});
