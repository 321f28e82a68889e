/**
 * What one client-API call costs and decides (#15, bench/api): the per-call decision — token, its
 * app, person, account, the person's groups now and the policy's version now — is ONE statement,
 * then Casbin in memory; the home timeline's page, its statuses and its author's counts are a fixed
 * few more. Nothing of the decision is kept: a group removal or a revocation counts on the very
 * next call. The counts (statuses, followers, following, last status) are exact after posts and a
 * deletion.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { appTokenCreate } from "../../src/api/cli.ts";
import { ApiTokenSchema } from "../../src/api/entities.ts";
import { RATE_LIMIT_TABLE } from "../../src/http/rate-limit.ts";
import type { PatchOperation } from "../../src/scim/patch.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const scimActor = { name: "test" };

describe(`per-call reads of the client API on ${TEST_DB}`, () => {
  let s: TestServer;
  let token = "";
  let janeId = "";
  let groupId = "";
  /**
   * Statements sent on behalf of HTTP requests while `record` is set: each request runs in a
   * context of its own (the background loops — delivery queue, events, leases — do not), and the
   * rate limiter's store (MySQL's) is left out.
   */
  let record: string[] | undefined;
  const inRequest = new AsyncLocalStorage<true>();

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(s.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> & unknown[] };
  };

  /** The statements one call sends, after the background work has settled. */
  const statementsOf = async (path: string) => {
    await s.services.events.drain();
    // SQLite: whether anything was committed (a background loop's heartbeat, say) since the last
    // call decides whether the decision is read again; the stamp says which case this call was.
    const before = await s.services.db.changeStamp();
    record = [];
    const res = await call("GET", path);
    const sent = record;
    record = undefined;
    const stampAfter = await s.services.db.changeStamp();
    assert.equal(res.status, 200);
    return { sent, json: res.json, stampBefore: before, stampAfter };
  };

  const members = (op: "add" | "remove"): PatchOperation[] => [
    { op, path: "members", value: [{ value: janeId }] },
  ];

  before(async () => {
    s = await startTestServer();
    janeId = String(
      (await s.services.scim.createUser({ userName: "jane@corp.example", displayName: "Jane" }, scimActor))
        .id,
    );
    // Two groups, the second one's grant carries her: the joined rows are one per group.
    await s.services.scim.createGroup({ displayName: "Alumni", members: [{ value: janeId }] }, scimActor);
    groupId = String(
      (
        await s.services.scim.createGroup(
          { displayName: "Recruiting", members: [{ value: janeId }] },
          scimActor,
        )
      ).id,
    );
    const created = await s.services.accounts.createShared("recruiting", "Recruiting at Corp", "test");
    assert.ok(created.ok);
    const subject = await s.services.authz.resolveSubject("Recruiting");
    assert.ok(!("error" in subject));
    assert.ok((await s.services.authz.grant(subject, "publisher", created.actor, "test")).ok);
    await waitFor(async () => (await s.services.accounts.byHandle("recruiting"))?.keysReadyAt ?? undefined, {
      timeoutMs: 60_000,
      what: "@recruiting's keys",
    });
    const issued = await appTokenCreate(s.services, {
      userName: "jane@corp.example",
      account: "recruiting",
      by: "test",
    });
    assert.ok(issued.ok);
    token = issued.token;
    // Listeners run in the order added, synchronously: Koa's runs inside this context.
    s.server.prependListener("request", () => inRequest.enterWith(true));
    const logger = s.services.db.dataSource.logger;
    s.services.db.dataSource.logger = new Proxy(logger, {
      get(target, key, receiver) {
        if (key === "logQuery")
          return (query: string, ...rest: unknown[]) => {
            if (record && inRequest.getStore() && !query.includes(RATE_LIMIT_TABLE)) record.push(query);
            return logger.logQuery(query, ...(rest as []));
          };
        return Reflect.get(target, key, receiver);
      },
    });
  });

  after(async () => {
    await s?.close();
  });

  test("the per-call decision is one statement (none on SQLite while nothing is committed); the home timeline nine, then at most the decision", async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await call("POST", "/api/v1/statuses", { status: `Post ${i}` })).status, 200);
    const isDecision = (sql: string) => /api_token/.test(sql);
    /**
     * The decision's statements a call should have sent: MySQL reads it on every call; SQLite only
     * if something was committed since the previous call read it (its change stamp moved).
     */
    let lastStamp: string | undefined = "(none yet)";
    const decisions = (c: { stampBefore?: string; stampAfter?: string; sent: string[] }) => {
      if (TEST_DB === "mysql" || c.stampBefore !== lastStamp) return 1;
      // A background loop committed during the call: whether the call's own stamp read came
      // before or after that commit cannot be told from here; either count is right then.
      if (c.stampAfter !== c.stampBefore) return c.sent.filter(isDecision).length;
      return 0;
    };

    // GET /api/v1/lists answers [] after the per-call decision alone.
    const authOnly = await statementsOf("/api/v1/lists");
    assert.deepEqual(authOnly.json, []);
    assert.equal(authOnly.sent.length, 1, authOnly.sent.join("\n"));
    assert.match(authOnly.sent[0], /api_token/);
    assert.match(authOnly.sent[0], /authz_state/);
    assert.match(authOnly.sent[0], /group_member/);
    assert.match(authOnly.sent[0], /feed_version/);
    lastStamp = authOnly.stampBefore;

    // The page (own posts, received posts, the account's boosts and the boosts it received from
    // accounts it follows: each a status of its own), the page's reactions and replies, the
    // account's own favourites and boosts of them, and the author's counts: eight, after the
    // decision if read.
    const home = await statementsOf("/api/v1/timelines/home");
    assert.equal(home.json.length, 3);
    const homeDecisions = decisions(home);
    assert.equal(home.sent.filter(isDecision).length, homeDecisions, home.sent.join("\n"));
    assert.equal(home.sent.length, homeDecisions + 8, home.sent.join("\n"));
    lastStamp = home.stampBefore;

    // Nothing it shows changed: the same page from memory, no statement of its own.
    const again = await statementsOf("/api/v1/timelines/home");
    assert.deepEqual(again.json, home.json);
    const againDecisions = decisions(again);
    assert.equal(again.sent.length, againDecisions, again.sent.join("\n"));
    if (
      TEST_DB === "sqlite" &&
      again.stampBefore === home.stampBefore &&
      again.stampAfter === again.stampBefore
    )
      assert.equal(again.sent.length, 0);
  });

  test("the account's counts are exact: posts, a deletion, the last status's date", async () => {
    const before = await call("GET", "/api/v1/accounts/verify_credentials");
    assert.equal(before.status, 200);
    const posted = await call("POST", "/api/v1/statuses", { status: "One more" });
    assert.equal(posted.status, 200);
    const after = await call("GET", "/api/v1/accounts/verify_credentials");
    assert.equal(after.json.statuses_count, Number(before.json.statuses_count) + 1);
    assert.equal(after.json.statuses_count, 4);
    assert.equal(after.json.followers_count, 0);
    assert.equal(after.json.following_count, 0);
    assert.equal(after.json.last_status_at, String(posted.json.created_at).slice(0, 10));
    assert.equal((await call("DELETE", `/api/v1/statuses/${String(posted.json.id)}`)).status, 200);
    const deleted = await call("GET", "/api/v1/accounts/verify_credentials");
    assert.equal(deleted.json.statuses_count, 3);
    const home = await call("GET", "/api/v1/timelines/home");
    assert.deepEqual(
      home.json.map((x) => (x as { account: { statuses_count: number } }).account.statuses_count),
      [3, 3, 3],
    );
  });

  /** A new token of Jane's acting as @recruiting, and its hash as stored. */
  const newToken = async () => {
    const issued = await appTokenCreate(s.services, {
      userName: "jane@corp.example",
      account: "recruiting",
      by: "test",
    });
    assert.ok(issued.ok);
    return { token: issued.token, hash: createHash("sha256").update(issued.token).digest("hex") };
  };

  /** Counts the decision statements `db.rows` sends while `fn` runs (and lets `hold` delay one). */
  async function watchingDecisions<T>(
    fn: (hold: (until: Promise<void>) => Promise<void>) => Promise<T>,
  ): Promise<{ result: T; statements: number }> {
    const db = s.services.db;
    const rows = db.rows;
    let statements = 0;
    let held: { until: Promise<void>; started: () => void } | undefined;
    db.rows = async (sql, params) => {
      const r = await rows.call(db, sql, params);
      if (/api_token/.test(sql)) {
        statements++;
        const h = held;
        held = undefined;
        if (h) {
          h.started();
          await h.until;
        }
      }
      return r;
    };
    try {
      const result = await fn((until) => new Promise<void>((started) => (held = { until, started })));
      return { result, statements };
    } finally {
      db.rows = rows;
    }
  }

  test(
    "MySQL: calls that arrive while a read is under way share the next one: ten at once, two statements",
    { skip: TEST_DB !== "mysql" && "SQLite reuses a read while its change stamp holds instead" },
    async () => {
      const { token: t } = await newToken();
      const { result, statements } = await watchingDecisions(() =>
        Promise.all(Array.from({ length: 10 }, () => s.services.oauth.resolveForCall(t))),
      );
      assert.equal(statements, 2);
      assert.equal(new Set(result.map((r) => r?.token.tokenHash)).size, 1);
      assert.ok(result.every((r) => r?.person?.userName === "jane@corp.example"));
    },
  );

  test(
    "MySQL: calls of different tokens that arrive together are read by one statement, each its own",
    { skip: TEST_DB !== "mysql" && "SQLite reuses a read while its change stamp holds instead" },
    async () => {
      const tokens: { token: string; hash: string }[] = [];
      for (let i = 0; i < 10; i++) tokens.push(await newToken());
      const { result, statements } = await watchingDecisions(() =>
        Promise.all(tokens.map((t) => s.services.oauth.resolveForCall(t.token))),
      );
      // The first call's read starts at once; the nine that arrive meanwhile share the next.
      assert.equal(statements, 2);
      assert.deepEqual(
        result.map((r) => r?.token.tokenHash),
        tokens.map((t) => t.hash),
      );
      assert.ok(result.every((r) => r?.groups.length === 2 && r.account?.handle === "recruiting"));
    },
  );

  test("a call that begins after a revocation is refused, even while an earlier call's read is under way", async () => {
    const { token: t, hash } = await newToken();
    let release!: () => void;
    const { result } = await watchingDecisions(async (hold) => {
      // The first call's statement runs before the revocation; its answer is held back.
      const readStarted = hold(new Promise<void>((r) => (release = r)));
      const first = s.services.oauth.resolveForCall(t);
      await readStarted;
      await s.services.db.run((em) =>
        em.getRepository(ApiTokenSchema).update({ tokenHash: hash }, { revokedAt: new Date() }),
      );
      const second = s.services.oauth.resolveForCall(t);
      release();
      return Promise.all([first, second]);
    });
    assert.equal(result[0]?.token.tokenHash, hash, "the first call began before the revocation");
    assert.equal(result[1], undefined, "the second began after it");
  });

  test("nothing is kept: a group removal and a revocation count on the very next call", async () => {
    await s.services.scim.patchGroup(groupId, members("remove"), scimActor);
    const removed = await call("GET", "/api/v1/lists");
    assert.equal(removed.status, 403);
    assert.match(String(removed.json.error), /may no longer act for @recruiting/);
    await s.services.scim.patchGroup(groupId, members("add"), scimActor);
    assert.equal((await call("GET", "/api/v1/lists")).status, 200);
    const hash = createHash("sha256").update(token).digest("hex");
    const live = (await s.services.oauth.list({ personId: janeId }))
      .map((t) => t.token)
      .find((t) => t.tokenHash === hash);
    assert.ok(live && (await s.services.oauth.revokeToken(live.id, "test")));
    const revoked = await call("GET", "/api/v1/lists");
    assert.equal(revoked.status, 401);
    assert.match(String(revoked.json.error), /unknown, expired or revoked/);
  });
});
