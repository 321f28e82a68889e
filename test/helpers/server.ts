/** An in-process Herald on a fresh database, listening on a loopback port. */
import { type RunningServer, startServer } from "../../src/server.ts";
import { freshDatabaseUrl, testConfig } from "./env.ts";

export interface TestServer extends RunningServer {
  close(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const fresh = await freshDatabaseUrl();
  const config = testConfig(fresh.url, fresh.dir, env);
  const running = await startServer(config);
  return {
    ...running,
    async close() {
      await running.shutdown("test");
      await fresh.cleanup();
    },
  };
}
