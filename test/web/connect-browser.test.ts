/**
 * Issue 17's proof of "Connect", in Debian's headless Chromium: an org admin, with Herald started
 * WITHOUT HERALD_SAML_IDP_METADATA, connects SimpleSAMLphp through the pages alone —
 *
 * 1. uploads the IdP's metadata file on /admin/connect;
 * 2. runs a test sign-in: a real round trip to SimpleSAMLphp (Jane signs in there) that ends on
 *    the result page naming Jane as the matched person, the admin still signed in as herself;
 * 3. pastes metadata listing another signing certificate: the next test sign-in says "Wrong
 *    certificate" (bad-signature);
 * 4. creates a SCIM token on the page and runs Okta's SCIM 2.0 SPEC Test with it
 *    (test/conformance/suites.ts; it must conform: only documented refusals fail);
 * 5. finds the people the suite created on /admin/directory with their status (or, without that
 *    page, in the SCIM Users list).
 *
 * Every page on the way is checked at 390 and 1280 px: no page overflow, axe-core WCAG 2.1 A/AA
 * clean. Screenshots in test-results/connect/.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserAvailable, launchBrowser, layoutProblems, linkSession } from "../helpers/browser.ts";
import { FIXTURES, freePort, LAYOUT_ON_SQLITE_ONLY, TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type SimpleSamlIdp, simpleSamlAvailable, startSimpleSamlPhp } from "../helpers/simplesamlphp.ts";
import { peersMissing, runSuites } from "../conformance/suites.ts";

const available = browserAvailable && simpleSamlAvailable && !peersMissing();
// Under CI a missing browser, IdP or suite is a failure (.ci/run installs them), never a skip.
const skip =
  !available && process.env.CI !== "true"
    ? "needs Debian's chromium, simplesamlphp and ../shared/scim-peers"
    : // The pages' layout and the round trip are the browser's part; on MySQL the same handlers run
      // in test/web/connect.test.ts and test/cluster/idp-metadata-across-processes.test.ts.
      LAYOUT_ON_SQLITE_ONLY;
const SHOTS = path.resolve(import.meta.dirname, "../../test-results/connect");
const USERS = {
  jane: {
    password: "jane-pass",
    attributes: { uid: ["jane@corp.example"], email: ["jane@corp.example"], displayName: ["Jane Doe"] },
  },
};
const certBody = (pem: string) => pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");

describe(`connecting SimpleSAMLphp through /admin/connect in a browser on ${TEST_DB}`, { skip }, () => {
  let s: TestServer;
  let idp: SimpleSamlIdp;
  let origin: string;
  let browser: Browser;
  let context: BrowserContext;
  let closeBrowser: (() => Promise<void>) | undefined;
  let page: Page;
  const problems: string[] = [];

  /** The page as it is now, at a phone's and a desktop's width: overflow and axe findings. */
  async function check(where: string): Promise<void> {
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      problems.push(...(await layoutProblems(page, `${where} at ${width}`)));
      await page.screenshot({ path: path.join(SHOTS, `${where}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    idp = await startSimpleSamlPhp({ users: USERS, encryptAssertions: false });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    assert.equal(s.services.config.saml.idpMetadata, undefined, "started without HERALD_SAML_IDP_METADATA");
    const who = { name: "test" };
    // Whole records (a name, a work address), as an IdP sends them: Okta's suite reads the first user.
    const person = (user: string, given: string, family: string) => ({
      userName: `${user}@corp.example`,
      displayName: `${given} ${family}`,
      name: { givenName: given, familyName: family },
      emails: [{ value: `${user}@corp.example`, type: "work", primary: true }],
    });
    const ada = await s.services.scim.createUser(person("ada", "Ada", "Admin"), who);
    await s.services.scim.createUser(person("jane", "Jane", "Doe"), who);
    const sub = await s.services.authz.resolveSubject("user:ada@corp.example");
    assert.ok(!("error" in sub));
    assert.ok((await s.services.authz.grant(sub, "org-admin", "org", "test")).ok);
    ({ browser, close: closeBrowser } = await launchBrowser());
    context = await browser.newContext();
    const cookie = await linkSession(s, String(ada.id));
    await context.addCookies([{ ...cookie, url: origin }]);
    page = await context.newPage();
  });
  after(async () => {
    await context?.close();
    await closeBrowser?.();
    await s?.close();
    await idp?.stop();
  });

  /** The page's main text, runs of white space as one space. */
  const mainText = async () => ((await page.textContent("main")) ?? "").replace(/\s+/g, " ");

  /** Presses Test sign-in; at SimpleSAMLphp, signs Jane in if it asks; waits for the result page. */
  async function testSignIn(): Promise<string> {
    await page.goto(`${origin}/admin/connect`);
    await page.click("button:text-is('Test sign-in')");
    const result = /\/admin\/connect\/test\/[0-9a-f-]{36}$/;
    // SimpleSAMLphp asks for a password once; with its session it answers straight away.
    const first = await Promise.race([
      page.waitForSelector("input[name=username]", { timeout: 20_000 }).then(
        () => "login",
        () => "none",
      ),
      page.waitForURL(result, { timeout: 20_000 }).then(
        () => "result",
        () => "none",
      ),
    ]);
    if (first === "login") {
      await page.fill("input[name=username]", "jane");
      await page.fill("input[name=password]", USERS.jane.password);
      await page.press("input[name=password]", "Enter");
    }
    await page.waitForURL(result, { timeout: 20_000 });
    return mainText();
  }

  test("an org admin connects SimpleSAMLphp, tests sign-in, makes a SCIM token that passes Okta's suite", async () => {
    try {
      // The overview, before anything is connected.
      await page.goto(`${origin}/admin/connect`);
      assert.match(await mainText(), /No identity provider is connected yet/);
      await check("connect-empty");
      await page.goto(`${origin}/admin/connect/okta`);
      assert.equal(await page.textContent("h1"), "Connect Okta");
      await check("guide-okta");

      // 1. The IdP's metadata, uploaded as a file; SimpleSAMLphp is given Herald's SP metadata.
      const metadata = await (await fetch(idp.metadataUrl)).text();
      await page.goto(`${origin}/admin/connect`);
      await page.setInputFiles("#metadata-file", {
        name: "simplesamlphp-idp.xml",
        mimeType: "application/xml",
        buffer: Buffer.from(metadata),
      });
      await Promise.all([page.waitForURL(/\?saved=1/), page.click("button:text-is('Save the metadata')")]);
      assert.match(await mainText(), /an upload,\s+version 1/);
      await check("connect-saved");
      idp.trustSp(await (await fetch(`${origin}/saml/metadata`)).text());

      // 2. Test sign-in: a real round trip; the result names Jane; the admin is still herself.
      const ok = await testSignIn();
      assert.match(ok, /Test sign-in succeeded/);
      assert.equal(await page.textContent("#matched-person"), "Jane Doe");
      assert.equal(await page.textContent("#name-id"), "jane@corp.example");
      assert.match((await page.textContent(".signout")) ?? "", /Signed in as\s+Ada Admin/);
      await check("test-succeeded");

      // 3. Metadata listing another signing certificate (pasted): the test names the reason.
      const foreign = certBody(readFileSync(path.join(FIXTURES, "secrets", "saml-foreign.crt"), "utf8"));
      const wrong = metadata.replace(
        /(<ds:X509Certificate>)[^<]+(<\/ds:X509Certificate>)/g,
        (_m, open: string, close: string) => `${open}${foreign}${close}`,
      );
      assert.notEqual(wrong, metadata);
      await page.goto(`${origin}/admin/connect`);
      await page.fill("#metadata-xml", wrong);
      await Promise.all([page.waitForURL(/\?saved=1/), page.click("button:text-is('Save the metadata')")]);
      const failed = await testSignIn();
      assert.match(failed, /Test sign-in failed/);
      assert.match(failed, /Wrong certificate/);
      assert.match(failed, /bad-signature/);
      await check("test-wrong-certificate");

      // A refused upload keeps the input beside its reason.
      await page.goto(`${origin}/admin/connect`);
      await page.fill("#metadata-xml", "<md:EntityDescriptor oops");
      await page.click("button:text-is('Save the metadata')");
      await page.waitForSelector("#metadata-xml-error");
      assert.equal(await page.inputValue("#metadata-xml"), "<md:EntityDescriptor oops");
      await check("metadata-refused");

      // 4. A SCIM token made on the page; Okta's suite passes with it.
      await page.goto(`${origin}/admin/connect`);
      await page.fill("#token-name", "okta-suite");
      await page.click("button:text-is('Create a SCIM token')");
      const token = (await page.textContent("#scim-token")) ?? "";
      assert.match(token, /^hrld_/);
      await check("token-created");
      // Keep what the suite creates (its runner deletes it otherwise), for the directory below.
      process.env.CLEANUP = "0";
      const run = await runSuites(
        `${origin}/scim/v2`,
        token,
        ["okta"],
        path.join(tmpdir(), "scim-peers-work"),
      );
      delete process.env.CLEANUP;
      const okta = run.results[0];
      assert.ok(run.conforms, `Okta's suite: ${okta.passed} passed, ${okta.failed} failed\n${run.output}`);
      assert.ok(okta.passed > 0);
      await page.goto(`${origin}/admin/connect`);
      const row = page.locator("tr", { hasText: "okta-suite" });
      assert.doesNotMatch((await row.textContent()) ?? "", /never/, "the token's last use is shown");

      // 5. The people the suite created, with their status.
      const users = (await (
        await fetch(`${origin}/scim/v2/Users?count=100`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { Resources: { userName: string; active: boolean }[] };
      const created = users.Resources.filter(
        (u) => !["ada@corp.example", "jane@corp.example"].includes(u.userName),
      );
      assert.equal(created.length, 2, "the suite's seed user and its one created user");
      assert.deepEqual(
        created.map((u) => u.active),
        [true, true],
      );
      const directory = await page.goto(`${origin}/admin/directory`);
      if (directory?.status() === 200) {
        for (const u of created) {
          const text = (await page.locator("tr", { hasText: u.userName }).textContent()) ?? "";
          assert.match(text, /Current/, `${u.userName} is listed as current on /admin/directory`);
        }
        await check("directory");
      }
      assert.deepEqual(problems, []);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- SimpleSAMLphp ---\n${idp.log().slice(-3000)}`, {
        cause: e,
      });
    }
  });
});
