/**
 * The organization's secrets: session secret, org signing key (Ed25519, for attestations), SAML
 * SP key and certificate. Production takes each from its variable (config.ts refuses to start
 * without them). Development generates the missing ones once and keeps them in
 * `<HERALD_DATA_DIR>/dev-secrets.json` (mode 0600), so restarts keep sessions and keys valid.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
// @peculiar/x509 resolves its crypto provider through tsyringe, which needs the Reflect polyfill.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type Config, ConfigError } from "./config.ts";
import { logger } from "./logging.ts";

export interface Secrets {
  readonly sessionSecret: string;
  readonly orgSigningKeyPem: string;
  readonly samlSpKeyPem: string;
  readonly samlSpCertPem: string;
}

const log = logger("secrets");

type Stored = Partial<Record<keyof Secrets, string>>;

/** A fresh RSA-2048 key (PKCS#8 PEM) and a self-signed certificate for it. */
export async function selfSignedRsa(commonName: string): Promise<{ keyPem: string; certPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  x509.cryptoProvider.set(webcrypto as Crypto);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString("hex"),
    name: `CN=${commonName}`,
    notBefore: new Date(now - 86_400_000),
    notAfter: new Date(now + 5 * 365 * 86_400_000),
    keys,
    signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  return {
    keyPem: createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })
      .export({ type: "pkcs8", format: "pem" })
      .toString(),
    certPem: cert.toString("pem"),
  };
}

async function generate(): Promise<Secrets> {
  const org = generateKeyPairSync("ed25519");
  const sp = await selfSignedRsa("Herald development SAML SP");
  return {
    sessionSecret: randomBytes(48).toString("base64url"),
    orgSigningKeyPem: org.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    samlSpKeyPem: sp.keyPem,
    samlSpCertPem: sp.certPem,
  };
}

function validate(s: Secrets, names: Record<keyof Secrets, string>): void {
  const problems: string[] = [];
  try {
    const k = createPrivateKey(s.orgSigningKeyPem);
    if (k.asymmetricKeyType !== "ed25519") {
      problems.push(`${names.orgSigningKeyPem} must be an Ed25519 key, got ${k.asymmetricKeyType}`);
    }
  } catch {
    problems.push(`${names.orgSigningKeyPem} is not a PEM private key`);
  }
  let spKey: ReturnType<typeof createPrivateKey> | undefined;
  try {
    spKey = createPrivateKey(s.samlSpKeyPem);
    if (spKey.asymmetricKeyType !== "rsa") {
      problems.push(`${names.samlSpKeyPem} must be an RSA key, got ${spKey.asymmetricKeyType}`);
    }
  } catch {
    problems.push(`${names.samlSpKeyPem} is not a PEM private key`);
  }
  try {
    const cert = new X509Certificate(s.samlSpCertPem);
    if (spKey && !cert.checkPrivateKey(spKey)) {
      problems.push(`${names.samlSpCertPem} does not match ${names.samlSpKeyPem}`);
    }
  } catch {
    problems.push(`${names.samlSpCertPem} is not a PEM X.509 certificate`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

export async function loadSecrets(config: Pick<Config, "mode" | "dataDir" | "secrets">): Promise<Secrets> {
  const given: Stored = {
    sessionSecret: config.secrets.sessionSecret.value,
    orgSigningKeyPem: config.secrets.orgSigningKey.value,
    samlSpKeyPem: config.secrets.samlSpKey.value,
    samlSpCertPem: config.secrets.samlSpCert.value,
  };
  const names = {
    sessionSecret: config.secrets.sessionSecret.variable,
    orgSigningKeyPem: config.secrets.orgSigningKey.variable,
    samlSpKeyPem: config.secrets.samlSpKey.variable,
    samlSpCertPem: config.secrets.samlSpCert.variable,
  };
  let stored: Stored = {};
  if (config.mode !== "production" && Object.values(given).some((v) => v === undefined)) {
    stored = await devSecrets(config.dataDir, names);
  }
  const secrets: Secrets = {
    sessionSecret: given.sessionSecret ?? stored.sessionSecret!,
    orgSigningKeyPem: given.orgSigningKeyPem ?? stored.orgSigningKeyPem!,
    samlSpKeyPem: given.samlSpKeyPem ?? stored.samlSpKeyPem!,
    // A certificate only fits its own key: take both from the same place.
    samlSpCertPem: given.samlSpKeyPem ? given.samlSpCertPem! : stored.samlSpCertPem!,
  };
  if (given.samlSpKeyPem !== undefined && given.samlSpCertPem === undefined) {
    throw new ConfigError([`${names.samlSpCertPem} is required when ${names.samlSpKeyPem} is set`]);
  }
  validate(secrets, names);
  return secrets;
}

async function devSecrets(dataDir: string, names: Record<keyof Secrets, string>): Promise<Stored> {
  const file = path.join(dataDir, "dev-secrets.json");
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Stored;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ConfigError([
        `${file} is unreadable (${(err as Error).message}); delete it to generate new development secrets, or set ${Object.values(names).join(", ")}`,
      ]);
    }
  }
  return writeOnce(file, await generate(), () =>
    log.info("Generated development secrets in {file} (never used in production).", { file }),
  );
}

/**
 * Writes `value` as JSON to `file` (0600) unless another process got there first, and returns
 * what the file holds. Written whole to a temporary file, then linked into place: link() fails if
 * the file exists, so processes starting together agree on one complete copy.
 */
export function writeOnce<T>(file: string, value: T, onWritten?: () => void): T {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  try {
    linkSync(tmp, file);
    onWritten?.();
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return JSON.parse(readFileSync(file, "utf8")) as T;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}
