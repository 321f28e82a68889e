import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { JsonObject } from "../../src/scim/documents.ts";
import { ScimError } from "../../src/scim/errors.ts";
import { parsePatchRequest } from "../../src/scim/patch.ts";
import { TEST_DB } from "../helpers/env.ts";
import { actor, type Seeded, seedUsers } from "./helpers.ts";

const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ops = (...operations: unknown[]) => parsePatchRequest({ schemas: [PATCH], Operations: operations });

async function events(s: Seeded, after = 0) {
  return (
    await s.t.db.query<{ id: number; type: string; payload: string }>(
      "SELECT id, type, payload FROM domain_event WHERE id > ? ORDER BY id",
      [after],
    )
  ).map((e) => ({ id: Number(e.id), ...JSON.parse(e.payload) }));
}

async function lastEventId(s: Seeded): Promise<number> {
  const [row] = await s.t.db.query<{ n: number | null }>("SELECT MAX(id) AS n FROM domain_event");
  return Number(row.n ?? 0);
}

describe(`SCIM Groups, membership and directory events on ${TEST_DB}`, () => {
  let s: Seeded;
  let alice: string;
  let bob: string;
  let carol: string;
  before(async () => {
    s = await seedUsers(["bob", "alice", "carol"]);
    alice = s.ids.get("alice")!;
    bob = s.ids.get("bob")!;
    carol = s.ids.get("carol")!;
  });
  after(async () => {
    await s.t.close();
  });

  const memberIds = (g: JsonObject) => ((g.members as JsonObject[]) ?? []).map((m) => String(m.value)).sort();

  test("create with members; GET returns them with $ref and display; users list their groups", async () => {
    const g = await s.scim.createGroup(
      {
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        displayName: "Recruiting",
        members: [{ value: alice }],
      },
      actor,
    );
    assert.deepEqual(memberIds(g), [alice]);
    const m = (g.members as JsonObject[])[0];
    assert.equal(m.$ref, `https://herald.test/scim/v2/Users/${alice}`);
    assert.equal(
      m.display,
      "Alice@corp.example",
      "without a client display, the member's displayName or userName",
    );
    const u = await s.scim.getUser(alice);
    assert.deepEqual(
      (u.groups as JsonObject[]).map((x) => x.display),
      ["Recruiting"],
    );
    await s.scim.deleteGroup(String(g.id), actor);
  });

  test("PATCH: add (with a client display that round-trips), remove by filter, remove by value list, replace, remove all", async () => {
    const g = await s.scim.createGroup({ displayName: "PR" }, actor);
    const id = String(g.id);
    let r = await s.scim.patchGroup(
      id,
      ops({ op: "Add", path: "members", value: [{ value: alice, display: "new User" }, { value: bob }] }),
      actor,
    );
    assert.deepEqual(memberIds(r), [alice, bob].sort());
    assert.ok((r.members as JsonObject[]).some((m) => m.display === "new User"));
    r = await s.scim.patchGroup(id, ops({ op: "remove", path: `members[value eq "${alice}"]` }), actor);
    assert.deepEqual(memberIds(r), [bob]);
    await s.scim.patchGroup(
      id,
      ops({ op: "add", path: "members", value: [{ value: alice }, { value: carol }] }),
      actor,
    );
    r = await s.scim.patchGroup(
      id,
      ops({ op: "Remove", path: "members", value: [{ value: alice }, { value: bob }] }),
      actor,
    );
    assert.deepEqual(memberIds(r), [carol], "Entra removes with a value list");
    r = await s.scim.patchGroup(id, ops({ op: "replace", path: "members", value: [{ value: bob }] }), actor);
    assert.deepEqual(memberIds(r), [bob]);
    r = await s.scim.patchGroup(id, ops({ op: "remove", path: "members" }), actor);
    assert.deepEqual(memberIds(r), []);
    await s.scim.deleteGroup(id, actor);
  });

  test("PATCH: rename with the id inside the value (Okta), no-path replace with members", async () => {
    const g = await s.scim.createGroup({ displayName: "Support" }, actor);
    const id = String(g.id);
    const before = await lastEventId(s);
    const r = await s.scim.patchGroup(
      id,
      ops({ op: "replace", value: { id, displayName: "Customer Support", members: [{ value: carol }] } }),
      actor,
    );
    assert.equal(r.displayName, "Customer Support");
    assert.deepEqual(memberIds(r), [carol]);
    const ev = await events(s, before);
    assert.deepEqual(
      ev.map((e) => e.type),
      ["group.updated", "group.membership_changed"],
    );
    assert.deepEqual(ev[0].renamed, { from: "Support", to: "Customer Support" });
    assert.deepEqual(ev[1].added, [carol]);
    await s.scim.deleteGroup(id, actor);
  });

  test("members must be existing Users: unknown ids and nested groups are 400 invalidValue, nothing changes", async () => {
    const g = await s.scim.createGroup({ displayName: "Closed" }, actor);
    const id = String(g.id);
    for (const value of ["string id 1", id]) {
      await assert.rejects(
        s.scim.patchGroup(
          id,
          ops({ op: "add", path: "members", value: [{ value: alice }, { value }] }),
          actor,
        ),
        (err: unknown) => err instanceof ScimError && err.status === 400 && err.scimType === "invalidValue",
      );
    }
    assert.deepEqual(memberIds(await s.scim.getGroup(id)), []);
    await s.scim.deleteGroup(id, actor);
  });

  test("displayName is unique case-insensitively (409); externalId is not enforced (RFC 7643 §3.1)", async () => {
    const a = await s.scim.createGroup({ displayName: "Legal", externalId: "same" }, actor);
    await assert.rejects(s.scim.createGroup({ displayName: "LEGAL" }, actor), {
      status: 409,
      scimType: "uniqueness",
    });
    const b = await s.scim.createGroup({ displayName: "Legal 2", externalId: "same" }, actor);
    await s.scim.deleteGroup(String(a.id), actor);
    await s.scim.deleteGroup(String(b.id), actor);
  });

  test("excludedAttributes=members skips loading members", async () => {
    const g = await s.scim.createGroup(
      { displayName: "Big", members: [{ value: alice }, { value: bob }] },
      actor,
    );
    const listed = await s.scim.listGroups({
      filter: 'displayName eq "big"',
      startIndex: 1,
      count: 10,
      withMembers: false,
    });
    assert.equal(listed.total, 1);
    assert.equal(listed.resources[0].members, undefined);
    const byMember = await s.scim.listGroups({
      filter: `members.value eq "${bob}"`,
      startIndex: 1,
      count: 10,
    });
    assert.deepEqual(
      byMember.resources.map((r) => r.displayName),
      ["Big"],
    );
    await s.scim.deleteGroup(String(g.id), actor);
  });

  test("two concurrent PATCHes adding different members to one group both land", async () => {
    const g = await s.scim.createGroup({ displayName: "Concurrent" }, actor);
    const id = String(g.id);
    for (let round = 0; round < 5; round++) {
      await s.scim.patchGroup(id, ops({ op: "remove", path: "members" }), actor);
      await Promise.all([
        s.scim.patchGroup(id, ops({ op: "add", path: "members", value: [{ value: alice }] }), actor),
        s.scim.patchGroup(id, ops({ op: "add", path: "members", value: [{ value: bob }] }), actor),
        s.scim.patchGroup(id, ops({ op: "add", path: "members", value: [{ value: carol }] }), actor),
      ]);
      assert.deepEqual(memberIds(await s.scim.getGroup(id)), [alice, bob, carol].sort(), `round ${round}`);
    }
    await s.scim.deleteGroup(id, actor);
  });

  test("user lifecycle events: provisioned, rename, deactivated, reactivated, deleted (with membership removal)", async () => {
    const before = await lastEventId(s);
    const u = await s.scim.createUser({ userName: "life@corp.example", externalId: "life-1" }, actor);
    const id = String(u.id);
    const g = await s.scim.createGroup({ displayName: "Lifecycle", members: [{ value: id }] }, actor);
    await s.scim.patchUser(id, ops({ op: "replace", path: "userName", value: "life2@corp.example" }), actor);
    await s.scim.patchUser(id, ops({ op: "replace", path: "active", value: false }), actor);
    await s.scim.replaceUser(id, { userName: "life2@corp.example", active: true }, actor);
    await s.scim.deleteUser(id, actor);
    const ev = await events(s, before);
    assert.deepEqual(
      ev.map((e) => e.type),
      [
        "person.provisioned",
        "group.created",
        "group.membership_changed",
        "person.updated",
        "person.updated",
        "person.deactivated",
        "person.updated",
        "person.reactivated",
        "group.membership_changed",
        "person.deactivated",
        "person.deleted",
      ],
    );
    assert.deepEqual(ev[3].renamed, { from: "life@corp.example", to: "life2@corp.example" });
    assert.deepEqual(ev[8].removed, [id]);
    await assert.rejects(s.scim.getUser(id), { status: 404 });
    assert.deepEqual(memberIds(await s.scim.getGroup(String(g.id))), []);
    // Deleted: the userName is free again, but the handle is not.
    const again = await s.scim.createUser({ userName: "life2@corp.example" }, actor);
    const [h1, h2] = await Promise.all(
      [id, String(again.id)].map(
        async (pid) =>
          (await s.t.db.query<{ handle: string }>("SELECT handle FROM person WHERE id = ?", [pid]))[0].handle,
      ),
    );
    assert.equal(h1, "life");
    assert.equal(h2, "life2");
    await s.scim.deleteUser(String(again.id), actor);
    await s.scim.deleteGroup(String(g.id), actor);
  });

  test("a rehire with the same externalId and userName gets the old account and handle back", async () => {
    const u = await s.scim.createUser({ userName: "rehire@corp.example", externalId: "emp-777" }, actor);
    await s.scim.deleteUser(String(u.id), actor);
    // More cases (email, different userName, NFC) in rehire.test.ts (cases/rehire.json).
    const back = await s.scim.createUser({ userName: "Rehire@corp.example", externalId: "emp-777" }, actor);
    assert.equal(back.id, u.id);
    const [row] = await s.t.db.query<{ handle: string }>("SELECT handle FROM person WHERE id = ?", [
      String(back.id),
    ]);
    assert.equal(row.handle, "rehire");
    await s.scim.deleteUser(String(back.id), actor);
  });

  test("a large resource is written and audited whole (MySQL: MEDIUMTEXT, not TEXT's 64 KiB)", async () => {
    const emails = Array.from({ length: 3000 }, (_, i) => ({ value: `big${i}@corp.example`, type: "work" }));
    const u = await s.scim.createUser(
      { userName: "big@corp.example", emails, "urn:example:big": { note: "x".repeat(200_000) } },
      actor,
    );
    const g = await s.scim.createGroup({ displayName: "Big", note: "y".repeat(100_000) }, actor);
    await s.scim.replaceGroup(String(g.id), { displayName: "Big", note: "z".repeat(100_000) }, actor);
    const rows = await s.t.db.query<{ action: string; detail: string }>(
      "SELECT action, detail FROM audit_event WHERE target_id IN (?, ?) ORDER BY id",
      [String(u.id), String(g.id)],
    );
    assert.deepEqual(
      rows.map((r) => [r.action, r.detail.length > 200_000]),
      [
        ["scim.user.create", true],
        ["scim.group.create", false],
        ["scim.group.replace", true],
      ],
    );
    assert.equal(JSON.parse(rows[2].detail).before.note.length, 100_000);
    assert.equal(((await s.scim.getUser(String(u.id))).emails as unknown[]).length, 3000);
    await s.scim.deleteUser(String(u.id), actor);
    await s.scim.deleteGroup(String(g.id), actor);
  });

  test("a failed write records no event and no audit row", async () => {
    const before = await lastEventId(s);
    const [a0] = await s.t.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM audit_event");
    await assert.rejects(s.scim.createUser({ userName: "BOB@corp.example" }, actor), { status: 409 });
    assert.deepEqual(await events(s, before), []);
    const [a1] = await s.t.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM audit_event");
    assert.equal(Number(a1.n), Number(a0.n));
  });

  test("every change is audited with the token, the operation and before/after, never a password", async () => {
    const u = await s.scim.createUser(
      { userName: "audit@corp.example", password: "hunter2", title: "A" },
      actor,
    );
    await s.scim.patchUser(String(u.id), ops({ op: "replace", path: "title", value: "B" }), actor);
    const rows = await s.t.db.query<{ actor: string; action: string; detail: string }>(
      "SELECT actor, action, detail FROM audit_event WHERE target_id = ? ORDER BY id",
      [String(u.id)],
    );
    assert.deepEqual(
      rows.map((r) => `${r.actor} ${r.action}`),
      ["scim-token:test scim.user.create", "scim-token:test scim.user.patch"],
    );
    const patch = JSON.parse(rows[1].detail);
    assert.equal(patch.before.title, "A");
    assert.equal(patch.after.title, "B");
    for (const r of rows) assert.ok(!r.detail.includes("hunter2"));
    assert.equal((await s.scim.getUser(String(u.id))).password, undefined);
    await s.scim.deleteUser(String(u.id), actor);
  });
});
