/** Shared set-up for SCIM tests: a service on a fresh database, seeded from cases/users.json. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { JsonObject } from "../../src/scim/documents.ts";
import { createDirectory } from "../../src/identity/directory.ts";
import { createScimService, type ScimService } from "../../src/scim/service.ts";
import { migratedDatabase, type TestDb } from "../helpers/env.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const cases = (name: string) => JSON.parse(readFileSync(path.join(HERE, "cases", name), "utf8"));
export const actor = { name: "scim-token:test", requestId: "test" };

/**
 * Expands `{{N*text}}` in a case's strings (`{{33*(}}`): long or deeply nested inputs stay
 * readable in the JSON tables. Works on any JSON value (through its text).
 */
export function expand<T>(value: T): T {
  const text = JSON.stringify(value).replace(/\{\{(\d+)\*(.*?)\}\}/g, (_, n: string, t: string) =>
    t.repeat(Number(n)),
  );
  return JSON.parse(text) as T;
}

/** Replaces {{id:name}} placeholders (in strings, recursively) with seeded ids. */
export function withIds<T>(value: T, ids: ReadonlyMap<string, string>): T {
  return JSON.parse(
    JSON.stringify(value).replace(/\{\{id:(\w+)\}\}/g, (_, n: string) => {
      const id = ids.get(n);
      if (!id) throw new Error(`no seeded user ${n}`);
      return id;
    }),
  ) as T;
}

export interface Seeded {
  readonly t: TestDb;
  readonly scim: ScimService;
  readonly ids: Map<string, string>;
  readonly byId: Map<string, string>;
}

/** Creates the users of cases/users.json in `order` (a few ms apart, so meta.created orders them). */
export async function seedUsers(order: readonly string[]): Promise<Seeded> {
  const t = await migratedDatabase();
  const scim = createScimService(createDirectory(t.db), { baseUrl: "https://herald.test/scim/v2" });
  const users = cases("users.json") as Record<string, JsonObject>;
  const ids = new Map<string, string>();
  for (const name of order) {
    const created = await scim.createUser(withIds(users[name], ids), actor);
    ids.set(name, String(created.id));
    await new Promise((r) => setTimeout(r, 5));
  }
  return { t, scim, ids, byId: new Map([...ids].map(([k, v]) => [v, k])) };
}
