/**
 * Authority end to end in headless Chromium, signing in through SimpleSAMLphp: a Recruiting member
 * posts as @recruiting; a non-member sees no such option and a forged request gets 403; a drafter's
 * post appears only after someone approves it; a SCIM PATCH that removes the member makes their
 * very next request fail. The audit log says who pressed send.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { AuditEventSchema } from "../../src/db/audit.ts";
import type { ActorRow } from "../../src/federation/entities.ts";
import { PostSchema } from "../../src/federation/entities.ts";
import { browserAvailable, launchBrowser, ssoSignIn } from "../helpers/browser.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { type SimpleSamlIdp, simpleSamlAvailable, startSimpleSamlPhp } from "../helpers/simplesamlphp.ts";

const skip =
  !(browserAvailable && simpleSamlAvailable) && process.env.CI !== "true"
    ? "needs Debian's chromium and simplesamlphp"
    : false;

const who = { name: "test" };
const PEOPLE = ["jane", "bob", "dan", "amy"] as const;
const password = (u: string) => `${u}-pass`;

describe(`shared accounts in a browser, signed in through SimpleSAMLphp, on ${TEST_DB}`, { skip }, () => {
  let browser: Browser;
  let closeBrowser: () => Promise<void>;
  let idp: SimpleSamlIdp;
  let s: TestServer;
  let origin: string;
  let recruiting: ActorRow;
  const ids: Record<string, string> = {};
  let groupId: string;

  before(async () => {
    ({ browser, close: closeBrowser } = await launchBrowser());
    idp = await startSimpleSamlPhp({
      users: Object.fromEntries(
        PEOPLE.map((u) => [u, { password: password(u), attributes: { uid: [`${u}@corp.example`] } }]),
      ),
      encryptAssertions: false,
    });
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({
      PORT: String(port),
      HERALD_ORIGIN: origin,
      HERALD_SAML_IDP_METADATA: idp.metadataUrl,
    });
    idp.trustSp(await (await fetch(`${origin}/saml/metadata`)).text());
    for (const u of PEOPLE)
      ids[u] = String((await s.services.scim.createUser({ userName: `${u}@corp.example` }, who)).id);
    groupId = String(
      (await s.services.scim.createGroup({ displayName: "Recruiting", members: [{ value: ids.jane }] }, who))
        .id,
    );
    const created = await s.services.accounts.createShared("recruiting", "Recruiting at Corp", "test");
    assert.ok(created.ok);
    recruiting = created.actor;
    await waitFor(
      async () => {
        for (const h of [...PEOPLE, "recruiting"])
          if (!(await s.services.accounts.byHandle(h))?.keysReadyAt) return undefined;
        return true;
      },
      { timeoutMs: 60_000, what: "everyone's account keys" },
    );
    const authz = s.services.authz;
    const subject = async (t: string) => {
      const r = await authz.resolveSubject(t);
      assert.ok(!("error" in r));
      return r;
    };
    assert.ok((await authz.grant(await subject("Recruiting"), "publisher", recruiting, "test")).ok);
    assert.ok((await authz.grant(await subject("user:dan@corp.example"), "drafter", recruiting, "test")).ok);
    assert.ok((await authz.grant(await subject("user:amy@corp.example"), "admin", recruiting, "test")).ok);
  });
  after(async () => {
    await closeBrowser?.();
    await s?.close();
    await idp?.stop();
  });

  async function as(user: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await ssoSignIn(page, origin, user, password(user));
    return { context, page };
  }

  const optionsOf = (page: Page) =>
    page.$$eval("select#as option", (os) =>
      os.map((o) => ({ value: (o as HTMLOptionElement).value, text: o.textContent?.trim() })),
    );

  /** Submits the compose form as the given account; returns the URL it lands on. */
  async function compose(page: Page, accountId: string, text: string): Promise<string> {
    await page.selectOption("select#as", accountId);
    await page.fill("#text", text);
    await Promise.all([
      page.waitForURL(/\/app\?/),
      page.click("form[action='/app/posts'] button[type=submit]"),
    ]);
    return page.url();
  }

  const postWith = (text: string) =>
    s.services.db.run((em) => em.getRepository(PostSchema).findOneBy({ contentText: text }));

  test("a Recruiting member posts as @recruiting; the audit log names who pressed send", async () => {
    const { context, page } = await as("jane");
    try {
      const options = await optionsOf(page);
      assert.ok(
        options.some((o) => o.value === recruiting.id),
        `options: ${JSON.stringify(options)}`,
      );
      const url = await compose(page, recruiting.id, "We are hiring engineers in Lisbon");
      assert.match(url, /posted=/);
      const post = await postWith("We are hiring engineers in Lisbon");
      assert.equal(post?.actorId, recruiting.id);
      assert.equal(post?.authorPersonId, ids.jane);
      const audit = await s.services.db.run((em) =>
        em.getRepository(AuditEventSchema).findOneBy({ action: "post.create", targetId: post!.id }),
      );
      const detail = JSON.parse(audit?.detail ?? "{}") as Record<string, string>;
      assert.equal(detail.samlSubject, "jane@corp.example");
      assert.equal(detail.signIn, "saml");
      assert.match(detail.decision, /group:Recruiting holds publisher on @recruiting/);
      assert.ok(detail.session, "the session that sent it");
    } finally {
      await context.close();
    }
  });

  test("a non-member sees no @recruiting and a forged request gets 403", async () => {
    const { context, page } = await as("bob");
    try {
      const options = await optionsOf(page);
      assert.deepEqual(
        options.map((o) => o.value),
        [(await s.services.accounts.byHandle("bob"))!.id],
      );
      // The browser's own cookies, sent from outside the page (Herald's CSP allows no page script).
      const csrf = await page.inputValue("input[name=csrf]");
      const forgedRes = await context.request.post(`${origin}/app/posts`, {
        form: { csrf, as: recruiting.id, text: "Forged", visibility: "public" },
        maxRedirects: 0,
      });
      const forged = { status: forgedRes.status(), text: await forgedRes.text() };
      assert.equal(forged.status, 403);
      assert.match(forged.text, /may not post as @recruiting/);
      assert.equal(await postWith("Forged"), null);
      const page403 = await page.goto(`${origin}/app?account=${recruiting.id}`);
      assert.equal(page403?.status(), 403);
    } finally {
      await context.close();
    }
  });

  test("a drafter's post is published only after someone else approves it", async () => {
    const dan = await as("dan");
    try {
      const url = await compose(dan.page, recruiting.id, "Join our open day on Friday");
      assert.match(url, /drafted=/);
      assert.equal(await postWith("Join our open day on Friday"), null, "not published yet");
    } finally {
      await dan.context.close();
    }
    const amy = await as("amy");
    try {
      await amy.page.goto(`${origin}/app?account=${recruiting.id}`);
      assert.match((await amy.page.textContent("main")) ?? "", /Join our open day on Friday/);
      await amy.page.fill("input[name=comment]", "Looks good");
      await Promise.all([amy.page.waitForURL(/approved=/), amy.page.click("button[value=approve]")]);
      const post = await postWith("Join our open day on Friday");
      assert.equal(post?.actorId, recruiting.id);
      assert.equal(post?.authorPersonId, ids.dan, "the drafter wrote it");
      const audit = await s.services.db.run((em) =>
        em.getRepository(AuditEventSchema).findOneBy({ action: "post.create", targetId: post!.id }),
      );
      assert.equal(JSON.parse(audit?.detail ?? "{}").approvedBy, "amy@corp.example");
    } finally {
      await amy.context.close();
    }
  });

  test("a SCIM PATCH removing the member makes her very next request fail", async () => {
    const { context, page } = await as("jane");
    try {
      await page.goto(`${origin}/app?account=${recruiting.id}`);
      const csrf = await page.inputValue("input[name=csrf]");
      await s.services.scim.patchGroup(
        groupId,
        [{ op: "remove", path: `members[value eq "${ids.jane}"]`, value: undefined }],
        who,
      );
      const res = (
        await context.request.post(`${origin}/app/posts`, {
          form: { csrf, as: recruiting.id, text: "After removal", visibility: "public" },
          maxRedirects: 0,
        })
      ).status();
      assert.equal(res, 403);
      assert.equal(await postWith("After removal"), null);
      assert.equal((await page.goto(`${origin}/app?account=${recruiting.id}`))?.status(), 403);
    } finally {
      await context.close();
    }
  });
});
