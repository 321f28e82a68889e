/**
 * The `herald` command (`npx herald …`). It works on the database the server uses; results go to
 * stdout, logs to stderr. It never delivers federation messages itself (the server's queue does).
 */
import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { type Config, ConfigError, parseConfig } from "./config.ts";
import { createDatabase, type Database } from "./db/database.ts";
import { setupLogging } from "./logging.ts";
import { createServices, entities, type Services } from "./services.ts";

const HELP = `herald — Herald's command line

Usage: npx herald <command> [options]

Commands:
  migrate                    Apply pending database migrations (safe to run repeatedly).
  token create <name>        Create a SCIM bearer token; prints it once, as the last line.
  token list                 List SCIM tokens (names, hints, dates; never the tokens).
  token revoke <name>        Revoke a SCIM token immediately.
  help [command]             Show help.

The CLI reads the same environment as the server (DATABASE_URL, …; see README.md).
Exit status: 0 success, 1 failure, 2 usage error.`;

const COMMAND_HELP: Record<string, string> = {
  migrate: `Usage: npx herald migrate

Applies pending migrations to DATABASE_URL (default: the embedded SQLite database).
Prints the names of the migrations applied, or "up to date".`,
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
    options: { help: { type: "boolean", short: "h" } },
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
    default:
      throw new UsageError(`Unknown command "${command}".\n\n${HELP}`);
  }
}

run(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof Failure || err instanceof ConfigError) {
      process.stderr.write(`herald: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(
      `herald: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
