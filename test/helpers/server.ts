/** An in-process Herald on a fresh database, listening on a loopback port. */
import type { Config } from "../../src/config.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { freshDatabaseUrl, testConfig } from "./env.ts";

export interface TestServer extends RunningServer {
  close(): Promise<void>;
}

/**
 * `overrides` replace parsed settings: `{ isDemoDatabase: true }` makes this database stand in for
 * the demo's (the directory on the home page, the demo organization seeded).
 */
export async function startTestServer(
  env: Record<string, string> = {},
  overrides: Partial<Config> = {},
): Promise<TestServer> {
  const fresh = await freshDatabaseUrl();
  const config = { ...testConfig(fresh.url, fresh.dir, env), ...overrides };
  const running = await startServer(config);
  return {
    ...running,
    async close() {
      await running.shutdown("test");
      await fresh.cleanup();
    },
  };
}
