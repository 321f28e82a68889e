/**
 * Actor key pairs: RSA-2048 for HTTP signatures (what Mastodon uses; Fedify's default 4096 costs
 * ≈ 2.4 s per key here) and Ed25519 for object integrity proofs. Generated once, in the
 * background after provisioning, and inserted only if absent: remote servers cache keys and do not
 * refetch, so two racing generations for one actor would break it for good (RUNTIME.md).
 */
import { webcrypto } from "node:crypto";
import { exportJwk, generateCryptoKeyPair, importJwk } from "@fedify/fedify";
import type { Database } from "../db/database.ts";
import { ActorKeySchema, ActorSchema } from "./entities.ts";

const RSA = "RSASSA-PKCS1-v1_5";
const ED = "Ed25519";

async function generateRsa2048(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(
    { name: RSA, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
}

export function createKeyStore(db: Database) {
  const cache = new Map<string, CryptoKeyPair[]>();

  async function load(actorId: string): Promise<CryptoKeyPair[]> {
    const cached = cache.get(actorId);
    if (cached) return cached;
    const rows = await db.run((em) => em.getRepository(ActorKeySchema).findBy({ actorId }));
    const rsa = rows.find((r) => r.algorithm === RSA);
    const ed = rows.find((r) => r.algorithm === ED);
    if (!rsa || !ed) return [];
    const pairs: CryptoKeyPair[] = [];
    for (const row of [rsa, ed]) {
      pairs.push({
        privateKey: await importJwk(JSON.parse(row.privateJwk), "private"),
        publicKey: await importJwk(JSON.parse(row.publicJwk), "public"),
      });
    }
    cache.set(actorId, pairs);
    return pairs;
  }

  return {
    load,
    /** Generates the actor's keys unless they exist; marks the actor ready. Idempotent. */
    async ensure(actorId: string): Promise<void> {
      const existing = await db.run((em) => em.getRepository(ActorKeySchema).findBy({ actorId }));
      const have = new Set(existing.map((r) => r.algorithm));
      for (const algorithm of [RSA, ED]) {
        if (have.has(algorithm)) continue;
        const pair = algorithm === RSA ? await generateRsa2048() : await generateCryptoKeyPair(ED);
        const row = {
          actorId,
          algorithm,
          privateJwk: JSON.stringify(await exportJwk(pair.privateKey)),
          publicJwk: JSON.stringify(await exportJwk(pair.publicKey)),
          createdAt: new Date(),
        };
        // Insert-if-absent: a concurrent generation that got there first wins, ours is dropped.
        await db.run((em) =>
          em.getRepository(ActorKeySchema).createQueryBuilder().insert().values(row).orIgnore().execute(),
        );
      }
      await db.run((em) =>
        em
          .getRepository(ActorSchema)
          .createQueryBuilder()
          .update()
          .set({ keysReadyAt: new Date() })
          .where("id = :id AND keys_ready_at IS NULL", { id: actorId })
          .execute(),
      );
    },
  };
}

export type KeyStore = ReturnType<typeof createKeyStore>;
