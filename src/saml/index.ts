/**
 * SAML at boot: the IdP's metadata (a file or URL, refreshed; or, in development with none
 * configured, the built-in development IdP) and the service provider built on it.
 */
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { HeldRole } from "../authz/authz.ts";
import type { Directory, Person } from "../identity/directory.ts";
import { logger } from "../logging.ts";
import type { Secrets } from "../secrets.ts";
import { createDevIdp, type DevIdp } from "./dev-idp.ts";
import { fixedMetadata, loadMetadata, type MetadataSource } from "./metadata.ts";
import { createServiceProvider, type ServiceProvider } from "./sp.ts";

const log = logger("saml");

export interface SamlRuntime {
  readonly sp: ServiceProvider;
  readonly devIdp: DevIdp | undefined;
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
  } else if (config.saml.devIdp) {
    if (config.mode === "production") throw new Error("the development IdP is never available in production");
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
    source = fixedMetadata(devIdp.metadata);
    log.info("Single sign-on uses the development IdP at /dev-idp (development only).");
  }
  return { sp: createServiceProvider(db, settings, source), devIdp, stop: () => source?.stop() };
}
