/**
 * The home timeline's page cache (src/api/feed.ts, decision 0016) is only as good as its versions:
 * they are raised by a TypeORM subscriber, which sees writes made through TypeORM and nothing else.
 * So no module writes a table the timeline shows with raw SQL (migrations aside): this test reads
 * src/ for INSERT, UPDATE, DELETE or REPLACE statements naming one of them.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { WATCHED } from "../../src/api/feed.ts";

const SRC = path.resolve(import.meta.dirname, "../../src");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
  );
}

describe("writes to the tables a home timeline shows", () => {
  const tables = Object.keys(WATCHED);

  test("the subscriber watches the nine tables the timeline reads", () => {
    assert.deepEqual(tables.sort(), [
      "actor",
      "api_outbound_reaction",
      "api_remote_account",
      "follower",
      "following",
      "inbound_boost",
      "inbound_message",
      "post",
      "reaction",
    ]);
  });

  test("none is written with raw SQL outside migrations", () => {
    const raw = new RegExp(
      String.raw`\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+[\x60"']?(?:${tables.join("|")})[\x60"']?[\s(]`,
      "gi",
    );
    const found = files(SRC)
      .filter((f) => !f.includes(`${path.sep}migrations${path.sep}`))
      .flatMap((f) =>
        [...readFileSync(f, "utf8").matchAll(raw)].map((m) => `${path.relative(SRC, f)}: ${m[0].trim()}`),
      );
    assert.deepEqual(found, []);
  });
});
