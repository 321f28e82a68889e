/**
 * Archive exports, for `herald archive export` (files in a directory) and the compliance page
 * (the same files in one download): the records a filter matches (search.ts) as
 *
 * - `jsonl`: records.jsonl (one record per line: exactly the fields its hash covers, with `hash`
 *   and the database `id`) and manifest.json (the hash of records.jsonl, every record's hash, each
 *   day's head, signed digest and purge checkpoints, the public key), signed as manifest.jws;
 *   docs/examples/verify-archive-export.mjs checks all of it offline.
 * - `eml`: one RFC 5322 message per record (what archiving services ingest): From and To from the
 *   accounts, Date, Message-ID, the words as a UTF-8 text body, the record itself after them.
 *
 * Every export is audited (by its caller: the CLI's names the directory, the page's the person).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { In } from "typeorm";
import type { Database } from "../db/database.ts";
import { canonicalJson, hashedFields, sha256 } from "./canonical.ts";
import { ArchiveChainSchema, ArchivePurgeSchema, type ArchiveRecordRow } from "./entities.ts";
import { allMatching, type ArchiveFilter, auditArchiveAccess } from "./search.ts";
import type { ArchiveSigner } from "./signing.ts";

export type ExportFormat = "jsonl" | "eml";

export interface ExportRequest {
  readonly format: ExportFormat;
  readonly filter: ArchiveFilter;
  /** Who exports, as the audit log names them (`cli:<os user>`, `person:<id>`). */
  readonly by: string;
  readonly origin: string;
  readonly handleDomain: string;
}

/** One file of an export: its name in the directory (or the download) and its text. */
export interface ExportFile {
  readonly name: string;
  readonly content: string;
}

export interface ExportOptions {
  readonly format: ExportFormat;
  readonly outDir: string;
  readonly accountId?: string;
  /** Days, `YYYY-MM-DD`, inclusive (UTC). */
  readonly from?: string;
  readonly to?: string;
  readonly by: string;
  readonly origin: string;
  readonly handleDomain: string;
}

/** A record as exported: what its hash covers, its hash, and its id in the database. */
export function exportedRecord(r: ArchiveRecordRow): Record<string, unknown> {
  return { id: r.id, ...hashedFields(r), hash: r.hash };
}

/** The export's files, in memory (not audited: the caller audits the access). */
export async function buildExport(
  db: Database,
  signer: ArchiveSigner,
  o: ExportRequest,
): Promise<{ count: number; files: ExportFile[] }> {
  const records = await allMatching(db, o.filter);
  if (o.format === "eml")
    return {
      count: records.length,
      files: records.map((r) => ({
        name: `${r.chain}-${String(r.seq).padStart(6, "0")}.eml`,
        content: toEml(r, o.handleDomain),
      })),
    };
  const jsonl = records.map((r) => `${canonicalJson(exportedRecord(r))}\n`).join("");
  const chains = [...new Set(records.map((r) => r.chain))];
  const [heads, purges] = await db.run((em) =>
    Promise.all([
      em.getRepository(ArchiveChainSchema).findBy({ chain: In(chains) }),
      em.getRepository(ArchivePurgeSchema).find({ where: { chain: In(chains) }, order: { fromSeq: "ASC" } }),
    ]),
  );
  const f = o.filter;
  const manifest = {
    format: "herald-archive-export",
    version: 1,
    origin: o.origin,
    exportedAt: new Date().toISOString(),
    exportedBy: o.by,
    // The criteria the CLI takes always; the page's further ones only when set.
    filter: {
      account: f.accountId ?? null,
      from: f.from ?? null,
      to: f.to ?? null,
      ...(f.scope !== undefined ? { accounts: f.scope } : {}),
      ...(f.personId !== undefined ? { person: f.personId } : {}),
      ...(f.direction !== undefined ? { direction: f.direction } : {}),
      ...(f.text ? { text: f.text } : {}),
    },
    files: { "records.jsonl": sha256(jsonl) },
    count: records.length,
    records: records.map((r) => ({ chain: r.chain, seq: r.seq, hash: r.hash })),
    chains: heads
      .sort((a, b) => (a.chain < b.chain ? -1 : 1))
      .map((h) => ({
        chain: h.chain,
        count: h.seq,
        head: h.headHash,
        digest: h.digest,
        purges: purges
          .filter((p) => p.chain === h.chain)
          .map((p) => ({
            fromSeq: p.fromSeq,
            toSeq: p.toSeq,
            lastHash: p.lastHash,
            signature: p.signature,
          })),
      })),
    publicKey: signer.publicJwk,
  };
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  const jws = await signer.sign("herald-archive-manifest+jws", { manifestSha256: sha256(manifestText) });
  return {
    count: records.length,
    files: [
      { name: "records.jsonl", content: jsonl },
      { name: "manifest.json", content: manifestText },
      { name: "manifest.jws", content: `${jws}\n` },
    ],
  };
}

/** `herald archive export`: the files written to `outDir`, the export audited with the operator. */
export async function exportArchive(
  db: Database,
  signer: ArchiveSigner,
  o: ExportOptions,
): Promise<{ count: number; files: string[] }> {
  const filter: ArchiveFilter = { accountId: o.accountId, from: o.from, to: o.to };
  const r = await buildExport(db, signer, { ...o, filter });
  mkdirSync(o.outDir, { recursive: true });
  for (const f of r.files) writeFileSync(path.join(o.outDir, f.name), f.content);
  await auditArchiveAccess(db, {
    action: "archive.export",
    by: o.by,
    filter,
    count: r.count,
    detail: { format: o.format, out: path.resolve(o.outDir) },
  });
  return { count: r.count, files: r.files.map((f) => f.name) };
}

// ——— RFC 5322 ———

const CRLF = "\r\n";

/** RFC 2047 encoded-word when the text is not plain printable ASCII (display names, Subject). */
function encodeWord(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : `=?UTF-8?B?${Buffer.from(text, "utf8").toString("base64")}?=`;
}

/** A quoted display name (RFC 5322 §3.2.4), or an encoded word for non-ASCII text. */
function displayName(text: string): string {
  const clean = text.replace(/[\r\n]+/g, " ").slice(0, 100);
  return /^[\x20-\x7e]*$/.test(clean) ? `"${clean.replace(/["\\]/g, "\\$&")}"` : encodeWord(clean);
}

/** A dot-atom domain: the handle domain without its port (RFC 5322 §3.4.1). */
const mailDomain = (handleDomain: string) => handleDomain.replace(/:\d+$/, "");

/** A dot-atom local part from anything: characters outside atext become `_`. */
const localPart = (text: string) =>
  text
    .replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]/g, "_")
    .replace(/\.{2,}/g, ".")
    .replace(/^\.|\.$/g, "_") || "_";

/** A remote actor's IRI as an address: its last path segment at its host. */
function remoteAddress(iri: string): string {
  try {
    const u = new URL(iri);
    const last = u.pathname.split("/").filter(Boolean).at(-1) ?? "actor";
    return `${localPart(last.replace(/^@/, ""))}@${u.hostname}`;
  } catch {
    return `${localPart(iri)}@invalid`;
  }
}

/** RFC 5322 §3.3 date-time in UTC. */
const rfc5322Date = (d: Date) => d.toUTCString().replace(/GMT$/, "+0000");

/** Plain text of a record's words (also what the compliance page shows). */
export function wordsOf(content: Record<string, unknown>): string {
  if (typeof content.text === "string") return content.text;
  const html = [content.html, content.lastHtml].find((h) => typeof h === "string") as string | undefined;
  if (!html) return "";
  return html
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/p>\s*<p[^>]*>/gi, "\n\n")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

export function toEml(r: ArchiveRecordRow, handleDomain: string): string {
  const domain = mailDomain(handleDomain);
  const content = JSON.parse(r.content) as Record<string, unknown>;
  const account = r.accountHandle
    ? `${displayName(`@${r.accountHandle}`)} <${localPart(r.accountHandle)}@${domain}>`
    : null;
  const orgAddress = `<archive@${domain}>`;
  const remote = r.remoteActor ? `${displayName(r.remoteActor)} <${remoteAddress(r.remoteActor)}>` : null;
  const mentioned = Array.isArray(content.mentions)
    ? (content.mentions as { name?: string }[])
        .map((m) => /^@?([^@\s]+)@([^@\s]+)$/.exec(m.name ?? ""))
        .filter((m): m is RegExpExecArray => !!m)
        .map((m) => `<${localPart(m[1])}@${m[2].replace(/:\d+$/, "")}>`)
    : [];
  let from: string;
  let to: string;
  if (r.direction === "in") {
    from = remote ?? orgAddress;
    to = account ?? orgAddress;
  } else if (r.direction === "out") {
    from = account ?? orgAddress;
    to = remote ?? (mentioned.length > 0 ? mentioned.join(", ") : "undisclosed-recipients:;");
  } else {
    from = account ?? orgAddress;
    to = account ?? orgAddress;
  }
  const words = wordsOf(content);
  const firstLine = words.split("\n")[0].slice(0, 60);
  const subject = `[${r.kind}]${r.accountHandle ? ` @${r.accountHandle}` : ""}${firstLine ? `: ${firstLine}` : ""}`;
  const headers: [string, string][] = [
    ["From", from],
    ["To", to],
    ["Date", rfc5322Date(r.recordedAt)],
    ["Message-ID", `<${r.chain}.${r.seq}.${r.hash.slice(0, 16)}@${domain}>`],
    ["Subject", encodeWord(subject)],
    ["MIME-Version", "1.0"],
    ["Content-Type", "text/plain; charset=utf-8"],
    ["Content-Transfer-Encoding", "base64"],
    ["X-Herald-Record", `${r.chain} ${r.seq}`],
    ["X-Herald-Kind", r.kind],
    ["X-Herald-Direction", r.direction],
    ["X-Herald-Hash", r.hash],
    ["X-Herald-Prev-Hash", r.prevHash],
  ];
  if (r.personId) headers.push(["X-Herald-Person", r.personId]);
  if (r.approverId) headers.push(["X-Herald-Approver", r.approverId]);
  if (r.actorLabel) headers.push(["X-Herald-Acted-By", encodeWord(r.actorLabel.slice(0, 200))]);
  const body = `${words}\n\n-- \nArchive record (canonical fields; SHA-256 ${r.hash}):\n${JSON.stringify({ id: r.id, ...hashedFields(r), hash: r.hash }, null, 2)}\n`;
  const b64 = Buffer.from(body.replace(/\r?\n/g, "\r\n"), "utf8").toString("base64");
  const lines = b64.match(/.{1,76}/g) ?? [];
  return `${headers.map(([k, v]) => `${k}: ${v}`).join(CRLF)}${CRLF}${CRLF}${lines.join(CRLF)}${CRLF}`;
}
