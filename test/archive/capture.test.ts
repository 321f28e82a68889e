/**
 * Issue #16's proof, end to end on two Herald instances on loopback: on A, a person posts, edits
 * and deletes; a drafter's draft is approved by someone else; B replies to A's post and sends A a
 * direct message. A's archive holds each as its own record with the right people; the CLI's
 * export holds them (JSONL, checked by the offline checker in docs/examples; EML, parsed by
 * mailparser); `herald archive verify` passes on the untouched archive and names the record after
 * one byte of it is changed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { simpleParser } from "mailparser";
import { type ArchiveRecordRow, ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { PostSchema } from "../../src/federation/entities.ts";
import type { Person } from "../../src/identity/entities.ts";
import { PersonSchema } from "../../src/identity/entities.ts";
import type { RunningServer } from "../../src/server.ts";
import { ROOT, TEST_DB, waitFor } from "../helpers/env.ts";
import { type Instance, startInstance } from "../helpers/instance.ts";
import { runCli, runNode } from "../helpers/process.ts";

describe(`the archive captures what is said and heard (${TEST_DB})`, () => {
  let a: Instance;
  let b: Instance;
  let recruitingId: string;
  let newsId: string;
  let alma: Person;
  let dora: Person;
  const records = async (s: RunningServer) =>
    s.services.db.run((em) => em.getRepository(ArchiveRecordSchema).find({ order: { id: "ASC" } }));
  const one = (all: ArchiveRecordRow[], kind: string, subjectId?: string) => {
    const found = all.filter((r) => r.kind === kind && (!subjectId || r.subjectId === subjectId));
    assert.equal(found.length, 1, `one ${kind} record${subjectId ? ` for ${subjectId}` : ""}`);
    return { ...found[0], content: JSON.parse(found[0].content) as Record<string, unknown> };
  };

  before(async () => {
    a = await startInstance("Alpha Corp");
    b = await startInstance("Beta Corp");
    const r = await a.s.services.accounts.createShared("recruiting", "Alpha Recruiting", "test");
    const n = await b.s.services.accounts.createShared("news", "Beta News", "test");
    assert.ok(r.ok && n.ok);
    recruitingId = r.actor.id;
    newsId = n.actor.id;
    const scim = { name: "scim-token:test" };
    const people: Person[] = [];
    for (const who of ["alma", "dora"]) {
      const id = String(
        (await a.s.services.scim.createUser({ userName: `${who}@alpha.example`, displayName: who }, scim)).id,
      );
      people.push(await a.s.services.db.run((em) => em.getRepository(PersonSchema).findOneByOrFail({ id })));
    }
    [alma, dora] = people;
    for (const [who, role] of [
      ["user:alma@alpha.example", "admin"],
      ["user:dora@alpha.example", "drafter"],
    ]) {
      const sub = await a.s.services.authz.resolveSubject(who);
      assert.ok(!("error" in sub));
      assert.ok((await a.s.services.authz.grant(sub, role, r.actor, "test")).ok);
    }
    await waitFor(async () => (await b.s.services.accounts.byId(newsId))?.keysReadyAt ?? undefined, {
      what: "B's keys",
    });
    await waitFor(async () => (await a.s.services.accounts.byId(recruitingId))?.keysReadyAt ?? undefined, {
      what: "A's keys",
    });
  });
  after(async () => {
    for (const i of [a, b]) {
      await i?.s.shutdown("test");
      await i?.fresh.cleanup();
    }
  });

  let firstPostId: string;
  let firstPostIri: string;

  test("post, edit, approve a draft, receive a reply and a DM, delete: one record each, the right people", async () => {
    const posted = await a.s.services.posting.post({
      actorId: recruitingId,
      text: "We are hiring engineers! #hiring",
      author: { personId: alma.id, label: "alma" },
    });
    assert.ok(posted.ok, posted.ok ? "" : posted.message);
    firstPostId = posted.post.id;
    firstPostIri = posted.id.href;
    assert.ok(
      (
        await a.s.services.posting.edit(
          firstPostId,
          "We are hiring engineers and designers!",
          `person:${alma.id}`,
        )
      ).ok,
    );

    const recruiting = (await a.s.services.accounts.byId(recruitingId))!;
    const draft = await a.s.services.drafts.propose(dora, recruiting, {
      text: "Career fair on Friday",
      visibility: "public",
    });
    assert.ok(draft.ok, draft.ok ? "" : draft.message);
    const approved = await a.s.services.drafts.decide(draft.draft.id, alma, "approve", "Looks good");
    assert.ok(approved.ok, approved.ok ? "" : approved.message);

    const reply = await b.s.services.posting.post({
      actorId: newsId,
      text: "Interested! What stack do you use?",
      author: { personId: null, label: "cli:beta" },
      inReplyTo: firstPostIri,
    });
    assert.ok(reply.ok, reply.ok ? "" : reply.message);
    const dm = await b.s.services.posting.post({
      actorId: newsId,
      text: "A private question about salaries",
      author: { personId: null, label: "cli:beta" },
      visibility: "direct",
      to: [`${a.origin}/ap/actors/${recruitingId}`],
    });
    assert.ok(dm.ok, dm.ok ? "" : dm.message);
    await waitFor(
      async () => {
        const kinds = (await records(a.s)).map((r) => r.kind);
        return (kinds.includes("inbound.reply") && kinds.includes("inbound.direct")) || undefined;
      },
      { what: "B's reply and DM in A's archive", timeoutMs: 30_000 },
    );
    assert.ok(await a.s.services.posting.remove(firstPostId, `person:${alma.id}`));

    const all = await records(a.s);
    const created = one(all, "post.create", firstPostId);
    assert.deepEqual(
      [created.accountHandle, created.personId, created.actorLabel, created.approverId, created.content.text],
      ["recruiting", alma.id, "alma", null, "We are hiring engineers! #hiring"],
    );
    assert.equal(created.objectIri, firstPostIri);
    const edit = one(all, "post.edit", firstPostId);
    assert.deepEqual(
      [edit.personId, edit.content.text, edit.content.previousText],
      [alma.id, "We are hiring engineers and designers!", "We are hiring engineers! #hiring"],
    );
    const proposed = one(all, "draft.create", draft.draft.id);
    assert.deepEqual([proposed.personId, proposed.content.text], [dora.id, "Career fair on Friday"]);
    const decision = one(all, "draft.approve", draft.draft.id);
    assert.deepEqual(
      [decision.personId, decision.approverId, decision.content.comment],
      [alma.id, alma.id, "Looks good"],
    );
    const published = one(all, "post.create", approved.ok ? approved.draft.postId! : "");
    assert.deepEqual(
      [published.personId, published.approverId, published.content.draftId, published.content.text],
      [dora.id, alma.id, draft.draft.id, "Career fair on Friday"],
    );
    const newsIri = `${b.origin}/ap/actors/${newsId}`;
    const heardReply = one(all, "inbound.reply");
    assert.deepEqual(
      [
        heardReply.accountId,
        heardReply.remoteActor,
        heardReply.objectIri,
        heardReply.inReplyTo,
        heardReply.content.answersPostId,
      ],
      [recruitingId, newsIri, reply.ok ? reply.id.href : "", firstPostIri, firstPostId],
    );
    assert.match(String(heardReply.content.html), /What stack do you use\?/);
    const heardDm = one(all, "inbound.direct");
    assert.deepEqual(
      [heardDm.accountId, heardDm.remoteActor, heardDm.direction],
      [recruitingId, newsIri, "in"],
    );
    assert.match(String(heardDm.content.html), /private question about salaries/);
    const deleted = one(all, "post.delete", firstPostId);
    assert.deepEqual(
      [deleted.personId, deleted.content.text],
      [alma.id, "We are hiring engineers and designers!"],
    );
    // The user's delete tombstoned the post; the archive's records of it stay.
    const row = await a.s.services.db.run((em) =>
      em.getRepository(PostSchema).findOneBy({ id: firstPostId }),
    );
    assert.ok(row?.deletedAt);
    assert.equal(all.filter((r) => r.subjectId === firstPostId).length, 3);
    // B archived what it said.
    const bKinds = (await records(b.s))
      .filter((r) => r.kind === "post.create")
      .map((r) => JSON.parse(r.content).text);
    assert.deepEqual(bKinds.sort(), [
      "A private question about salaries",
      "Interested! What stack do you use?",
    ]);
  });

  test("herald archive export: JSONL passes the offline checker, EML parses as RFC 5322", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "herald-archive-export-"));
    const jsonl = await runCli(
      ["archive", "export", "--format", "jsonl", "--out", path.join(out, "jsonl")],
      a.env,
    );
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const checker = path.join(ROOT, "docs/examples/verify-archive-export.mjs");
    const checked = await runNode(checker, [path.join(out, "jsonl")]);
    assert.equal(checked.code, 0, checked.stderr);
    const count = (await records(a.s)).length;
    assert.match(checked.stdout, new RegExp(`^verified: ${count} records`));
    // The export names every record; one changed byte and the checker says which.
    const file = path.join(out, "jsonl", "records.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    const at = lines.findIndex((l) => l.includes("designers"));
    lines[at] = lines[at].replace("designers", "designerz");
    writeFileSync(file, lines.join("\n"));
    const tampered = await runNode(checker, [path.join(out, "jsonl")]);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stderr, /records\.jsonl is not the file the manifest names/);
    assert.match(tampered.stderr, /record \d+ \(\S+ #\d+, post\.edit\): its hash does not match/);

    const eml = await runCli(
      ["archive", "export", "--format", "eml", "--out", path.join(out, "eml"), "--account", "recruiting"],
      a.env,
    );
    assert.equal(eml.code, 0, eml.stderr);
    const files = readdirSync(path.join(out, "eml")).sort();
    assert.equal(files.length, count);
    const host = new URL(a.origin).hostname;
    const parsed = await Promise.all(
      files.map(async (f) => simpleParser(readFileSync(path.join(out, "eml", f)))),
    );
    for (const m of parsed) {
      assert.ok(m.date instanceof Date && !Number.isNaN(m.date.getTime()), "Date parses");
      assert.match(m.messageId ?? "", /^<[^<>@\s]+@[^<>@\s]+>$/);
      assert.ok(m.from?.value[0]?.address, "From has an address");
      assert.ok(m.headers.get("x-herald-hash"));
    }
    const kind = (k: string) => parsed.filter((m) => m.headers.get("x-herald-kind") === k);
    const [sent] = kind("post.edit");
    assert.equal(sent.from?.value[0]?.address, `recruiting@${host}`);
    assert.match(sent.text ?? "", /^We are hiring engineers and designers!/);
    const [dm] = kind("inbound.direct");
    assert.equal(dm.from?.value[0]?.address, `${newsId}@${host}`);
    assert.equal((Array.isArray(dm.to) ? dm.to[0] : dm.to)?.value[0]?.address, `recruiting@${host}`);
    assert.match(dm.text ?? "", /private question about salaries/);
    assert.equal(kind("draft.approve")[0].headers.get("x-herald-approver"), alma.id);

    const audits = await a.s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).find({ where: { action: "archive.export" }, order: { id: "ASC" } }),
    );
    assert.deepEqual(
      audits.map((e) => [JSON.parse(e.detail ?? "{}").format, JSON.parse(e.detail ?? "{}").count]),
      [
        ["jsonl", count],
        ["eml", count],
      ],
    );
  });

  test("herald archive verify: exit 0 when intact; one changed byte fails naming the record", async () => {
    const intact = await runCli(["archive", "verify"], a.env);
    assert.equal(intact.code, 0, intact.stderr);
    assert.match(intact.stdout, /^archive intact: \d+ records/);
    const dm = (await records(a.s)).find((r) => r.kind === "inbound.direct")!;
    const altered = dm.content.replace("salaries", "salariez");
    await a.s.services.db.query("UPDATE archive_record SET content = ? WHERE id = ?", [altered, dm.id]);
    const broken = await runCli(["archive", "verify"], a.env);
    assert.equal(broken.code, 1);
    assert.match(
      broken.stderr,
      new RegExp(
        `failed at record ${dm.id} \\(\\S+ #${dm.seq}, inbound\\.direct\\): its hash does not match`,
      ),
    );
    await a.s.services.db.query("UPDATE archive_record SET content = ? WHERE id = ?", [dm.content, dm.id]);
    assert.equal((await runCli(["archive", "verify"], a.env)).code, 0);
  });
});
