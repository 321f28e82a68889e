/**
 * Drafts with four-eyes approval on @recruiting: a drafter proposes, nothing is published; nobody
 * approves their own draft; `approve` is needed (a publisher does not have it); an admin's approval
 * publishes the post under the drafter's name and the audit log records both; a draft is decided
 * exactly once; a rejection keeps it unpublished, with the comment.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DraftOutcome } from "../../src/federation/drafts.ts";
import { DraftSchema } from "../../src/federation/drafts.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { type ActorRow, PostSchema } from "../../src/federation/entities.ts";
import { type Person, PersonSchema } from "../../src/identity/entities.ts";
import { TEST_DB } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const scimActor = { name: "scim-token:test" };

describe(`drafts and four-eyes approval on ${TEST_DB}`, () => {
  let s: TestServer;
  let recruiting: ActorRow;
  const people: Record<string, Person> = {};

  const person = (who: string) => people[who];
  const postsOfRecruiting = () =>
    s.services.db.run((em) => em.getRepository(PostSchema).find({ where: { actorId: recruiting.id } }));
  const audit = (action: string, targetId: string) =>
    s.services.db.run((em) => em.getRepository(AuditEventSchema).find({ where: { action, targetId } }));
  const propose = async (who: string, text: string) => {
    const r = await s.services.drafts.propose(person(who), recruiting, { text, visibility: "public" });
    assert.ok(r.ok, r.ok ? "" : r.message);
    return r.draft;
  };
  const refused = (r: DraftOutcome, status: number, message: string) => {
    assert.equal(r.ok, false);
    assert.deepEqual({ status: r.ok ? 200 : r.status, message: r.ok ? "" : r.message }, { status, message });
  };

  before(async () => {
    s = await startTestServer();
    const groups: Record<string, string[]> = {
      "Recruiting Drafters": ["dora"],
      "Recruiting Publishers": ["pete"],
      "Recruiting Leads": ["alma"],
    };
    for (const who of ["dora", "pete", "alma", "abe", "nina"]) {
      const id = String(
        (await s.services.scim.createUser({ userName: `${who}@corp.example`, displayName: who }, scimActor))
          .id,
      );
      people[who] = await s.services.db.run((em) => em.getRepository(PersonSchema).findOneByOrFail({ id }));
    }
    for (const [displayName, members] of Object.entries(groups))
      await s.services.scim.createGroup(
        { displayName, members: members.map((m) => ({ value: person(m).id })) },
        scimActor,
      );
    const created = await s.services.accounts.createShared("recruiting", "Recruiting at Corp", "test");
    assert.ok(created.ok);
    recruiting = created.actor;
    for (const [subject, role] of [
      ["Recruiting Drafters", "drafter"],
      ["Recruiting Publishers", "publisher"],
      ["Recruiting Leads", "admin"],
      ["user:abe@corp.example", "admin"],
    ]) {
      const sub = await s.services.authz.resolveSubject(subject);
      assert.ok(!("error" in sub));
      assert.ok((await s.services.authz.grant(sub, role, recruiting, "test")).ok);
    }
  });

  after(async () => {
    await s?.close();
  });

  let draftId: string;

  test("a drafter proposes: the draft is pending and nothing is published", async () => {
    const draft = await propose("dora", "  Meet us at the career fair on Friday!  ");
    draftId = draft.id;
    assert.equal(draft.status, "pending");
    assert.equal(draft.text, "Meet us at the career fair on Friday!");
    assert.equal(draft.authorPersonId, person("dora").id);
    assert.deepEqual(
      (await s.services.drafts.pending(recruiting.id)).map((d) => d.id),
      [draftId],
    );
    assert.deepEqual(await postsOfRecruiting(), []);
    const [created] = await audit("draft.create", draftId);
    assert.equal(created.actor, `person:${person("dora").id}`);
    assert.equal(
      JSON.parse(created.detail ?? "{}").decision,
      "group:Recruiting Drafters holds drafter on @recruiting; rbac/policy.csv: p, drafter, *, draft",
    );
  });

  test("someone without draft may not propose; an empty draft is refused", async () => {
    refused(
      await s.services.drafts.propose(person("nina"), recruiting, { text: "hi", visibility: "public" }),
      403,
      "You may not draft for @recruiting.",
    );
    refused(
      await s.services.drafts.propose(person("dora"), recruiting, { text: "   ", visibility: "public" }),
      400,
      "A draft needs some text.",
    );
  });

  test("the drafter cannot approve her own draft", async () => {
    refused(
      await s.services.drafts.decide(draftId, person("dora"), "approve", "looks good to me"),
      403,
      "You may not approve drafts for @recruiting.",
    );
    assert.deepEqual(await postsOfRecruiting(), []);
  });

  test("a publisher (who may post, but not approve) cannot approve", async () => {
    refused(
      await s.services.drafts.decide(draftId, person("pete"), "approve", ""),
      403,
      "You may not approve drafts for @recruiting.",
    );
    refused(
      await s.services.drafts.decide(draftId, person("pete"), "reject", ""),
      403,
      "You may not approve drafts for @recruiting.",
    );
    assert.deepEqual(await postsOfRecruiting(), []);
    assert.equal((await s.services.drafts.pending(recruiting.id)).length, 1);
  });

  test("even someone who holds approve cannot approve their own draft (four eyes)", async () => {
    const own = await propose("alma", "A post by the lead herself");
    refused(
      await s.services.drafts.decide(own.id, person("alma"), "approve", ""),
      403,
      "Someone else must approve your own draft.",
    );
    const other = await s.services.drafts.decide(own.id, person("abe"), "approve", "");
    assert.ok(other.ok);
    assert.equal(other.draft.status, "approved");
  });

  test("an admin approves with a comment: published under the drafter's name, both in the audit log", async () => {
    const r = await s.services.drafts.decide(draftId, person("alma"), "approve", "  Approved for Friday.  ");
    assert.ok(r.ok, r.ok ? "" : r.message);
    assert.equal(r.draft.status, "approved");
    assert.equal(r.draft.decidedBy, person("alma").id);
    assert.equal(r.draft.comment, "Approved for Friday.");
    assert.ok(r.draft.postId);
    assert.ok(r.postUrl);
    const post = (await postsOfRecruiting()).find((p) => p.id === r.draft.postId);
    assert.ok(post, "the post of @recruiting");
    assert.equal(post.authorPersonId, person("dora").id);
    assert.equal(post.contentText, "Meet us at the career fair on Friday!");
    const stored = await s.services.db.run((em) =>
      em.getRepository(DraftSchema).findOneByOrFail({ id: draftId }),
    );
    assert.equal(stored.postId, post.id);

    const [approval] = await audit("draft.approve", draftId);
    assert.ok(approval, "a draft.approve audit event");
    assert.equal(approval.actor, `person:${person("alma").id}`);
    const approvalDetail = JSON.parse(approval.detail ?? "{}");
    assert.equal(approvalDetail.comment, "Approved for Friday.");
    assert.equal(
      approvalDetail.decision,
      "group:Recruiting Leads holds admin on @recruiting; rbac/policy.csv: p, admin, *, approve",
    );

    const [created] = await audit("post.create", post.id);
    assert.ok(created, "a post.create audit event");
    assert.equal(created.actor, `person:${person("dora").id}`, "the author pressed send");
    const detail = JSON.parse(created.detail ?? "{}");
    assert.equal(detail.approvedBy, "alma@corp.example");
    assert.equal(detail.approverId, person("alma").id);
    assert.equal(detail.draftId, draftId);
    assert.equal(detail.account, "recruiting");
    assert.deepEqual(
      (await s.services.drafts.pending(recruiting.id)).map((d) => d.id),
      [],
    );
  });

  test("a second decision on the same draft is a 409, and publishes nothing more", async () => {
    const count = (await postsOfRecruiting()).length;
    refused(
      await s.services.drafts.decide(draftId, person("abe"), "approve", ""),
      409,
      "This draft was already approved.",
    );
    refused(
      await s.services.drafts.decide(draftId, person("abe"), "reject", "too late"),
      409,
      "This draft was already approved.",
    );
    assert.equal((await postsOfRecruiting()).length, count);
    assert.equal((await audit("draft.approve", draftId)).length, 1);
    refused(
      await s.services.drafts.decide("no-such-draft", person("abe"), "approve", ""),
      404,
      "No such draft.",
    );
  });

  test("a draft whose author left the drafters is not published on approval (it can still be rejected)", async () => {
    const count = (await postsOfRecruiting()).length;
    const extra = String(
      (await s.services.scim.createUser({ userName: "temp@corp.example", displayName: "temp" }, scimActor))
        .id,
    );
    const temp = await s.services.db.run((em) =>
      em.getRepository(PersonSchema).findOneByOrFail({ id: extra }),
    );
    const sub = await s.services.authz.resolveSubject("user:temp@corp.example");
    assert.ok(!("error" in sub));
    assert.ok((await s.services.authz.grant(sub, "drafter", recruiting, "test")).ok);
    const r1 = await s.services.drafts.propose(temp, recruiting, {
      text: "Written before leaving",
      visibility: "public",
    });
    assert.ok(r1.ok);
    await s.services.scim.patchUser(
      extra,
      [{ op: "replace", path: undefined, value: { active: false } }],
      scimActor,
    );
    refused(
      await s.services.drafts.decide(r1.draft.id, person("alma"), "approve", ""),
      409,
      "The author may no longer write for this account (left the group or the company); reject it instead.",
    );
    assert.equal((await postsOfRecruiting()).length, count);
    const rejected = await s.services.drafts.decide(r1.draft.id, person("alma"), "reject", "Author left");
    assert.ok(rejected.ok);
  });

  test("a rejection keeps the draft unpublished, with the comment", async () => {
    const count = (await postsOfRecruiting()).length;
    const draft = await propose("dora", "We pay in exposure!");
    const r = await s.services.drafts.decide(draft.id, person("alma"), "reject", "Not on brand.");
    assert.ok(r.ok);
    assert.equal(r.draft.status, "rejected");
    assert.equal(r.draft.comment, "Not on brand.");
    assert.equal(r.draft.postId, null);
    assert.equal(r.postUrl, undefined);
    assert.equal((await postsOfRecruiting()).length, count);
    assert.ok(!(await postsOfRecruiting()).some((p) => p.contentText === "We pay in exposure!"));
    assert.deepEqual(
      (await s.services.drafts.pending(recruiting.id)).map((d) => d.id),
      [],
    );
    const [rejection] = await audit("draft.reject", draft.id);
    assert.equal(JSON.parse(rejection.detail ?? "{}").comment, "Not on brand.");
    refused(
      await s.services.drafts.decide(draft.id, person("abe"), "approve", ""),
      409,
      "This draft was already rejected.",
    );
    assert.equal((await postsOfRecruiting()).length, count);
  });

  test("two approvers at once: exactly one wins, one post", async () => {
    const count = (await postsOfRecruiting()).length;
    const draft = await propose("dora", "Open house next week");
    const results = await Promise.all([
      s.services.drafts.decide(draft.id, person("alma"), "approve", "from alma"),
      s.services.drafts.decide(draft.id, person("abe"), "approve", "from abe"),
    ]);
    assert.equal(results.filter((r) => r.ok).length, 1, JSON.stringify(results));
    const loser = results.find((r) => !r.ok);
    assert.ok(loser && !loser.ok);
    assert.equal(loser.status, 409);
    assert.equal((await postsOfRecruiting()).length, count + 1);
    assert.equal((await audit("draft.approve", draft.id)).length, 1);
  });

  test("a drafter who left the group still has her pending draft decided by others", async () => {
    const draft = await propose("dora", "Posted after she moved teams");
    const groupId = (await s.services.authz.resolveSubject("Recruiting Drafters")) as { id: string };
    await s.services.scim.patchGroup(
      groupId.id,
      [{ op: "remove", path: "members", value: [{ value: person("dora").id }] }],
      scimActor,
    );
    refused(
      await s.services.drafts.propose(person("dora"), recruiting, { text: "one more", visibility: "public" }),
      403,
      "You may not draft for @recruiting.",
    );
    const r = await s.services.drafts.decide(draft.id, person("abe"), "reject", "she moved teams");
    assert.ok(r.ok);
    assert.equal(r.draft.status, "rejected");
  });
});
