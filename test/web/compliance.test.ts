/**
 * The compliance pages (issue #16): who may read the archive (a table, as Casbin decides
 * view-archive), each search criterion narrowing the results, pages of 50 newest first, the
 * page's exports holding exactly what `herald archive export` writes for the same filter, and one
 * audit row per search and per export (none for a refused one).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { unzipSync } from "fflate";
import { ORG } from "../../src/authz/authz.ts";
import { dayOf } from "../../src/archive/canonical.ts";
import { type ArchiveRecordRow, ArchiveRecordSchema } from "../../src/archive/entities.ts";
import { appendRecord, type ArchiveInput } from "../../src/archive/records.ts";
import { EXPORT_MAX } from "../../src/web/compliance.ts";
import { AuditEventSchema } from "../../src/db/audit.ts";
import type { ActorRow } from "../../src/federation/entities.ts";
import { ROOT, TEST_DB, waitFor } from "../helpers/env.ts";
import { type Instance, startInstance } from "../helpers/instance.ts";
import { runCli, runNode } from "../helpers/process.ts";

const DAY_MS = 86_400_000;

describe(`the compliance pages on ${TEST_DB}`, () => {
  let i: Instance;
  let base: string;
  let recruiting: ActorRow;
  let pr: ActorRow;
  const ids: Record<string, string> = {};
  const cookies: Record<string, { cookie: string; csrf: string }> = {};
  const today = Date.now();
  const d1 = dayOf(today - 3 * DAY_MS);
  const d0 = dayOf(today - 2 * DAY_MS);
  const d2 = dayOf(today - DAY_MS);
  const users = ["emp", "pub", "ana", "comp", "officer", "admin"] as const;

  before(async () => {
    i = await startInstance("Corp");
    base = i.s.url;
    const s = i.s.services;
    for (const u of users)
      ids[u] = String(
        (
          await s.scim.createUser(
            { userName: `${u}@corp.example`, displayName: `${u} person` },
            { name: "t" },
          )
        ).id,
      );
    const r = await s.accounts.createShared("recruiting", "Recruiting", "test");
    const p = await s.accounts.createShared("pr", "PR", "test");
    assert.ok(r.ok && p.ok);
    [recruiting, pr] = [r.actor, p.actor];
    const grant = async (u: string, role: string, on: ActorRow | typeof ORG) => {
      const sub = await s.authz.resolveSubject(`user:${u}@corp.example`);
      assert.ok(!("error" in sub));
      assert.ok((await s.authz.grant(sub, role, on, "test")).ok);
    };
    await grant("pub", "publisher", recruiting);
    await grant("ana", "analyst", recruiting);
    await grant("comp", "compliance", recruiting);
    await grant("officer", "compliance-officer", ORG);
    await grant("admin", "org-admin", ORG);
    for (const u of users) {
      const link = await s.sessions.createLoginLink(ids[u], "test");
      const res = await fetch(`${base}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
      const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
      const auth = await s.sessions.resolve(cookie.split("=")[1]);
      assert.ok(auth);
      cookies[u] = { cookie, csrf: auth.csrf };
    }
    // Past days through the archive's own append (one transaction per day, as an act would).
    const at = (day: string, minute: number) => () => Date.parse(`${day}T10:00:00Z`) + minute * 60_000;
    const days: [string, ArchiveInput[]][] = [
      [
        d1,
        [
          {
            kind: "post.create",
            direction: "out",
            accountId: recruiting.id,
            accountHandle: "recruiting",
            personId: ids.pub,
            actorLabel: "pub person",
            content: { text: "Hiring in Lisbon, 100% remote_ok", visibility: "public" },
          },
          {
            kind: "inbound.direct",
            direction: "in",
            accountId: recruiting.id,
            accountHandle: "recruiting",
            remoteActor: "https://remote.example/users/bob",
            content: { html: "<p>A private question about salaries</p>" },
          },
          {
            kind: "post.create",
            direction: "out",
            accountId: pr.id,
            accountHandle: "pr",
            personId: ids.admin,
            actorLabel: "admin person",
            content: { text: 'Press release: "Q3" results' },
          },
        ],
      ],
      [
        d0,
        Array.from({ length: 55 }, (_, n) => ({
          kind: "post.create",
          direction: "out" as const,
          accountId: pr.id,
          accountHandle: "pr",
          personId: ids.admin,
          actorLabel: "admin person",
          content: { text: `Bulk announcement ${n}` },
        })),
      ],
      [
        d2,
        [
          {
            kind: "draft.create",
            direction: "internal",
            accountId: recruiting.id,
            accountHandle: "recruiting",
            personId: ids.emp,
            content: { text: "Career fair Friday" },
          },
          {
            kind: "draft.approve",
            direction: "internal",
            accountId: recruiting.id,
            accountHandle: "recruiting",
            personId: ids.pub,
            approverId: ids.pub,
            content: { text: "Career fair Friday", comment: "Looks good" },
          },
        ],
      ],
    ];
    for (const [day, inputs] of days)
      await s.db.transaction(async (em) => {
        for (const [n, input] of inputs.entries()) await appendRecord(em, input, at(day, n));
      });
    // Today: a real post through the posting service, as the staff app makes one.
    await waitFor(async () => (await s.accounts.byId(recruiting.id))?.keysReadyAt ?? undefined, {
      what: "@recruiting's keys",
      timeoutMs: 30_000,
    });
    const posted = await s.posting.post({
      actorId: recruiting.id,
      text: "Open day today #hiring",
      author: { personId: ids.pub, label: "pub person" },
    });
    assert.ok(posted.ok, posted.ok ? "" : posted.message);
  });
  after(async () => {
    await i?.s.shutdown("test");
    await i?.fresh.cleanup();
  });

  const get = (u: string | null, p: string) =>
    fetch(`${base}${p}`, {
      headers: { accept: "text/html", ...(u ? { cookie: cookies[u].cookie } : {}) },
      redirect: "manual",
    });
  const exportAs = (u: string | null, fields: Record<string, string>, csrf?: string) =>
    fetch(`${base}/admin/archive/export`, {
      method: "POST",
      headers: {
        accept: "text/html",
        "content-type": "application/x-www-form-urlencoded",
        ...(u ? { cookie: cookies[u].cookie } : {}),
      },
      body: new URLSearchParams({ csrf: csrf ?? (u ? cookies[u].csrf : ""), ...fields }),
      redirect: "manual",
    });
  const all = () =>
    i.s.services.db.run((em) => em.getRepository(ArchiveRecordSchema).find({ order: { id: "ASC" } }));
  /** The records a page shows, by their shortened hashes. */
  const shown = (page: string) =>
    [...page.matchAll(/<td><code>([0-9a-f]{12})<\/code><\/td>/g)].map((m) => m[1]);
  const short = (rs: ArchiveRecordRow[]) => rs.map((r) => r.hash.slice(0, 12));
  /** Newest first, as the page orders them. */
  const newestFirst = (rs: ArchiveRecordRow[]) =>
    [...rs].sort((a, b) => b.recordedAt.getTime() - a.recordedAt.getTime() || b.id! - a.id!);
  const audits = async (action: string) =>
    i.s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).find({ where: { action }, order: { id: "ASC" } }),
    );

  test("who may read: a table of roles, as Casbin decides view-archive", async () => {
    const anonymous = await get(null, "/admin/archive");
    assert.equal(anonymous.status, 302);
    assert.equal(anonymous.headers.get("location"), "/login?next=%2Fadmin%2Farchive");
    assert.equal((await exportAs(null, { format: "jsonl" })).status, 401);
    // user → [page status, whole archive?]
    const table: [string, number, boolean][] = [
      ["emp", 403, false],
      ["pub", 403, false],
      ["ana", 200, false],
      ["comp", 200, false],
      ["officer", 200, true],
      ["admin", 200, true],
    ];
    const authz = i.s.services.authz;
    for (const [u, status, whole] of table) {
      const res = await get(u, "/admin/archive");
      const body = await res.text();
      assert.equal(res.status, status, `${u}: ${body.slice(0, 300)}`);
      // The same answer Casbin gives (through src/authz) for view-archive.
      const onOrg = (await authz.decide(ids[u], "view-archive", ORG)).allow;
      const onRecruiting = (await authz.decide(ids[u], "view-archive", recruiting)).allow;
      assert.equal(onOrg, whole, `${u} on the organization`);
      assert.equal(onRecruiting, status === 200, `${u} on @recruiting`);
      const exported = await exportAs(u, { format: "eml" });
      assert.equal(exported.status, status, `${u} export`);
      if (status !== 200) continue;
      assert.equal(body.includes("You read the whole organization"), whole, u);
      // The admin home answers organization-wide roles only: the nav links it for them alone.
      assert.equal(/href="\/admin"\s*>Administration<\/a>/.test(body), whole, `${u}: nav`);
      assert.ok(!/type="submit"[^>]*>\s*(Delete|Edit|Remove)/i.test(body), "read-only: no edit or delete");
      const names = Object.keys(unzipSync(new Uint8Array(await exported.arrayBuffer())));
      const expected = (await all()).filter((r) => whole || r.accountId === recruiting.id);
      assert.equal(names.length, expected.length, `${u}: the export holds what they may read`);
    }
    // A forged CSRF token is refused.
    assert.equal((await exportAs("comp", { format: "jsonl" }, "forged")).status, 403);
  });

  test("account-level roles read their accounts only, whatever they ask for", async () => {
    const page = await (await get("comp", "/admin/archive")).text();
    const rs = await all();
    assert.deepEqual(shown(page), short(newestFirst(rs.filter((r) => r.accountId === recruiting.id))));
    const refused = await get("comp", "/admin/archive?account=pr");
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /You may not read the archive of @pr/);
    assert.equal((await exportAs("comp", { format: "jsonl", account: "pr" })).status, 400);
  });

  test("each criterion narrows: account, person, period, direction, text; 50 a page, newest first", async () => {
    const rs = await all();
    const expect = async (query: string, want: (r: ArchiveRecordRow) => boolean) => {
      const res = await get("officer", `/admin/archive?${query}`);
      const body = await res.text();
      assert.equal(res.status, 200, `${query}: ${body.slice(0, 300)}`);
      const matching = newestFirst(rs.filter(want));
      assert.ok(matching.length > 0 && matching.length < rs.length, `${query} narrows`);
      assert.deepEqual(shown(body), short(matching.slice(0, 50)), query);
      return body;
    };
    await expect("account=recruiting", (r) => r.accountId === recruiting.id);
    await expect(
      "account=%40pr&direction=out&from=" + d1 + "&to=" + d1,
      (r) => r.accountId === pr.id && r.chain === d1,
    );
    await expect("person=pub%40corp.example", (r) => r.personId === ids.pub || r.approverId === ids.pub);
    await expect(`from=${d1}&to=${d2}`, (r) => r.chain >= d1 && r.chain <= d2);
    await expect(`from=${d2}`, (r) => r.chain >= d2);
    await expect("direction=in", (r) => r.direction === "in");
    await expect("direction=internal", (r) => r.direction === "internal");
    await expect("text=salaries", (r) => r.content.includes("salaries"));
    await expect("text=SALARIES", (r) => r.content.includes("salaries"));
    // LIKE's wildcards are the user's characters, not wildcards.
    await expect("text=100%25", (r) => r.content.includes("100%"));
    await expect("text=remote_ok", (r) => r.content.includes("remote_ok"));
    await expect(
      `text=${encodeURIComponent('"Q3"')}`,
      (r) => r.kind === "post.create" && r.content.includes("Q3"),
    );
    assert.deepEqual(shown(await (await get("officer", "/admin/archive?text=remote%25ok")).text()), []);
    assert.deepEqual(shown(await (await get("officer", "/admin/archive?text=Bulk_announcement")).text()), []);
    // Pages: 50 newest first, then the rest.
    const first = await (await get("officer", "/admin/archive")).text();
    const ordered = newestFirst(rs);
    assert.deepEqual(shown(first), short(ordered.slice(0, 50)));
    const older = /href="([^"]*before=\d+[^"]*)"/.exec(first)?.[1]?.replace(/&amp;/g, "&");
    assert.ok(older, "a link to older records");
    assert.deepEqual(shown(await (await get("officer", older)).text()), short(ordered.slice(50, 100)));
    // Wrong input: the field says why, nothing is searched.
    for (const [q, field] of [
      ["from=yesterday", "from"],
      ["from=2026-02-30", "from"],
      [`from=${d2}&to=${d1}`, "to"],
      ["direction=sideways", "direction"],
      ["person=nobody%40corp.example", "person"],
      ["account=nosuch", "account"],
    ]) {
      const res = await get("officer", `/admin/archive?${q}`);
      const body = await res.text();
      assert.equal(res.status, 400, q);
      assert.match(body, new RegExp(`id="f-${field}"[^>]*aria-invalid="true"`), q);
      assert.deepEqual(shown(body), [], q);
    }
  });

  test("the page's exports are the CLI's for the same filter", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "herald-compliance-export-"));
    const filter = { account: "recruiting", from: d1, to: d2 };
    for (const format of ["jsonl", "eml"] as const) {
      const cli = await runCli(
        [
          "archive",
          "export",
          "--format",
          format,
          "--out",
          path.join(out, `cli-${format}`),
          "--account",
          "recruiting",
          "--from",
          d1,
          "--to",
          d2,
        ],
        i.env,
      );
      assert.equal(cli.code, 0, cli.stderr);
      const res = await exportAs("officer", { format, ...filter });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "application/zip");
      assert.match(
        res.headers.get("content-disposition") ?? "",
        /^attachment; filename="herald-archive-\w+-\d{8}T\d{6}Z\.zip"$/,
      );
      const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
      const web = path.join(out, `web-${format}`);
      mkdirSync(web);
      for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(web, name), bytes);
      const cliFiles = readdirSync(path.join(out, `cli-${format}`)).sort();
      assert.deepEqual(Object.keys(files).sort(), cliFiles);
      const text = (dir: string, f: string) => readFileSync(path.join(dir, f), "utf8");
      if (format === "eml") {
        assert.equal(cliFiles.length, 4, "@recruiting's records of those days");
        for (const f of cliFiles) assert.equal(text(web, f), text(path.join(out, "cli-eml"), f), f);
        continue;
      }
      assert.equal(text(web, "records.jsonl"), text(path.join(out, "cli-jsonl"), "records.jsonl"));
      const manifest = (dir: string) => {
        const m = JSON.parse(text(dir, "manifest.json")) as Record<string, unknown>;
        const { exportedAt: _at, exportedBy, ...rest } = m;
        return { rest, exportedBy };
      };
      const [w, c] = [manifest(web), manifest(path.join(out, "cli-jsonl"))];
      assert.deepEqual(w.rest, c.rest);
      assert.equal(w.exportedBy, `person:${ids.officer}`);
      const checked = await runNode(path.join(ROOT, "docs/examples/verify-archive-export.mjs"), [web]);
      assert.equal(checked.code, 0, checked.stderr);
      assert.match(checked.stdout, /^verified: 4 records/);
    }
  });

  test("every search and every export is audited once, with who, the filter and the count; refusals are not", async () => {
    const [searches, exports] = [await audits("archive.search"), await audits("archive.export")];
    const page = await get("ana", "/admin/archive?direction=in&text=salaries");
    assert.equal(page.status, 200);
    assert.equal(shown(await page.text()).length, 1);
    const exported = await exportAs("officer", { format: "jsonl", account: "pr", from: d0, to: d0 });
    assert.equal(exported.status, 200);
    await get("emp", "/admin/archive");
    await get("officer", "/admin/archive?from=nonsense");
    await exportAs("pub", { format: "eml" });
    const [searches2, exports2] = [await audits("archive.search"), await audits("archive.export")];
    assert.equal(searches2.length, searches.length + 1);
    assert.equal(exports2.length, exports.length + 1);
    const s = searches2.at(-1)!;
    assert.equal(s.actor, `person:${ids.ana}`);
    assert.equal(s.targetType, "archive");
    assert.ok(s.requestId);
    assert.deepEqual(JSON.parse(s.detail ?? "{}"), {
      count: 1,
      direction: "in",
      text: "salaries",
      scope: [recruiting.id],
    });
    const e = exports2.at(-1)!;
    assert.equal(e.actor, `person:${ids.officer}`);
    assert.deepEqual(JSON.parse(e.detail ?? "{}"), {
      format: "jsonl",
      download: "zip",
      count: 55,
      account: pr.id,
      from: d0,
      to: d0,
    });
  });
  test("beyond the download's limit: a 413 naming the count and the way out, never a cut export; the CLI writes them all", async () => {
    // A day of its own, before every other: EXPORT_MAX + 1 records of @pr.
    const day = dayOf(today - 30 * DAY_MS);
    const n = EXPORT_MAX + 1;
    for (let from = 0; from < n; from += 1000)
      await i.s.services.db.transaction(async (em) => {
        for (let k = from; k < Math.min(n, from + 1000); k++)
          await appendRecord(
            em,
            {
              kind: "post.create",
              direction: "out",
              accountId: pr.id,
              accountHandle: "pr",
              content: { text: `bulk ${k}` },
            },
            () => Date.parse(`${day}T00:00:00Z`) + k,
          );
      });
    const before = (await audits("archive.export")).length;
    for (const format of ["jsonl", "eml"]) {
      const res = await exportAs("officer", { format, from: day, to: day });
      assert.equal(res.status, 413);
      assert.notEqual(res.headers.get("content-type"), "application/zip");
      assert.match(
        (await res.text()).replace(/\s+/g, " "),
        new RegExp(
          `This search matches ${n} records; a download holds at most ${EXPORT_MAX}\\. Narrow the period, or run herald archive export on the server\\.`,
        ),
      );
    }
    assert.equal((await audits("archive.export")).length, before, "refusals are not audited as exports");
    const out = mkdtempSync(path.join(tmpdir(), "herald-compliance-big-"));
    const cli = await runCli(
      ["archive", "export", "--format", "jsonl", "--out", out, "--from", day, "--to", day],
      i.env,
    );
    assert.equal(cli.code, 0, cli.stderr);
    const lines = readFileSync(path.join(out, "records.jsonl"), "utf8").trimEnd().split("\n");
    assert.equal(lines.length, n);
    assert.equal((JSON.parse(lines.at(-1)!) as { seq: number }).seq, n);
    assert.equal(
      (JSON.parse(readFileSync(path.join(out, "manifest.json"), "utf8")) as { count: number }).count,
      n,
    );
  });
});
