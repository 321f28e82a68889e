/**
 * MySQL's per-call decision reads under trouble (src/api/oauth.ts, decision 0016): a read that is
 * stuck does not hold every call of the process (after `slowMs` the next read starts beside it);
 * one the database does not answer within `timeoutMs` is abandoned and its calls answered 503
 * with Retry-After (a real table lock on MariaDB, through HTTP); the calls waiting for a read are
 * bounded (random tokens cannot grow the process without end); and batches are padded to four
 * statement sizes, so a connection prepares four statements, not one per batch size.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { appTokenCreate } from "../../src/api/cli.ts";
import { ACCESS_TOKEN_PREFIX, createOAuth, DecisionUnavailableError } from "../../src/api/oauth.ts";
import type { Database } from "../../src/db/database.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const isDecision = (sql: string) => /api_token/.test(sql);
const randomToken = () => `${ACCESS_TOKEN_PREFIX}${randomBytes(24).toString("base64url")}`;
/** A call's outcome: a valid or unknown token, or refused for now (503). */
const outcome = (p: Promise<unknown>) =>
  p.then(
    (r) => (r ? "valid" : "unknown"),
    (e: unknown) => (e instanceof DecisionUnavailableError ? "unavailable" : `error: ${String(e)}`),
  );

describe(
  `decision reads under trouble on ${TEST_DB}`,
  { skip: TEST_DB !== "mysql" && "SQLite reads a local file: no lanes, no timeout, nothing waits" },
  () => {
    let s: TestServer;
    let token = "";

    /**
     * This server's database, whose decision reads pass `gate` first: each read waits for the
     * promise `gate` returns for it (after recording its statement text).
     */
    function gated(gate: (sql: string) => Promise<void>): Database {
      const db = s.services.db;
      return {
        ...db,
        rows: async (sql, params, options) => {
          if (isDecision(sql)) await gate(sql);
          return db.rows(sql, params, options);
        },
      };
    }

    /** An OAuth whose `n`th decision read is stuck until `release` (room for 3 waiting tokens). */
    function stuckRead(n: number) {
      let release!: () => void;
      const stuck = new Promise<void>((r) => (release = r));
      let reads = 0;
      const oauth = createOAuth({
        db: gated(() => (++reads === n ? stuck : Promise.resolve())),
        production: false,
        reads: { slowMs: 60_000, maxWaiting: 3 },
      });
      return { oauth, release, reads: () => reads };
    }

    before(async () => {
      s = await startTestServer();
      await s.services.scim.createUser({ userName: "jane@corp.example", displayName: "Jane" }, { name: "t" });
      await waitFor(async () => (await s.services.accounts.byHandle("jane"))?.keysReadyAt ?? undefined, {
        what: "Jane's account",
        timeoutMs: 60_000,
      });
      const r = await appTokenCreate(s.services, {
        userName: "jane@corp.example",
        account: "jane",
        by: "test",
      });
      assert.ok(r.ok);
      token = r.token;
    });
    after(async () => {
      await s?.close();
    });

    test("a stuck read does not hold the next call: after slowMs another read starts beside it", async () => {
      let first = true;
      let release!: () => void;
      const stuck = new Promise<void>((r) => (release = r));
      const oauth = createOAuth({
        db: gated(() => {
          if (!first) return Promise.resolve();
          first = false;
          return stuck;
        }),
        production: false,
        reads: { slowMs: 50, lanes: 2 },
      });
      const held = oauth.resolveForCall(randomToken());
      await new Promise((r) => setTimeout(r, 120));
      const answered = await Promise.race([
        oauth.resolveForCall(token),
        new Promise<"still waiting">((r) => setTimeout(() => r("still waiting"), 3000)),
      ]);
      assert.notEqual(answered, "still waiting", "answered while the first read is stuck");
      assert.equal(
        answered === "still waiting" ? undefined : answered?.person?.userName,
        "jane@corp.example",
      );
      release();
      assert.equal(await held, undefined);
    });

    test("the calls waiting for a read are bounded: past maxWaiting tokens, 503 at once", async () => {
      const { oauth, release, reads } = stuckRead(1);
      // The first is read at once (and stuck); three wait; a fifth and sixth find no room.
      const calls = [outcome(oauth.resolveForCall(randomToken()))];
      await waitFor(async () => (reads() === 1 ? true : undefined), { what: "the first read" });
      for (let i = 0; i < 5; i++) calls.push(outcome(oauth.resolveForCall(randomToken())));
      await new Promise((r) => setTimeout(r, 20));
      release();
      assert.deepEqual(await Promise.all(calls), [...Array(4).fill("unknown"), "unavailable", "unavailable"]);
    });

    test("made-up tokens filling the room do not lock out a token read as valid before", async () => {
      const { oauth, release, reads } = stuckRead(2);
      // Jane's token is read once (valid): this process knows it.
      assert.ok(await oauth.resolveForCall(token));
      // A made-up token's read is stuck; three more fill the room; a fourth finds none; Jane's
      // call still waits for the next read, and gets it.
      const calls = [outcome(oauth.resolveForCall(randomToken()))];
      await waitFor(async () => (reads() === 2 ? true : undefined), { what: "the stuck read" });
      for (let i = 0; i < 4; i++) calls.push(outcome(oauth.resolveForCall(randomToken())));
      calls.push(outcome(oauth.resolveForCall(token)));
      await new Promise((r) => setTimeout(r, 20));
      release();
      assert.deepEqual(await Promise.all(calls), [...Array(4).fill("unknown"), "unavailable", "valid"]);
      assert.equal(reads(), 3);
    });

    test("batches of 1 to 20 tokens are read by 4 statement texts (sizes 1, 4, 16, 64)", async () => {
      const texts = new Set<string>();
      let hold: Promise<void> | undefined;
      const oauth = createOAuth({
        db: gated((sql) => {
          texts.add(sql);
          const h = hold;
          hold = undefined;
          return h ?? Promise.resolve();
        }),
        production: false,
        reads: { slowMs: 60_000 },
      });
      const counts: number[] = [];
      for (let n = 1; n <= 20; n++) {
        // A first read held while n calls arrive: the next statement reads those n together.
        let release!: () => void;
        hold = new Promise<void>((r) => (release = r));
        const first = oauth.resolveForCall(randomToken());
        await waitFor(async () => (hold === undefined ? true : undefined), { what: "the held read" });
        const before = texts.size;
        const batch = Array.from({ length: n }, () => oauth.resolveForCall(randomToken()));
        await new Promise((r) => setTimeout(r, 5));
        release();
        assert.deepEqual(await Promise.all([first, ...batch]), Array(n + 1).fill(undefined));
        counts.push(texts.size - before);
      }
      assert.equal(texts.size, 4);
      // A new text only at n = 2 (4), 5 (16) and 17 (64); n = 1 reuses the first read's.
      assert.deepEqual(
        counts.flatMap((c, i) => (c ? [i + 1] : [])),
        [2, 5, 17],
      );
    });

    test("a read the database does not answer in time: 503 with Retry-After, then the next call is answered", async () => {
      const mysql = await import("mysql2/promise");
      const locker = await mysql.createConnection(s.services.config.database.url);
      try {
        // Another session's write lock on the token table: every read of it waits (a real hang).
        await locker.query("LOCK TABLES api_token WRITE");
        const started = Date.now();
        const res = await fetch(`${s.url}/api/v1/lists`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(15_000),
        });
        const waited = Date.now() - started;
        assert.equal(res.status, 503);
        assert.equal(res.headers.get("retry-after"), "1");
        assert.match(((await res.json()) as { error: string }).error, /could not be checked now/);
        assert.ok(waited >= 4000, `answered after the 5 s timeout (${waited} ms)`);
      } finally {
        await locker.query("UNLOCK TABLES");
        await locker.end();
      }
      const again = await fetch(`${s.url}/api/v1/lists`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(again.status, 200);
    });
  },
);
