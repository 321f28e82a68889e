/**
 * The organization's key (the Ed25519 key that signs verification attestations) signs the archive's
 * day digests, purge checkpoints and export manifests as compact JWS; the public half is the one
 * published at /.well-known/jwks.json, so an auditor checks them with what the org publishes.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, CompactSign, compactVerify, exportJWK, type JWK } from "jose";
import { canonicalJson } from "./canonical.ts";

export type ArchiveJwsType =
  "herald-archive-digest+jws" | "herald-archive-purge+jws" | "herald-archive-manifest+jws";

export interface ArchiveSigner {
  readonly publicJwk: JWK & { kid: string };
  sign(typ: ArchiveJwsType, payload: Record<string, unknown>): Promise<string>;
}

export async function createArchiveSigner(orgSigningKeyPem: string): Promise<ArchiveSigner> {
  const privateKey = createPrivateKey(orgSigningKeyPem);
  const jwk = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint(jwk, "sha256");
  return {
    publicJwk: { ...jwk, kid, alg: "EdDSA", use: "sig" },
    sign: (typ, payload) =>
      new CompactSign(new TextEncoder().encode(canonicalJson(payload)))
        .setProtectedHeader({ alg: "EdDSA", kid, typ })
        .sign(privateKey),
  };
}

/** The payload of `jws` if the key signed it with type `typ`; otherwise a reason. */
export async function openArchiveJws(
  jws: string,
  key: KeyObject,
  typ: ArchiveJwsType,
): Promise<{ ok: true; payload: Record<string, unknown> } | { ok: false; reason: string }> {
  try {
    const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ["EdDSA"] });
    if (protectedHeader.typ !== typ)
      return { ok: false, reason: `signed as ${protectedHeader.typ}, not ${typ}` };
    return { ok: true, payload: JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown> };
  } catch (err) {
    return { ok: false, reason: `signature does not verify (${(err as Error).message})` };
  }
}
