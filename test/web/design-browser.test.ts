/**
 * The design system in a real browser (Debian's headless Chromium): /verify in its three states
 * and the shareable /verify/@handle link, plus the other pages that use the shared stylesheet, at
 * a phone's 390 px and a desktop's 1280 px, in light and dark colour schemes. On every page: no
 * horizontal overflow (scrollWidth ≤ innerWidth), no 4xx/5xx for anything the page loads, the
 * stylesheet applied, the intended CSP, and no WCAG 2.1 A/AA violation found by axe-core.
 * Screenshots go to test-results/design/ (gitignored) for people to look at.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext } from "playwright-core";
import { PAGE_CSP } from "../../src/http/request-context.ts";
import { TOKENS } from "../../src/web/design.ts";
import { browserAvailable, launchBrowser, layoutProblems, linkSession } from "../helpers/browser.ts";
import { freePort, LAYOUT_ON_SQLITE_ONLY, TEST_DB } from "../helpers/env.ts";
import { currentAndFormer } from "../helpers/people.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// Under CI a missing browser is a failure (.ci/run installs it), never a skip.
const skip =
  (!browserAvailable && process.env.CI !== "true" ? "needs Debian's chromium" : false) ||
  LAYOUT_ON_SQLITE_ONLY;
const SHOTS = path.resolve(import.meta.dirname, "../../test-results/design");
const WIDTHS = [390, 1280] as const;
const SCHEMES = ["light", "dark"] as const;

/** "#0a58a8" → "rgb(10, 88, 168)", as getComputedStyle spells colours. */
const rgb = (hex: string) => {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255})`;
};

describe(`the design system in a browser on ${TEST_DB}`, { skip }, () => {
  let s: TestServer;
  let origin: string;
  let browser: Browser;
  let closeBrowser: (() => Promise<void>) | undefined;
  let session: { name: string; value: string };
  const handleOf = (user: string) => `@${user}@${s.services.config.handleDomain}`;

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({
      PORT: String(port),
      HERALD_ORIGIN: origin,
      HERALD_VERIFY_RATE_PER_SECOND: "1000",
      HERALD_VERIFY_BURST: "1000",
    });
    const { rita } = await currentAndFormer(s);
    // Rita is an org admin, signed in by a one-time link (as test/web/admin.test.ts does).
    const sub = await s.services.authz.resolveSubject("user:rita@corp.example");
    assert.ok(!("error" in sub));
    assert.ok((await s.services.authz.grant(sub, "org-admin", "org", "test")).ok);
    session = await linkSession(s, rita);
    mkdirSync(SHOTS, { recursive: true });
    ({ browser, close: closeBrowser } = await launchBrowser());
  });
  after(async () => {
    await closeBrowser?.();
    await s?.close();
  });

  interface Visit {
    readonly name: string;
    readonly path: string;
    readonly signedIn?: boolean;
    /** The verdict box the page must show, if any. */
    readonly verdict?: "current" | "former" | "unknown";
  }

  const verifyPages = (): Visit[] => [
    { name: "verify-empty", path: "/verify" },
    { name: "verify-current", path: `/verify?q=${encodeURIComponent(handleOf("rita"))}`, verdict: "current" },
    { name: "verify-former", path: `/verify?q=${encodeURIComponent(handleOf("oscar"))}`, verdict: "former" },
    {
      name: "verify-not-ours",
      path: `/verify?q=${encodeURIComponent("@rita@corp-careers.example")}`,
      verdict: "unknown",
    },
    { name: "verify-link-current", path: "/verify/@rita", verdict: "current" },
    { name: "verify-link-former", path: "/verify/@oscar", verdict: "former" },
    { name: "verify-link-not-ours", path: "/verify/@nobody", verdict: "unknown" },
  ];
  const otherPages = (): Visit[] => [
    { name: "home", path: "/" },
    { name: "login", path: "/login" },
    { name: "profile", path: "/@rita" },
    { name: "staff-home", path: "/app", signedIn: true },
    { name: "staff-profile", path: "/app/profile", signedIn: true },
    { name: "admin-home", path: "/admin", signedIn: true },
    { name: "admin-accounts", path: "/admin/accounts", signedIn: true },
  ];

  async function check(visits: Visit[], signedIn = false): Promise<void> {
    const problems: string[] = [];
    for (const width of WIDTHS)
      for (const colorScheme of SCHEMES) {
        const context: BrowserContext = await browser.newContext({
          viewport: { width, height: 900 },
          colorScheme,
        });
        try {
          if (signedIn) await context.addCookies([{ ...session, url: origin }]);
          const page = await context.newPage();
          const failed: string[] = [];
          page.on("response", (r) => {
            if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
          });
          page.on("requestfailed", (r) => failed.push(`failed ${r.url()}`));
          for (const v of visits) {
            const where = `${v.name} at ${width}px, ${colorScheme}`;
            const res = await page.goto(`${origin}${v.path}`);
            assert.ok(res, where);
            assert.equal(res.status(), 200, where);
            assert.equal(new URL(page.url()).pathname, new URL(`${origin}${v.path}`).pathname, where);
            assert.equal(res.headers()["content-security-policy"], PAGE_CSP, `${where}: the CSP`);
            // The stylesheet is loaded and applied (the header's surface colour is the token's).
            const applied = await page.evaluate(() => ({
              sheets: document.styleSheets.length,
              bg: getComputedStyle(document.body).backgroundColor,
              header: document.querySelector(".site-header")
                ? getComputedStyle(document.querySelector(".site-header")!).backgroundColor
                : null,
            }));
            const i = colorScheme === "light" ? 0 : 1;
            assert.equal(applied.sheets, 1, `${where}: one stylesheet`);
            assert.equal(applied.bg, rgb(TOKENS.bg[i]), `${where}: the ${colorScheme} background`);
            if (!v.signedIn && v.name.startsWith("verify"))
              assert.equal(applied.header, rgb(TOKENS.surface[i]), `${where}: the site header`);
            if (v.verdict) {
              const box = page.locator(`[role=status].verdict-${v.verdict}`);
              assert.equal(await box.count(), 1, `${where}: the ${v.verdict} answer`);
              const colour = { current: "success", former: "danger", unknown: "warning" } as const;
              assert.equal(
                await box.evaluate((e) => getComputedStyle(e).borderLeftColor),
                rgb(TOKENS[colour[v.verdict]][i]),
                `${where}: the ${v.verdict} colour`,
              );
            }
            problems.push(...(await layoutProblems(page, where)));
            await page.screenshot({
              path: path.join(SHOTS, `${v.name}-${width}-${colorScheme}.png`),
              fullPage: true,
            });
          }
          assert.deepEqual(failed, [], `no asset or page failed at ${width}px, ${colorScheme}`);
        } finally {
          await context.close();
        }
      }
    assert.deepEqual(problems, []);
  }

  test("/verify in its three states and as /verify/@handle: no overflow, no 404, axe-clean, light and dark", async () => {
    await check(verifyPages());
  });

  test("the other pages on the shared stylesheet: home, sign-in, profile, staff app, admin", async () => {
    await check(otherPages().filter((v) => !v.signedIn));
    await check(
      otherPages().filter((v) => v.signedIn),
      true,
    );
  });

  test("the favicon and the stylesheet: real image, right types, caching", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/verify`);
      // The browser decodes /favicon.ico as an image of 32×32.
      const size = await page.evaluate(async () => {
        const img = new Image();
        img.src = "/favicon.ico";
        await img.decode();
        return [img.naturalWidth, img.naturalHeight];
      });
      assert.deepEqual(size, [32, 32]);
    } finally {
      await context.close();
    }
    const icon = await fetch(`${s.url}/favicon.ico`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers.get("content-type"), "image/x-icon");
    const bytes = Buffer.from(await icon.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 1, 0], "an ICO header");
    assert.equal(bytes.subarray(22, 26).toString("latin1"), "\x89PNG");
    const html = await (await fetch(`${s.url}/verify`)).text();
    const css = /<link rel="stylesheet" href="([^"]+)">/.exec(html)?.[1];
    assert.ok(css);
    const sheet = await fetch(`${s.url}${css}`);
    assert.equal(sheet.status, 200);
    assert.equal(sheet.headers.get("content-type"), "text/css; charset=utf-8");
    assert.equal(sheet.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal((await fetch(`${s.url}/assets/herald-0000000000000000.css`)).status, 404);
  });
});
