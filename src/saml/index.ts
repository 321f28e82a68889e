/**
 * SAML at boot: the IdP's metadata (HERALD_SAML_IDP_METADATA, a file or URL, refreshed; else the
 * connection an administrator made at /admin/connect, stored in the database and followed by every
 * process; else, in development, the built-in development IdP) and the service provider built on it.
 */
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { HeldRole } from "../authz/authz.ts";
import type { Directory, Person } from "../identity/directory.ts";
import { logger } from "../logging.ts";
import type { Secrets } from "../secrets.ts";
import { createDevIdp, type DevIdp } from "./dev-idp.ts";
import { loadMetadata, type MetadataSource } from "./metadata.ts";
import { createStoredMetadata, type StoredMetadata } from "./stored.ts";
import { createTestSignIns, type TestSignIns } from "./test-sign-in.ts";
import { createServiceProvider, type ServiceProvider } from "./sp.ts";

const log = logger("saml");

export interface SamlRuntime {
  readonly sp: ServiceProvider;
  readonly devIdp: DevIdp | undefined;
  /** The connection made at /admin/connect (used unless HERALD_SAML_IDP_METADATA is set). */
  readonly stored: StoredMetadata;
  readonly tests: TestSignIns;
  stop(): void;
}

export async function createSaml(
  config: Config,
  db: Database,
  secrets: Secrets,
  directory: Directory,
  options: { readonly rolesOf?: (person: Person) => Promise<readonly HeldRole[]> } = {},
): Promise<SamlRuntime> {
  const settings = {
    origin: config.origin,
    privateKeyPem: secrets.samlSpKeyPem,
    certificatePem: secrets.samlSpCertPem,
    clockDriftMs: config.saml.clockDriftMs,
    idpInitiated: config.saml.idpInitiated,
  };
  const stored = createStoredMetadata(db, {
    checkMs: config.saml.metadataCheckMs,
    refreshMs: config.saml.metadataRefreshMs,
    httpsOnly: config.mode === "production",
    onError: (error) =>
      log.warn(
        "The IdP metadata stored at /admin/connect could not be refreshed; keeping the last good copy: {error}",
        {
          error,
        },
      ),
    onChange: (c) =>
      c
        ? log.info("Now using the IdP {entityId} connected at /admin/connect (version {version}).", {
            entityId: c.metadata.entityId,
            version: c.version,
          })
        : log.info("The IdP connection stored at /admin/connect was removed."),
  });
  let source: MetadataSource | undefined;
  let devIdp: DevIdp | undefined;
  if (config.saml.idpMetadata) {
    source = await loadMetadata(config.saml.idpMetadata, {
      refreshMs: config.saml.metadataRefreshMs,
      httpsOnly: config.mode === "production",
      onError: (error) =>
        log.warn("Refreshing the IdP metadata failed; keeping the last good copy: {error}", { error }),
      onChange: (m) =>
        log.info("The IdP metadata changed ({certs} signing certificate(s)).", {
          certs: m.signingCerts.length,
        }),
    });
  } else {
    await stored.start();
    if (config.saml.devIdp) {
      if (config.mode === "production")
        throw new Error("the development IdP is never available in production");
      const probe = createServiceProvider(db, settings, undefined);
      devIdp = await createDevIdp({
        origin: config.origin,
        dataDir: config.dataDir,
        directory,
        spEntityId: probe.entityId,
        acsUrl: probe.acsUrl,
        sloUrl: probe.sloUrl,
        spCertPem: secrets.samlSpCertPem,
        orgName: config.orgName,
        rolesOf: options.rolesOf,
      });
      log.info(
        "Single sign-on uses the development IdP at /dev-idp until one is connected (development only).",
      );
    }
    // The connection made at /admin/connect, else (development) the built-in IdP.
    const dev = devIdp?.metadata;
    source = {
      current: () => stored.current() ?? dev,
      refresh: () => stored.refresh(),
      stop: () => stored.stop(),
    };
  }
  return {
    sp: createServiceProvider(db, settings, source),
    devIdp,
    stored,
    tests: createTestSignIns(db),
    stop: () => {
      source?.stop();
      stored.stop();
    },
  };
}
