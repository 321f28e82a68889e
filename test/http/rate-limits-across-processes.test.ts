/**
 * Two Herald servers on one MySQL/MariaDB database share one count per key (src/http/rate-limit.ts,
 * HERALD_RATE_LIMIT_STORE=database, the default there): with a burst of B, exactly B of the
 * requests sent alternately to both are allowed, the rest answer 429 with Retry-After. With the
 * memory store each server keeps its own bucket, so the same requests get 2 × B through: the N×
 * of docs/decisions/0011-shared-rate-limits.md. On SQLite (one process) the count is in memory.
 *
 * The rate is 1/s and every window lasts B seconds: the requests take a small fraction of that.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type RunningServer, startServer } from "../../src/server.ts";
import { freshDatabaseUrl, TEST_DB, testConfig } from "../helpers/env.ts";
import { startTestServer } from "../helpers/server.ts";

const BURST = 5;
const LIMITS = {
  HERALD_SCIM_RATE_PER_SECOND: "1",
  HERALD_SCIM_BURST: String(BURST),
  HERALD_VERIFY_RATE_PER_SECOND: "1",
  HERALD_VERIFY_BURST: String(BURST),
  // E-mail lookups: 2 × BURST a minute is a burst of BURST (src/verify/routes.ts).
  HERALD_VERIFY_EMAIL_LOOKUP: "true",
  HERALD_VERIFY_EMAIL_DOMAINS: "corp.example",
  HERALD_VERIFY_EMAIL_PER_MINUTE: String(2 * BURST),
};

interface Answer {
  readonly status: number;
  readonly retryAfter: string | null;
}

/** `rounds` × (one request to each server), in turn; every answer's status and Retry-After. */
async function alternate(
  servers: readonly RunningServer[],
  rounds: number,
  request: (url: string) => Promise<Response>,
) {
  const answers: Answer[] = [];
  for (let i = 0; i < rounds; i++)
    for (const s of servers) {
      const res = await request(s.url);
      await res.arrayBuffer();
      answers.push({ status: res.status, retryAfter: res.headers.get("retry-after") });
    }
  return answers;
}

function tally(answers: readonly Answer[]) {
  const limited = answers.filter((a) => a.status === 429);
  return {
    allowed: answers.filter((a) => a.status === 200).length,
    limited: limited.length,
    other: answers.length - limited.length - answers.filter((a) => a.status === 200).length,
    retryAfter: [...new Set(limited.map((a) => a.retryAfter))],
  };
}

/** Two servers on one fresh database; B does not run the once-per-deployment consumers. */
async function twoServers(env: Record<string, string>) {
  const fresh = await freshDatabaseUrl();
  const a = await startServer(testConfig(fresh.url, fresh.dir, { ...LIMITS, ...env }));
  const b = await startServer(testConfig(fresh.url, fresh.dir, { ...LIMITS, ...env }), "web");
  const token = await a.services.tokens.create("shared-limit", "test");
  assert.ok(token.ok);
  const scim = (url: string) =>
    fetch(`${url}/scim/v2/ServiceProviderConfig`, { headers: { authorization: `Bearer ${token.token}` } });
  const verify = (url: string) =>
    fetch(`${url}/api/verification?handle=${encodeURIComponent("@x@y.example")}`);
  const email = (url: string) =>
    fetch(`${url}/api/verification?email=${encodeURIComponent("x@corp.example")}`);
  return {
    servers: [a, b] as const,
    scim,
    verify,
    email,
    async close() {
      await b.shutdown("test");
      await a.shutdown("test");
      await fresh.cleanup();
    },
  };
}

describe(
  `rate limits across two servers on one database (${TEST_DB})`,
  {
    skip: TEST_DB !== "mysql" && "two servers share MySQL/MariaDB only; see the SQLite case below",
  },
  () => {
    test("database store (the default): one SCIM token's burst in all, then 429 with Retry-After", async () => {
      const h = await twoServers({});
      try {
        assert.equal(h.servers[0].services.config.rateLimitStore, "database");
        const answers = await alternate(h.servers, BURST + 2, h.scim);
        const t = tally(answers);
        assert.deepEqual(
          { allowed: t.allowed, limited: t.limited, other: t.other },
          {
            allowed: BURST,
            limited: BURST + 4,
            other: 0,
          },
        );
        // Both servers refused, each with a Retry-After within the window.
        assert.ok(answers.slice(BURST).every((a) => a.status === 429));
        for (const r of t.retryAfter) assert.ok(Number(r) >= 1 && Number(r) <= BURST, `Retry-After ${r}`);
      } finally {
        await h.close();
      }
    });

    test("database store: one client address's e-mail lookup burst in all (the enumeration guard)", async () => {
      // The handle answers' own limit is per process (below): a generous one for this case.
      const h = await twoServers({ HERALD_VERIFY_BURST: "100", HERALD_VERIFY_RATE_PER_SECOND: "100" });
      try {
        const t = tally(await alternate(h.servers, BURST + 2, h.email));
        assert.deepEqual(
          { allowed: t.allowed, limited: t.limited, other: t.other },
          {
            allowed: BURST,
            limited: BURST + 4,
            other: 0,
          },
        );
        // A window of BURST lookups at 2 × BURST a minute lasts 30 s.
        for (const r of t.retryAfter) assert.ok(Number(r) >= 1 && Number(r) <= 30, `Retry-After ${r}`);
      } finally {
        await h.close();
      }
    });

    test("database store: verification answers by handle are limited per process (hot, public)", async () => {
      const h = await twoServers({});
      try {
        const t = tally(await alternate(h.servers, BURST + 2, h.verify));
        assert.deepEqual(
          { allowed: t.allowed, limited: t.limited, other: t.other },
          { allowed: 2 * BURST, limited: 4, other: 0 },
        );
      } finally {
        await h.close();
      }
    });

    test("memory store: each server has its own bucket, so twice the burst gets through", async () => {
      const h = await twoServers({ HERALD_RATE_LIMIT_STORE: "memory" });
      try {
        const t = tally(await alternate(h.servers, BURST + 2, h.scim));
        assert.deepEqual(
          { allowed: t.allowed, limited: t.limited, other: t.other },
          {
            allowed: 2 * BURST,
            limited: 4,
            other: 0,
          },
        );
        for (const r of t.retryAfter) assert.ok(Number(r) >= 1, `Retry-After ${r}`);
      } finally {
        await h.close();
      }
    });
  },
);

describe(
  `one server on SQLite counts in memory (${TEST_DB})`,
  {
    skip: TEST_DB !== "sqlite" && "the SQLite case",
  },
  () => {
    test("the memory store by default: the SCIM token's burst, then 429 with Retry-After", async () => {
      const s = await startTestServer(LIMITS);
      try {
        assert.equal(s.services.config.rateLimitStore, "memory");
        const token = await s.services.tokens.create("memory-limit", "test");
        assert.ok(token.ok);
        const answers = await alternate([s], BURST + 2, (url) =>
          fetch(`${url}/scim/v2/ServiceProviderConfig`, {
            headers: { authorization: `Bearer ${token.token}` },
          }),
        );
        assert.deepEqual(
          answers.map((a) => a.status),
          [...Array(BURST).fill(200), 429, 429],
        );
        assert.ok(answers.slice(BURST).every((a) => Number(a.retryAfter) >= 1));
      } finally {
        await s.close();
      }
    });
  },
);
