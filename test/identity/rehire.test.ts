/**
 * A rehire restores a working account, end to end through a real server (DESIGN rule 6): SCIM
 * says active, the handle resolves by WebFinger to a NEW actor (the old one answers 410 with a
 * Tombstone: its followers got a Delete, which remote servers do not undo), the actor document
 * is served once its keys exist, and verification says active. A create whose externalId matches
 * but whose userName and email do not gets a new handle, the old one stays reserved, and
 * `herald person relink` — the real CLI, as a separate process — moves it on purpose, audited.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { AuditEventSchema } from "../../src/db/audit.ts";
import { ActorSchema } from "../../src/federation/entities.ts";
import { HandleSchema, PersonSchema } from "../../src/identity/entities.ts";
import { createTokenService } from "../../src/scim/tokens.ts";
import { TEST_DB, testEnv, waitFor } from "../helpers/env.ts";
import { runCli } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface Refusal {
  args: string[];
  code: number;
  stderr: string;
  why: string;
}

const refusals = (
  JSON.parse(readFileSync(new URL("./cases/relink-refusals.json", import.meta.url), "utf8")) as {
    cases: Refusal[];
  }
).cases;

describe(`rehire and herald person relink, end to end, on ${TEST_DB}`, () => {
  let s: TestServer;
  let token: string;
  let env: Record<string, string | undefined>;
  let domain: string;

  before(async () => {
    s = await startTestServer();
    const t = await createTokenService(s.services.db).create("rehire-test", "test");
    assert.ok(t.ok);
    token = t.token;
    domain = s.services.config.handleDomain;
    env = testEnv({
      DATABASE_URL: s.services.config.database.url,
      HERALD_DATA_DIR: s.services.config.dataDir,
      HERALD_ORIGIN: s.services.config.origin.href,
    });
  });
  after(async () => {
    await s?.close();
  });

  const scim = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : await res.json() };
  };
  /** The actor id WebFinger gives for a handle, or the status when there is none. */
  const webfinger = async (handle: string): Promise<string | number> => {
    const res = await fetch(`${s.url}/.well-known/webfinger?resource=acct:${handle}@${domain}`);
    if (res.status !== 200) return res.status;
    const self = ((await res.json()).links as { rel: string; href: string }[]).find((l) => l.rel === "self");
    return /\/ap\/actors\/([0-9a-f-]{36})$/.exec(self?.href ?? "")?.[1] ?? 0;
  };
  const resolves = (handle: string, not?: string) =>
    waitFor(
      async () => {
        const id = await webfinger(handle);
        return typeof id === "string" && id !== not ? id : undefined;
      },
      { timeoutMs: 30_000, what: `@${handle} to resolve to a new actor` },
    );
  const actorDoc = async (id: string) => {
    const res = await fetch(`${s.url}/ap/actors/${id}`, { headers: { accept: "application/activity+json" } });
    return { status: res.status, doc: await res.json() };
  };
  const verification = async (handle: string) =>
    (
      await (
        await fetch(`${s.url}/api/verification?handle=${encodeURIComponent(`@${handle}@${domain}`)}`)
      ).json()
    ).status as string;
  const handleOwner = async (handle: string) =>
    (await s.services.db.run((em) => em.getRepository(HandleSchema).findOneByOrFail({ handle }))).ownerId;

  const JDOE = {
    schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
    userName: "jdoe@corp.example",
    externalId: "00u-jdoe",
    displayName: "Jo Doe",
    emails: [{ value: "jdoe@corp.example", type: "work", primary: true }],
  };

  test("same externalId and userName: the same person, handle and a working account under a new actor", async () => {
    const hired = await scim("POST", "/Users", JDOE);
    assert.equal(hired.status, 201);
    const first = await resolves("jdoe");
    assert.equal(await verification("jdoe"), "active");

    assert.equal((await scim("DELETE", `/Users/${hired.body.id}`)).status, 204);
    await waitFor(async () => ((await actorDoc(first)).status === 410 ? true : undefined), {
      what: "the old actor to become a Tombstone",
    });
    assert.equal(await webfinger("jdoe"), 404);
    assert.equal(await verification("jdoe"), "former");

    const back = await scim("POST", "/Users", { ...JDOE, userName: "JDoe@corp.example" });
    assert.equal(back.status, 201);
    assert.equal(back.body.id, hired.body.id, "the deleted record is restored");
    assert.equal(back.body.active, true);
    assert.equal((await scim("GET", `/Users/${hired.body.id}`)).body.active, true);
    const second = await resolves("jdoe", first);
    assert.notEqual(second, first, "a new actor: the old id stays a Tombstone");
    const { status, doc } = await actorDoc(second);
    assert.equal(status, 200);
    assert.equal(doc.type, "Person");
    assert.equal(doc.preferredUsername, "jdoe");
    assert.equal(doc.name, "Jo Doe");
    assert.equal((await actorDoc(first)).status, 410);
    assert.equal(await verification("jdoe"), "active");
    assert.equal(await handleOwner("jdoe"), hired.body.id);
    const actors = await s.services.db.run((em) => em.getRepository(ActorSchema).findBy({ kind: "person" }));
    assert.deepEqual(
      actors.filter((a) => a.handle === "jdoe").map((a) => a.id),
      [second],
      "one actor answers to the handle",
    );
  });

  test("same externalId, another userName and email: a new handle; relink moves the old one (audited)", async () => {
    const kim = await scim("POST", "/Users", {
      userName: "kim@corp.example",
      externalId: "kim",
      emails: [{ value: "kim@corp.example", primary: true }],
    });
    const kimActor = await resolves("kim");
    assert.equal((await scim("DELETE", `/Users/${kim.body.id}`)).status, 204);
    await waitFor(async () => ((await actorDoc(kimActor)).status === 410 ? true : undefined), {
      what: "kim's actor to become a Tombstone",
    });

    // Entra reuses aliases: the same externalId for someone else.
    const newKim = await scim("POST", "/Users", {
      userName: "kim@newco.example",
      externalId: "kim",
      displayName: "Kim New",
      emails: [{ value: "kim@newco.example", primary: true }],
    });
    assert.equal(newKim.status, 201);
    assert.notEqual(newKim.body.id, kim.body.id, "a new person");
    const kim2Actor = await resolves("kim2");
    assert.equal(await webfinger("kim"), 404, "the old handle is not given to the new person");
    assert.equal(await handleOwner("kim"), kim.body.id, "it stays reserved for the deleted record");
    assert.equal(await verification("kim"), "former");

    // Fixtures for the refusals below: a shared account and a deactivated person.
    assert.ok((await s.services.accounts.createShared("recruiting", "Recruiting", "test")).ok);
    const lou = await scim("POST", "/Users", { userName: "lou@corp.example" });
    await scim("PATCH", `/Users/${lou.body.id}`, {
      schemas: ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
      Operations: [{ op: "replace", path: "active", value: false }],
    });

    const r = await runCli(["person", "relink", "kim@newco.example", "@kim"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.split("\n"), [
      `@kim@${domain} is kim@newco.example's handle again (reserved for kim@corp.example until now).`,
      `@kim2@${domain} stays theirs, as an alias that points to @kim@${domain}.`,
      `A running server serves the account under @kim@${domain} within seconds.`,
      "",
    ]);
    const relinked = await resolves("kim", kimActor);
    assert.notEqual(relinked, kim2Actor);
    const { status, doc } = await actorDoc(relinked);
    assert.equal(status, 200);
    assert.equal(doc.preferredUsername, "kim");
    assert.equal(doc.name, "Kim New");
    assert.equal(await verification("kim"), "active");
    assert.equal(await handleOwner("kim"), newKim.body.id);
    assert.equal(await handleOwner("kim2"), newKim.body.id, "the previous handle stays theirs");
    // The previous account is an alias that moved to the new one (ActivityPub movedTo).
    await waitFor(async () => ((await actorDoc(kim2Actor)).doc.movedTo ? true : undefined), {
      what: "@kim2 to point to @kim",
    });
    assert.equal(
      (await actorDoc(kim2Actor)).doc.movedTo,
      `${s.services.config.origin.origin}/ap/actors/${relinked}`,
    );
    assert.equal((await actorDoc(kimActor)).status, 410, "the old tombstone stays gone");
    const people = await s.services.db.run((em) =>
      em.getRepository(PersonSchema).findBy([{ id: kim.body.id }, { id: newKim.body.id }]),
    );
    assert.deepEqual(people.map((p) => [p.userName, p.handle]).sort(), [
      ["kim@corp.example", null],
      ["kim@newco.example", "kim"],
    ]);
    const audits = await s.services.db.run((em) =>
      em.getRepository(AuditEventSchema).find({ where: { action: "person.relink" } }),
    );
    assert.equal(audits.length, 1);
    assert.match(audits[0].actor, /^cli:/);
    assert.equal(audits[0].targetId, newKim.body.id);
    assert.deepEqual(JSON.parse(audits[0].detail ?? "{}"), {
      userName: "kim@newco.example",
      handle: "kim",
      previousHandle: "kim2",
      fromPersonId: kim.body.id,
      fromUserName: "kim@corp.example",
    });
  });

  for (const c of refusals) {
    test(`relink refused: ${c.why} (exit ${c.code})`, async () => {
      const org = (await s.services.accounts.list()).find((a) => a.kind === "org")?.handle ?? "";
      const fill = (text: string) => text.replaceAll("{domain}", domain).replaceAll("{org}", org);
      const owners = await s.services.db.run((em) => em.getRepository(HandleSchema).find());
      const r = await runCli(c.args.map(fill), env);
      assert.equal(r.code, c.code, r.stderr);
      assert.equal(r.stdout, "");
      if (c.code === 2) assert.ok(r.stderr.startsWith(c.stderr), r.stderr);
      else assert.equal(r.stderr, fill(c.stderr));
      assert.deepEqual(await s.services.db.run((em) => em.getRepository(HandleSchema).find()), owners);
    });
  }
});
