/**
 * Who is calling the client API, decided afresh on every call: nothing about a token's person is
 * cached across requests. The token must be live; its person a current employee (the directory
 * decides, standing.ts); its account open; and Casbin must still let the person act for that
 * account (their own, or a shared account through a role held now — a SCIM group removal or a
 * revoked grant counts on the very next call, as for the staff app's sessions). The scopes the
 * person granted bound what the app may do.
 */
import type { Context } from "koa";
import type { Accounts } from "../federation/accounts.ts";
import type { ActorRow } from "../federation/entities.ts";
import type { Authz, Decider } from "../authz/authz.ts";
import type { CallerPerson, Directory } from "../identity/directory.ts";
import { employmentStatus } from "../identity/standing.ts";
import { fail } from "../http/errors.ts";
import type { ApiAppRow, ApiTokenRow } from "./entities.ts";
import { DecisionUnavailableError, type OAuth } from "./oauth.ts";
import { covers } from "./scopes.ts";

export interface AppCaller {
  readonly kind: "app";
  readonly token: ApiTokenRow;
  readonly app: ApiAppRow;
}

export interface UserCaller {
  readonly kind: "user";
  readonly token: ApiTokenRow;
  readonly app: ApiAppRow;
  readonly person: CallerPerson;
  readonly account: ActorRow;
  /** This request's decisions for the person (their groups and the policy read once, now). */
  readonly can: Decider;
  /** The account's home-timeline versions, read with the decision (src/api/feed.ts). */
  readonly feedVersion: string;
}

export type Caller = AppCaller | UserCaller;

/** Any of these on an account means the person still acts for it (what a token stands for). */
const ACTING = ["post", "draft", "view-inbox"] as const;

const BEARER = /^Bearer\s+(\S+)$/i;

/** Standings one process keeps; past it, the map starts again. */
const STANDINGS_LIMIT = 10_000;

function invalid(reason: string): never {
  // RFC 6750 §3: a refused token says so in WWW-Authenticate.
  fail(401, `The access token is invalid: ${reason}`, {
    "WWW-Authenticate": 'Bearer error="invalid_token"',
  });
}

export function createApiAuth(deps: {
  oauth: OAuth;
  directory: Directory;
  accounts: Accounts;
  authz: Authz;
}) {
  const { oauth, directory, accounts, authz } = deps;

  /** The person and account behind a user token (rows read now), or why it no longer opens anything. */
  async function standingOf(
    person: CallerPerson | null,
    account: ActorRow | null,
    deciderFor: (person: CallerPerson) => Promise<Decider>,
  ): Promise<
    { person: CallerPerson; account: ActorRow; can: Decider } | { status: 401 | 403; reason: string }
  > {
    if (!person || employmentStatus(person).kind !== "active")
      return { status: 401, reason: "its person is no longer a current employee" };
    if (!account || account.deletedAt) return { status: 401, reason: "its account is closed" };
    if (account.kind === "person" && account.personId !== person.id)
      return { status: 401, reason: "its account is not this person's" };
    const can = await deciderFor(person);
    for (const action of ACTING) if ((await can(action, account)).allow) return { person, account, can };
    return { status: 403, reason: `${person.userName} may no longer act for @${account.handle}` };
  }

  /** The person and account behind a user token, or why the token no longer opens anything. */
  async function standing(token: Pick<ApiTokenRow, "personId" | "accountId">) {
    const [person, account] = await Promise.all([
      token.personId ? directory.personById(token.personId) : null,
      token.accountId ? accounts.byId(token.accountId) : null,
    ]);
    return standingOf(person, account, (p) => authz.decider(p));
  }

  /**
   * Standings decided from a read, under its identity (CallRead.unchangedSince): the same inputs,
   * the same answer; any write anywhere (SQLite) or any change to the rows read (MySQL) makes a
   * new key. The person and account
   * in a kept standing are the read's; each call gets its own copies below.
   */
  const standings = new Map<string, Awaited<ReturnType<typeof standingOf>>>();

  return {
    standing,

    /**
     * The caller of this request. `need`: "user" (a person's token), "app" (any token), or
     * "optional" (public reads: undefined without a token). `scope`: what the token must cover.
     */
    async caller<N extends "user" | "app" | "optional">(
      ctx: Context,
      need: N,
      scope?: string,
    ): Promise<N extends "user" ? UserCaller : N extends "app" ? Caller : Caller | undefined> {
      type R = N extends "user" ? UserCaller : N extends "app" ? Caller : Caller | undefined;
      const header = ctx.get("authorization");
      const m = BEARER.exec(header);
      if (!m) {
        if (need === "optional" && header === "") return undefined as R;
        fail(401, "The access token is invalid", { "WWW-Authenticate": "Bearer" });
      }
      // One query: the token, its app, person, account, the person's groups and the policy's
      // version, all read now (a revocation or a removal counts on this very call).
      const read = await oauth.resolveForCall(m[1]).catch((error: unknown) => {
        // The database is slow or unreachable: say so, and when to try again (never a 500).
        if (error instanceof DecisionUnavailableError) fail(503, error.message, { "Retry-After": "1" });
        throw error;
      });
      if (!read) invalid("unknown, expired or revoked");
      const { token, app } = read;
      if (!app) invalid("its app is gone");
      if (scope && !covers(token.scopes.split(" "), scope))
        fail(403, "This action is outside the authorized scopes");
      await oauth.touch(token);
      if (!token.personId) {
        if (need === "user") fail(422, "This method requires an authenticated user");
        return { kind: "app", token, app } as R;
      }
      // The same rows as a moment ago (SQLite: nothing written since; MySQL: the same rows read
      // again): the same standing.
      const kept = read.unchangedSince === undefined ? undefined : standings.get(read.unchangedSince);
      const s =
        kept ??
        (await standingOf(read.person, read.account, (person) =>
          authz.deciderFrom({ person, groups: read.groups, policyVersion: read.policyVersion }),
        ));
      if (!kept && read.unchangedSince !== undefined) {
        if (standings.size >= STANDINGS_LIMIT) standings.clear();
        standings.set(read.unchangedSince, s);
      }
      if ("reason" in s) {
        if (s.status === 401) invalid(s.reason);
        fail(403, `This token no longer works: ${s.reason}`);
      }
      return {
        kind: "user",
        token,
        app,
        person: read.person ?? s.person,
        account: read.account ?? s.account,
        can: s.can,
        feedVersion: read.feedVersion,
      } as R;
    },
  };
}

export type ApiAuth = ReturnType<typeof createApiAuth>;
