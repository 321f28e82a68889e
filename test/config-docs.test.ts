/**
 * Every variable src/config.ts reads is documented where an operator looks: the README's
 * configuration table and .env.example ("lists them all"). A setting added without its line fails
 * here, naming it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { CONFIG_VARIABLES } from "../src/config.ts";
import { ROOT } from "./helpers/env.ts";

/** Set by the runtime, not by an operator. */
const NOT_SETTINGS = new Set(["NODE_ENV"]);

test("every configuration variable is in the README's table and in .env.example", () => {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const table = readme.slice(
    readme.indexOf("## Configuration"),
    readme.indexOf("\n## ", readme.indexOf("## Configuration") + 1),
  );
  const example = readFileSync(path.join(ROOT, ".env.example"), "utf8");
  const variables = CONFIG_VARIABLES.filter((v) => !NOT_SETTINGS.has(v));
  assert.ok(variables.length >= 50, `read ${variables.length} variables from the schema`);
  const inTable = (v: string) => new RegExp(`^\\|[^\\n]*\`${v}\``, "m").test(table);
  const inExample = (v: string) => new RegExp(`^#?\\s*${v}=`, "m").test(example);
  assert.deepEqual(
    variables.filter((v) => !inTable(v)),
    [],
    "missing from README.md's configuration table",
  );
  assert.deepEqual(
    variables.filter((v) => !inExample(v)),
    [],
    "missing from .env.example",
  );
});
