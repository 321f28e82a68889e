/**
 * One Herald organization on its own loopback port and fresh database, for tests with two
 * instances federating: its origin is known before it starts (signatures cover the Host), and
 * `env` runs the CLI against the same database.
 */
import { type RunningServer, startServer } from "../../src/server.ts";
import { freePort, freshDatabaseUrl, type TestDatabaseUrl, testConfig, testEnv } from "./env.ts";

export interface Instance {
  readonly s: RunningServer;
  readonly fresh: TestDatabaseUrl;
  readonly origin: string;
  /** The environment of `herald …` for this instance (test/helpers/process.ts runCli). */
  readonly env: Record<string, string | undefined>;
}

/** `extra`: more environment, e.g. `{ HERALD_DEV_IDP: "true" }` for sign-in through the development IdP. */
export async function startInstance(org: string, extra: Record<string, string> = {}): Promise<Instance> {
  const fresh = await freshDatabaseUrl();
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const vars = { ...extra, PORT: String(port), HERALD_ORIGIN: origin, HERALD_ORG_NAME: org };
  return {
    s: await startServer(testConfig(fresh.url, fresh.dir, vars)),
    fresh,
    origin,
    env: testEnv({ DATABASE_URL: fresh.url, HERALD_DATA_DIR: fresh.dir, ...vars }),
  };
}
