/**
 * Headless Chromium (Debian's) driven by playwright-core, as RUNTIME.md prescribes: no browser
 * download, no sandbox (root in CI), no background networking. Playwright gives every launch a
 * fresh, temporary profile of its own.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const browserAvailable = existsSync(CHROMIUM);

export async function launchBrowser(): Promise<{ browser: Browser; close(): Promise<void> }> {
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
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}
