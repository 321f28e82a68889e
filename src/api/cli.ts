/**
 * `herald app-token create <userName> --account <handle> [--scopes "read write"] [--app NAME]`:
 * a client-API token for automation (a scheduler, a script), bound like any other to the person,
 * the account and the scopes, and re-decided on every call. The token is the last line printed.
 */
import { Like } from "typeorm";
import type { Services } from "../services.ts";
import { employmentStatus } from "../identity/standing.ts";
import { ApiAppSchema } from "./entities.ts";
import { OOB } from "./oauth.ts";
import { parseScopes } from "./scopes.ts";

export const APP_TOKEN_HELP = `Usage: npx herald app-token create <userName> --account <handle> [--scopes "read write"] [--app NAME]

Prints a Mastodon client-API access token (last line) that acts as <handle> — the person's own
account or a shared account they may act for now — with the given scopes (default "read write").
The app (default "herald-cli") is registered once per name. Every call with the token is decided
again: it stops working when the person leaves the account's group or the company, or when it is
revoked.`;

export async function appTokenCreate(
  s: Pick<Services, "db" | "directory" | "accounts" | "authz" | "oauth">,
  input: { userName: string; account: string; scopes?: string; app?: string; by: string },
): Promise<{ ok: true; token: string; lines: string[] } | { ok: false; message: string }> {
  const person = await s.directory.personByUserName(input.userName);
  if (!person || employmentStatus(person).kind !== "active")
    return { ok: false, message: `No current employee with userName ${input.userName}.` };
  const handle = input.account.replace(/^@/, "").replace(/@.*$/, "").toLowerCase();
  const account = (await s.accounts.byHandle(handle)) ?? (await s.accounts.byId(input.account));
  if (!account || account.deletedAt || account.kind === "org")
    return { ok: false, message: `No account ${input.account}: see \`npx herald accounts\`.` };
  const acting = await s.authz.actingAccounts(person);
  const may = acting.find((a) => a.actor.id === account.id);
  if (!may || !(may.actions.has("post") || may.actions.has("draft") || may.actions.has("view-inbox")))
    return { ok: false, message: `${person.userName} may not act for @${account.handle}.` };
  const scopes = parseScopes(input.scopes, "read write");
  if (!scopes.ok) return { ok: false, message: `Unknown scope ${scopes.unknown}.` };
  const name = input.app ?? "herald-cli";
  let app = await s.db.run((em) =>
    em.getRepository(ApiAppSchema).findOneBy({ name, createdBy: Like("cli:%") }),
  );
  if (!app) {
    const r = await s.oauth.registerApp({
      name,
      redirectUris: [OOB],
      scopes: "read write follow push",
      website: null,
      by: input.by,
    });
    if (!r.ok) return { ok: false, message: r.message };
    app = r.app;
  }
  const issued = await s.oauth.issueToken({
    appId: app.id,
    personId: person.id,
    accountId: account.id,
    scopes: scopes.scopes,
    by: input.by,
  });
  return {
    ok: true,
    token: issued.token,
    lines: [
      `Token ${issued.row.id} for ${person.userName} acting as @${account.handle} (app "${name}", scopes: ${issued.row.scopes}).`,
      "Store it now; it is not shown again. Send it as Authorization: Bearer <token>.",
    ],
  };
}
