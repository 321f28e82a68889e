/**
 * The identity provider's metadata as an administrator connects it at /admin/connect: uploaded
 * (a file or pasted XML) or fetched from a URL, parsed with the same strict parser as
 * HERALD_SAML_IDP_METADATA (which still wins when set), and kept in the database — one row with a
 * version. Every process looks at that version every HERALD_SAML_METADATA_CHECK_SECONDS and loads
 * the row when it moved, so an upload takes effect everywhere without a restart. A URL source is
 * fetched again every HERALD_SAML_METADATA_REFRESH_MINUTES; a changed copy is stored (and audited)
 * like an upload, a failed one keeps the last good copy.
 */
import { createHash, X509Certificate } from "node:crypto";
import { validatePublicUrl } from "@fedify/vocab-runtime";
import { type EntityManager, EntitySchema } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { isUniqueViolation } from "../db/errors.ts";
import {
  fetchText,
  type IdpMetadata,
  MetadataError,
  type MetadataSource,
  parseIdpMetadata,
} from "./metadata.ts";

export interface StoredIdpRow {
  id: string;
  version: number;
  sourceUrl: string | null;
  xml: string;
  entityId: string;
  updatedAt: Date;
  updatedBy: string;
}

export const SamlIdpMetadataSchema = new EntitySchema<StoredIdpRow>({
  name: "SamlIdpMetadata",
  tableName: "saml_idp_metadata",
  columns: {
    id: { type: "varchar", length: 16, primary: true },
    version: { type: "integer" },
    sourceUrl: { name: "source_url", type: "varchar", length: 2048, nullable: true },
    xml: { type: "text" },
    entityId: { name: "entity_id", type: "varchar", length: 1024 },
    updatedAt: { name: "updated_at", type: "datetime" },
    updatedBy: { name: "updated_by", type: "varchar", length: 255 },
  },
});

/** The one row: Herald connects one identity provider. */
const ROW = "idp";
/** What an upload or a URL may weigh (the same bound as metadata.ts's fetch). */
export const MAX_METADATA_CHARS = 2_000_000;
const MAX_URL = 2048;

/** A signing certificate as the page shows it. */
export interface CertificateInfo {
  readonly sha256: string;
  readonly subject: string;
  readonly validTo: string;
}

/** What this process uses now, and where it came from. */
export interface StoredConnection {
  readonly version: number;
  readonly metadata: IdpMetadata;
  readonly sourceUrl: string | null;
  readonly updatedAt: Date;
  readonly updatedBy: string;
}

export type SaveResult =
  | { readonly ok: true; readonly connection: StoredConnection }
  | { readonly ok: false; readonly message: string };

export function certificateInfo(pem: string): CertificateInfo {
  const c = new X509Certificate(pem);
  return { sha256: c.fingerprint256, subject: c.subject.replace(/\n/g, ", "), validTo: c.validTo };
}

export interface StoredMetadata extends MetadataSource {
  /** The connection this process uses (undefined: none stored). */
  connection(): StoredConnection | undefined;
  /** Looks at the stored version now and loads the row if it moved. */
  check(): Promise<void>;
  /** Validates and stores uploaded or pasted XML (audited as `actor`). */
  saveXml(xml: string, actor: string, requestId?: string): Promise<SaveResult>;
  /** Fetches, validates and stores the metadata at `url`; it is fetched again on the refresh timer. */
  saveUrl(url: string, actor: string, requestId?: string): Promise<SaveResult>;
  /** Forgets the stored connection (audited). */
  remove(actor: string, requestId?: string): Promise<boolean>;
  /** Starts the version checks and URL refreshes. */
  start(): Promise<void>;
}

export function createStoredMetadata(
  db: Database,
  options: {
    readonly checkMs: number;
    readonly refreshMs: number;
    /**
     * Production: a metadata URL must be https and must not resolve to a private, loopback or
     * link-local address (an admin's form is not a way into the operator's network or the cloud's
     * metadata service). An IdP on a private network is configured by the operator through
     * HERALD_SAML_IDP_METADATA, or its metadata uploaded.
     */
    readonly httpsOnly: boolean;
    readonly onError: (error: unknown) => void;
    readonly onChange?: (c: StoredConnection | undefined) => void;
  },
): StoredMetadata {
  let state: StoredConnection | undefined;
  const timers: NodeJS.Timeout[] = [];

  const repoOf = (em: EntityManager) => em.getRepository(SamlIdpMetadataSchema);

  function adopt(row: StoredIdpRow | null): void {
    if (!row) {
      if (state) options.onChange?.(undefined);
      state = undefined;
      return;
    }
    if (state?.version === row.version) return;
    // Stored rows were parsed before they were written; a row that no longer parses (a parser
    // grown stricter) keeps the last good copy and says why.
    const metadata = parseIdpMetadata(row.xml);
    state = {
      version: row.version,
      metadata,
      sourceUrl: row.sourceUrl,
      updatedAt: row.updatedAt,
      updatedBy: row.updatedBy,
    };
    options.onChange?.(state);
  }

  async function check(): Promise<void> {
    const rows = await db.query<{ version: number | string }>(
      "SELECT version FROM saml_idp_metadata WHERE id = ?",
      [ROW],
    );
    const version = rows.length === 0 ? undefined : Number(rows[0].version);
    if (version === state?.version) return;
    adopt(version === undefined ? null : await db.run((em) => repoOf(em).findOneBy({ id: ROW })));
  }

  async function store(
    xml: string,
    sourceUrl: string | null,
    actor: string,
    requestId: string | undefined,
  ): Promise<SaveResult> {
    if (xml.length > MAX_METADATA_CHARS) return { ok: false, message: "The metadata is larger than 2 MB." };
    let metadata: IdpMetadata;
    try {
      metadata = parseIdpMetadata(xml);
    } catch (e) {
      if (e instanceof MetadataError) return { ok: false, message: sentence(e.message) };
      throw e;
    }
    const now = new Date();
    try {
      const version = await db.transaction(async (em) => {
        const r = repoOf(em);
        const before = await r.findOneBy({ id: ROW });
        const next = (before?.version ?? 0) + 1;
        const row: StoredIdpRow = {
          id: ROW,
          version: next,
          sourceUrl,
          xml: metadata.xml,
          entityId: metadata.entityId,
          updatedAt: now,
          updatedBy: actor,
        };
        if (!before) await r.insert(row);
        else {
          // Optimistic: two administrators saving at once — one wins, the other is told.
          const u = await r.update({ id: ROW, version: before.version }, row);
          if ((u.affected ?? 0) !== 1) throw new Conflict();
        }
        await recordAudit(em, {
          actor,
          action: "saml.metadata.set",
          targetType: "saml-idp",
          targetId: metadata.entityId.slice(0, 255),
          detail: {
            source: sourceUrl ?? "upload",
            version: next,
            previousEntityId: before?.entityId,
            signingCertificates: metadata.signingCerts.map((pem) => certificateInfo(pem).sha256),
            sha256: createHash("sha256").update(metadata.xml).digest("hex"),
          },
          requestId,
        });
        return next;
      });
      state = { version, metadata, sourceUrl, updatedAt: now, updatedBy: actor };
      options.onChange?.(state);
      return { ok: true, connection: state };
    } catch (e) {
      if (e instanceof Conflict || isUniqueViolation(e))
        return {
          ok: false,
          message: "Someone changed the connection at the same moment; look at it and try again.",
        };
      throw e;
    }
  }

  /** Fetches a metadata URL given on the page, within production's bounds (above). */
  async function fetchGiven(url: string): Promise<string> {
    if (options.httpsOnly) {
      try {
        await validatePublicUrl(url);
      } catch {
        throw new MetadataError(
          `${new URL(url).hostname} is not a public address (private, loopback or link-local); upload the IdP's metadata instead, or have the operator set HERALD_SAML_IDP_METADATA`,
        );
      }
    }
    return fetchText(url, 10_000, options.httpsOnly);
  }

  async function refreshUrl(): Promise<void> {
    await check();
    const url = state?.sourceUrl;
    if (!url) return;
    try {
      const xml = await fetchGiven(url);
      if (parseIdpMetadata(xml).xml === state?.metadata.xml) return;
      const r = await store(xml, url, "system", undefined);
      if (!r.ok) throw new MetadataError(r.message);
    } catch (e) {
      options.onError(e);
    }
  }

  return {
    current: () => state?.metadata,
    connection: () => state,
    async refresh() {
      await refreshUrl();
    },
    check,
    saveXml: (xml, actor, requestId) => store(xml, null, actor, requestId),
    async saveUrl(url, actor, requestId) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return { ok: false, message: "That is not a URL." };
      }
      if (url.length > MAX_URL) return { ok: false, message: "The URL is longer than 2048 characters." };
      if (parsed.protocol !== "https:" && (options.httpsOnly || parsed.protocol !== "http:"))
        return { ok: false, message: "The metadata URL must start with https://." };
      let xml: string;
      try {
        xml = await fetchGiven(parsed.href);
      } catch (e) {
        return {
          ok: false,
          message: `Herald could not fetch it: ${sentence(e instanceof Error ? e.message : String(e))}`,
        };
      }
      return store(xml, parsed.href, actor, requestId);
    },
    async remove(actor, requestId) {
      const removed = await db.transaction(async (em) => {
        const before = await repoOf(em).findOneBy({ id: ROW });
        if (!before) return false;
        await repoOf(em).delete({ id: ROW });
        await recordAudit(em, {
          actor,
          action: "saml.metadata.remove",
          targetType: "saml-idp",
          targetId: before.entityId.slice(0, 255),
          requestId,
        });
        return true;
      });
      await check();
      return removed;
    },
    async start() {
      await check().catch(options.onError);
      const every = (ms: number, fn: () => Promise<void>) => {
        const t = setInterval(() => void fn().catch(options.onError), ms);
        t.unref();
        timers.push(t);
      };
      every(options.checkMs, check);
      every(options.refreshMs, refreshUrl);
    },
    stop() {
      for (const t of timers.splice(0)) clearInterval(t);
    },
  };
}

class Conflict extends Error {}

/** A parser's message as a sentence for the page. */
function sentence(message: string): string {
  const s = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}
