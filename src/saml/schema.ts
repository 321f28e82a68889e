/**
 * Schema validation of incoming SAML messages: xmllint (WebAssembly) against the SAML 2.0, XML
 * Signature and XML Encryption schemas shipped by @authenio/samlify-xmllint-wasm. Herald calls the
 * engine itself rather than that package's `validate`, which re-reads the schemas on every call
 * and prints the rejected message to the console (DESIGN: never log SAML responses).
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { validateXML } from "xmllint-wasm";

const require = createRequire(import.meta.url);
const FILES = [
  "saml-schema-protocol-2.0.xsd",
  "datatypes.dtd",
  "saml-schema-assertion-2.0.xsd",
  "xmldsig-core-schema.xsd",
  "XMLSchema.dtd",
  "xenc-schema.xsd",
];

let loaded: Promise<{ fileName: string; contents: string }[]> | undefined;

function schemas() {
  loaded ??= (async () => {
    const dir = path.join(path.dirname(require.resolve("@authenio/samlify-xmllint-wasm")), "schemas");
    return Promise.all(
      FILES.map(async (fileName) => ({
        fileName,
        contents: await readFile(path.join(dir, fileName), "utf8"),
      })),
    );
  })();
  return loaded;
}

/** True when `xml` is valid against the SAML protocol schema (and those it imports). */
export async function isSchemaValid(xml: string): Promise<boolean> {
  const [protocol, ...preload] = await schemas();
  try {
    const result = await validateXML({
      xml: [{ fileName: "message.xml", contents: xml }],
      extension: "schema",
      schema: [protocol.contents],
      preload,
    });
    return result.valid;
  } catch {
    return false;
  }
}
