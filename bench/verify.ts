/**
 * bench/verify — the verification API's throughput against a bare Koa route, measured in the
 * same run (target ≥ 0.5 of it). The measurement lives in bench/federation.ts, which starts the
 * same servers; this runs it and prints the read table only.
 *
 *   node bench/verify.ts [--quick]
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const r = spawnSync(process.execPath, [path.join(here, "federation.ts"), ...process.argv.slice(2)], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
  timeout: 15 * 60_000,
});
const lines = r.stdout.split("\n");
const end = lines.findIndex((l) => l.startsWith("fan-out:"));
process.stdout.write(
  `${lines
    .slice(0, end === -1 ? undefined : end)
    .join("\n")
    .trimEnd()}\n`,
);
process.exit(r.status ?? 1);
