/**
 * A separate process appending archive records as fast as it can (test/archive/chain.test.ts runs
 * two at once against one database): `node append-worker.ts <DATABASE_URL> <count> <label>`.
 */
import { parseConfig } from "../../src/config.ts";
import { createDatabase } from "../../src/db/database.ts";
import { appendRecord } from "../../src/archive/records.ts";
import { entities } from "../../src/services.ts";

const [url, count, label] = process.argv.slice(2);
const config = parseConfig({ NODE_ENV: "test", DATABASE_URL: url, HERALD_LOG_LEVEL: "fatal" });
const db = await createDatabase(config.database, { entities });
try {
  // Several transactions in flight at once per process (MySQL: one pool connection each).
  const lanes = 4;
  const per = Math.ceil(Number(count) / lanes);
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = 0; i < per && lane * per + i < Number(count); i++) {
        await db.transaction((em) =>
          appendRecord(em, {
            kind: "post.create",
            direction: "out",
            actorLabel: label,
            content: { text: `${label} ${lane * per + i}` },
          }),
        );
      }
    }),
  );
} finally {
  await db.close();
}
