/**
 * Verification: is this account a current employee of the organization? Answers from the
 * database on every call (never a stale cache: a deprovisioning shows at once), with an
 * attestation signed by the organization's Ed25519 key that anyone can check offline against
 * `/.well-known/jwks.json`.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, type JWK, SignJWT } from "jose";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import { PostSchema } from "../federation/entities.ts";
import type { Directory } from "../identity/directory.ts";
import { employmentStatus, publicIdentity } from "../identity/standing.ts";

export type VerificationStatus = "active" | "former" | "unknown";

export interface Verification {
  readonly handle: string | null;
  readonly status: VerificationStatus;
  readonly displayName: string | null;
  readonly title?: string;
  readonly roles: readonly string[];
  /** Active: on the fediverse for the organization since. */
  readonly since?: string;
  /** Former: no longer with the organization since. */
  readonly until?: string;
  readonly checkedAt: string;
  /** The organization's official handle domain (what to look for). */
  readonly officialDomain: string;
  readonly attestation: string | null;
  /** The account's profile page (for the rel="me" link back), when it is ours. */
  readonly profileUrl?: string;
}

export const ATTESTATION_TTL_SECONDS = 300;

export interface EmailAnswer {
  readonly email: string;
  /** "active": a current employee's address. "unknown" says nothing more. */
  readonly status: "active" | "unknown";
  /** Whether the address is on one of the organization's email domains at all. */
  readonly ourDomain: boolean;
  readonly officialDomains: readonly string[];
  readonly checkedAt: string;
}

export async function createVerifier(deps: {
  readonly db: Database;
  readonly directory: Directory;
  readonly config: Pick<Config, "origin" | "handleDomain" | "orgName" | "accounts"> & {
    readonly verify?: Pick<Config["verify"], "retiredKeys" | "emailDomains">;
  };
  readonly accounts: Accounts;
  readonly orgSigningKeyPem: string;
  /** Bumped on every directory or account change in this process: cached answers die with it. */
  readonly generation?: () => number;
  /**
   * Public roles of a current employee, where org policy shows them (HERALD_VERIFY_ROLES): the
   * shared accounts they speak for, e.g. "speaks for @recruiting".
   */
  readonly publicRoles?: (personId: string) => Promise<string[]>;
}) {
  const { db, directory, config, accounts } = deps;
  const privateKey: KeyObject = createPrivateKey(deps.orgSigningKeyPem);
  const publicJwk: JWK = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint(publicJwk, "sha256");
  // Key rotation: retired keys' public halves stay published, so attestations they signed keep
  // verifying until they expire (ATTESTATION_TTL_SECONDS); new ones are signed with the current key.
  const keys = [{ ...publicJwk, kid, alg: "EdDSA", use: "sig" }];
  for (const pem of config.verify?.retiredKeys ?? []) {
    const jwk = await exportJWK(createPublicKey(pem));
    const retiredKid = await calculateJwkThumbprint(jwk, "sha256");
    if (!keys.some((k) => k.kid === retiredKid))
      keys.push({ ...jwk, kid: retiredKid, alg: "EdDSA", use: "sig" });
  }
  const jwks = { keys };
  const domain = config.handleDomain.toLowerCase();
  // Answers are cached for a few seconds (the public API is hot), but never across a change made
  // in this process (the generation), so a deprovisioning is visible on the very next request.
  // Changes made by another process (the CLI) show within the TTL.
  const generation = deps.generation ?? (() => 0);
  const cache = new Map<string, { at: number; gen: number; value: Verification; json: string }>();
  const TTL_MS = 5000;

  /** Finds the actor an input names: @user@domain, user@domain, a profile, actor or post URL. */
  async function resolve(
    input: string,
  ): Promise<{ actor: ActorRow | null; handle: string | null; local?: string }> {
    const text = input.trim();
    const handleMatch = /^@?([a-z0-9_.-]+)@([a-z0-9.-]+(?::\d+)?)$/i.exec(text);
    if (handleMatch) {
      const [, user, host] = handleMatch;
      const handle = `@${user.toLowerCase()}@${host.toLowerCase()}`;
      if (host.toLowerCase() !== domain) return { actor: null, handle };
      return { actor: await accounts.byHandle(user), handle, local: user.toLowerCase() };
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { actor: null, handle: null };
    }
    if (url.origin !== config.origin.origin) return { actor: null, handle: null };
    const profile = /^\/@([a-z0-9_]+)(?:\/([0-9a-f-]{36}))?\/?$/i.exec(url.pathname);
    if (profile) {
      const actor = await accounts.byHandle(profile[1]);
      return { actor, handle: `@${profile[1].toLowerCase()}@${domain}`, local: profile[1].toLowerCase() };
    }
    const actorId = /^\/ap\/actors\/([0-9a-f-]{36})$/.exec(url.pathname)?.[1];
    const postId = /^\/ap\/posts\/([0-9a-f-]{36})$/.exec(url.pathname)?.[1];
    let actor: ActorRow | null = null;
    if (actorId) actor = await accounts.byId(actorId);
    if (postId) {
      const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: postId }));
      actor = post ? await accounts.byId(post.actorId) : null;
    }
    return { actor, handle: actor ? `@${actor.handle}@${domain}` : null };
  }

  async function attest(claims: Record<string, unknown>, subject: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: "EdDSA", kid, typ: "herald-verification+jwt" })
      .setIssuer(config.origin.origin)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + ATTESTATION_TTL_SECONDS)
      .sign(privateKey);
  }

  return {
    jwks,
    kid,

    async verify(input: string): Promise<Verification> {
      const key = input.trim().toLowerCase();
      const hit = cache.get(key);
      if (hit && hit.gen === generation() && Date.now() - hit.at < TTL_MS) return hit.value;
      const gen = generation();
      const value = await answer(input);
      // An answer that found no account is not kept: a hire's account is made by the federation
      // bridge (in the worker holding the cluster lease) a moment after the directory change, and
      // no event says when. Kept, an "unknown" asked for in between outlived the change's
      // invalidation in every other process, for the whole TTL (issue 13: hires seen after 5 s).
      // The same for a rehire answered before its new actor exists (no attestation yet).
      if (value.status === "unknown" || value.attestation === null) return value;
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { at: Date.now(), gen, value, json: JSON.stringify(value) });
      return value;
    },

    /**
     * Opt-in lookups by email address: yes or no, only for the organization's email domains, and
     * nothing else about the person (no name, no handle, no "former").
     */
    async emailLookup(email: string): Promise<EmailAnswer> {
      const checkedAt = new Date().toISOString();
      const address = email.trim().toLowerCase();
      const domains = config.verify?.emailDomains ?? [];
      const at = address.lastIndexOf("@");
      const emailDomain = at > 0 ? address.slice(at + 1) : "";
      if (!domains.includes(emailDomain))
        return { email: address, status: "unknown", ourDomain: false, officialDomains: domains, checkedAt };
      // One rule (standing.ts): a current employee's address answers "active"; a former
      // employee's says no more than an address nobody had.
      const people = await directory.peopleByEmail(address);
      const current = people.filter((p) => employmentStatus(p).kind === "active");
      return {
        email: address,
        status: current.length > 0 ? "active" : "unknown",
        ourDomain: true,
        officialDomains: domains,
        checkedAt,
      };
    },

    /** The serialized answer, if a fresh one is cached (the API's fast path). */
    cachedJson(input: string): string | undefined {
      const hit = cache.get(input.trim().toLowerCase());
      return hit && hit.gen === generation() && Date.now() - hit.at < TTL_MS ? hit.json : undefined;
    },
  };

  async function answer(input: string): Promise<Verification> {
    const checkedAt = new Date().toISOString();
    const { actor, handle, local } = await resolve(input);
    const base = { roles: [] as string[], checkedAt, officialDomain: domain };
    if (!actor) {
      // The directory decides (DESIGN rule 1), not the federation account: someone who left
      // before an account was made for them (provisioned inactive; or the demo's former employee
      // in a database seeded by an earlier Herald) holds a handle of ours and no actor. Their
      // handle answers "former since D", as the home page says — not "not ours".
      const person = local ? await directory.personByHandle(local) : null;
      const status = employmentStatus(person);
      if (status.kind === "former")
        return {
          ...base,
          handle,
          status: "former",
          displayName: null,
          ...(status.since ? { until: status.since.toISOString() } : {}),
          attestation: null,
        };
      return {
        ...base,
        handle,
        status: "unknown",
        displayName: null,
        attestation: null,
      };
    }
    // A renamed account answers for its successor's person.
    const personId = actor.personId ?? actor.formerPersonId;
    const person = personId ? await directory.personById(personId) : null;
    const fullHandle = `@${actor.handle}@${domain}`;
    // A rehire between its SCIM 201 and the bridge making the person's new actor: the handle
    // still names the old actor's tombstone, while the directory already says its person is
    // current again under this handle. The directory decides (DESIGN rule 1): answer for the
    // person; the attestation (which names an actor) waits for the new actor.
    const rehiring =
      actor.kind === "person" &&
      actor.deletedAt !== null &&
      person?.handle === actor.handle &&
      employmentStatus(person).kind === "active";
    // One rule for every public surface (src/identity/standing.ts): the directory decides.
    const who = publicIdentity(rehiring ? { ...actor, deletedAt: null, suspendedAt: null } : actor, person);
    let result: Verification;
    if (who.status === "former") {
      // Former employees: no name, no title; only the fact and the date.
      result = {
        ...base,
        handle: fullHandle,
        status: "former",
        displayName: null,
        until: who.since?.toISOString(),
        attestation: null,
      };
    } else {
      const roles =
        actor.kind === "person"
          ? person && deps.publicRoles
            ? await deps.publicRoles(person.id)
            : []
          : [actor.kind === "org" ? "organization" : "official account"];
      result = {
        ...base,
        handle: fullHandle,
        status: "active",
        displayName: who.displayName,
        ...(who.title && config.accounts.profileFields.includes("title") ? { title: who.title } : {}),
        roles,
        since: actor.createdAt.toISOString(),
        profileUrl: new URL(`/@${actor.handle}`, config.origin).href,
        attestation: null,
      };
    }
    if (rehiring) return result;
    const attestation = await attest(
      { handle: result.handle, status: result.status, roles: result.roles, org: config.orgName },
      new URL(`/ap/actors/${actor.id}`, config.origin).href,
    );
    return { ...result, attestation };
  }
}

export type Verifier = Awaited<ReturnType<typeof createVerifier>>;
