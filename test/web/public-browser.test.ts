/**
 * The public pages in a real browser (Debian's headless Chromium): home, a current employee's
 * profile, a shared account's, a former employee's and a hashtag page, on the demo organization,
 * at a phone's 390 px and a desktop's 1280 px, and at 390 px in the dark scheme. On every page: no horizontal overflow
 * (scrollWidth ≤ innerWidth), nothing it loads fails, every same-origin link answers (not 404),
 * the QR code decodes as an image, and axe-core finds no WCAG 2.1 A/AA violation. Screenshots go
 * to test-results/public/ (gitignored).
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import { demoPresenceSeeded } from "../../src/demo.ts";
import {
  axeViolations,
  browserAvailable,
  launchBrowser,
  schemeProblems,
  VIEWS,
  viewName,
} from "../helpers/browser.ts";
import { freePort, LAYOUT_ON_SQLITE_ONLY, TEST_DB, waitFor } from "../helpers/env.ts";
import { currentAndFormer } from "../helpers/people.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// Under CI a missing browser is a failure (.ci/run installs it), never a skip.
const skip =
  (!browserAvailable && process.env.CI !== "true" ? "needs Debian's chromium" : false) ||
  LAYOUT_ON_SQLITE_ONLY;
const SHOTS = path.resolve(import.meta.dirname, "../../test-results/public");

describe(`the public pages in a browser on ${TEST_DB}`, { skip }, () => {
  let s: TestServer;
  let origin: string;
  let browser: Browser;
  let closeBrowser: (() => Promise<void>) | undefined;

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer(
      {
        PORT: String(port),
        HERALD_ORIGIN: origin,
        HERALD_VERIFY_RATE_PER_SECOND: "1000",
        HERALD_VERIFY_BURST: "1000",
      },
      { isDemoDatabase: true },
    );
    await waitFor(() => demoPresenceSeeded(s.services.db), { timeoutMs: 120_000, what: "the demo's posts" });
    await currentAndFormer(s);
    // A long unbroken hashtag and handle-like text must wrap, not widen the page on a phone.
    const jane = (await s.services.accounts.byHandle("jane"))!;
    const r = await s.services.posting.post({
      actorId: jane.id,
      text: `Open roles in every team #careers #${"verylonghashtagwithoutanybreak".repeat(3)}`,
      author: { personId: jane.personId, label: "Jane Doe" },
    });
    assert.ok(r.ok);
    mkdirSync(SHOTS, { recursive: true });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });
  after(async () => {
    await closeBrowser?.();
    await s?.close();
  });

  const PAGES = [
    { name: "home", path: "/" },
    { name: "profile-current", path: "/@jane", badge: "badge-current" },
    { name: "profile-shared", path: "/@recruiting", badge: "badge-current" },
    { name: "profile-former", path: "/@oscar", badge: "badge-former" },
    { name: "tag", path: "/tags/careers" },
  ] as const;

  test("home, current, shared and former profiles, a tag page: no overflow, every link answers, axe-clean", async () => {
    const problems: string[] = [];
    const checked = new Map<string, number>();
    for (const view of VIEWS) {
      const { width, colorScheme } = view;
      const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
      try {
        const page = await context.newPage();
        const failed: string[] = [];
        page.on("response", (r) => {
          if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
        });
        page.on("requestfailed", (r) => failed.push(`failed ${r.url()}`));
        for (const v of PAGES) {
          const where = `${v.name} at ${viewName(view)}`;
          const res = await page.goto(`${origin}${v.path}`);
          assert.equal(res?.status(), 200, where);
          if ("badge" in v) assert.equal(await page.locator(`.${v.badge}`).count(), 1, `${where}: the badge`);
          if (v.name.startsWith("profile")) {
            // The QR code of /verify/@handle decodes as an image.
            const qr = await page
              .locator('img[alt^="QR code of the verification link"]')
              .evaluate(async (img: HTMLImageElement) => {
                await img.decode();
                return [img.naturalWidth, img.getBoundingClientRect().width];
              });
            assert.ok(qr[0] > 0 && qr[1] > 0 && qr[1] <= width, `${where}: the QR code ${qr.join(" ")}`);
          }
          const { scrollWidth, innerWidth } = await page.evaluate(() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
          }));
          if (scrollWidth > innerWidth) problems.push(`${where}: ${scrollWidth} px wide in ${innerWidth}`);
          problems.push(...(await schemeProblems(page, colorScheme, where)));
          for (const v2 of await axeViolations(page)) problems.push(`${where}: ${v2}`);
          // Every same-origin link and asset answers (followed through redirects): no 404.
          const urls = await page.evaluate(() =>
            [
              ...[...document.querySelectorAll("a[href]")].map((a) => (a as HTMLAnchorElement).href),
              ...[...document.querySelectorAll("link[href]")].map((l) => (l as HTMLLinkElement).href),
              ...[...document.querySelectorAll("img[src]")].map((i) => (i as HTMLImageElement).src),
            ].filter((u) => u.startsWith(location.origin)),
          );
          assert.ok(urls.length > 4, `${where}: links found`);
          for (const u of urls) {
            if (!checked.has(u))
              checked.set(u, (await fetch(u, { headers: { accept: "text/html" } })).status);
            if (checked.get(u) !== 200) problems.push(`${where}: ${checked.get(u)} ${u}`);
          }
          await page.screenshot({
            path: path.join(SHOTS, `${v.name}-${width}${colorScheme === "dark" ? "-dark" : ""}.png`),
            fullPage: true,
          });
        }
        assert.deepEqual(failed, [], `nothing failed to load at ${viewName(view)}`);
      } finally {
        await context.close();
      }
    }
    assert.deepEqual(problems, []);
    // The pages link each other: tags from posts, profiles from the home page and the tag page.
    const paths = [...checked.keys()].map((u) => new URL(u).pathname);
    for (const expected of ["/tags/careers", "/@recruiting", "/@jane", "/verify/@jane", "/favicon.ico"])
      assert.ok(paths.includes(expected), expected);
  });
});
