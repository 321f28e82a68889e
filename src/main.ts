/**
 * Entry point: `npm start` / `node src/main.ts`. The only module that does work when imported.
 */
import { ConfigError, parseConfig } from "./config.ts";
import { logger, setupLogging } from "./logging.ts";
import { startServer } from "./server.ts";

const log = logger("main");

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  await setupLogging(config);
  const running = await startServer(config);
  const { config: c } = running.services;

  // What to open and how to continue: for people, on stdout.
  const lines = [
    `Herald is running for ${c.orgName}: ${c.origin.href} (listening on ${running.url})`,
    `  database: ${c.database.kind === "sqlite" ? c.database.path : "MySQL"}${c.isDemoDatabase ? " (demo organization)" : ""}`,
    `  handles:  @<name>@${c.handleDomain}`,
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
  process.stderr.write(
    `Herald failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
