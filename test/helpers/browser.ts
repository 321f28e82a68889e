/**
 * Headless Chromium (Debian's) driven by playwright-core, as RUNTIME.md prescribes: no browser
 * download, no sandbox (root in CI), no background networking. Playwright gives every launch a
 * fresh, temporary profile of its own.
 */
import { existsSync } from "node:fs";
import axe from "axe-core";
import { type Browser, chromium, type Page } from "playwright-core";
import { TOKENS } from "../../src/web/design.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const browserAvailable = existsSync(CHROMIUM);

/** `args`: extra Chromium switches (e.g. `--host-resolver-rules` to serve an origin from another port). */
export async function launchBrowser(
  args: readonly string[] = [],
): Promise<{ browser: Browser; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...args,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/**
 * The views a page is checked in: a phone and a desktop in the light scheme, and a phone in the
 * dark one (`prefers-color-scheme: dark`, the design system's dark tokens).
 */
export const VIEWS = [
  { width: 390, colorScheme: "light" },
  { width: 1280, colorScheme: "light" },
  { width: 390, colorScheme: "dark" },
] as const;
export type View = (typeof VIEWS)[number];

/** "390px", "1280px", "390px dark": for messages and screenshot names. */
export const viewName = (v: View): string => `${v.width}px${v.colorScheme === "dark" ? " dark" : ""}`;

/** A problem when the page is not drawn in `scheme`'s background token (the emulation took). */
export async function schemeProblems(
  page: Page,
  scheme: View["colorScheme"],
  where: string,
): Promise<string[]> {
  const hex = TOKENS.bg[scheme === "dark" ? 1 : 0];
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const expected = `rgb(${r}, ${g}, ${b})`;
  const actual = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  return actual === expected ? [] : [`${where}: background ${actual}, not ${scheme}'s ${expected}`];
}

/** axe-core's WCAG 2 A/AA and 2.1 A/AA violations on the page, as "rule: target" strings. */
export async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, not a <script> tag: Herald's CSP forbids scripts.
  await page.evaluate(axe.source);
  const result = (await page.evaluate(() =>
    (globalThis as unknown as { axe: { run(o: unknown): Promise<unknown> } }).axe.run({
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    }),
  )) as { violations: { id: string; nodes: { target: string[] }[] }[] };
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(" ")}`));
}

/**
 * What a page gets wrong at its viewport: the page wider than the window (horizontal overflow)
 * and axe-core's WCAG 2.1 A/AA violations, each prefixed with `where`.
 */
export async function layoutProblems(page: Page, where: string): Promise<string[]> {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  const problems = scrollWidth > innerWidth ? [`${where}: ${scrollWidth} px wide in ${innerWidth}`] : [];
  for (const v of await axeViolations(page)) problems.push(`${where}: ${v}`);
  return problems;
}

/** A session cookie for a person, made through a one-time sign-in link (as an operator makes one). */
export async function linkSession(
  s: {
    url: string;
    services: { sessions: { createLoginLink(id: string, by: string): Promise<{ token: string }> } };
  },
  personId: string,
): Promise<{ name: string; value: string }> {
  const link = await s.services.sessions.createLoginLink(personId, "test");
  const res = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
  const [name, value] = (res.headers.get("set-cookie") ?? "").split(";")[0].split("=");
  return { name, value };
}

/**
 * Signs in through Herald's sign-in page and the IdP's login form (SimpleSAMLphp's
 * exampleauth:UserPass), ending on the staff app.
 */
export async function ssoSignIn(page: Page, origin: string, user: string, password: string): Promise<void> {
  await page.goto(`${origin}/login`);
  await page.click("text=Sign in with single sign-on");
  await idpLogin(page, user, password);
}

/** Fills the IdP's login form and waits for the staff app. */
export async function idpLogin(page: Page, user: string, password: string): Promise<void> {
  await page.waitForSelector("input[name=username]");
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", password);
  await Promise.all([
    page.waitForURL(/\/app(\?|$)/, { timeout: 20_000 }),
    page.press("input[name=password]", "Enter"),
  ]);
}
