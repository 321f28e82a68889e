/**
 * Structured logging with LogTape. Logs go to stderr (stdout is for CLI results).
 * Categories: ["herald", <feature>, …]; Fedify logs under ["fedify", …].
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  ansiColorFormatter,
  configure,
  getLogger,
  jsonLinesFormatter,
  type Logger,
  type LogRecord,
  reset,
} from "@logtape/logtape";
import type { Config } from "./config.ts";

export type { Logger };

/** Keys whose values are never written to a log, wherever they appear in a record. */
const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|private|samlresponse|assertion/i;

function redact(value: unknown, depth = 0): unknown {
  if (depth > 4 || value === null || typeof value !== "object") return value;
  if (value instanceof Error) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) ? "[redacted]" : redact(v, depth + 1);
  }
  return out;
}

function redactRecord(record: LogRecord): LogRecord {
  return { ...record, properties: redact(record.properties) as Record<string, unknown> };
}

let configured = false;

/** Configures LogTape once per process. */
export async function setupLogging(config: Pick<Config, "log">): Promise<void> {
  const formatter = config.log.format === "json" ? jsonLinesFormatter : ansiColorFormatter;
  await configure({
    reset: configured,
    contextLocalStorage: new AsyncLocalStorage(),
    sinks: {
      stderr: (record: LogRecord) => {
        process.stderr.write(formatter(redactRecord(record)));
      },
    },
    loggers: [
      { category: ["herald"], lowestLevel: config.log.level, sinks: ["stderr"] },
      // Fedify's queue backends log whole queue messages at debug level, and those messages
      // carry actors' private keys: never below info for Fedify, whatever HERALD_LOG_LEVEL says.
      {
        category: ["fedify"],
        lowestLevel: config.log.level === "trace" || config.log.level === "debug" ? "info" : config.log.level,
        sinks: ["stderr"],
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
  configured = true;
}

export async function teardownLogging(): Promise<void> {
  if (configured) await reset();
  configured = false;
}

export function logger(...category: string[]): Logger {
  return getLogger(["herald", ...category]);
}
