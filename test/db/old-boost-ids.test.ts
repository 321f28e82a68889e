/**
 * Migration 0031: boosts kept before 0028 had no id of their own and were not shown; each now gets
 * the first free id of its own millisecond (checked across every numbered table), so it shows as a
 * wrapper status where it belongs in time, and the counter is raised past it.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { OldBoostIds1763700000031 } from "../../src/db/migrations/0031-old-boost-ids.ts";
import { apiToken } from "../helpers/api-token.ts";
import { freePort, TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

type Json = Record<string, unknown>;
const scimActor = { name: "scim-token:test" };

describe(`migration 0031 (ids for boosts kept before 0028) on ${TEST_DB}`, () => {
  let s: TestServer;
  let origin: string;
  let jane = "";
  let bob = "";
  let janeAccount = "";

  async function api(token: string, method: string, path: string) {
    const res = await fetch(`${origin}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as unknown };
  }

  async function account(userName: string): Promise<{ token: string; accountId: string }> {
    const personId = String(
      (await s.services.scim.createUser({ userName, displayName: userName }, scimActor)).id,
    );
    const row = await waitFor(
      async () => {
        const r = await s.services.accounts.byPerson(personId);
        return r?.keysReadyAt ? r : undefined;
      },
      { what: `${userName}'s account`, timeoutMs: 60_000 },
    );
    return {
      token: await apiToken(s, personId, row.id, { app: "Phone", scopes: ["read", "write"] }),
      accountId: row.id,
    };
  }

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    s = await startTestServer({ PORT: String(port), HERALD_ORIGIN: origin });
    const j = await account("jane@corp.example");
    jane = j.token;
    janeAccount = j.accountId;
    bob = (await account("bob@corp.example")).token;
  });

  after(async () => {
    await s?.close();
  });

  /** Runs migration 0031 on the test database as it is now. */
  async function migrate() {
    const runner = s.services.db.dataSource.createQueryRunner();
    try {
      await new OldBoostIds1763700000031().up(runner);
    } finally {
      await runner.release();
    }
  }

  test("two old boosts in one millisecond get two free ids of it, show as wrappers, and the counter moves past them", async () => {
    const posted: string[] = [];
    for (const status of ["Bob's first", "Bob's second"]) {
      const res = await fetch(`${origin}/api/v1/statuses`, {
        method: "POST",
        headers: { authorization: `Bearer ${bob}`, "content-type": "application/json" },
        body: JSON.stringify({ status }),
      });
      assert.equal(res.status, 200);
      posted.push(String(((await res.json()) as Json).id));
    }
    for (const id of posted)
      assert.equal((await api(jane, "POST", `/api/v1/statuses/${id}/reblog`)).status, 200);

    // As rows looked before 0028: no id, both made in the millisecond Bob's first post was numbered in.
    const taken = Number(posted[0]);
    const ms = Math.floor(taken / 1024);
    const at = new Date(ms).toISOString().replace("T", " ").replace("Z", "");
    await s.services.db.query(
      "UPDATE api_outbound_reaction SET api_id = NULL, created_at = ? WHERE kind = 'announce'",
      [at],
    );
    const statuses = async () =>
      (await api(jane, "GET", `/api/v1/accounts/${janeAccount}/statuses`)).body as Json[];
    assert.equal((await statuses()).length, 0, "before the migration the old boosts are not shown");

    await migrate();

    const rows = await s.services.db.query<{ api_id: number | string }>(
      "SELECT api_id FROM api_outbound_reaction WHERE kind = 'announce' ORDER BY api_id",
    );
    const ids = rows.map((r) => Number(r.api_id));
    assert.equal(ids.length, 2);
    assert.equal(new Set(ids).size, 2);
    for (const id of ids) {
      assert.equal(Math.floor(id / 1024), ms, "in its own millisecond");
      assert.notEqual(id, taken, "never the id of Bob's post");
      for (const table of ["post", "inbound_message", "follower", "reaction"]) {
        const [n] = await s.services.db.query<{ n: number | string }>(
          `SELECT COUNT(*) AS n FROM ${table} WHERE api_id = ?`,
          [id],
        );
        assert.equal(Number(n.n), 0, `${id} is not also a ${table}'s`);
      }
    }
    const [sequence] = await s.services.db.query<{ value: number | string }>(
      "SELECT value FROM api_sequence WHERE name = 'id'",
    );
    assert.ok(Number(sequence.value) >= Math.max(...ids), "the counter is past every id handed out");

    const shown = await statuses();
    assert.equal(shown.length, 2);
    assert.deepEqual(
      shown.map((x) => x.id),
      ids.map(String).reverse(),
    );
    assert.deepEqual(new Set(shown.map((x) => (x.reblog as Json).id)), new Set(posted));

    // Run again: nothing left to number, nothing changes.
    await migrate();
    const after = await s.services.db.query<{ api_id: number | string }>(
      "SELECT api_id FROM api_outbound_reaction WHERE kind = 'announce' ORDER BY api_id",
    );
    assert.deepEqual(
      after.map((r) => Number(r.api_id)),
      ids,
    );
  });
});
