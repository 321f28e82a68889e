/**
 * Directory events drive accounts: provisioning creates a Person actor (keys in the background),
 * deactivation suspends it (posting refused, followers kept), reactivation reverses it, deletion
 * leaves a Tombstone and a handle that no one else can ever take.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ActorSchema } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const actor = { name: "scim-token:test" };

describe(`account lifecycle from the directory on ${TEST_DB}`, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ HERALD_ATTRIBUTION_DOMAINS: "corp.example, Blog.Corp.Example" });
  });
  after(async () => {
    await s.close();
  });

  const actorJson = async (id: string) =>
    fetch(`${s.url}/ap/actors/${id}`, { headers: { accept: "application/activity+json" } });

  test("provisioned → Person actor with keys; deactivated → suspended; reactivated → back; deleted → Tombstone", async () => {
    const user = await s.services.scim.createUser(
      {
        userName: "jane@corp.example",
        name: { givenName: "Jane", familyName: "Doe" },
        displayName: "Jane Doe",
        title: "Recruiter",
        photos: [{ value: "https://photos.corp.example/jane.jpg", type: "photo", primary: true }],
      },
      actor,
    );
    const row = await waitFor(
      async () =>
        (
          await s.services.db.run((em) =>
            em.getRepository(ActorSchema).findOneBy({ personId: String(user.id) }),
          )
        )?.keysReadyAt
          ? await s.services.db.run((em) =>
              em.getRepository(ActorSchema).findOneBy({ personId: String(user.id) }),
            )
          : undefined,
      { what: "the actor and its keys", timeoutMs: 30_000 },
    );
    assert.ok(row);
    assert.equal(row.handle, "jane");
    const doc = await (await actorJson(row.id)).json();
    assert.equal(doc.type, "Person");
    assert.equal(doc.name, "Jane Doe");
    assert.equal(doc.suspended, false);
    assert.deepEqual(doc.attributionDomains, ["corp.example", "blog.corp.example"]);
    assert.equal(doc.icon.url, "https://photos.corp.example/jane.jpg", "the directory's photo is the avatar");
    // JSON-LD compaction writes a one-element list as a single object.
    const fields = [doc.attachment].flat() as { name: string; value: string }[];
    assert.deepEqual(
      fields.map((f) => f.name),
      ["Title", "Verified at Demo Corp"],
    );
    assert.equal(fields[0].value, "Recruiter");
    // The green check: the field links to the verification page, which links back with rel="me".
    const href = /href="([^"]+)"/.exec(fields[1].value)?.[1].replaceAll("&amp;", "&");
    assert.ok(href && /rel="me/.test(fields[1].value));
    const verifyPage = await (await fetch(href.replace(s.services.config.origin.origin, s.url))).text();
    assert.ok(verifyPage.includes(`<a rel="me" href="${doc.url}">`), "the page links back to the profile");

    // Served documents are cached, but never stale after a change (the cache is cleared). (Any
    // account change clears it — the org actor's keys may land meanwhile — so fetch, then look.)
    await (await actorJson(row.id)).arrayBuffer();
    assert.ok(s.services.documents.size > 0, "the actor document is cached");
    await s.services.scim.patchUser(
      String(user.id),
      [{ op: "replace", path: "active", value: false }],
      actor,
    );
    await waitFor(
      async () => ((await (await actorJson(row.id)).json()).suspended === true ? true : undefined),
      { what: "the actor to be suspended (well within the cache TTL)", timeoutMs: 3000 },
    );
    const suspendedDoc = await (await actorJson(row.id)).json();
    assert.ok(
      ![suspendedDoc.attachment]
        .flat()
        .some((f: { name?: string } | undefined) => f?.name?.startsWith("Verified at")),
      "a suspended account loses its verified field",
    );
    const refused = await s.services.posting.post({
      actorId: row.id,
      text: "still here?",
      author: { personId: null, label: "t" },
    });
    assert.ok(!refused.ok && refused.reason === "suspended");
    const profile = await (await fetch(`${s.url}/@jane`)).text();
    assert.match(profile, /Former employee/);

    await s.services.scim.patchUser(String(user.id), [{ op: "replace", path: "active", value: true }], actor);
    await waitFor(
      async () => ((await (await actorJson(row.id)).json()).suspended === false ? true : undefined),
      {
        what: "the actor to be reinstated",
      },
    );
    const ok = await s.services.posting.post({
      actorId: row.id,
      text: "back!",
      author: { personId: null, label: "t" },
    });
    assert.ok(ok.ok);

    await s.services.scim.deleteUser(String(user.id), actor);
    await waitFor(async () => ((await actorJson(row.id)).status === 410 ? true : undefined), {
      what: "the actor to become a Tombstone (410 Gone)",
    });
    const wf = await fetch(
      `${s.url}/.well-known/webfinger?resource=acct:jane@${new URL(s.services.config.origin).host}`,
    );
    const tomb = await actorJson(row.id);
    assert.equal((await tomb.json()).type, "Tombstone");
    assert.equal(wf.status, 404, "the handle no longer resolves");

    // The handle is never recycled: a new hire with the same local part gets jane2.
    const next = await s.services.scim.createUser({ userName: "jane@other.example" }, actor);
    const nextRow = await waitFor(
      async () =>
        (await s.services.db.run((em) =>
          em.getRepository(ActorSchema).findOneBy({ personId: String(next.id) }),
        )) ?? undefined,
      { what: "the new hire's actor" },
    );
    assert.equal(nextRow.handle, "jane2");
  });

  test("shared accounts take exactly their handle, which is never reissued", async () => {
    const a = await s.services.accounts.createShared("support", "Support", "test");
    assert.ok(a.ok);
    const again = await s.services.accounts.createShared("Support", "Support 2", "test");
    assert.ok(!again.ok && again.reason === "taken");
    const reserved = await s.services.accounts.createShared("admin", "Admin", "test");
    assert.ok(!reserved.ok && reserved.reason === "invalid");
    const bad = await s.services.accounts.createShared("no spaces", "x", "test");
    assert.ok(!bad.ok && bad.reason === "invalid");
  });
});

describe(`account eligibility and handle source (${TEST_DB})`, () => {
  test("HERALD_ACCOUNT_GROUPS: only members of the listed groups get accounts, as they join", async () => {
    const s = await startTestServer({ HERALD_ACCOUNT_GROUPS: "Recruiting", HERALD_HANDLE_FROM: "email" });
    try {
      const who = { name: "scim-token:test" };
      const a = await s.services.scim.createUser(
        { userName: "e100@corp.example", emails: [{ value: "ana.lima@corp.example", primary: true }] },
        who,
      );
      const b = await s.services.scim.createUser({ userName: "e200@corp.example" }, who);
      const actorOf = (id: unknown) =>
        s.services.db.run((em) => em.getRepository(ActorSchema).findOneBy({ personId: String(id) }));
      await s.services.events.drain();
      assert.equal(await actorOf(a.id), null, "not in Recruiting yet");
      await s.services.scim.createGroup(
        { displayName: "Recruiting", members: [{ value: String(a.id) }] },
        who,
      );
      const row = await waitFor(async () => (await actorOf(a.id)) ?? undefined, {
        what: "the member's account",
      });
      assert.equal(row.handle, "ana_lima", "handle from the e-mail's local part");
      await s.services.events.drain();
      assert.equal(await actorOf(b.id), null, "never in the group: no account");
    } finally {
      await s.close();
    }
  });
});
