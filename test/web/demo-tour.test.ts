/**
 * The demo tour (issue 14's proof): Herald started as `npm start` starts it on a fresh machine (the
 * real server process, no DATABASE_URL, development mode, its own ./data), so the demo organization
 * is seeded; then, in headless Chromium, each demo role signs in through the development IdP
 * (a real SAML round trip) and does what README.md says that role can do, with README's own
 * commands where it shows them. Outcomes are read from the database: exactly which posts, drafts
 * and audit rows each step made, and who they name.
 *
 * The README's examples use the default origin, http://localhost:3000; the server listens on a free
 * port and Chromium resolves localhost:3000 to it (--host-resolver-rules), so every redirect, SAML
 * message and handle is the one a person following the README meets.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { unzipSync } from "fflate";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { type AuditEvent, AuditEventSchema } from "../../src/db/audit.ts";
import { createDatabase, type Database } from "../../src/db/database.ts";
import { ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { DraftSchema } from "../../src/federation/drafts.ts";
import { type ActorRow, ActorSchema, PostSchema } from "../../src/federation/entities.ts";
import { PersonSchema } from "../../src/identity/entities.ts";
import { entities } from "../../src/services.ts";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import { freePort, ROOT, TEST_DB } from "../helpers/env.ts";
import { runCli, startDemoProcess } from "../helpers/process.ts";

// Under CI a missing browser is a failure (.ci/run installs it), never a skip.
const noBrowser = !browserAvailable && process.env.CI !== "true" ? "needs Debian's chromium" : false;
const skip = TEST_DB !== "sqlite" ? "the demo is seeded on SQLite only (npm start's default)" : noBrowser;

const ORIGIN = "http://localhost:3000";
const README = readFileSync(path.join(ROOT, "README.md"), "utf8");

/**
 * The README's own command that starts with `prefix` (in a ```sh block), as words, and the answer
 * its comment claims (`# deny, …` → "deny"). Fails when the README no longer shows it.
 */
function readmeCommand(prefix: string): { words: string[]; claims?: string } {
  const blocks = [...README.matchAll(/^```sh\n([^]*?)^```/gm)].map((m) => m[1]);
  const line = blocks
    .flatMap((b) => b.split("\n"))
    .find((l) => l.startsWith(`${prefix} `) || l.trim() === prefix);
  assert.ok(line, `README shows \`${prefix}\``);
  const words: string[] = [];
  let rest = line;
  for (;;) {
    rest = rest.trimStart();
    if (rest === "" || rest.startsWith("#")) break;
    const m = /^"([^"]*)"|^(\S+)/.exec(rest)!;
    words.push(m[1] ?? m[2]);
    rest = rest.slice(m[0].length);
  }
  const claims = /^#\s*(allow|deny|active|former)\b/.exec(rest)?.[1];
  return { words, claims };
}

describe("the demo tour: each demo role does what the README says", { skip }, () => {
  let cwd: string;
  let server: Awaited<ReturnType<typeof startDemoProcess>>;
  let db: Database;
  let browser: Browser;
  let closeBrowser: (() => Promise<void>) | undefined;
  let recruiting: ActorRow;
  const ids: Record<string, string> = {};

  /** Runs the README's command starting with `prefix`; it must exit 0 and say what its comment claims. */
  async function runReadme(prefix: string): Promise<string> {
    const { words, claims } = readmeCommand(prefix);
    assert.deepEqual(words.slice(0, 2), ["npx", "herald"]);
    const r = await runCli(words.slice(2), { HERALD_ORIGIN: ORIGIN }, cwd);
    assert.equal(r.code, 0, `${prefix}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    if (claims) assert.equal(r.stdout.split("\n")[0], claims, `${prefix}: ${r.stdout}`);
    return r.stdout;
  }

  const postsOf = (actorId: string) =>
    db.run((em) => em.getRepository(PostSchema).find({ where: { actorId }, order: { publishedAt: "ASC" } }));
  const pendingDrafts = () =>
    db.run((em) =>
      em.getRepository(DraftSchema).find({ where: { accountId: recruiting.id, status: "pending" } }),
    );
  const auditOf = (action: string, targetId: string) =>
    db.run((em) => em.getRepository(AuditEventSchema).find({ where: { action, targetId } }));
  const detail = (row: AuditEvent) => JSON.parse(row.detail ?? "{}") as Record<string, unknown>;

  before(async () => {
    const port = await freePort();
    server = await startDemoProcess(ORIGIN, port);
    cwd = server.cwd;
    const file = path.join(cwd, "data/herald.sqlite");
    db = await createDatabase({ kind: "sqlite", path: file, url: `sqlite:${file}` }, { entities });
    recruiting = (await db.run((em) => em.getRepository(ActorSchema).findOneBy({ handle: "recruiting" })))!;
    assert.ok(recruiting, "the demo has @recruiting");
    for (const p of await db.run((em) => em.getRepository(PersonSchema).find())) ids[p.userName] = p.id;
    ({ browser, close: closeBrowser } = await launchBrowser([
      `--host-resolver-rules=MAP localhost:3000 127.0.0.1:${port}`,
    ]));
  });
  after(async () => {
    await closeBrowser?.();
    await db?.close();
    await server?.stop();
  });

  /**
   * Signs `name` in as README says: /login → "Sign in with single sign-on" → the development IdP,
   * which says what the person may do → the staff app. Each person gets a browser of their own.
   */
  async function signIn(name: string, roles: RegExp): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${ORIGIN}/login`);
    await page.getByRole("link", { name: "Sign in with single sign-on" }).click();
    await page.waitForURL(/\/dev-idp\/sso\?/);
    const choice = page.locator("fieldset p", { has: page.getByRole("button", { name, exact: true }) });
    assert.match((await choice.locator(".roles").textContent()) ?? "", roles, `the IdP says what ${name} is`);
    await Promise.all([
      page.waitForURL(`${ORIGIN}/app`),
      page.getByRole("button", { name, exact: true }).click(),
    ]);
    assert.match((await page.textContent(".site-header")) ?? "", new RegExp(`Signed in as\\s+${name}`));
    return { context, page };
  }

  /**
   * Switches the staff app to @`account` (the "Acting for" links), where the compose form posts as
   * it and its button says what will happen (`button`), and sends `text`.
   */
  async function compose(page: Page, account: string, text: string, button: string): Promise<void> {
    await page
      .getByRole("navigation", { name: "Accounts you act for" })
      .getByRole("link", { name: `@${account}` })
      .click();
    assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), `@${account}`);
    const selected = await page.getByLabel("Post as").locator("option:checked").textContent();
    assert.match(selected ?? "", new RegExp(`^\\s*@${account}@localhost:3000`));
    await page.getByLabel("What do you want to say?").fill(text);
    await Promise.all([
      page.waitForURL(/\/app\?account=.*&(posted|drafted)=/),
      page.getByRole("button", { name: button, exact: true }).click(),
    ]);
  }

  test("Jane, owner of @recruiting: posts as @recruiting and approves Priya's waiting draft", async () => {
    const before = await postsOf(recruiting.id);
    const [waiting] = await pendingDrafts();
    assert.equal(waiting?.authorPersonId, ids["priya@demo.example"], "Priya's draft waits, as README says");
    const { context, page } = await signIn("Jane Doe", /^— owner of @recruiting, publisher of @recruiting/);
    try {
      const text = "Meet our recruiters at the career fair. #careers";
      await compose(page, "recruiting", text, "Post");
      assert.match((await page.getByRole("status").textContent()) ?? "", /^Posted\./);
      const after1 = await postsOf(recruiting.id);
      assert.equal(after1.length, before.length + 1, "exactly one new post on @recruiting");
      const mine = after1.at(-1)!;
      assert.equal(mine.contentText, text);
      assert.equal(mine.authorPersonId, ids["jane@demo.example"]);
      assert.equal(mine.authorLabel, "Jane Doe");
      const [created] = await auditOf("post.create", mine.id);
      assert.equal(created.actor, `person:${ids["jane@demo.example"]}`);
      assert.deepEqual(
        [detail(created).account, detail(created).via, detail(created).userName, detail(created).signIn],
        ["recruiting", "web", "jane@demo.example", "saml"],
      );

      // Her home says a draft waits, and she approves it from there.
      await page.goto(`${ORIGIN}/app`);
      assert.equal(
        await page
          .locator(".notice-warning")
          .textContent()
          .then((t) => t?.trim()),
        "1 draft waits for your approval",
      );
      const draft = page.locator("article.post", { hasText: waiting.text.slice(0, 30) });
      assert.match((await draft.textContent()) ?? "", /Drafted by Priya Natarajan for @recruiting/);
      await Promise.all([
        page.waitForURL(/approved=/),
        draft.getByRole("button", { name: "Approve and publish" }).click(),
      ]);
      assert.equal(await page.getByRole("status").textContent(), "Approved and published.");
      const after2 = await postsOf(recruiting.id);
      assert.equal(after2.length, before.length + 2, "the approved draft is published: one more post");
      const published = after2.at(-1)!;
      assert.equal(published.contentText, waiting.text);
      assert.equal(published.authorPersonId, ids["priya@demo.example"], "the drafter is its author");
      const [approval] = await auditOf("draft.approve", waiting.id);
      assert.equal(
        approval.actor,
        `person:${ids["jane@demo.example"]}`,
        "the audit names Jane as the approver",
      );
      assert.deepEqual(await pendingDrafts(), []);
    } finally {
      await context.close();
    }
  });

  test("Sam, publisher through the Recruiting group: posts as @recruiting, in the staff app and with README's command", async () => {
    const before = await postsOf(recruiting.id);
    const { context, page } = await signIn("Sam Lee", /^— publisher of @recruiting \(Recruiting group\)$/);
    try {
      await compose(page, "recruiting", "Our internship programme opens in March. #internships", "Post");
      const after1 = await postsOf(recruiting.id);
      assert.equal(after1.length, before.length + 1);
      assert.equal(after1.at(-1)!.authorPersonId, ids["sam.lee@demo.example"]);
      const [created] = await auditOf("post.create", after1.at(-1)!.id);
      assert.equal(created.actor, `person:${ids["sam.lee@demo.example"]}`);
      assert.match(String(detail(created).decision), /holds publisher on @recruiting/);
    } finally {
      await context.close();
    }
    const out = await runReadme(
      'npx herald post recruiting "We are hiring! #jobs" --as sam.lee@demo.example',
    );
    const after2 = await postsOf(recruiting.id);
    assert.equal(after2.length, before.length + 2, "README's command made exactly one post");
    const cli = after2.at(-1)!;
    assert.equal(cli.contentText, "We are hiring! #jobs");
    assert.equal(cli.authorPersonId, ids["sam.lee@demo.example"]);
    assert.equal((await auditOf("post.create", cli.id))[0].actor, `person:${ids["sam.lee@demo.example"]}`);
    // README: "the id is the last line `post` prints" — edit-post takes it as printed.
    const printed = out.trim().split("\n").at(-1)!;
    assert.equal(printed, `${ORIGIN}/ap/posts/${cli.id}`);
    const edited = await runCli(
      ["edit-post", printed, "We are hiring engineers! #jobs"],
      { HERALD_ORIGIN: ORIGIN },
      cwd,
    );
    assert.equal(edited.code, 0, edited.stderr);
    const [row] = await db.run((em) => em.getRepository(PostSchema).findBy({ id: cli.id }));
    assert.equal(row.contentText, "We are hiring engineers! #jobs");
    assert.equal((await auditOf("post.edit", cli.id)).length, 1);
  });

  test("Priya, drafter through the PR group: her post to @recruiting is submitted for approval and waits", async () => {
    await runReadme("npx herald can priya@demo.example post recruiting");
    await runReadme("npx herald can priya@demo.example draft recruiting");
    const before = await postsOf(recruiting.id);
    const { context, page } = await signIn("Priya Natarajan", /^— drafter of @recruiting \(PR group\)$/);
    try {
      const text = "Applications for the summer internships close on Friday. #internships";
      await compose(page, "recruiting", text, "Submit for approval");
      assert.match(
        (await page.getByRole("status").textContent()) ?? "",
        /^Submitted for approval\. Your draft awaits approval/,
      );
      assert.equal((await postsOf(recruiting.id)).length, before.length, "nothing is published");
      const pending = await pendingDrafts();
      assert.deepEqual(
        pending.map((d) => [d.authorPersonId, d.text]),
        [[ids["priya@demo.example"], text]],
      );
      // Her home lists the draft as waiting.
      await page.goto(`${ORIGIN}/app`);
      const mine = page.locator("article.post", { hasText: text });
      assert.match((await mine.textContent()) ?? "", /For @recruiting .*Awaiting approval/s);
    } finally {
      await context.close();
    }
  });

  /** The audit log page filtered by `fields`: each row's Who, Action and Detail as shown. */
  async function auditRows(page: Page, fields: Record<string, string>): Promise<string[][]> {
    await page.goto(`${ORIGIN}/admin/audit`);
    for (const [label, value] of Object.entries(fields)) await page.getByLabel(label).fill(value);
    await Promise.all([
      page.waitForURL(/\/admin\/audit\?/),
      page.getByRole("button", { name: "Filter" }).click(),
    ]);
    return page
      .locator("table tbody tr")
      .evaluateAll((trs) =>
        trs.map((tr) =>
          [...tr.querySelectorAll("td")]
            .slice(1)
            .map((td) => (td.textContent ?? "").replace(/\s+/g, " ").trim()),
        ),
      );
  }

  test("Alex, organization admin: the admin pages, and an audit log that names who did it", async () => {
    const { context, page } = await signIn("Alex Kim", /\borg admin\b/);
    try {
      await page.getByRole("navigation", { name: "Herald" }).getByRole("link", { name: "Admin" }).click();
      assert.equal(await page.getByRole("heading", { level: 1 }).textContent(), "Administration");
      const links = await page
        .locator("main li a")
        .evaluateAll((as) => as.map((a) => a.getAttribute("href") ?? ""));
      // What README names for org admins (other admin pages may follow; each must open).
      for (const to of [
        "/admin/accounts",
        "/admin/grants",
        "/admin/audit",
        "/admin/reports",
        "/admin/archive",
      ])
        assert.ok(links.includes(to), to);
      for (const to of links) assert.equal((await page.goto(`${ORIGIN}${to}`))?.status(), 200, to);
      // The grants page lists what README's `herald grants recruiting` does: "Jane owner,
      // Recruiting publisher, PR drafter".
      const listed = (await runReadme("npx herald grants recruiting"))
        .trim()
        .split("\n")
        .slice(1)
        .map((l) =>
          l
            .split("\t")
            .slice(0, 3)
            .join(" ")
            .replace(/ (user|group):/, " "),
        );
      assert.deepEqual(listed.sort(), [
        "@recruiting drafter PR",
        "@recruiting owner jane@demo.example",
        "@recruiting publisher Recruiting",
      ]);
      await page.goto(`${ORIGIN}/admin/grants`);
      const shown = await page.locator("table tbody tr").evaluateAll((trs) =>
        trs.map((tr) =>
          [...tr.querySelectorAll("td")]
            .slice(0, 3)
            .map((td) =>
              (td.textContent ?? "")
                .replace(/\s+/g, " ")
                .trim()
                .replace(/^(person|group) /, ""),
            )
            .join(" "),
        ),
      );
      assert.deepEqual(shown.filter((r) => r.startsWith("@recruiting ")).sort(), listed.sort());

      // Who approved drafts: Jane, by name, in every approval row (the demo's and the tour's).
      const approvals = await auditRows(page, {
        "Action (e.g. post.create, draft.approve, grant.add)": "draft.approve",
      });
      const inDb = await db.run((em) =>
        em.getRepository(AuditEventSchema).countBy({ action: "draft.approve" }),
      );
      assert.equal(approvals.length, inDb);
      assert.equal(inDb, 2, "the demo's approval and Jane's in this tour");
      for (const [who, action] of approvals)
        assert.deepEqual([who, action], ["Jane Doe (jane@demo.example)", "draft.approve"]);
      // Who posted as @recruiting from the staff app: Sam, named, with the account in the detail.
      const sams = await auditRows(page, {
        "Action (e.g. post.create, draft.approve, grant.add)": "post.create",
        "Who (a userName, @handle, cli:root, scim-token:okta)": "sam.lee@demo.example",
      });
      assert.equal(sams.length, 3, "the demo's post, the staff app's and README's command");
      for (const [who, , , detail] of sams) {
        assert.equal(who, "Sam Lee (sam.lee@demo.example)");
        assert.match(detail, /account: @?recruiting/);
      }
    } finally {
      await context.close();
    }
  });

  test("Morgan, compliance officer: reads the audit log and the archive, exports it, changes nothing", async () => {
    const { context, page } = await signIn("Morgan Reyes", /\bcompliance officer\b/);
    try {
      await page.getByRole("navigation", { name: "Herald" }).getByRole("link", { name: "Admin" }).click();
      const links = await page
        .locator("main li a")
        .evaluateAll((as) => as.map((a) => a.getAttribute("href")));
      for (const to of ["/admin/audit", "/admin/reports", "/admin/archive"])
        assert.ok(links.includes(to), to);
      for (const to of ["/admin/accounts", "/admin/grants"]) assert.ok(!links.includes(to), to);
      assert.equal((await page.goto(`${ORIGIN}/admin/audit`))?.status(), 200);
      // Read-only: the pages that change things are refused.
      assert.equal((await page.goto(`${ORIGIN}/admin/accounts`))?.status(), 403);
      assert.equal((await page.goto(`${ORIGIN}/admin/grants`))?.status(), 403);

      await page.goto(`${ORIGIN}/admin/archive`);
      assert.match((await page.textContent("main")) ?? "", /You read the whole organization's archive\./);
      await page.getByLabel("Account (handle)").fill("recruiting");
      await Promise.all([
        page.waitForURL(/account=recruiting/),
        page.getByRole("button", { name: "Search" }).click(),
      ]);
      const inArchive = await db.run((em) =>
        em.getRepository(ArchiveRecordSchema).countBy({ accountId: recruiting.id }),
      );
      assert.ok(inArchive >= 6, `@recruiting's posts, drafts and decisions are archived (${inArchive})`);
      assert.equal(await page.locator("table.records tbody tr").count(), Math.min(inArchive, 50));

      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "JSONL with signed manifest (.zip)" }).click(),
      ]);
      const zip = unzipSync(readFileSync((await download.path())!));
      assert.deepEqual(Object.keys(zip).sort(), ["manifest.json", "manifest.jws", "records.jsonl"]);
      const records = new TextDecoder().decode(zip["records.jsonl"]).trim().split("\n");
      assert.equal(records.length, inArchive, "the export holds every record of @recruiting");
      const exports = await db.run((em) =>
        em.getRepository(AuditEventSchema).findBy({ action: "archive.export" }),
      );
      assert.deepEqual(
        exports.map((e) => [e.actor, detail(e).count]),
        [[`person:${ids["morgan@demo.example"]}`, inArchive]],
      );
    } finally {
      await context.close();
    }
  });

  test("an anonymous visitor: /verify/@jane is a current employee, /verify/@chris a former one", async () => {
    await runReadme("npx herald verify @jane@localhost:3000");
    await runReadme("npx herald verify @chris@localhost:3000");
    const context = await browser.newContext({ viewport: { width: 390, height: 900 } });
    try {
      const page = await context.newPage();
      assert.equal((await page.goto(`${ORIGIN}/verify/@jane`))?.status(), 200);
      assert.equal(await page.locator(".verdict").count(), 1);
      const jane = page.locator(".verdict-current");
      assert.match((await jane.textContent()) ?? "", /Jane Doe/);
      assert.equal((await page.goto(`${ORIGIN}/verify/@chris`))?.status(), 200);
      assert.equal(await page.locator(".verdict").count(), 1);
      const chris = (await page.locator(".verdict-former").textContent()) ?? "";
      assert.match(chris, /do not trust messages from this account/i);
      assert.ok(!chris.includes("Chris Park"), "a former employee's name is not shown");
    } finally {
      await context.close();
    }
  });
});
