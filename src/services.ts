/**
 * The composition root: every long-lived service is built here, once, from the parsed config
 * and the database. No module-level singletons; tests build their own through this function.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { apiEntities } from "./api/entities.ts";
import { numberApiRows } from "./api/ids.ts";
import { watchFeeds } from "./api/feed.ts";
import { apiRecordEntities } from "./api/records.ts";
import { createOAuth, type OAuth } from "./api/oauth.ts";
import { archiveEntities } from "./archive/entities.ts";
import { type Archive, createArchive } from "./archive/records.ts";
import type { Config } from "./config.ts";
import { AuditEventSchema } from "./db/audit.ts";
import type { Database } from "./db/database.ts";
import { LeaseSchema } from "./db/leases.ts";
import { type Accounts, createAccounts } from "./federation/accounts.ts";
import { federationEntities } from "./federation/entities.ts";
import { createHeraldFederation, type HeraldFederation } from "./federation/federation.ts";
import { createFederationBridge } from "./federation/bridge.ts";
import {
  createDocumentCache,
  type DocumentCache,
  documentCacheConsumer,
} from "./federation/document-cache.ts";
import { createKeyStore } from "./federation/keys.ts";
import { createPosting, type Posting } from "./federation/posting.ts";
import { mediaEntities } from "./media/entities.ts";
import { createMedia, type Media } from "./media/service.ts";
import { erasedUploadsConsumer } from "./media/erasure.ts";
import { databaseStore, diskStore } from "./media/store.ts";
import type { HealthState } from "./http/health.ts";
import { createDirectory, type Directory } from "./identity/directory.ts";
import { identityEntities } from "./identity/entities.ts";
import {
  createChangeCounter,
  createEventDispatcher,
  type EventConsumer,
  type DispatcherOptions,
  type EventDispatcher,
} from "./identity/events.ts";
import { createSessions, type Sessions, sessionEntities } from "./sessions/sessions.ts";
import { samlEntities } from "./saml/sp.ts";
import { authzEntities } from "./authz/entities.ts";
import { type Authz, createAuthz } from "./authz/authz.ts";
import { createDrafts, DraftSchema, type Drafts, moveDrafts } from "./federation/drafts.ts";
import { createScimService, type ScimService } from "./scim/service.ts";
import { createReports, type Reports, ReportSchema } from "./verify/reports.ts";
import { createVerifier, type Verifier } from "./verify/service.ts";
import { createTokenService, ScimTokenSchema, type TokenService } from "./scim/tokens.ts";
import { createScimRequestLog, requestLogEntities, type ScimRequestLog } from "./scim/request-log.ts";
import type { Secrets } from "./secrets.ts";

/** Every entity schema, handed to the data source. */
export const entities = [
  AuditEventSchema,
  LeaseSchema,
  ScimTokenSchema,
  ...identityEntities,
  ...federationEntities,
  ...sessionEntities,
  ...samlEntities,
  ...authzEntities,
  DraftSchema,
  ReportSchema,
  ...archiveEntities,
  ...apiEntities,
  ...mediaEntities,
  ...apiRecordEntities,
  ...requestLogEntities,
];

export interface Services {
  readonly config: Config;
  readonly db: Database;
  readonly secrets: Secrets | undefined;
  readonly federation: HeraldFederation;
  readonly accounts: Accounts;
  readonly posting: Posting;
  /** Capture into the hash-chained archive of everything said and heard (src/archive/). */
  readonly archive: Archive;
  /** Serialized WebFinger and actor answers (cleared on every person or account change). */
  readonly documents: DocumentCache;
  readonly sessions: Sessions;
  /** Who may act for which account (Casbin over rbac/ and the grants). */
  readonly authz: Authz;
  /** Posts proposed by drafters, waiting for approval. */
  readonly drafts: Drafts;
  /** Impersonation reports from the public verification page. */
  readonly reports: Reports;
  /** Verification answers and attestations (needs the org signing key: server only). */
  readonly verifier: () => Promise<Verifier>;
  /** When the server last answered a request (background work yields to foreground work). */
  readonly activity: { lastRequestAt: number };
  readonly tokens: TokenService;
  /** The client API's apps and tokens (OAuth 2; src/api/). */
  readonly oauth: OAuth;
  /** Pictures: uploads, their files, attaching them to posts (src/media/). */
  readonly media: Media;
  /** People, groups, memberships and handles: their only owner (src/identity/directory.ts). */
  readonly directory: Directory;
  readonly scim: ScimService;
  /** SCIM requests counted per token and status, and the last failures (/admin/provisioning). */
  readonly scimLog: ScimRequestLog;
  /** Delivers directory events to the capabilities that consume them (started by the server). */
  readonly events: EventDispatcher;
  readonly health: HealthState;
}

export function createServices(
  config: Config,
  db: Database,
  secrets?: Secrets,
  options: {
    /** More consumers (tests). */
    readonly consumers?: readonly EventConsumer[];
    /** The server's lease for the once-per-cluster consumers; without it they run when started. */
    readonly lease?: DispatcherOptions["lease"];
  } = {},
): Services {
  const keys = createKeyStore(db);
  // Posts, inbound messages, followers and reactions get the client API's sortable ids on insert.
  numberApiRows(db);
  // …and every write a home timeline shows raises its feed version (the API's page cache).
  watchFeeds(db);
  let verifier: Promise<Verifier> | undefined;
  // This process's caches (verification answers under a generation, served documents) drop with
  // every change: through their `process` event consumers wherever it was made, and at once after
  // a commit in this process, which also wakes the event consumers.
  const answers = createChangeCounter("verify.answers");
  const documents = createDocumentCache({ ttlMs: 10_000 });
  const committed = () => {
    documents.clear();
    answers.bump();
    events.notify();
  };
  const activity = { lastRequestAt: Number.NEGATIVE_INFINITY };
  const directory = createDirectory(db, {
    handleFrom: config.accounts.handleFrom,
    onChange: committed,
  });
  // A grant or revocation appends an event too: other processes' answers (roles) drop with it.
  const authz = createAuthz({ db, directory, onChange: committed });
  const accounts = createAccounts({
    db,
    config,
    keys,
    directory,
    isBusy: () => performance.now() - activity.lastRequestAt < 250,
    afterChange: committed,
    // Who may act for a renamed account, and its pending drafts, follow it in the same transaction.
    onRename: async (em, from, to) => {
      await authz.moveAccount(em, from, to);
      await moveDrafts(em, from, to);
    },
  });
  const archive = createArchive();
  const federation = createHeraldFederation(config, db, { accounts, keys, directory, archive });
  const mediaStore =
    config.media.store === "database" ? databaseStore(db) : diskStore(path.join(config.dataDir, "media"));
  const media = createMedia({ db, store: mediaStore, limits: config.media });
  const posting = createPosting({ db, config, federation, accounts, directory, archive, media });
  // The CLI loads no secrets: its sessions object only makes sign-in links (no CSRF tokens).
  const sessions = createSessions(db, directory, {
    ...config.sessions,
    secret: secrets?.sessionSecret ?? randomBytes(32).toString("base64url"),
  });
  const drafts = createDrafts({ db, accounts, posting, authz, directory, archive, media });
  const oauth = createOAuth({ db, production: config.mode === "production" });
  const events = createEventDispatcher(
    db,
    [
      // Once per deployment: announcing changes to followers, ending sessions.
      createFederationBridge({ db, config, federation, accounts, directory }),
      sessions.consumer,
      oauth.consumer,
      erasedUploadsConsumer(db, mediaStore),
      // In every process: its caches.
      documentCacheConsumer(documents),
      answers.consumer,
      ...(options.consumers ?? []),
    ],
    { lease: options.lease },
  );
  return {
    config,
    db,
    secrets,
    federation,
    accounts,
    posting,
    archive,
    documents,
    sessions,
    authz,
    drafts,
    activity,
    reports: createReports(db, secrets?.sessionSecret ?? randomBytes(32).toString("base64url"), archive),
    verifier: () => {
      verifier ??= secrets
        ? createVerifier({
            db,
            directory,
            config,
            accounts,
            orgSigningKeyPem: secrets.orgSigningKeyPem,
            generation: answers.value,
            publicRoles: config.verify.showRoles
              ? async (personId) => {
                  const person = await directory.personById(personId);
                  if (!person) return [];
                  return (await authz.actingAccounts(person))
                    .filter((a) => a.actor.kind === "shared" && a.actions.has("post"))
                    .map((a) => `speaks for @${a.actor.handle}@${config.handleDomain}`);
                }
              : undefined,
          })
        : Promise.reject(new Error("verification needs the organization's signing key (secrets not loaded)"));
      return verifier;
    },
    tokens: createTokenService(db),
    oauth,
    media,
    directory,
    scim: createScimService(directory, { baseUrl: new URL("/scim/v2", config.origin).href }),
    scimLog: createScimRequestLog(db),
    events,
    health: { shuttingDown: false },
  };
}
