#!/usr/bin/env node
/**
 * Checks a Herald archive export (`herald archive export --format jsonl --out DIR`) offline, with
 * nothing but the export and the organization's public key.
 *
 *   npm install jose
 *   node verify-archive-export.mjs DIR [--jwks <file or https URL of the org's jwks.json>]
 *
 * What it checks:
 *   1. manifest.jws is the organization's signature over manifest.json (the key: --jwks, e.g.
 *      https://social.example.com/.well-known/jwks.json; without it the key inside the manifest,
 *      whose thumbprint is printed so you can compare it with the one the organization publishes);
 *   2. records.jsonl is the file the manifest names (SHA-256), and lists exactly the manifest's records;
 *   3. every record's hash is the SHA-256 of its canonical JSON (all fields but "id" and "hash");
 *   4. within each day, each record links to the one before it (where both are in the export);
 *   5. each day's digest is signed by the organization and names the day's record count and last
 *      hash; where the export holds the whole day, the chain from the day's start (through the
 *      signed purge checkpoints of records removed after retention) ends exactly at that hash.
 *
 * Exit 0 and a summary on stdout if everything holds; otherwise one line per problem on stderr, exit 1.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  calculateJwkThumbprint,
  compactVerify,
  createLocalJWKSet,
  createRemoteJWKSet,
  importJWK,
} from "jose";

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith("--"));
const jwksAt = args.includes("--jwks") ? args[args.indexOf("--jwks") + 1] : undefined;
if (!dir) {
  process.stderr.write("usage: node verify-archive-export.mjs <export dir> [--jwks <file or URL>]\n");
  process.exit(1);
}

const problems = [];
const problem = (line) => problems.push(line);
const sha256 = (text) => createHash("sha256").update(text, "utf8").digest("hex");

/** Canonical JSON: keys sorted by UTF-16 code units, no whitespace (RFC 8785 for these values). */
function canonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

const manifestText = readFileSync(path.join(dir, "manifest.json"), "utf8");
const manifest = JSON.parse(manifestText);
const keyThumbprint = await calculateJwkThumbprint(manifest.publicKey, "sha256");
let key;
if (jwksAt) {
  key = /^https?:/.test(jwksAt)
    ? createRemoteJWKSet(new URL(jwksAt))
    : createLocalJWKSet(JSON.parse(readFileSync(jwksAt, "utf8")));
} else {
  key = await importJWK(manifest.publicKey, "EdDSA");
}

/** The payload of a JWS signed by the organization with type `typ`, or undefined (a problem noted). */
async function opened(jws, typ, what) {
  try {
    const { payload, protectedHeader } = await compactVerify(jws.trim(), key, { algorithms: ["EdDSA"] });
    if (protectedHeader.typ !== typ) return problem(`${what}: signed as ${protectedHeader.typ}, not ${typ}`);
    return JSON.parse(new TextDecoder().decode(payload));
  } catch (e) {
    return problem(`${what}: the organization's signature does not verify (${e.code ?? e.message})`);
  }
}

// 1. The manifest.
const signed = await opened(
  readFileSync(path.join(dir, "manifest.jws"), "utf8"),
  "herald-archive-manifest+jws",
  "manifest.jws",
);
if (signed && signed.manifestSha256 !== sha256(manifestText))
  problem("manifest.json is not the manifest that was signed");

// 2. The records file.
const jsonl = readFileSync(path.join(dir, "records.jsonl"), "utf8");
if (sha256(jsonl) !== manifest.files["records.jsonl"])
  problem("records.jsonl is not the file the manifest names (SHA-256 differs)");
const records = jsonl
  .split("\n")
  .filter(Boolean)
  .map((line) => JSON.parse(line));
if (records.length !== manifest.count || records.length !== manifest.records.length)
  problem(`records.jsonl holds ${records.length} records, the manifest ${manifest.count}`);

// 3 and 4. Each record, and its link to the previous one.
const byChain = new Map();
records.forEach((r, i) => {
  const name = `record ${r.id} (${r.chain} #${r.seq}, ${r.kind})`;
  const { id: _id, hash, ...fields } = r;
  if (sha256(canonical(fields)) !== hash) problem(`${name}: its hash does not match its content`);
  const listed = manifest.records[i];
  if (!listed || listed.chain !== r.chain || listed.seq !== r.seq || listed.hash !== hash)
    problem(`${name}: not the record the manifest lists at position ${i + 1}`);
  if (!byChain.has(r.chain)) byChain.set(r.chain, []);
  byChain.get(r.chain).push(r);
});

// 5. Each day: digest, purge checkpoints, links.
const genesis = (chain) => sha256(`herald-archive-genesis:${chain}`);
let wholeDays = 0;
for (const day of manifest.chains) {
  const rows = byChain.get(day.chain) ?? [];
  if (day.digest) {
    const d = await opened(day.digest, "herald-archive-digest+jws", `digest of ${day.chain}`);
    if (d && (d.chain !== day.chain || d.count !== day.count || d.head !== day.head))
      problem(`digest of ${day.chain}: does not match the day's count and head in the manifest`);
  }
  const purges = new Map();
  for (const p of day.purges) {
    const q = await opened(
      p.signature,
      "herald-archive-purge+jws",
      `purge checkpoint ${day.chain} #${p.fromSeq}–${p.toSeq}`,
    );
    if (
      q &&
      (q.chain !== day.chain || q.fromSeq !== p.fromSeq || q.toSeq !== p.toSeq || q.lastHash !== p.lastHash)
    )
      problem(`purge checkpoint ${day.chain} #${p.fromSeq}: differs from what was signed`);
    purges.set(p.fromSeq, p);
  }
  // Walk the day from its start; a gap that no checkpoint covers means the export holds part of it.
  let prev = genesis(day.chain);
  let expected = 1;
  let whole = true;
  for (const r of rows) {
    for (let p = purges.get(expected); p; p = purges.get(expected)) {
      prev = p.lastHash;
      expected = p.toSeq + 1;
    }
    if (r.seq !== expected) whole = false;
    else if (r.prevHash !== prev)
      problem(`record ${r.id} (${r.chain} #${r.seq}): does not link to the record before it`);
    prev = r.hash;
    expected = r.seq + 1;
  }
  for (let p = purges.get(expected); p; p = purges.get(expected)) {
    prev = p.lastHash;
    expected = p.toSeq + 1;
  }
  if (whole && expected - 1 === day.count) {
    if (prev !== day.head) problem(`${day.chain}: the records do not end at the day's head`);
    if (day.digest) wholeDays++;
  }
}

if (problems.length > 0) {
  for (const p of problems) process.stderr.write(`not verified: ${p}\n`);
  process.exit(1);
}
process.stdout.write(
  `verified: ${records.length} records, ${manifest.chains.length} days (${wholeDays} whole and sealed, checked against their signed digests); key ${keyThumbprint}${jwksAt ? ` from ${jwksAt}` : " (from the manifest: compare with the organization's jwks.json)"}\n`,
);
