/**
 * The public /verify page in a real browser (headless Chromium) against a real server: a
 * candidate types a handle into the form and reads the answer — current employee, former
 * employee, not ours — and every page passes axe-core's WCAG 2.x A/AA checks.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { axeViolations, browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { freePort, LAYOUT_ON_SQLITE_ONLY, TEST_DB } from "../helpers/env.ts";
import { currentAndFormer } from "../helpers/people.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

// Under CI a missing browser is a failure (.ci/run installs it), never a skip.
const skip =
  (!browserAvailable && process.env.CI !== "true" ? "needs Debian's chromium" : false) ||
  LAYOUT_ON_SQLITE_ONLY;

describe(`the /verify page in a browser on ${TEST_DB}`, { skip }, () => {
  let s: TestServer;
  let origin: string;
  let browser: Browser;
  let closeBrowser: (() => Promise<void>) | undefined;
  let context: BrowserContext;
  let page: Page;

  const handleOf = (user: string) => `@${user}@${s.services.config.handleDomain}`;
  const org = () => s.services.config.orgName;

  /** Types `input` into the form on /verify, submits it with the button, waits for the answer. */
  async function ask(input: string): Promise<void> {
    await page.goto(`${origin}/verify`);
    await page.getByLabel("Handle, profile or post link").fill(input);
    await Promise.all([
      page.waitForURL((u) => u.pathname === "/verify" && u.searchParams.get("q") === input),
      page.getByRole("button", { name: "Check", exact: true }).click(),
    ]);
    // The field keeps what was asked, for a second look.
    assert.equal(await page.getByLabel("Handle, profile or post link").inputValue(), input);
  }

  before(async () => {
    // Links on the page (the profile's rel="me") use the origin: make it the address we listen on.
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    await currentAndFormer(s);
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext();
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
    await closeBrowser?.();
    await s?.close();
  });

  test("the empty page: a labelled field, a Check button, the official domain; accessible", async () => {
    await page.goto(`${origin}/verify`);
    assert.equal(await page.title(), `Verify a ${org()} account`);
    assert.match(
      (await page.getByRole("heading", { level: 1 }).textContent()) ?? "",
      new RegExp(`Is this really ${org()}\\?`),
    );
    await page.getByRole("textbox", { name: "Handle, profile or post link" }).waitFor();
    await page.getByRole("button", { name: "Check", exact: true }).waitFor();
    assert.equal(await page.getByRole("status").count(), 0, "no answer before a question");
    assert.ok(
      (await page.getByRole("listitem").allTextContents()).some((t) =>
        t.includes(`@${s.services.config.handleDomain}`),
      ),
      "the page says what our accounts end in",
    );
    assert.deepEqual(await axeViolations(page), [], "accessibility of /verify");
  });

  test("a current employee: the current-account answer with her name and title", async () => {
    await ask(handleOf("rita"));
    const answer = page.getByRole("status");
    await answer.getByRole("heading", { level: 2, name: `Current ${org()} account` }).waitFor();
    const text = (await answer.textContent()) ?? "";
    assert.equal(await answer.locator("strong").textContent(), "Rita Recruiter");
    // Name, account, title, each under its term; and when it was checked.
    const terms = await answer.locator("dt").allTextContents();
    const details = (await answer.locator("dd").allTextContents()).map((t) => t.trim());
    assert.deepEqual(terms.slice(0, 3), ["Name", "Account", "Title"]);
    assert.deepEqual(details.slice(0, 3), ["Rita Recruiter", handleOf("rita"), "Recruiter"]);
    assert.match(text, /Checked \d{1,2} \w{3} \d{4}, \d\d:\d\d UTC/);
    assert.doesNotMatch(text, /Former|Not a/);
    // The link back to her profile, at the configured (and real) origin.
    const profile = answer.getByRole("link", { name: handleOf("rita") });
    assert.equal(await profile.getAttribute("href"), `${origin}/@rita`);
    assert.equal(await profile.getAttribute("rel"), "me");
    assert.deepEqual(await axeViolations(page), [], "accessibility of the current-employee answer");
  });

  test("a deactivated employee: the former-account answer, without the name", async () => {
    await ask(handleOf("oscar"));
    const answer = page.getByRole("status");
    await answer.getByRole("heading", { level: 2, name: `Former ${org()} account` }).waitFor();
    const text = (await answer.textContent()) ?? "";
    assert.ok(text.includes(handleOf("oscar")), text);
    assert.match(text, /no longer speaks for/);
    assert.match(text, /do not trust/i);
    assert.match(
      text.replace(/\s+/g, " "),
      /since \d{1,2} \w{3} \d{4}, \d\d:\d\d UTC — do not trust messages from this account/,
    );
    assert.match((await answer.locator("time").first().getAttribute("datetime")) ?? "", /^\d{4}-\d\d-\d\dT/);
    // Former employees' names and titles are not shown (org policy), anywhere on the page.
    const body = (await page.locator("body").textContent()) ?? "";
    assert.doesNotMatch(body, /Oscar Outgoing/);
    assert.doesNotMatch(body, /Talent Partner/);
    assert.equal(await answer.getByRole("link").count(), 0, "no link to a former account's profile");
    assert.deepEqual(await axeViolations(page), [], "accessibility of the former-employee answer");
  });

  test("a handle on another domain: not ours, and the official domain to look for", async () => {
    await ask("@rita@corp-careers.example");
    const answer = page.getByRole("status");
    await answer.getByRole("heading", { level: 2, name: `Not a ${org()} account` }).waitFor();
    const text = (await answer.textContent()) ?? "";
    assert.ok(text.includes(`@${s.services.config.handleDomain}`), text);
    assert.match(text, /Be careful/);
    assert.doesNotMatch(text, /Rita Recruiter/);
    assert.equal(
      await answer.locator("code").last().textContent(),
      `@${s.services.config.handleDomain}`,
      "the official domain, set apart",
    );
    assert.deepEqual(await axeViolations(page), [], "accessibility of the not-ours answer");
  });
});
