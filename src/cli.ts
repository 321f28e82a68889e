/**
 * The `herald` command (`npx herald …`). It works on the database the server uses; results go to
 * stdout, logs to stderr. It never delivers federation messages itself (the server's queue does).
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import type { EntityManager } from "typeorm";
import { type Config, ConfigError, parseConfig } from "./config.ts";
import { createDatabase, type Database, DatabaseUnavailable } from "./db/database.ts";
import { exportArchive } from "./archive/export.ts";
import { createHolds } from "./archive/holds.ts";
import { createArchiveSigner } from "./archive/signing.ts";
import { verifyArchive } from "./archive/verify.ts";
import { recordAudit } from "./db/audit.ts";
import { asAction, ORG } from "./authz/authz.ts";
import type { Accounts } from "./federation/accounts.ts";
import { type ActorRow, DomainBlockSchema, FollowerSchema } from "./federation/entities.ts";
import { removeFollowersOnDomain } from "./federation/follower-history.ts";
import type { Directory, Person } from "./identity/directory.ts";
import { employmentStatus } from "./identity/standing.ts";
import { setupLogging } from "./logging.ts";
import { href, ROUTES } from "./http/routes.ts";
import { loadSecrets } from "./secrets.ts";
import { createVerifier } from "./verify/service.ts";
import { createServices, entities, type Services } from "./services.ts";
import { APP_TOKEN_HELP, appTokenCreate } from "./api/cli.ts";

const HELP = `herald — Herald's command line

Usage: npx herald <command> [options]

Commands:
  web | worker | all         Run a server process: HTTP only, the background work only (delivery
                             queue, event consumers, keys), or both (what \`npm start\` runs).
                             Several of each may share one MySQL database; SQLite runs \`all\` alone.
  migrate                    Apply pending database migrations (safe to run repeatedly).
  token create <name>        Create a SCIM bearer token; prints it once, as the last line.
  token list                 List SCIM tokens (names, hints, dates; never the tokens).
  token revoke <name>        Revoke a SCIM token immediately.
  shared-account create <handle> --name <display>
                             Create a shared account (@recruiting) on the handle domain.
  accounts                   List the fediverse accounts Herald serves.
  post <account> "<text>" [--as <userName>] [--reply-to <url>] [--visibility public|unlisted|followers|direct] [--language <tag>] [--to <actor>]…
                             Publish a post (delivered by the server's queue).
  edit-post <post-id> "<text>"         Edit a post (sends Update to those who got it); the id is
                                       the URL post prints last, or the UUID at its end.
  delete-post <post-id>                Delete a post (sends Delete).
  account rename <account> <new-handle>   Move an account to a new handle (Move; the old handle stays reserved).
  account set <account> [--manual-approval on|off] [--sign-posts on|off] [--name <display>] [--summary <text>]
  followers <account> [--pending]      List followers (or pending follow requests).
  approve <account> <follower-url> | reject <account> <follower-url>
                                       Decide a pending follow request (manual approval).
  follow <account> <@user@host|url>    Make an account follow a remote account.
  unfollow <account> <@user@host|url>
  domain block <domain> [--reason <text>] | domain unblock <domain> | domain list
                             The federation blocklist: nothing is accepted from or sent to these.
  grant <group:NAME|user:USERNAME> <role> <account|org>
                             Give a SCIM group (a bare NAME) or one person a role on a shared account.
  revoke <group:NAME|user:USERNAME> <role> <account|org>
  grants [account|org]       List grants (all, or one account's).
  can <userName> <action> <account|org>
                             Prints allow or deny, then the rule that decided (exit 0 either way).
  admin add <userName> | admin remove <userName>
                             Make (or unmake) an organization admin: the first one is made this way.
  app-token create <userName> --account <handle> [--scopes "read write"] [--app NAME]
                             Print a Mastodon client-API token (last line) acting as that account.
  login-link <userName>      Print a one-time sign-in link (10 minutes) for when the IdP is down.
  person relink <userName> <old handle>
                             Give a returning employee the handle of their deleted former record (audited).
  person erase <userName|@handle>
                             Erase a former employee's record, keeping only the reserved handle and
                             "former employee since D" (audited; the archive and audit log are kept).
  verify <handle|url>        Is this a current employee's account? Prints active, former or unknown, then the JSON answer.
  reports                    Impersonation reports sent from the /verify page, newest first.
  archive verify [--from D] [--to D]
                             Recompute the archive's hashes, links and signed digests; exit 0 if
                             intact, else 1 naming the first record that does not match.
  archive export --format jsonl|eml --out DIR [--account H] [--from D] [--to D]
                             Export records (audited); jsonl comes with a signed manifest of hashes.
  archive hold create --name <matter> [--person <userName>] [--account H] [--from D] [--to D]
  archive hold release <id> | archive hold list [--all]
                             Legal holds: matching records survive the retention purge (audited).
  help [command]             Show help.

The CLI reads the same environment as the server (DATABASE_URL, …; see README.md).
Exit status: 0 success, 1 failure, 2 usage error.`;

const COMMAND_HELP: Record<string, string> = {
  "app-token": APP_TOKEN_HELP,
  "shared-account": `Usage: npx herald shared-account create <handle> --name "<display name>"

Creates a shared account (e.g. @recruiting) with exactly that handle. Handles are never recycled:
a handle once issued (to a person or an account) cannot be taken again.`,
  post: `Usage: npx herald post <account> "<text>" [--as <userName>] [--reply-to <url>] [--visibility <v>]

<account> is a handle (recruiting) or an account id. Without --as the post is recorded as the
operator (cli:<os user>). @user@host mentions and #hashtags are linked. The running server
delivers it within a second.`,
  follow: `Usage: npx herald follow <account> <@user@host | actor URL>`,
  grant: `Usage: npx herald grant <group:NAME | NAME | user:USERNAME> <role> <account | org>

Roles on a shared account: owner, admin, publisher, drafter, analyst, compliance.
Organization-wide roles (account "org"): org-admin, compliance-officer.
The group or person is resolved to its id now: a group deleted and re-created under the same
name does not inherit the grant. What each role allows is in rbac/policy.csv.`,
  revoke: `Usage: npx herald revoke <group:NAME | NAME | user:USERNAME> <role> <account | org>`,
  can: `Usage: npx herald can <userName> <action> <account | org>

Prints allow or deny on the first line, then the rule that decided. Exit status 0 either way.
Actions: post, reply, delete, draft, approve, view-inbox, edit-profile, manage-grants,
view-archive, manage-accounts, view-audit, view-reports, connect-idp, view-insights,
view-directory, manage-people, view-provisioning.`,
  admin: `Usage: npx herald admin add <userName> | npx herald admin remove <userName>`,
  person: `Usage: npx herald person relink <userName> <old handle>
       npx herald person erase <userName | @handle>

Gives the person named by <userName> the handle of a former employee's deleted record (jdoe,
@jdoe or @jdoe@<handle domain>), for a rehire Herald did not recognise by itself (that needs the
same externalId and the same userName or primary email). Refused unless the handle was issued to a
person who has been deleted from the directory: never a current or deactivated person's handle,
a shared account's or the organization's. The person's previous handle stays theirs and points to
the account under the old handle. Audited as person.relink with the operator's name.

erase empties a former employee's record on request (DESIGN rule 7): name, title, department,
e-mail addresses, the IdP's record, externalId and groups go, and their account loses its name
and bio; the handle stays reserved and verification keeps answering "former employee since D".
Their sessions and app tokens end. Refused for a current employee (deactivate or delete them in
the IdP first). Running it again on an erased record changes nothing (give the handle: an erased
record has no userName). The archive and the audit log keep their records. Audited as
person.erase.`,
  unfollow: `Usage: npx herald unfollow <account> <@user@host | actor URL>`,
  domain: `Usage: npx herald domain block <domain> [--reason <text>] | domain unblock <domain> | domain list`,
  migrate: `Usage: npx herald migrate

Applies pending migrations to DATABASE_URL (default: the embedded SQLite database).
Prints the names of the migrations applied, or "up to date".`,
  archive: `Usage:
  npx herald archive verify [--from YYYY-MM-DD] [--to YYYY-MM-DD]
  npx herald archive export --format jsonl|eml --out DIR [--account <handle>] [--from D] [--to D]
  npx herald archive hold create --name "<matter>" [--person <userName>] [--account <handle>] [--from D] [--to D]
  npx herald archive hold release <hold id>
  npx herald archive hold list [--all]

Days are UTC. verify prints "archive intact" and exits 0, or names the first record that does not
match and exits 1. See docs/archive.md for what is captured and how an auditor checks an export.`,
  token: `Usage:
  npx herald token create <name>   Create a SCIM bearer token for an IdP connection (e.g. okta-prod).
                                   The token is printed once, as the last line; only its hash is stored.
  npx herald token list            Show every token: name, hint, created, last used, revoked.
  npx herald token revoke <name>   Revoke a token; requests that present it fail at once.`,
};

class UsageError extends Error {}
class Failure extends Error {}

function out(line = ""): void {
  process.stdout.write(`${line}\n`);
}

function operator(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli:unknown";
  }
}

async function withServices<T>(config: Config, fn: (s: Services) => Promise<T>): Promise<T> {
  const db: Database = await createDatabase(config.database, { entities });
  try {
    if (await db.pendingMigrations()) {
      throw new Failure("The database has pending migrations: run `npx herald migrate` first.");
    }
    return await fn(createServices(config, db));
  } finally {
    await db.close();
  }
}

function fmtDate(d: Date | null): string {
  return d ? d.toISOString().replace(/\.\d{3}Z$/, "Z") : "-";
}

async function run(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      name: { type: "string" },
      as: { type: "string" },
      "reply-to": { type: "string" },
      language: { type: "string" },
      to: { type: "string", multiple: true },
      visibility: { type: "string" },
      reason: { type: "string" },
      "manual-approval": { type: "string" },
      "sign-posts": { type: "string" },
      summary: { type: "string" },
      pending: { type: "boolean" },
      from: { type: "string" },
      format: { type: "string" },
      out: { type: "string" },
      account: { type: "string" },
      person: { type: "string" },
      all: { type: "boolean" },
      scopes: { type: "string" },
      app: { type: "string" },
    },
  });
  const [command, ...rest] = positionals;
  if (command === undefined || command === "help" || (values.help && !command)) {
    const topic = command === "help" ? rest[0] : undefined;
    out(topic && COMMAND_HELP[topic] ? COMMAND_HELP[topic] : HELP);
    return;
  }
  if (values.help) {
    out(COMMAND_HELP[command] ?? HELP);
    return;
  }

  const config = parseConfig(process.env);
  await setupLogging({
    log: {
      level: process.env.HERALD_LOG_LEVEL ? config.log.level : "warning",
      format: config.log.format,
    },
  });

  switch (command) {
    case "migrate": {
      if (rest.length > 0) throw new UsageError(COMMAND_HELP.migrate);
      const db = await createDatabase(config.database, { entities });
      try {
        const applied = await db.migrate();
        if (applied.length === 0) out("Database is up to date.");
        for (const name of applied) out(`applied ${name}`);
      } finally {
        await db.close();
      }
      return;
    }
    case "token": {
      const [sub, name, ...extra] = rest;
      if (extra.length > 0) throw new UsageError(COMMAND_HELP.token);
      if (sub === "create" && name) {
        await withServices(config, async ({ tokens }) => {
          const result = await tokens.create(name, operator());
          if (!result.ok) throw new Failure(result.message);
          out(`Created SCIM token "${name}". Store it in your IdP now; it is not shown again.`);
          out(`SCIM base URL: ${new URL("/scim/v2", config.origin).href}`);
          out(result.token);
        });
        return;
      }
      if (sub === "list" && !name) {
        await withServices(config, async ({ tokens }) => {
          const all = await tokens.list();
          if (all.length === 0) {
            out("No SCIM tokens. Create one with: npx herald token create <name>");
            return;
          }
          out(["NAME", "HINT", "CREATED", "LAST USED", "REVOKED"].join("\t"));
          for (const t of all) {
            out(
              [
                t.name,
                `${t.tokenHint}…`,
                fmtDate(t.createdAt),
                fmtDate(t.lastUsedAt),
                fmtDate(t.revokedAt),
              ].join("\t"),
            );
          }
        });
        return;
      }
      if (sub === "revoke" && name) {
        await withServices(config, async ({ tokens }) => {
          const result = await tokens.revoke(name, operator());
          if (!result.ok) throw new Failure(result.message);
          out(`Revoked SCIM token "${name}".`);
        });
        return;
      }
      throw new UsageError(COMMAND_HELP.token);
    }
    case "shared-account": {
      const [sub, handle, ...extra] = rest;
      if (sub !== "create" || !handle || extra.length > 0 || !values.name)
        throw new UsageError(COMMAND_HELP["shared-account"]);
      await withServices(config, async ({ accounts }) => {
        const r = await accounts.createShared(handle, values.name!, operator());
        if (!r.ok) throw new Failure(r.message);
        out(`Created @${r.actor.handle}@${config.handleDomain} ("${r.actor.displayName}").`);
        out(`Profile: ${new URL(`/@${r.actor.handle}`, config.origin).href}`);
      });
      return;
    }
    case "accounts": {
      if (rest.length > 0) throw new UsageError(HELP);
      await withServices(config, async ({ accounts }) => {
        out(["HANDLE", "KIND", "NAME", "STATUS"].join("\t"));
        for (const a of await accounts.list()) {
          const status = a.deletedAt
            ? "deleted"
            : a.suspendedAt
              ? "suspended"
              : a.keysReadyAt
                ? "active"
                : "setting up";
          out([`@${a.handle}@${config.handleDomain}`, a.kind, a.displayName, status].join("\t"));
        }
      });
      return;
    }
    case "post": {
      const [account, text, ...extra] = rest;
      if (!account || text === undefined || extra.length > 0) throw new UsageError(COMMAND_HELP.post);
      const visibility = values.visibility ?? "public";
      if (!["public", "unlisted", "followers", "direct"].includes(visibility))
        throw new UsageError(COMMAND_HELP.post);
      await withServices(config, async (services) => {
        const { posting } = services;
        let author = { personId: null as string | null, label: operator() };
        let audit: Record<string, unknown> = { via: "cli", operator: operator() };
        if (values.as) {
          const person = await currentEmployee(services.directory, values.as);
          // However the account is named (handle or id), the person must be allowed on it.
          const actor =
            (await services.accounts.byHandle(account.replace(/^@/, "").toLowerCase())) ??
            (await services.accounts.byId(account));
          if (!actor) throw new Failure(`No account ${account}: see \`npx herald accounts\`.`);
          const d = await services.authz.decide(person, values["reply-to"] ? "reply" : "post", actor);
          if (!d.allow) throw new Failure(`${person.userName} may not post as @${actor.handle}: ${d.rule}.`);
          audit = { decision: d.rule, via: "cli", operator: operator() };
          author = { personId: person.id, label: person.displayName ?? person.userName };
        }
        const r = await posting.post({
          actorId: account.replace(/^@/, ""),
          text,
          author,
          visibility: visibility as "public",
          inReplyTo: values["reply-to"],
          language: values.language,
          to: values.to,
          audit,
        });
        if (!r.ok) throw new Failure(r.message);
        out(`Posted: ${r.url.href}`);
        out(r.id.href);
      });
      return;
    }
    case "grant":
    case "revoke": {
      const [subjectText, role, accountRef, ...extra] = rest;
      if (!subjectText || !role || !accountRef || extra.length > 0)
        throw new UsageError(COMMAND_HELP[command]);
      await withServices(config, async ({ authz, accounts }) => {
        const subject = await authz.resolveSubject(subjectText);
        if ("error" in subject) throw new Failure(subject.error);
        const account = await accountOrOrg(accounts, accountRef);
        const where = account === ORG ? "the organization" : `@${account.handle}@${config.handleDomain}`;
        if (command === "grant") {
          const r = await authz.grant(subject, role, account, operator());
          if (!r.ok) throw new Failure(r.message);
          out(`${subject.kind}:${subject.label} is ${role} of ${where}.`);
        } else {
          const removed = await authz.revoke(subject, role, account, operator());
          if (!removed)
            throw new Failure(`${subject.kind}:${subject.label} does not hold ${role} on ${where}.`);
          out(`${subject.kind}:${subject.label} is no longer ${role} of ${where}.`);
        }
      });
      return;
    }
    case "grants": {
      const [accountRef, ...extra] = rest;
      if (extra.length > 0) throw new UsageError(HELP);
      await withServices(config, async ({ authz, accounts }) => {
        const account = accountRef ? await accountOrOrg(accounts, accountRef) : undefined;
        const rows = await authz.grants(
          account === undefined ? undefined : account === ORG ? ORG : account.id,
        );
        out(["ACCOUNT", "ROLE", "SUBJECT", "GRANTED BY", "SINCE"].join("\t"));
        for (const g of rows) {
          const a = g.accountId === ORG ? null : await accounts.byId(g.accountId);
          out(
            [
              g.accountId === ORG ? "org" : `@${a?.handle ?? g.accountId}`,
              g.role,
              `${g.subjectKind}:${g.subjectLabel}`,
              g.createdBy,
              fmtDate(g.createdAt),
            ].join("\t"),
          );
        }
      });
      return;
    }
    case "can": {
      const [userName, action, accountRef, ...extra] = rest;
      if (!userName || !action || !accountRef || extra.length > 0) throw new UsageError(COMMAND_HELP.can);
      await withServices(config, async ({ authz, accounts, directory }) => {
        const person = await directory.personByUserName(userName);
        const account = await accountOrOrg(accounts, accountRef);
        const act = asAction(action);
        const d = !act
          ? { allow: false, rule: `unknown action "${action}"` }
          : person
            ? await authz.decide(person, act, account)
            : { allow: false, rule: `no person with userName ${userName} in the directory` };
        out(d.allow ? "allow" : "deny");
        out(d.rule);
      });
      return;
    }
    case "admin": {
      const [sub, userName, ...extra] = rest;
      if ((sub !== "add" && sub !== "remove") || !userName || extra.length > 0)
        throw new UsageError(COMMAND_HELP.admin);
      await withServices(config, async ({ authz }) => {
        const subject = await authz.resolveSubject(`user:${userName}`);
        if ("error" in subject) throw new Failure(subject.error);
        if (sub === "add") {
          const r = await authz.grant(subject, "org-admin", ORG, operator());
          if (!r.ok) throw new Failure(r.message);
          out(`${subject.label} is an organization admin.`);
        } else {
          if (!(await authz.revoke(subject, "org-admin", ORG, operator())))
            throw new Failure(`${subject.label} is not an organization admin.`);
          out(`${subject.label} is no longer an organization admin.`);
        }
      });
      return;
    }
    case "app-token": {
      const [sub, userName, ...extra] = rest;
      if (sub !== "create" || !userName || !values.account || extra.length > 0)
        throw new UsageError(APP_TOKEN_HELP);
      await withServices(config, async (services) => {
        const r = await appTokenCreate(services, {
          userName,
          account: values.account!,
          scopes: values.scopes,
          app: values.app,
          by: operator(),
        });
        if (!r.ok) throw new Failure(r.message);
        for (const line of r.lines) out(line);
        out(r.token);
      });
      return;
    }
    case "login-link": {
      const [userName, ...extra] = rest;
      if (!userName || extra.length > 0) throw new UsageError("Usage: npx herald login-link <userName>");
      await withServices(config, async ({ directory, sessions }) => {
        const person = await currentEmployee(directory, userName);
        const link = await sessions.createLoginLink(person.id, operator());
        out(`One-time sign-in link for ${person.userName}, valid until ${link.expiresAt.toISOString()}:`);
        out(new URL(`/login/link/${link.token}`, config.origin).href);
      });
      return;
    }
    case "person": {
      const [sub, userName, handle, ...extra] = rest;
      if (sub === "erase" && userName && !handle) {
        await withServices(config, async ({ directory }) => {
          const r = await directory.erase({
            who: userName,
            by: operator(),
            handleDomain: config.handleDomain,
          });
          if (!r.ok) throw new Failure(r.message);
          const who = r.person.handle
            ? `@${r.person.handle}@${config.handleDomain}`
            : `record ${r.person.id}`;
          const since = r.formerSince ? ` since ${r.formerSince.toISOString().slice(0, 10)}` : "";
          out(
            r.already
              ? `${who} was erased already (${r.person.erasedAt?.toISOString().slice(0, 10)}): nothing to do.`
              : `Erased ${who}: only the handle and "former employee${since}" remain.`,
          );
        });
        return;
      }
      if (sub !== "relink" || !userName || !handle || extra.length > 0)
        throw new UsageError(COMMAND_HELP.person);
      await withServices(config, async ({ directory }) => {
        const r = await directory.relink({
          userName,
          handle,
          by: operator(),
          handleDomain: config.handleDomain,
        });
        if (!r.ok) throw new Failure(r.message);
        const at = (h: string) => `@${h}@${config.handleDomain}`;
        out(
          `${at(r.handle)} is ${r.person.userName}'s handle again (reserved for ${r.fromUserName ?? "an erased record"} until now).`,
        );
        if (r.previousHandle)
          out(`${at(r.previousHandle)} stays theirs, as an alias that points to ${at(r.handle)}.`);
        out(`A running server serves the account under ${at(r.handle)} within seconds.`);
      });
      return;
    }
    case "verify": {
      const [input, ...extra] = rest;
      if (!input || extra.length > 0)
        throw new UsageError("Usage: npx herald verify <@handle@domain | profile or post URL>");
      const secrets = await loadSecrets(config);
      await withServices(config, async ({ db, accounts, directory }) => {
        const verifier = await createVerifier({
          db,
          directory,
          config,
          accounts,
          orgSigningKeyPem: secrets.orgSigningKeyPem,
        });
        const v = await verifier.verify(input);
        out(v.status);
        out(JSON.stringify(v, null, 2));
      });
      return;
    }
    case "reports": {
      if (rest.length > 0) throw new UsageError("Usage: npx herald reports");
      await withServices(config, async ({ reports }) => {
        const all = await reports.list();
        if (all.length === 0) out("No reports.");
        for (const r of all) {
          out(`${r.createdAt.toISOString()}\t${r.id}\t${r.reported}\t${r.contact ?? "-"}`);
          out(`  ${r.details.replaceAll("\n", "\n  ")}`);
        }
      });
      return;
    }
    case "edit-post":
    case "delete-post": {
      const [given, text, ...extra] = rest;
      if (!given || extra.length > 0 || (command === "edit-post") !== (text !== undefined))
        throw new UsageError(HELP);
      // `post` prints the post's id as its URL (its last line): that, or the UUID at its end.
      const ofPost = new URL(href(ROUTES.ap.note, { id: "" }), config.origin).href;
      const postId = given.startsWith(ofPost) ? given.slice(ofPost.length) : given;
      await withServices(config, async ({ posting }) => {
        if (command === "edit-post") {
          const r = await posting.edit(postId, text!, operator());
          if (!r.ok) throw new Failure(r.message);
          out(`Edited: ${r.url.href}`);
        } else {
          if (!(await posting.remove(postId, operator()))) throw new Failure(`No post ${postId}.`);
          out(`Deleted post ${postId}.`);
        }
      });
      return;
    }
    case "account": {
      const [sub, account, ...extra] = rest;
      if (sub === "rename") {
        if (!account || extra.length !== 1) throw new UsageError(HELP);
        await withServices(config, async ({ posting }) => {
          const r = await posting.rename(account, extra[0], operator());
          if (!r.ok) throw new Failure(r.message);
          out(r.message);
        });
        return;
      }
      if (sub !== "set" || !account || extra.length > 0) throw new UsageError(HELP);
      const flag = (v: string | undefined, name: string) => {
        if (v === undefined) return undefined;
        if (v !== "on" && v !== "off") throw new UsageError(`--${name} takes on or off`);
        return v === "on";
      };
      await withServices(config, async ({ accounts }) => {
        const updated = await accounts.configure(
          account,
          {
            manualApproval: flag(values["manual-approval"], "manual-approval"),
            signPosts: flag(values["sign-posts"], "sign-posts"),
            displayName: values.name,
            summary: values.summary,
          },
          operator(),
        );
        if (!updated) throw new Failure(`No account ${account}.`);
        out(
          `@${updated.handle}: manual approval ${updated.manualApproval ? "on" : "off"}, signed posts ${updated.signPosts ? "on" : "off"}.`,
        );
      });
      return;
    }
    case "followers": {
      const [account, ...extra] = rest;
      if (!account || extra.length > 0) throw new UsageError(HELP);
      await withServices(config, async ({ accounts, db }) => {
        const actor = (await accounts.byHandle(account.replace(/^@/, ""))) ?? (await accounts.byId(account));
        if (!actor) throw new Failure(`No account ${account}.`);
        const rows = await db.run((em) =>
          em.getRepository(FollowerSchema).find({
            where: { actorId: actor.id, status: values.pending ? "pending" : "accepted" },
            order: { createdAt: "ASC" },
          }),
        );
        for (const r of rows) out(`${r.followerIri}\t${r.createdAt.toISOString()}`);
        if (rows.length === 0) out(values.pending ? "No pending follow requests." : "No followers.");
      });
      return;
    }
    case "approve":
    case "reject": {
      const [account, follower, ...extra] = rest;
      if (!account || !follower || extra.length > 0) throw new UsageError(HELP);
      await withServices(config, async ({ accounts, posting }) => {
        const actor = (await accounts.byHandle(account.replace(/^@/, ""))) ?? (await accounts.byId(account));
        if (!actor) throw new Failure(`No account ${account}.`);
        const r = await posting.decideFollower(actor.id, follower, command === "approve", operator());
        if (!r.ok) throw new Failure(r.message);
        out(r.message);
      });
      return;
    }
    case "follow":
    case "unfollow": {
      const [account, target, ...extra] = rest;
      if (!account || !target || extra.length > 0) throw new UsageError(COMMAND_HELP[command]);
      await withServices(config, async ({ posting }) => {
        const r = await posting[command](account.replace(/^@/, ""), target, operator());
        if (!r.ok) throw new Failure(r.message);
        out(r.message);
      });
      return;
    }
    case "domain": {
      const [sub, domain, ...extra] = rest;
      if (extra.length > 0) throw new UsageError(COMMAND_HELP.domain);
      await withServices(config, async ({ db, archive }) => {
        const repo = (em: EntityManager) => em.getRepository(DomainBlockSchema);
        // The organization stops hearing (and speaking to) a whole server: archived as an act.
        const record = (em: EntityManager, kind: string) =>
          archive.append(em, {
            kind,
            direction: "internal",
            actorLabel: operator(),
            content: { domain: d, reason: values.reason ?? null },
          });
        if (sub === "list" && !domain) {
          for (const b of await db.run((em) => repo(em).find({ order: { domain: "ASC" } }))) {
            out(`${b.domain}\t${b.reason ?? ""}`);
          }
          return;
        }
        if (!domain || !/^[a-z0-9.-]+(:\d+)?$/i.test(domain)) throw new UsageError(COMMAND_HELP.domain);
        const d = domain.toLowerCase();
        if (sub === "block") {
          let followersRemoved = 0;
          await db.transaction(async (em) => {
            await repo(em).save({
              domain: d,
              reason: values.reason ?? null,
              createdBy: operator(),
              createdAt: new Date(),
            });
            // Its people stop following our accounts (as Mastodon's domain block removes them).
            followersRemoved = await removeFollowersOnDomain(em, d);
            await recordAudit(em, {
              actor: operator(),
              action: "domain.block",
              targetType: "domain",
              targetId: d,
              detail: { reason: values.reason, followersRemoved },
            });
            await record(em, "block.domain");
          });
          out(
            `Blocked ${d}; ${followersRemoved} ${followersRemoved === 1 ? "follower" : "followers"} removed.`,
          );
          return;
        }
        if (sub === "unblock") {
          await db.transaction(async (em) => {
            await repo(em).delete({ domain: d });
            await recordAudit(em, {
              actor: operator(),
              action: "domain.unblock",
              targetType: "domain",
              targetId: d,
            });
            await record(em, "unblock.domain");
          });
          out(`Unblocked ${d}.`);
          return;
        }
        throw new UsageError(COMMAND_HELP.domain);
      });
      return;
    }
    case "archive":
      await archiveCommand(config, rest, values);
      return;
    default:
      throw new UsageError(`Unknown command "${command}".\n\n${HELP}`);
  }
}

const argv = process.argv.slice(2);
if (argv[0] === "web" || argv[0] === "worker" || argv[0] === "all") {
  // A server process, not a command: main.ts takes the role from the same arguments and runs
  // until a signal stops it.
  if (argv.length > 1) {
    process.stderr.write(`Usage: npx herald ${argv[0]} (no arguments; configure with the environment)\n`);
    process.exit(2);
  }
  await import("./main.ts");
} else
  run(argv).then(
    () => process.exit(0),
    (err) => {
      if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
        process.stderr.write(`${err.message}\n`);
        process.exit(2);
      }
      if (err instanceof Failure || err instanceof ConfigError || err instanceof DatabaseUnavailable) {
        process.stderr.write(`herald: ${err.message}\n`);
        process.exit(1);
      }
      process.stderr.write(
        `herald: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );

/** The person named by `userName`, if they are a current employee (standing.ts); else a failure. */
async function currentEmployee(directory: Directory, userName: string): Promise<Person> {
  const person = await directory.personByUserName(userName);
  if (!person || employmentStatus(person).kind !== "active")
    throw new Failure(`No current employee with userName ${userName}.`);
  return person;
}

/** A shared account by handle or id, or "org" for the organization. */
async function accountOrOrg(accounts: Accounts, ref: string): Promise<ActorRow | typeof ORG> {
  if (ref.toLowerCase() === ORG) return ORG;
  const key = ref.replace(/^@/, "").replace(/@.*$/, "").toLowerCase();
  const actor = (await accounts.byHandle(key)) ?? (await accounts.byId(ref));
  if (!actor || actor.deletedAt) throw new Failure(`No account ${ref}: see \`npx herald accounts\`.`);
  return actor;
}

/** A `YYYY-MM-DD` option, checked. */
function day(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`)))
    throw new UsageError(`--${name} takes a day, YYYY-MM-DD (UTC)`);
  return value;
}

async function archiveCommand(
  config: Config,
  rest: string[],
  values: {
    from?: string;
    to?: string[];
    format?: string;
    out?: string;
    account?: string;
    person?: string;
    name?: string;
    all?: boolean;
  },
): Promise<void> {
  const [sub, ...args] = rest;
  const from = day(values.from, "from");
  // --to is also `post`'s (repeatable) recipient option: here it is one day.
  if ((values.to?.length ?? 0) > 1) throw new UsageError("--to takes one day here");
  const to = day(values.to?.[0], "to");
  const secrets = () => loadSecrets(config);
  if (sub === "verify" && args.length === 0) {
    const key = createPublicKey(createPrivateKey((await secrets()).orgSigningKeyPem));
    await withServices(config, async ({ db }) => {
      const r = await verifyArchive(db, key, { from, to });
      if (r.ok) {
        out(
          `archive intact: ${r.records} records in ${r.chains} days (${r.sealed} sealed), ${r.purged} purged under checkpoints`,
        );
        return;
      }
      const at =
        r.recordId !== null
          ? `record ${r.recordId} (${r.chain} #${r.seq}, ${r.kind})`
          : `${r.chain}${r.seq !== null ? ` #${r.seq}` : ""}`;
      throw new Failure(`archive verify failed at ${at}: ${r.reason}`);
    });
    return;
  }
  if (sub === "export" && args.length === 0) {
    if ((values.format !== "jsonl" && values.format !== "eml") || !values.out)
      throw new UsageError(COMMAND_HELP.archive);
    const signer = await createArchiveSigner((await secrets()).orgSigningKeyPem);
    await withServices(config, async ({ db, accounts }) => {
      const account = values.account ? await accountOrOrg(accounts, values.account) : undefined;
      if (account === ORG) throw new UsageError("--account takes an account's handle");
      const r = await exportArchive(db, signer, {
        format: values.format as "jsonl" | "eml",
        outDir: values.out!,
        accountId: account?.id,
        from,
        to,
        by: operator(),
        origin: config.origin.origin,
        handleDomain: config.handleDomain,
      });
      out(`Exported ${r.count} records (${values.format}) to ${values.out}.`);
    });
    return;
  }
  if (sub === "hold") {
    const [action, id, ...extra] = args;
    if (extra.length > 0) throw new UsageError(COMMAND_HELP.archive);
    await withServices(config, async ({ db, accounts, directory }) => {
      const holds = createHolds(db);
      if (action === "create" && !id) {
        if (!values.name) throw new UsageError(COMMAND_HELP.archive);
        const person = values.person ? await directory.personByUserName(values.person) : undefined;
        if (values.person && !person) throw new Failure(`No person with userName ${values.person}.`);
        const account = values.account ? await accountOrOrg(accounts, values.account) : undefined;
        if (account === ORG) throw new UsageError("--account takes an account's handle");
        const r = await holds.create({
          name: values.name,
          personId: person?.id,
          accountId: account?.id,
          fromAt: from ? new Date(`${from}T00:00:00.000Z`) : null,
          toAt: to ? new Date(`${to}T23:59:59.999Z`) : null,
          by: operator(),
        });
        if (!r.ok) throw new Failure(r.message);
        out(`Created legal hold "${r.hold.name}".`);
        out(r.hold.id);
        return;
      }
      if (action === "release" && id) {
        if (!(await holds.release(id, operator()))) throw new Failure(`No active hold ${id}.`);
        out(`Released hold ${id}.`);
        return;
      }
      if (action === "list" && !id) {
        out(["ID", "NAME", "PERSON", "ACCOUNT", "FROM", "TO", "BY", "CREATED", "RELEASED"].join("\t"));
        for (const h of await holds.list({ includeReleased: values.all })) {
          const person = h.personId ? await directory.personById(h.personId) : undefined;
          const account = h.accountId ? await accounts.byId(h.accountId) : undefined;
          out(
            [
              h.id,
              h.name,
              person?.userName ?? h.personId ?? "-",
              account ? `@${account.handle}` : (h.accountId ?? "-"),
              fmtDate(h.fromAt),
              fmtDate(h.toAt),
              h.createdBy,
              fmtDate(h.createdAt),
              fmtDate(h.releasedAt),
            ].join("\t"),
          );
        }
        return;
      }
      throw new UsageError(COMMAND_HELP.archive);
    });
    return;
  }
  throw new UsageError(COMMAND_HELP.archive);
}
