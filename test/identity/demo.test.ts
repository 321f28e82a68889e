/**
 * The demo organization (src/identity/demo.ts) as a new user meets it after `npm start`: its
 * former employee, Chris, was hired and then deactivated through the Directory, so every public
 * surface gives the one answer of employmentStatus — the home page, /verify, the verification API,
 * the profile page, WebFinger and the actor document all say "former"; Jane, a current employee,
 * is "active" on the same surfaces. (Before, Chris was seeded inactive and never had an account:
 * "former" on the home page, "not ours" on /verify, 404 on WebFinger.)
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { seedDemoOrganization } from "../../src/identity/demo.ts";
import { createDirectory } from "../../src/identity/directory.ts";
import { DomainEventSchema } from "../../src/identity/events.ts";
import { employmentStatus } from "../../src/identity/standing.ts";
import { freePort, migratedDatabase, TEST_DB, waitFor } from "../helpers/env.ts";
import { type ServerProcess, startServerProcess } from "../helpers/process.ts";

describe(
  "the demo's former employee is former everywhere",
  { skip: TEST_DB !== "sqlite" && "the demo is seeded on the SQLite default only" },
  () => {
    let s: ServerProcess;
    let domain: string;
    before(async () => {
      const cwd = mkdtempSync(path.join(tmpdir(), "herald-demo-"));
      const port = await freePort();
      // As `npm start` on a fresh machine: the default database, development mode.
      s = await startServerProcess({ NODE_ENV: undefined, PORT: String(port) }, port, cwd, {
        useTestSecrets: false,
      });
      domain = `localhost:${port}`;
      // Both accounts exist once their keys do (the background key worker).
      for (const user of ["jane", "chris"])
        await waitFor(
          async () =>
            (await fetch(`${s.url}/.well-known/webfinger?resource=acct:${user}@${domain}`)).status === 200
              ? true
              : undefined,
          { what: `WebFinger for ${user}`, timeoutMs: 60_000, intervalMs: 200 },
        );
    });
    after(async () => {
      s.child.kill("SIGTERM");
      await s.exited;
    });

    const api = async (user: string) => {
      const res = await fetch(`${s.url}/api/verification?handle=${encodeURIComponent(`@${user}@${domain}`)}`);
      assert.equal(res.status, 200);
      return (await res.json()) as { status: string; displayName: string | null; until?: string };
    };
    const actor = async (user: string) => {
      const finger = (await (
        await fetch(`${s.url}/.well-known/webfinger?resource=acct:${user}@${domain}`)
      ).json()) as {
        links: { rel: string; type?: string; href: string }[];
      };
      const self = finger.links.filter((l) => l.rel === "self");
      assert.equal(self.length, 1);
      const res = await fetch(self[0].href.replace(/^http:\/\/localhost:\d+/, s.url), {
        headers: { Accept: "application/activity+json" },
      });
      assert.equal(res.status, 200);
      return (await res.json()) as { name?: string; summary: string; suspended?: boolean };
    };

    test("the home page lists Chris as a former employee and Jane as a current one", async () => {
      const home = await (await fetch(`${s.url}/`)).text();
      const row = (name: string) =>
        new RegExp(
          `<a href="[^"]*"><strong>${name}</strong></a>\\s*<span class="badge[^"]*"\\s*>([^<]*)</span`,
        ).exec(home)?.[1];
      assert.equal(row("Chris Park"), "former employee");
      assert.equal(row("Jane Doe"), "current employee");
    });

    test("the verification API: Chris former (with the date he left, no name), Jane active", async () => {
      const chris = await api("chris");
      assert.equal(chris.status, "former");
      assert.equal(chris.displayName, null);
      assert.match(chris.until ?? "", /^\d{4}-\d\d-\d\dT/);
      const jane = await api("jane");
      assert.equal(jane.status, "active");
      assert.equal(jane.displayName, "Jane Doe");
    });

    test("/verify says former for Chris, current for Jane", async () => {
      const page = async (user: string) =>
        (await fetch(`${s.url}/verify?q=${encodeURIComponent(`@${user}@${domain}`)}`)).text();
      const chris = await page("chris");
      assert.match(chris, /Former Demo Corp account/);
      assert.doesNotMatch(chris, /Not a Demo Corp account/);
      assert.match(await page("jane"), /Current Demo Corp account/);
    });

    test("the profile page and the actor document: Chris's account is a former employee's", async () => {
      const profile = await fetch(`${s.url}/@chris`);
      assert.equal(profile.status, 200);
      const html = await profile.text();
      assert.match(html, /Former employee\./);
      assert.doesNotMatch(html, /Chris Park/);
      const doc = await actor("chris");
      assert.equal(doc.suspended, true);
      assert.equal(doc.name, undefined);
      assert.match(doc.summary, /No longer at Demo Corp/);
      const jane = await actor("jane");
      assert.equal(jane.suspended, false);
      assert.equal(jane.name, "Jane Doe");
    });
  },
);

describe(`the demo seed goes through the Directory on ${TEST_DB}`, () => {
  test("HERALD_HANDLE_FROM applies; hires, then the consumers, then the leaver; audited and evented like SCIM", async () => {
    const t = await migratedDatabase();
    try {
      const directory = createDirectory(t.db, { handleFrom: "name" });
      const atDrain: string[] = [];
      const events = {
        async drain() {
          atDrain.push(employmentStatus(await directory.personByUserName("chris@demo.example")).kind);
        },
      };
      assert.equal(await seedDemoOrganization(directory, events), true);
      // The consumers saw Chris hired; only then did he leave.
      assert.deepEqual(atDrain, ["active"]);
      const chris = await directory.personByUserName("chris@demo.example");
      assert.deepEqual(employmentStatus(chris), {
        kind: "former",
        since: chris?.deactivatedAt,
        how: "deactivated",
      });
      const people = (await directory.summary()).people.map((p) => [p.userName, p.handle]);
      assert.deepEqual(people, [
        ["alex@demo.example", "alex_kim"],
        ["chris@demo.example", "chris_park"],
        ["jane@demo.example", "jane_doe"],
        ["morgan@demo.example", "morgan_reyes"],
        ["priya@demo.example", "priya_natarajan"],
        ["sam.lee@demo.example", "sam_lee"],
      ]);
      const types = (
        await t.db.run((em) => em.getRepository(DomainEventSchema).find({ order: { id: "ASC" } }))
      ).map((e) => e.type);
      const count = (type: string) => types.filter((x) => x === type).length;
      assert.equal(types.length, 16);
      assert.equal(count("person.provisioned"), 6);
      assert.equal(count("group.created"), 4);
      assert.equal(count("group.membership_changed"), 4);
      assert.deepEqual(types.slice(-2), ["person.updated", "person.deactivated"]);
      const actions = (await t.db.run((em) => em.getRepository(AuditEventSchema).find()))
        .map((a) => a.action)
        .sort();
      assert.deepEqual(actions, [
        ...Array(4).fill("demo.group.create"),
        ...Array(6).fill("demo.user.create"),
        "demo.user.deactivate",
      ]);
      // Seeded once: a directory that has people is left alone.
      assert.equal(await seedDemoOrganization(directory, events), false);
      assert.deepEqual(atDrain, ["active"]);
    } finally {
      await t.close();
    }
  });
});
