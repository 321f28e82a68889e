/**
 * A small real ActivityPub server on loopback whose actors' keys the test holds: it serves their
 * actor documents (and any other document the test puts there), answers 202 to deliveries, and
 * signs requests as any of its actors with Fedify's own `signRequest`. Every request it receives
 * is recorded, so a test can also assert that nothing was fetched.
 *
 * Actors on one server model the case a remote server's signature alone cannot tell apart: both
 * are "from" that host, only the key says which one is speaking.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { signRequest } from "@fedify/fedify";
import { CryptographicKey, Person } from "@fedify/vocab";

export interface FakeActor {
  readonly name: string;
  readonly id: URL;
  readonly keyId: URL;
  readonly inbox: URL;
  readonly privateKey: CryptoKey;
}

export interface SignOptions {
  /** draft-cavage (what most of the fediverse sends; the default) or RFC 9421. */
  readonly spec?: "draft-cavage-http-signatures-12" | "rfc9421";
  /** Extra headers set before signing (a `Date` given here is signed as is). */
  readonly headers?: Record<string, string>;
  /** Sign as if the request had no body (an RFC 9421 signature then leaves the body out). */
  readonly signWithoutBody?: boolean;
  /** Send this body instead of the one signed (a tampered delivery). */
  readonly sendBody?: string;
  /** The key the signature names, if not the actor's own. */
  readonly keyId?: URL;
  /** Put before the signed Signature-Input (a decoy member, as an attacker would add). */
  readonly signatureInputPrefix?: string;
}

export interface FakeRemote {
  readonly origin: string;
  actor(name: string): FakeActor;
  /** Paths (with query) of every request received, in order. */
  readonly requests: string[];
  /** Every POST received (deliveries to its inboxes), in order, its body parsed as JSON. */
  readonly deliveries: { readonly path: string; readonly activity: Record<string, unknown> }[];
  /** Serves `doc` as ActivityStreams JSON at `path`. */
  put(path: string, doc: unknown): void;
  /** A POST of `activity` to `url`, signed as `as`. */
  signedPost(url: string | URL, activity: unknown, as: FakeActor, options?: SignOptions): Promise<Response>;
  close(): Promise<void>;
}

/** RSA-2048, as Mastodon's keys (WebCrypto, so no fixture files and no 4096-bit wait). */
async function rsaKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
}

export async function startFakeRemote(names: readonly string[]): Promise<FakeRemote> {
  const documents = new Map<string, string>();
  const requests: string[] = [];
  const deliveries: FakeRemote["deliveries"][number][] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      // Recorded before the answer, so a delivery that Herald saw accepted is already counted.
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let activity: Record<string, unknown> = {};
        try {
          activity = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // Not JSON: recorded as an empty object, counted as no activity type.
        }
        deliveries.push({ path: req.url ?? "", activity });
        res.statusCode = 202;
        res.end();
      });
      return;
    }
    req.resume();
    const doc = documents.get(new URL(req.url ?? "/", "http://x").pathname);
    if (doc === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader("content-type", "application/activity+json");
    res.end(doc);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const actors = new Map<string, FakeActor>();
  for (const name of names) {
    const keys = await rsaKeyPair();
    const id = new URL(`/users/${name}`, origin);
    const actor: FakeActor = {
      name,
      id,
      keyId: new URL(`${id.href}#main-key`),
      inbox: new URL(`${id.href}/inbox`),
      privateKey: keys.privateKey,
    };
    const person = new Person({
      id,
      preferredUsername: name,
      inbox: actor.inbox,
      publicKey: new CryptographicKey({ id: actor.keyId, owner: id, publicKey: keys.publicKey }),
    });
    documents.set(id.pathname, JSON.stringify(await person.toJsonLd({ format: "compact" })));
    actors.set(name, actor);
  }
  return {
    origin,
    requests,
    deliveries,
    actor(name) {
      const a = actors.get(name);
      if (!a) throw new Error(`no fake actor ${name}`);
      return a;
    },
    put(path, doc) {
      documents.set(path, JSON.stringify(doc));
    },
    async signedPost(url, activity, as, options = {}) {
      const body = JSON.stringify(activity);
      const request = new Request(url, {
        method: "POST",
        headers: { "content-type": "application/activity+json", ...options.headers },
        body,
      });
      const signed = await signRequest(request, as.privateKey, options.keyId ?? as.keyId, {
        spec: options.spec ?? "draft-cavage-http-signatures-12",
        ...(options.signWithoutBody ? { body: null } : {}),
      });
      if (options.signatureInputPrefix !== undefined)
        signed.headers.set(
          "signature-input",
          options.signatureInputPrefix + (signed.headers.get("signature-input") ?? ""),
        );
      if (options.signWithoutBody || options.sendBody !== undefined)
        return fetch(url, { method: "POST", headers: signed.headers, body: options.sendBody ?? body });
      return fetch(signed);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
