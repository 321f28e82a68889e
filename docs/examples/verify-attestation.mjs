#!/usr/bin/env node
/**
 * Checks a Herald verification attestation offline, with nothing but the organization's
 * published public keys.
 *
 *   npm install jose
 *   node verify-attestation.mjs https://social.example.com eyJhbGciOiJFZERTQSIs...
 *
 * Get an attestation from `<origin>/api/verification?handle=@jane@example.com` (the
 * "attestation" field). On success the signed claims are printed as JSON on stdout and the exit
 * code is 0; otherwise one line on stderr says why, and the exit code is 1.
 *
 * A valid signature only proves what Herald said at the time ("iat"): read "status" — an
 * attestation saying "former" is valid too — and remember attestations expire after minutes.
 */
import { createRemoteJWKSet, jwtVerify } from "jose";

const [origin, token] = process.argv.slice(2);
if (!origin || !token) {
  process.stderr.write("usage: node verify-attestation.mjs <herald-origin> <attestation-jws>\n");
  process.exit(1);
}

try {
  // The issuer is the origin exactly (scheme, host and port, no path or trailing slash).
  const issuer = new URL(origin).origin;
  // The only request made: the organization's public keys. The key is picked by the token's "kid".
  const keys = createRemoteJWKSet(new URL("/.well-known/jwks.json", issuer));
  const { payload } = await jwtVerify(token, keys, {
    issuer, // signed by this organization, not another Herald
    algorithms: ["EdDSA"], // Ed25519 only: no "none", no HMAC confusion
    typ: "herald-verification+jwt", // a verification attestation, not some other token of theirs
    // Expiry ("exp") is always checked; a few seconds of clock skew are tolerated.
    clockTolerance: 5,
  });
  process.stdout.write(`${JSON.stringify(payload, null, 2)}\n`);
} catch (e) {
  // jose's errors carry a code (ERR_JWS_SIGNATURE_VERIFICATION_FAILED, ERR_JWT_EXPIRED, ...).
  const reason = e instanceof Error ? `${e.code ? `${e.code}: ` : ""}${e.message}` : String(e);
  process.stderr.write(`not verified: ${reason.replace(/\s+/g, " ")}\n`);
  process.exit(1);
}
