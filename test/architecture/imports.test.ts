/**
 * The shape of src/ (docs/decisions/0010-one-outbound-path.md): no import cycles between modules
 * (type-only imports included: a cycle of types is still two modules that cannot be read apart),
 * and nothing outside src/identity but the composition root names identity's entity schemas (the
 * lint rule says the same per file; this sees the whole graph).
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

const SRC = path.resolve(import.meta.dirname, "../../src");

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name)] : [],
  );
}

/** Each module's relative imports (static `import … from`, `export … from`, `import("…")`). */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of files(SRC)) {
    const text = readFileSync(file, "utf8");
    const specs = [
      ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gms),
      ...text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g),
    ].map((m) => path.resolve(path.dirname(file), m[1]));
    g.set(file, [...new Set(specs)]);
  }
  return g;
}

const rel = (f: string) => path.relative(SRC, f);

describe("the module graph of src/", () => {
  const g = graph();

  test("every relative import names a file that exists", () => {
    const missing = [...g].flatMap(([from, tos]) =>
      tos.filter((t) => !g.has(t)).map((t) => `${rel(from)} → ${t}`),
    );
    assert.deepEqual(missing, []);
  });

  test("no import cycles", () => {
    const state = new Map<string, "open" | "done">();
    const cycles: string[] = [];
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, "open");
      stack.push(f);
      for (const t of g.get(f) ?? []) {
        if (state.get(t) === "open") cycles.push([...stack.slice(stack.indexOf(t)), t].map(rel).join(" → "));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, "done");
    };
    for (const f of g.keys()) if (!state.has(f)) visit(f);
    assert.deepEqual(cycles, []);
  });

  test("outside src/identity, only the composition root imports identity's entity schemas", () => {
    const entities = path.join(SRC, "identity", "entities.ts");
    const importers = [...g]
      .filter(([from, tos]) => tos.includes(entities) && !rel(from).startsWith(`identity${path.sep}`))
      .map(([from]) => rel(from));
    assert.deepEqual(importers, ["services.ts"]);
  });
});
