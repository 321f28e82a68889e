/**
 * Services in this process with the cluster consumers (the federation bridge, ending sessions) on
 * a switch: they run only while `bridge.held` is true, as if another process held the lease. For
 * tests that look at the moment between a directory change's commit and its side effects.
 */
import type { Config } from "../../src/config.ts";
import { createDatabase } from "../../src/db/database.ts";
import { loadSecrets } from "../../src/secrets.ts";
import { createServices, entities } from "../../src/services.ts";
import { freshDatabaseUrl, testConfig } from "./env.ts";

export interface Stepped {
  readonly services: ReturnType<typeof createServices>;
  readonly config: Config;
  /** Whether this process holds the (pretend) lease: the cluster consumers run only then. */
  readonly bridge: { held: boolean };
}

/** Runs `fn` on a fresh, migrated database; the bridge starts `held` as given. */
export async function withSteppedServices(held: boolean, fn: (s: Stepped) => Promise<void>): Promise<void> {
  const fresh = await freshDatabaseUrl();
  const config = testConfig(fresh.url, fresh.dir);
  const db = await createDatabase(config.database, { entities });
  try {
    await db.migrate();
    const bridge = { held };
    const services = createServices(config, db, await loadSecrets(config), {
      lease: { held: () => bridge.held, fence: async () => bridge.held },
    });
    await fn({ services, config, bridge });
  } finally {
    await db.close();
    await fresh.cleanup();
  }
}
