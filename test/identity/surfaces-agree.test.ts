/**
 * Every public surface gives the one employment answer (DESIGN rules 2, 3, 6, 7), as a table:
 * for a person who is active, deactivated (SCIM PATCH active=false), deleted (SCIM DELETE),
 * rehired (deleted, then created again with the same externalId and userName: the old handle, a
 * new actor) or renamed (a new actor under the new handle, the old one moved to it), and for the
 * demo's seeded former employee, each surface is read and classified — the verification API and
 * page, the profile page, the actor document, WebFinger (followed to the actor it names, as a
 * remote server does), the organization's verified roster (its actor's `streams`) and the home
 * page's directory — and must say what the state says, "current" or "former", except where a
 * surface answers otherwise by design, written out in the row: "gone" (a deleted account's 410
 * Tombstone, its handle no longer resolving), "moved" (a renamed account's old actor) and
 * "absent" (not on a list that names only current accounts).
 * A deactivation reads "former" everywhere as soon as SCIM answers, without waiting for the
 * federation bridge to suspend the actor; a deletion, on the surfaces that read the directory.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const AP = { accept: "application/activity+json" };
const USER = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

const SURFACES = ["api", "verifyPage", "profile", "actor", "webfinger", "roster", "home"] as const;
type Surface = (typeof SURFACES)[number];
/** Whom a surface is asked about: a handle, and the actor it should name. */
interface Subject {
  readonly handle: string;
  readonly actorId: string;
}
interface State {
  readonly name: string;
  readonly is: "current" | "former";
  /** Surfaces that answer otherwise by design (after the change has settled). */
  readonly except?: Partial<Record<Surface, string>>;
  /** Read right after the write, before waiting for anything. */
  readonly immediately?: readonly Surface[];
  /** Makes the change; `settle` answers the subject once the event consumers have applied it. */
  arrange(): Promise<{ readonly now?: Subject; settle(): Promise<Subject | undefined> }>;
}

describe(`one employment answer on every public surface, on ${TEST_DB}`, () => {
  let s: TestServer;
  let token: string;
  let domain: string;
  let rosterUrl: string;

  before(async () => {
    // The home page lists the directory on the demo database only (src/web/home.ts), which also
    // seeds the demo organization and its former employee: this test's database stands in for it.
    s = await startTestServer({}, { isDemoDatabase: true });
    domain = s.services.config.handleDomain;
    const created = await s.services.tokens.create("surfaces", "test");
    assert.ok(created.ok);
    token = created.token;
    const org = await s.services.accounts.ensureOrgActor();
    const doc = await waitFor(
      async () => {
        const res = await fetch(`${s.url}/ap/actors/${org.id}`, { headers: AP });
        return res.status === 200 ? ((await res.json()) as { streams?: string | string[] }) : undefined;
      },
      { timeoutMs: 30_000, what: "the organization's actor" },
    );
    const streams = [doc.streams ?? []].flat();
    rosterUrl = local(streams.find((u) => u.endsWith(`/ap/actors/${org.id}/verified`)) ?? "");
    assert.ok(rosterUrl, `streams: ${JSON.stringify(doc.streams)}`);
  });
  after(async () => {
    await s?.close();
  });

  const local = (url: string) => url.replace(s.services.config.origin.origin, s.url);
  const scim = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/scim+json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: res.status === 204 ? null : ((await res.json()) as { id: string }) };
  };
  const actorRow = (id: string) => s.services.accounts.byId(id);

  /** SCIM creates the person; answers once their account is served (its keys exist). */
  async function hire(userName: string) {
    const user = { schemas: [USER], userName, externalId: `ext-${userName}`, displayName: userName };
    const res = await scim("POST", "/Users", user);
    assert.equal(res.status, 201);
    const actor = await waitFor(
      async () => {
        const a = await s.services.accounts.byPerson(res.body!.id);
        return a?.keysReadyAt ? a : undefined;
      },
      { timeoutMs: 30_000, what: `${userName}'s account` },
    );
    return { user, id: res.body!.id, subject: { handle: actor.handle, actorId: actor.id } };
  }

  // The readers: one small function per surface, each answering a classification.
  const actorReading = async (url: string): Promise<string> => {
    const res = await fetch(url, { headers: AP });
    if (res.status !== 200 && res.status !== 410) return `HTTP ${res.status}`;
    const doc = (await res.json()) as Record<string, unknown>;
    if (res.status === 410) return doc.type === "Tombstone" ? "gone" : `410 ${String(doc.type)}`;
    if (doc.movedTo) return "moved";
    const fields = [doc.attachment ?? []].flat() as { name?: string }[];
    const verified = fields.some((f) => f.name?.startsWith("Verified at "));
    if (doc.suspended === true && doc.name === undefined && !verified) return "former";
    if (doc.suspended === false && typeof doc.name === "string" && verified) return "current";
    return `mixed: suspended ${String(doc.suspended)}, name ${String(doc.name)}, verified ${verified}`;
  };
  const read: Record<Surface, (x: Subject) => Promise<string>> = {
    async api({ handle }) {
      const res = await fetch(
        `${s.url}/api/verification?handle=${encodeURIComponent(`@${handle}@${domain}`)}`,
      );
      const { status } = (await res.json()) as { status: string };
      return { active: "current", former: "former" }[status] ?? `${res.status} ${status}`;
    },
    async verifyPage({ handle }) {
      const html = await (
        await fetch(`${s.url}/verify?q=${encodeURIComponent(`@${handle}@${domain}`)}`)
      ).text();
      // The answer's box (src/verify/routes.ts): one verdict class per state.
      const verdict = /class="verdict verdict-(current|former|unknown)"/.exec(html)?.[1];
      return verdict ?? "no answer";
    },
    async profile({ handle }) {
      const res = await fetch(`${s.url}/@${handle}`);
      const html = await res.text();
      if (res.status !== 200) return `HTTP ${res.status}`;
      if (/Former employee\./.test(html)) return "former";
      return /This account was closed\./.test(html) ? "closed" : "current";
    },
    actor: ({ actorId }) => actorReading(`${s.url}/ap/actors/${actorId}`),
    async webfinger({ handle, actorId }) {
      const res = await fetch(`${s.url}/.well-known/webfinger?resource=acct:${handle}@${domain}`);
      if (res.status === 404) return "gone";
      if (res.status !== 200) return `HTTP ${res.status}`;
      const links = (await res.json()).links as { rel: string; href: string }[];
      const self = links.find((l) => l.rel === "self")?.href ?? "";
      if (!self.endsWith(`/ap/actors/${actorId}`)) return `names another actor: ${self}`;
      return actorReading(local(self));
    },
    async roster({ actorId }) {
      const c = (await (await fetch(rosterUrl, { headers: AP })).json()) as {
        first: string | { orderedItems?: { id: string }[] };
      };
      const first =
        typeof c.first === "string"
          ? ((await (await fetch(local(c.first), { headers: AP })).json()) as {
              orderedItems?: { id: string }[];
            })
          : c.first;
      const ids = (first.orderedItems ?? []).map((i) => i.id);
      return ids.some((id) => id.endsWith(`/ap/actors/${actorId}`)) ? "current" : "absent";
    },
    async home({ handle }) {
      const html = await (await fetch(`${s.url}/`)).text();
      const status = new RegExp(
        `<span class="badge[^"]*"\\s*>([^<]*)</span\\s*><br />\\s*<a href="[^"]*"><code>@${handle}@${domain}</code>`,
      ).exec(html)?.[1];
      return (
        { "current employee": "current", "former employee": "former" }[status ?? ""] ?? status ?? "absent"
      );
    },
  };

  // A renamed person is read under both handles: one rename, shared by two rows.
  let renaming: Promise<{ old: Subject; renamed: Subject }> | undefined;
  const rename = () =>
    (renaming ??= (async () => {
      const { subject: old } = await hire("ren@corp.example");
      const r = await s.services.accounts.rename(old.handle, "ren_new", "test");
      assert.ok(r.ok, r.ok ? "" : r.message);
      return { old, renamed: { handle: r.to.handle, actorId: r.to.id } };
    })());

  const STATES: State[] = [
    {
      name: "active",
      is: "current",
      async arrange() {
        const { subject } = await hire("ana@corp.example");
        return { settle: async () => subject };
      },
    },
    {
      name: "deactivated (SCIM PATCH active=false)",
      is: "former",
      except: { roster: "absent" },
      immediately: SURFACES,
      async arrange() {
        const { id, subject } = await hire("dee@corp.example");
        const res = await scim("PATCH", `/Users/${id}`, {
          schemas: [PATCH],
          Operations: [{ op: "replace", path: "active", value: false }],
        });
        assert.equal(res.status, 200);
        return {
          now: subject,
          settle: async () => ((await actorRow(subject.actorId))?.suspendedAt ? subject : undefined),
        };
      },
    },
    {
      name: "deleted (SCIM DELETE)",
      is: "former",
      // The actor answers 410 with a Tombstone (followers got a Delete, which remote servers do
      // not undo) and the handle no longer resolves; it stays reserved, and verification says
      // "former" (rules 3 and 7).
      except: { actor: "gone", webfinger: "gone", roster: "absent" },
      immediately: ["api", "verifyPage", "profile", "roster", "home"],
      async arrange() {
        const { id, subject } = await hire("del@corp.example");
        assert.equal((await scim("DELETE", `/Users/${id}`)).status, 204);
        return {
          now: subject,
          settle: async () => ((await actorRow(subject.actorId))?.deletedAt ? subject : undefined),
        };
      },
    },
    {
      name: "rehired (deleted, then the same externalId and userName)",
      is: "current",
      async arrange() {
        const { id, user, subject: first } = await hire("reh@corp.example");
        assert.equal((await scim("DELETE", `/Users/${id}`)).status, 204);
        await waitFor(async () => (await actorRow(first.actorId))?.deletedAt, { what: "the tombstone" });
        const back = await scim("POST", "/Users", user);
        assert.equal(back.status, 201);
        assert.equal(back.body?.id, id, "the deleted record is restored");
        return {
          async settle() {
            const a = await s.services.accounts.byHandle(first.handle);
            return a && a.id !== first.actorId && a.keysReadyAt
              ? { handle: a.handle, actorId: a.id }
              : undefined;
          },
        };
      },
    },
    {
      name: "renamed (the new handle)",
      is: "current",
      async arrange() {
        const { renamed } = await rename();
        return { settle: async () => renamed };
      },
    },
    {
      name: "renamed (the old handle, an alias)",
      is: "current",
      // The old actor points to the new one (movedTo), which the roster and the directory list.
      except: { actor: "moved", webfinger: "moved", roster: "absent", home: "absent" },
      async arrange() {
        const { old } = await rename();
        return { settle: async () => ((await actorRow(old.actorId))?.movedToId ? old : undefined) };
      },
    },
    {
      name: "the demo's former employee (seeded, then deactivated)",
      is: "former",
      except: { roster: "absent" },
      async arrange() {
        const chris = await s.services.directory.personByUserName("chris@demo.example");
        assert.ok(chris?.handle);
        return {
          async settle() {
            const a = await s.services.accounts.byPerson(chris.id);
            return a?.keysReadyAt && a.suspendedAt ? { handle: a.handle, actorId: a.id } : undefined;
          },
        };
      },
    },
  ];

  const expected = (state: State, surface: Surface) => state.except?.[surface] ?? state.is;

  for (const state of STATES) {
    test(`${state.name}: every surface says ${state.is}`, async () => {
      const { now, settle } = await state.arrange();
      for (const surface of state.immediately ?? []) {
        assert.ok(now);
        assert.equal(
          await read[surface](now),
          expected(state, surface),
          `${surface}, ${state.name}, as SCIM answered`,
        );
      }
      const subject = await waitFor(settle, { timeoutMs: 30_000, what: `${state.name} to settle` });
      for (const surface of SURFACES)
        assert.equal(await read[surface](subject), expected(state, surface), `${surface}, ${state.name}`);
    });
  }

  // Between a rehire's SCIM 201 and the bridge making the new actor, the handle still names the
  // old actor's tombstone: verification answers from the directory (current, no attestation yet),
  // step by step in test/verify/rehire-window.test.ts.
});
