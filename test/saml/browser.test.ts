/**
 * The whole sign-in in a real browser against a real IdP: headless Chromium, SimpleSAMLphp from
 * Debian, Herald on loopback. SP-initiated with signed assertions, IdP-initiated with encrypted
 * ones, each ending with a post published from the staff app; then single logout through the IdP.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { PostSchema } from "../../src/federation/entities.ts";
import { PersonSchema } from "../../src/identity/entities.ts";
import { axeViolations, browserAvailable, idpLogin, launchBrowser } from "../helpers/browser.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type SimpleSamlIdp, simpleSamlAvailable, startSimpleSamlPhp } from "../helpers/simplesamlphp.ts";

const available = browserAvailable && simpleSamlAvailable;
// Under CI a missing browser or IdP is a failure (.ci/run installs both), never a skip.
const skip = !available && process.env.CI !== "true" ? "needs Debian's chromium and simplesamlphp" : false;

const USERS = {
  jane: {
    password: "jane-pass",
    attributes: { uid: ["jane@corp.example"], email: ["jane@corp.example"], displayName: ["Jane Doe"] },
  },
};

interface Stack {
  idp: SimpleSamlIdp;
  s: TestServer;
  origin: string;
  close(): Promise<void>;
}

async function stack(encryptAssertions: boolean, env: Record<string, string> = {}): Promise<Stack> {
  const idp = await startSimpleSamlPhp({ users: USERS, encryptAssertions });
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const s = await startTestServer({
    PORT: String(port),
    HERALD_ORIGIN: origin,
    HERALD_SAML_IDP_METADATA: idp.metadataUrl,
    ...env,
  });
  idp.trustSp(await (await fetch(`${origin}/saml/metadata`)).text());
  await s.services.scim.createUser(
    { userName: "jane@corp.example", displayName: "Jane Doe" },
    { name: "test" },
  );
  await waitFor(async () => (await s.services.accounts.byHandle("jane"))?.keysReadyAt ?? undefined, {
    timeoutMs: 30_000,
    what: "jane's account keys",
  });
  return {
    idp,
    s,
    origin,
    async close() {
      await s.close();
      await idp.stop();
    },
  };
}

async function postFromApp(page: Page, st: Stack, text: string): Promise<void> {
  await page.fill("#text", text);
  await Promise.all([page.waitForURL(/\/app\?posted=/), page.click("button[type=submit] >> text=Post")]);
  assert.ok((await page.textContent("main"))?.includes(text), "the post is listed");
  const post = await st.s.services.db.run((em) =>
    em.getRepository(PostSchema).findOneBy({ contentText: text }),
  );
  assert.ok(post, "the post is stored");
  const account = await st.s.services.accounts.byHandle("jane");
  assert.equal(post.actorId, account?.id);
  assert.equal(post.authorLabel, "Jane Doe", "who pressed send");
  const jane = await st.s.services.db.run((em) =>
    em.getRepository(PersonSchema).findOneBy({ userNameKey: "jane@corp.example" }),
  );
  assert.equal(post.authorPersonId, jane?.id);
}

describe(`SAML in a browser with SimpleSAMLphp on ${TEST_DB}`, { skip }, () => {
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  before(async () => {
    ({ browser, close: closeBrowser } = await launchBrowser());
  });
  after(() => closeBrowser?.());

  /** Runs a flow against a fresh Herald + SimpleSAMLphp; a failure carries the IdP's log. */
  async function inStack(
    args: Parameters<typeof stack>,
    flow: (st: Stack, page: Page, context: BrowserContext) => Promise<void>,
  ): Promise<void> {
    const st = await stack(...args);
    const context = await browser.newContext();
    try {
      await flow(st, await context.newPage(), context);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- SimpleSAMLphp ---\n${st.idp.log().slice(-4000)}`, {
        cause: e,
      });
    } finally {
      await context.close();
      await st.close();
    }
  }

  test("SP-initiated, signed: sign in, post, sign out through the IdP", () =>
    inStack([false], async (st, page, context) => {
      await page.goto(`${st.origin}/login`);
      await page.click("text=Sign in with single sign-on");
      assert.ok(page.url().startsWith(st.idp.base), `at the IdP: ${page.url()}`);
      await idpLogin(page, "jane", USERS.jane.password);
      await postFromApp(page, st, "Hello from single sign-on");
      for (const path of ["/app", "/app/profile", "/app/inbox", "/"]) {
        await page.goto(`${st.origin}${path}`);
        assert.deepEqual(await axeViolations(page), [], `accessibility of ${path}`);
      }
      await page.goto(`${st.origin}/app`);
      const me = (await context.request.get(`${st.origin}/api/me`)).status();
      assert.equal(me, 200);
      await Promise.all([
        page.waitForURL(/\/saml\/slo/, { timeout: 20_000 }),
        page.click("nav form button[type=submit]"),
      ]);
      assert.match((await page.textContent("h1")) ?? "", /signed out/i);
      assert.equal((await context.request.get(`${st.origin}/api/me`)).status(), 401);
      // The IdP session ended too: signing in again asks for the password.
      await page.goto(`${st.origin}/saml/login`);
      await page.waitForSelector("input[name=password]");
    }));

  test("IdP-initiated, encrypted: sign in from the IdP and post", () =>
    inStack([true, { HERALD_SAML_IDP_INITIATED: "true" }], async (st, page) => {
      await page.goto(st.idp.idpInitiatedUrl(`${st.origin}/saml/metadata`, "/app"));
      await idpLogin(page, "jane", USERS.jane.password);
      await postFromApp(page, st, "Hello, encrypted and unsolicited");
    }));

  test("the development IdP (npm start's demo): pick a person, land in the app, post", async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin, HERALD_DEV_IDP: "true" });
    const context = await browser.newContext();
    try {
      await s.services.scim.createUser(
        { userName: "jane@corp.example", displayName: "Jane Doe" },
        { name: "test" },
      );
      await waitFor(async () => (await s.services.accounts.byHandle("jane"))?.keysReadyAt ?? undefined, {
        timeoutMs: 30_000,
      });
      const page = await context.newPage();
      await page.goto(`${origin}/login`);
      await page.click("text=Sign in with single sign-on");
      // The auto-posting form runs under the CSP only because its script's hash is allowed.
      await Promise.all([page.waitForURL(/\/app(\?|$)/), page.click("button[value='jane@corp.example']")]);
      await postFromApp(page, { s } as Stack, "Hello from the development IdP");
    } finally {
      await context.close();
      await s.close();
    }
  });
});
