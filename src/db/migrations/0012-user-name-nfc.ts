import type { MigrationInterface, QueryRunner } from "typeorm";
import { normalizeUserName, userNameKey } from "../../identity/user-names.ts";
import { logger } from "../../logging.ts";

const log = logger("db", "migrations");

/**
 * userNames in Unicode NFC (identity/user-names.ts): rows written before the rule get their
 * userName and lookup key rewritten, so a name sent in the other spelling finds them. Of two
 * current people whose names differ only in normalisation, one is left as it was (still found by
 * its id) and the migration logs it, rather than failing or merging people. Deleted
 * people keep their freed key (`\u0001deleted:<id>`).
 */
export class UserNameNfc1763700000012 implements MigrationInterface {
  name = "UserNameNfc1763700000012";

  async up(q: QueryRunner): Promise<void> {
    let after = "";
    for (;;) {
      // Paged by primary key: a large directory is never read at once.
      const rows = (await q.query(
        "SELECT id, user_name, user_name_key, deleted_at FROM person WHERE id > ? ORDER BY id LIMIT 1000",
        [after],
      )) as { id: string; user_name: string; user_name_key: string; deleted_at: unknown }[];
      if (rows.length === 0) break;
      for (const r of rows) {
        const name = normalizeUserName(r.user_name);
        let key = r.user_name_key;
        const live = r.deleted_at === null || r.deleted_at === undefined;
        if (live && userNameKey(name) !== key) {
          const [clash] = (await q.query("SELECT id FROM person WHERE user_name_key = ?", [
            userNameKey(name),
          ])) as { id: string }[];
          if (clash) {
            log.warn(
              "Person {id} keeps its userName as it was: person {other}'s userName differs from it only in Unicode normalisation.",
              { id: r.id, other: clash.id },
            );
            continue;
          }
          key = userNameKey(name);
        }
        if (name !== r.user_name || key !== r.user_name_key)
          await q.query("UPDATE person SET user_name = ?, user_name_key = ? WHERE id = ?", [name, key, r.id]);
      }
      after = rows[rows.length - 1].id;
    }
  }

  async down(): Promise<void> {
    // Nothing to undo: NFC names are valid names, and the keys stay unique.
  }
}
