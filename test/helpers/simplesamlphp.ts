/**
 * A real SAML IdP for the end-to-end tests: SimpleSAMLphp 1.19 from Debian, served by PHP's
 * built-in server on a loopback port (RUNTIME.md). It signs with the test IdP key from
 * test/fixtures/secrets, optionally encrypts assertions, verifies Herald's signed AuthnRequests and
 * logout messages, and reads Herald's SP metadata from an XML file written once Herald runs.
 * `.ci/run` installs it; outside CI a machine without it skips these tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FIXTURES, freePort, waitFor } from "./env.ts";

const WWW = "/usr/share/simplesamlphp/www";

export const simpleSamlAvailable = existsSync(WWW) && existsSync("/usr/bin/php");

export interface SimpleSamlUser {
  readonly password: string;
  readonly attributes: Record<string, readonly string[]>;
}

export interface SimpleSamlIdp {
  readonly base: string;
  readonly metadataUrl: string;
  /** Starts an IdP-initiated sign-in to `spEntityId`. */
  idpInitiatedUrl(spEntityId: string, relayState?: string): string;
  /** Gives SimpleSAMLphp Herald's SP metadata. */
  trustSp(metadataXml: string): void;
  readonly log: () => string;
  stop(): Promise<void>;
}

const php = (v: unknown): string =>
  typeof v === "string"
    ? `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`
    : Array.isArray(v)
      ? `[${v.map(php).join(", ")}]`
      : typeof v === "boolean"
        ? String(v)
        : `[${Object.entries(v as Record<string, unknown>)
            .map(([k, x]) => `${php(k)} => ${php(x)}`)
            .join(", ")}]`;

export async function startSimpleSamlPhp(options: {
  users: Record<string, SimpleSamlUser>;
  encryptAssertions: boolean;
}): Promise<SimpleSamlIdp> {
  const dir = mkdtempSync(path.join(tmpdir(), "herald-ssp-"));
  for (const d of ["config", "cert", "log", "data", "tmp", "metadata", "sessions", "docroot"])
    mkdirSync(path.join(dir, d), { recursive: true });
  symlinkSync(WWW, path.join(dir, "docroot", "simplesamlphp"));
  copyFileSync(path.join(FIXTURES, "secrets", "saml-idp.key"), path.join(dir, "cert", "idp.key"));
  copyFileSync(path.join(FIXTURES, "secrets", "saml-idp.crt"), path.join(dir, "cert", "idp.crt"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/simplesamlphp`;
  const spMetadata = path.join(dir, "sp-metadata.xml");
  writeFileSync(spMetadata, `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>`);

  writeFileSync(
    path.join(dir, "config", "config.php"),
    `<?php
require '/etc/simplesamlphp/config.php';
$config['baseurlpath'] = ${php(`${base}/`)};
$config['certdir'] = ${php(`${dir}/cert/`)};
$config['loggingdir'] = ${php(`${dir}/log/`)};
$config['datadir'] = ${php(`${dir}/data/`)};
$config['tempdir'] = ${php(`${dir}/tmp`)};
$config['metadatadir'] = ${php(`${dir}/metadata/`)};
$config['metadata.sources'] = [
  ['type' => 'flatfile', 'directory' => ${php(`${dir}/metadata`)}],
  ['type' => 'xml', 'file' => ${php(spMetadata)}],
];
$config['enable.saml20-idp'] = true;
$config['module.enable'] = ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true];
$config['session.cookie.secure'] = false;
// SameSite=None without Secure is dropped by Chromium: plain http on loopback needs Lax.
$config['session.cookie.samesite'] = 'Lax';
$config['language.cookie.samesite'] = 'Lax';
$config['secretsalt'] = 'herald-test-salt-not-secret';
$config['auth.adminpassword'] = 'herald-test-admin-not-secret';
$config['logging.handler'] = 'file';
$config['logging.logfile'] = 'simplesamlphp.log';
$config['logging.level'] = SimpleSAML\\Logger::DEBUG;
$config['store.type'] = 'phpsession';
$config['language.default'] = 'en';
$config['timezone'] = 'UTC';
`,
  );
  const users: Record<string, unknown> = {};
  for (const [name, u] of Object.entries(options.users)) users[`${name}:${u.password}`] = u.attributes;
  writeFileSync(
    path.join(dir, "config", "authsources.php"),
    `<?php\n$config = ['admin' => ['core:AdminPassword'], 'example-userpass' => array_merge(['exampleauth:UserPass'], ${php(users)})];\n`,
  );
  writeFileSync(
    path.join(dir, "metadata", "saml20-idp-hosted.php"),
    `<?php
$metadata['__DYNAMIC:1__'] = [
  'host' => '__DEFAULT__',
  'privatekey' => 'idp.key',
  'certificate' => 'idp.crt',
  'auth' => 'example-userpass',
  'validate.authnrequest' => true,
  'validate.logout' => true,
  'sign.logout' => true,
  'redirect.sign' => true,
  'saml20.sign.response' => true,
  'saml20.sign.assertion' => true,
  'assertion.encryption' => ${options.encryptAssertions},
  'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
  'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
  'authproc' => [
    10 => ['class' => 'saml:AttributeNameID', 'attribute' => 'uid',
           'Format' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified'],
  ],
];
`,
  );

  let output = "";
  const child: ChildProcess = spawn("php", ["-S", `127.0.0.1:${port}`, "-t", path.join(dir, "docroot")], {
    env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: path.join(dir, "config") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const metadataUrl = `${base}/saml2/idp/metadata.php`;
  await waitFor(
    async () => {
      const res = await fetch(metadataUrl).catch(() => undefined);
      return res?.ok ? true : undefined;
    },
    { timeoutMs: 15_000, what: "SimpleSAMLphp to serve its metadata" },
  );
  return {
    base,
    metadataUrl,
    idpInitiatedUrl: (sp, relayState) =>
      `${base}/saml2/idp/SSOService.php?spentityid=${encodeURIComponent(sp)}${relayState ? `&RelayState=${encodeURIComponent(relayState)}` : ""}`,
    trustSp: (xml) => writeFileSync(spMetadata, xml),
    log: () => {
      const file = path.join(dir, "log", "simplesamlphp.log");
      return `${output}\n${existsSync(file) ? readFileSync(file, "utf8") : ""}`;
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r)).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
