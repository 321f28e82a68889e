/**
 * One rule for what a former employee's public surfaces show (src/identity/standing.ts): the
 * rule as a table, then the three surfaces — verification, the profile page, the actor document —
 * read off a real server before and after a SCIM deactivation, and after reactivation.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Person } from "../../src/identity/entities.ts";
import { type AccountFacts, publicIdentity } from "../../src/identity/standing.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const when = new Date("2026-11-30T12:00:00Z");
const person = (over: Partial<Person> = {}): Person =>
  ({
    id: "p1",
    displayName: "Jane Doe",
    title: "Recruiter",
    department: "Talent",
    active: true,
    deletedAt: null,
    deactivatedAt: null,
    scimDoc: JSON.stringify({ photos: [{ value: "https://photos.example/j.jpg", primary: true }] }),
    ...over,
  }) as Person;
const account = (over: Partial<AccountFacts> = {}): AccountFacts => ({
  kind: "person",
  displayName: "Jane (actor)",
  suspendedAt: null,
  deletedAt: null,
  ...over,
});

describe("publicIdentity: the rule", () => {
  const cases: [string, AccountFacts, Person | null, object][] = [
    [
      "a current employee shows name, title, department and photo",
      account(),
      person(),
      {
        status: "active",
        since: null,
        displayName: "Jane Doe",
        title: "Recruiter",
        department: "Talent",
        photoUrl: "https://photos.example/j.jpg",
      },
    ],
    [
      "deactivated in the directory: former since then, nothing else (the actor not yet suspended)",
      account(),
      person({ active: false, deactivatedAt: when }),
      { status: "former", since: when, displayName: null, title: null, department: null, photoUrl: null },
    ],
    [
      "deleted in the directory",
      account({ deletedAt: when }),
      person({ active: false, deletedAt: when }),
      { status: "former", since: when, displayName: null, title: null, department: null, photoUrl: null },
    ],
    [
      "the person erased: former, the account's date",
      account({ suspendedAt: when }),
      null,
      { status: "former", since: when, displayName: null, title: null, department: null, photoUrl: null },
    ],
    [
      "a suspended actor of an active person: the directory decides",
      account({ suspendedAt: when }),
      person(),
      {
        status: "active",
        since: null,
        displayName: "Jane Doe",
        title: "Recruiter",
        department: "Talent",
        photoUrl: "https://photos.example/j.jpg",
      },
    ],
    [
      "an http (not https) photo is not shown",
      account(),
      person({ scimDoc: JSON.stringify({ photos: [{ value: "http://photos.example/j.jpg" }] }) }),
      {
        status: "active",
        since: null,
        displayName: "Jane Doe",
        title: "Recruiter",
        department: "Talent",
        photoUrl: null,
      },
    ],
    [
      "a shared account",
      account({ kind: "shared", displayName: "Recruiting" }),
      null,
      {
        status: "active",
        since: null,
        displayName: "Recruiting",
        title: null,
        department: null,
        photoUrl: null,
      },
    ],
    [
      "a closed shared account",
      account({ kind: "shared", displayName: "Recruiting", deletedAt: when }),
      null,
      { status: "former", since: when, displayName: null, title: null, department: null, photoUrl: null },
    ],
  ];
  for (const [name, a, p, want] of cases) test(name, () => assert.deepEqual(publicIdentity(a, p), want));
});

describe(`a former employee's public surfaces on ${TEST_DB}`, () => {
  let s: TestServer;
  let token: string;
  before(async () => {
    s = await startTestServer({ HERALD_PROFILE_FIELDS: "title,department" });
    const created = await s.services.tokens.create("standing", "test");
    assert.ok(created.ok);
    token = created.token;
  });
  after(async () => {
    await s.close();
  });

  const scim = (method: string, path: string, body?: unknown) =>
    fetch(`${s.url}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  async function surfaces(handle: string, actorId: string) {
    const v = await (
      await fetch(`${s.url}/api/verification?handle=@${handle}@${s.services.config.handleDomain}`)
    ).json();
    const page = await (await fetch(`${s.url}/@${handle}`)).text();
    const doc = await (
      await fetch(`${s.url}/ap/actors/${actorId}`, { headers: { accept: "application/activity+json" } })
    ).json();
    const outbox = await (
      await fetch(`${s.url}/ap/actors/${actorId}/outbox`, {
        headers: { accept: "application/activity+json" },
      })
    ).json();
    return { v, page, doc, outbox };
  }

  test("deactivation hides name, title, department and photo everywhere; reactivation shows them again", async () => {
    const res = await scim("POST", "/Users", {
      schemas: [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
      ],
      userName: "ada@corp.example",
      displayName: "Ada Lovelace",
      title: "Analyst Engineer",
      photos: [{ value: "https://photos.corp.example/ada.jpg", type: "photo", primary: true }],
      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { department: "Engines" },
    });
    assert.equal(res.status, 201);
    const id = (await res.json()).id as string;
    const actor = await waitFor(async () => {
      const a = await s.services.accounts.byHandle("ada");
      return a?.keysReadyAt ? a : undefined;
    });

    const posted = await s.services.posting.post({
      actorId: actor.id,
      text: "Engines are hiring",
      author: { personId: id, label: "Ada Lovelace" },
    });
    assert.ok(posted.ok);
    const before = await surfaces("ada", actor.id);
    assert.equal(before.outbox.totalItems, 1);
    assert.match(before.page, /Engines are hiring/);
    assert.equal(before.v.status, "active");
    assert.equal(before.v.displayName, "Ada Lovelace");
    assert.match(before.page, /Ada Lovelace/);
    assert.match(before.page, /Analyst Engineer/);
    assert.equal(before.doc.name, "Ada Lovelace");
    assert.equal(before.doc.icon.url, "https://photos.corp.example/ada.jpg");
    const beforeFields = [before.doc.attachment].flat().map((f: { name: string }) => f.name);
    assert.deepEqual(
      beforeFields.sort(),
      ["Department", "Title", `Verified at ${s.services.config.orgName}`].sort(),
    );

    const off = await scim("PATCH", `/Users/${id}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "replace", value: { active: false } }],
    });
    assert.equal(off.status, 200);
    const gone = await waitFor(async () => {
      const x = await surfaces("ada", actor.id);
      return x.doc.suspended === true ? x : undefined;
    });
    assert.equal(gone.v.status, "former");
    assert.equal(gone.v.displayName, null);
    assert.equal(gone.v.title, undefined);
    assert.match(gone.v.until, /^\d{4}-\d\d-\d\dT/);
    for (const secret of ["Ada Lovelace", "Analyst Engineer", "Engines", "photos.corp.example"]) {
      assert.doesNotMatch(gone.page, new RegExp(secret), `profile page: ${secret}`);
      assert.doesNotMatch(JSON.stringify(gone.doc), new RegExp(secret), `actor document: ${secret}`);
    }
    assert.match(gone.page, /Former employee/);
    assert.match(gone.page, /@ada@/);
    assert.equal(gone.doc.name, undefined);
    assert.equal(gone.doc.icon, undefined);
    assert.equal(gone.doc.attachment, undefined, "no title, department or verified link");
    assert.match(gone.doc.summary, /No longer at/);
    assert.equal(gone.outbox.totalItems, 0, "the outbox lists no posts, as the profile page");
    assert.doesNotMatch(gone.page, /Engines are hiring/);

    const on = await scim("PATCH", `/Users/${id}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "replace", path: "active", value: true }],
    });
    assert.equal(on.status, 200);
    const back = await waitFor(async () => {
      const x = await surfaces("ada", actor.id);
      return x.doc.suspended === false ? x : undefined;
    });
    assert.equal(back.v.status, "active");
    assert.equal(back.doc.name, "Ada Lovelace");
    assert.match(back.page, /Analyst Engineer/);
    assert.equal(back.outbox.totalItems, 1);
  });
});
