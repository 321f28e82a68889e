/**
 * The inbox authenticates a delivery before anything reads it as JSON-LD (src/federation/
 * signatures.ts): unsigned, badly dated, malformed or forged requests are refused with a reason,
 * and nothing the body names is fetched. The cases are a table (cases/inbox-refusals.json), run
 * against the shared inbox and an actor's inbox; a second real server on loopback holds the
 * remote actors' keys and records every request it gets, so "nothing was fetched" is observed,
 * not assumed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ReactionSchema } from "../../src/federation/entities.ts";
import { type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import { freePort, ROOT, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

interface RefusalCase {
  readonly case: string;
  /** POST unless given (only unsigned requests use another). */
  readonly method?: string;
  readonly body?: unknown;
  readonly text?: string;
  readonly deep?: number;
  readonly sign?: "draft-cavage-http-signatures-12" | "rfc9421";
  readonly headers?: Record<string, string>;
  readonly dateOffsetMinutes?: number;
  readonly signWithoutBody?: boolean;
  readonly sendBody?: string;
  readonly keyId?: string;
  readonly signatureInputPrefix?: string;
  readonly status: number;
  /** A regular expression the answer's reason must match. */
  readonly detail: string;
  /** Exactly the paths the remote server may be asked for, or null when not checked. */
  readonly fetched: string[] | null;
}

const CASES = JSON.parse(
  readFileSync(path.join(ROOT, "test/federation/cases/inbox-refusals.json"), "utf8"),
) as RefusalCase[];

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The reason an answer gives: a problem document's detail (Herald) or a text body (Fedify). */
async function reasonOf(res: Response): Promise<string> {
  const text = await res.text();
  return /json/.test(res.headers.get("content-type") ?? "") ? String(JSON.parse(text).detail) : text;
}

describe(`the inbox authenticates before it reads (${TEST_DB})`, () => {
  let s: TestServer;
  let remote: FakeRemote;
  let origin: string;
  let newsId: string;
  let postIri: string;
  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    // The origin is the port it listens on: a signature covers the host the sender addressed.
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    remote = await startFakeRemote(["alice", "bob"]);
    remote.put("/context.jsonld", { "@context": { x: "https://example.com/x" } });
    const news = await s.services.accounts.createShared("news", "News", "test");
    assert.ok(news.ok);
    newsId = news.actor.id;
    const posted = await s.services.posting.post({
      actorId: newsId,
      text: "Hello fediverse",
      author: { personId: null, label: "cli:test" },
    });
    assert.ok(posted.ok, posted.ok ? "" : posted.message);
    postIri = posted.id.href;
  });
  after(async () => {
    await remote?.close();
    await s?.close();
  });

  for (const inbox of ["shared", "actor"] as const) {
    for (const c of CASES) {
      test(`${c.case} → ${c.status} (${inbox} inbox)`, async () => {
        const heraldActor = `${origin}/ap/actors/${newsId}`;
        const url = inbox === "shared" ? `${origin}/ap/inbox` : `${heraldActor}/inbox`;
        const fill = (v: string) =>
          v
            .replaceAll("$REMOTE", remote.origin)
            .replaceAll("$HERALD_ACTOR", heraldActor)
            .replaceAll("$RUN", inbox);
        const bodyText =
          c.text !== undefined
            ? fill(c.text)
            : c.deep !== undefined
              ? "[".repeat(c.deep) + "]".repeat(c.deep)
              : fill(JSON.stringify(c.body));
        const headers = Object.fromEntries(Object.entries(c.headers ?? {}).map(([k, v]) => [k, fill(v)]));
        if (c.dateOffsetMinutes !== undefined)
          headers.date = new Date(Date.now() + c.dateOffsetMinutes * 60_000).toUTCString();
        const seen = remote.requests.length;
        const res = c.sign
          ? await remote.signedPost(url, JSON.parse(bodyText), remote.actor("alice"), {
              spec: c.sign,
              headers,
              signWithoutBody: c.signWithoutBody,
              sendBody: c.sendBody === undefined ? undefined : fill(c.sendBody),
              keyId: c.keyId === undefined ? undefined : new URL(fill(c.keyId)),
              signatureInputPrefix:
                c.signatureInputPrefix === undefined ? undefined : fill(c.signatureInputPrefix),
            })
          : await fetch(url, {
              method: c.method ?? "POST",
              headers: { "content-type": "application/activity+json", ...headers },
              body: bodyText,
            });
        assert.equal(res.status, c.status);
        assert.match(
          await reasonOf(res),
          new RegExp(c.detail.replaceAll("$REMOTE", escapeRegExp(remote.origin))),
        );
        if (res.status === 401) assert.match(res.headers.get("www-authenticate") ?? "", /^Signature /);
        if (c.fetched !== null) assert.deepEqual(remote.requests.slice(seen), c.fetched.map(fill));
      });
    }
  }

  test("an activity whose object is gone is dropped, not retried", async () => {
    // The Create names its note by an id that answers 404: a retry cannot mend that, so the
    // queue lets it go at once (Fedify would otherwise retry it with backoff, logging errors).
    const alice = remote.actor("alice");
    const res = await remote.signedPost(
      `${origin}/ap/inbox`,
      {
        "@context": "https://www.w3.org/ns/activitystreams",
        id: `${remote.origin}/activities/gone`,
        type: "Create",
        actor: alice.id.href,
        object: `${remote.origin}/notes/gone`,
      },
      alice,
    );
    assert.equal(res.status, 202);
    await waitFor(
      async () => {
        const [row] = await s.services.db.query<{ n: number }>("SELECT COUNT(*) AS n FROM delivery_queue");
        return Number(row.n) === 0 || undefined;
      },
      { what: "the queue to let the activity go", timeoutMs: 10_000 },
    );
    assert.equal(remote.requests.filter((r) => r === "/notes/gone").length, 1);
  });

  test("signed deliveries are accepted, draft-cavage and RFC 9421 alike", async () => {
    for (const [name, spec] of [
      ["alice", "draft-cavage-http-signatures-12"],
      ["bob", "rfc9421"],
    ] as const) {
      const actor = remote.actor(name);
      const res = await remote.signedPost(
        `${origin}/ap/inbox`,
        {
          "@context": "https://www.w3.org/ns/activitystreams",
          id: `${remote.origin}/likes/${name}`,
          type: "Like",
          actor: actor.id.href,
          object: postIri,
        },
        actor,
        { spec },
      );
      assert.equal(res.status, 202, await res.text());
    }
    const likes = await waitFor(
      async () => {
        const rows = await s.services.db.run((em) =>
          em.getRepository(ReactionSchema).findBy({ kind: "like" }),
        );
        return rows.length === 2 ? rows : undefined;
      },
      { what: "both Likes to be counted" },
    );
    assert.equal(likes.length, 2);
  });
});
