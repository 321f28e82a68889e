/**
 * The demo organization's story (src/demo.ts after src/identity/demo.ts): @recruiting with an
 * owner, a publisher and a drafter (group grants where natural), an org admin and a compliance
 * officer, posts with hashtags (one through an approved draft), a draft waiting for approval —
 * all through the services, once; and the development IdP's page saying who holds which role,
 * read from the live grants.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ORG } from "../src/authz/authz.ts";
import { listAudit } from "../src/db/audit.ts";
import { demoPresenceSeeded, seedDemoPresence } from "../src/demo.ts";
import { PostSchema } from "../src/federation/entities.ts";
import { seedDemoOrganization } from "../src/identity/demo.ts";
import { TEST_DB } from "./helpers/env.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

describe(`the demo organization's accounts, grants, posts and drafts on ${TEST_DB}`, () => {
  let s: TestServer;
  before(async () => {
    // A server whose key worker runs (Jane's own post waits for her keys), seeded as npm start does.
    s = await startTestServer({ HERALD_DEV_IDP: "true" });
    assert.equal(await seedDemoOrganization(s.services.directory, s.services.events), true);
    assert.equal(await seedDemoPresence(s.services), true);
  });
  after(() => s.close());

  const person = async (userName: string) => (await s.services.directory.personByUserName(userName))!;
  const recruiting = async () => (await s.services.accounts.byHandle("recruiting"))!;

  test("the grants, as `herald grants` lists them", async () => {
    const rows = await s.services.authz.grants();
    const handle = async (id: string) =>
      id === ORG ? "org" : `@${(await s.services.accounts.byId(id))?.handle}`;
    const listed = await Promise.all(
      rows.map(async (g) => `${await handle(g.accountId)} ${g.role} ${g.subjectKind}:${g.subjectLabel}`),
    );
    assert.deepEqual(listed.sort(), [
      "@recruiting drafter group:PR",
      "@recruiting owner user:jane@demo.example",
      "@recruiting publisher group:Recruiting",
      "org compliance-officer user:morgan@demo.example",
      "org org-admin user:alex@demo.example",
    ]);
  });

  const DECISIONS: readonly (readonly [string, string, "recruiting" | "org", boolean])[] = [
    ["jane@demo.example", "approve", "recruiting", true],
    ["jane@demo.example", "manage-grants", "recruiting", true],
    ["sam.lee@demo.example", "post", "recruiting", true],
    ["sam.lee@demo.example", "approve", "recruiting", false],
    ["priya@demo.example", "draft", "recruiting", true],
    ["priya@demo.example", "post", "recruiting", false],
    ["alex@demo.example", "manage-accounts", "org", true],
    ["alex@demo.example", "post", "recruiting", true],
    ["morgan@demo.example", "view-audit", "org", true],
    ["morgan@demo.example", "post", "recruiting", false],
    ["chris@demo.example", "view-inbox", "recruiting", false],
  ];
  for (const [userName, action, account, allow] of DECISIONS)
    test(`${userName} ${allow ? "may" : "may not"} ${action} on ${account}`, async () => {
      const d = await s.services.authz.decide(
        await person(userName),
        action as "post",
        account === "org" ? ORG : await recruiting(),
      );
      assert.equal(d.allow, allow, d.rule);
    });

  test("posts with hashtags: Sam's and Priya's approved draft on @recruiting, Jane's own", async () => {
    const account = await recruiting();
    const jane = await person("jane@demo.example");
    const own = await s.services.accounts.byPerson(jane.id);
    const posts = await s.services.db.run((em) =>
      em.getRepository(PostSchema).find({ order: { publishedAt: "ASC" } }),
    );
    const on = (actorId: string) => posts.filter((p) => p.actorId === actorId);
    assert.deepEqual(
      on(account.id).map((p) => [p.authorLabel, JSON.parse(p.hashtags ?? "[]")]),
      [
        ["Sam Lee", ["hiring", "engineering"]],
        ["Priya Natarajan", ["careers", "openday"]],
      ],
    );
    assert.deepEqual(
      on(own!.id).map((p) => [p.authorLabel, JSON.parse(p.hashtags ?? "[]")]),
      [["Jane Doe", ["recruiting", "careers"]]],
    );
    // The approved draft records Jane as its approver.
    const approval = (await s.services.db.run((em) => listAudit(em, { action: "draft.approve" })))[0];
    assert.equal(approval?.actor, `person:${jane.id}`);
  });

  test("one draft by Priya waits for approval on @recruiting", async () => {
    const pending = await s.services.drafts.pending((await recruiting()).id);
    assert.equal(pending.length, 1);
    assert.equal(pending[0].authorPersonId, (await person("priya@demo.example")).id);
    assert.match(pending[0].text, /#internships/);
  });

  test("the development IdP says who is who, from the live grants", async () => {
    const chooser = async () => {
      const start = await fetch(`${s.url}/saml/login`, { redirect: "manual" });
      const idpUrl = (start.headers.get("location") ?? "").replace("http://127.0.0.1:3999", s.url);
      return (await fetch(idpUrl)).text();
    };
    const roleOf = (page: string, name: string) =>
      new RegExp(`>\\s*${name}\\s*</button>\\s*<span class="roles">— ([^<]*)</span>`).exec(page)?.[1];
    let page = await chooser();
    assert.equal(
      roleOf(page, "Jane Doe"),
      "owner of @recruiting, publisher of @recruiting (Recruiting group)",
    );
    assert.equal(roleOf(page, "Sam Lee"), "publisher of @recruiting (Recruiting group)");
    assert.equal(roleOf(page, "Priya Natarajan"), "drafter of @recruiting (PR group)");
    assert.equal(roleOf(page, "Alex Kim"), "org admin");
    assert.equal(roleOf(page, "Morgan Reyes"), "compliance officer");
    assert.equal(roleOf(page, "Chris Park"), undefined, "the former employee is not offered");

    // Live: a revocation shows on the next page.
    const sam = await s.services.authz.resolveSubject("user:sam.lee@demo.example");
    assert.ok(!("error" in sam));
    await s.services.authz.grant(sam, "owner", await recruiting(), "test");
    page = await chooser();
    assert.equal(
      roleOf(page, "Sam Lee"),
      "publisher of @recruiting (Recruiting group), owner of @recruiting",
    );
    assert.equal(await s.services.authz.revoke(sam, "owner", await recruiting(), "test"), true);
    assert.equal(roleOf(await chooser(), "Sam Lee"), "publisher of @recruiting (Recruiting group)");
  });

  test("seeded once: a second run changes nothing, and leaves a revoked demo grant revoked", async () => {
    assert.ok(await demoPresenceSeeded(s.services.db));
    const pr = await s.services.authz.resolveSubject("group:PR");
    assert.ok(!("error" in pr));
    assert.equal(await s.services.authz.revoke(pr, "drafter", await recruiting(), "test"), true);
    const postsBefore = await s.services.db.run((em) => em.getRepository(PostSchema).count());
    assert.equal(await seedDemoPresence(s.services), false);
    assert.equal(await s.services.db.run((em) => em.getRepository(PostSchema).count()), postsBefore);
    assert.equal((await s.services.authz.grants()).length, 4);
    assert.equal((await s.services.drafts.pending((await recruiting()).id)).length, 1);
  });
});
