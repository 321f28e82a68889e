/**
 * Entry point: `npm start` / `node src/main.ts [all|web|worker]` (also `herald web`, `herald
 * worker`, which import this module). The only module that does work when imported.
 */
import { ConfigError, parseConfig } from "./config.ts";
import { DatabaseUnavailable } from "./db/database.ts";
import { logger, setupLogging } from "./logging.ts";
import { type Role, ROLES, StartRefused, startServer } from "./server.ts";

const log = logger("main");

/** The role named after the script (`node src/main.ts web`, `herald worker`); `all` by default. */
function roleFromArgs(args: readonly string[]): Role {
  const named = args.find((a) => !a.startsWith("-"));
  if (named === undefined) return "all";
  if ((ROLES as readonly string[]).includes(named)) return named as Role;
  throw new ConfigError([`unknown role "${named}": use one of ${ROLES.join(", ")} (or none: all)`]);
}

async function main(): Promise<void> {
  const role = roleFromArgs(process.argv.slice(2));
  const config = parseConfig(process.env);
  await setupLogging(config);
  const running = await startServer(config, role);
  const { config: c } = running.services;

  // What to open and how to continue: for people, on stdout.
  const lines = [
    `Herald is running for ${c.orgName}: ${c.origin.href} (listening on ${running.url}${role === "all" ? "" : `, role ${role}`})`,
    `  database: ${c.database.kind === "sqlite" ? c.database.path : "MySQL"}${c.isDemoDatabase ? " (demo organization)" : ""}`,
    `  handles:  @<name>@${c.handleDomain}`,
    // A worker answers only its probes: the pages are a web process's.
    ...(role === "worker"
      ? []
      : [
          `  sign in:  ${new URL("/login", c.origin).href}${c.saml.devIdp && !c.saml.idpMetadata ? " (development IdP: pick a person; it says who holds which role)" : ""}`,
          `  verify:   ${new URL("/verify", c.origin).href} (is this account a current employee?)`,
          `  admin:    ${new URL("/admin", c.origin).href} (org admins: accounts, grants, audit log)`,
        ]),
    `  health:   ${new URL("/healthz", c.origin).href}`,
    "Next: connect your IdP's SCIM client with a token from `npx herald token create <name>`; see README.md.",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn("Second {signal}: exiting now.", { signal });
      process.exit(130);
    }
    running.shutdown(signal).then(
      () => process.exit(0),
      (error) => {
        log.fatal("Shutdown failed: {error}", { error });
        process.exit(1);
      },
    );
  };
  // Nothing should reach these; if something does, leave evidence in the log.
  process.on("unhandledRejection", (reason) => {
    log.error("Unhandled promise rejection: {reason}", { reason });
  });
  process.on("uncaughtException", (error) => {
    log.fatal("Uncaught exception; exiting: {error}", { error });
    process.exit(1);
  });
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

main().catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  if (err instanceof DatabaseUnavailable) {
    process.stderr.write(`Herald did not start: ${err.message}\n`);
    process.exit(69); // EX_UNAVAILABLE
  }
  if (err instanceof StartRefused) {
    process.stderr.write(`Herald did not start: ${err.message}\n`);
    process.exit(75); // EX_TEMPFAIL
  }
  process.stderr.write(
    `Herald failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
