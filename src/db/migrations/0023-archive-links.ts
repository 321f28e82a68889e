import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/**
 * The archive (#16), second step. Each day's head row names the day before it as it stood when
 * this day opened (prev_chain, prev_seq, prev_head): `herald archive verify` finds a whole day
 * deleted with its head row even before that day is sealed. And an index on the approver: the
 * compliance search's person criterion matches who acted or who approved (person_id OR
 * approver_id), which without it scans the archive.
 */
export class ArchiveLinks1763700000023 implements MigrationInterface {
  name = "ArchiveLinks1763700000023";

  async up(q: QueryRunner): Promise<void> {
    await addNullableColumns(q, "archive_chain", [
      { name: "prev_chain", sqliteType: "varchar(10)", mysqlType: "VARCHAR(10)" },
      { name: "prev_seq", sqliteType: "integer", mysqlType: "INT" },
      { name: "prev_head", sqliteType: "varchar(64)", mysqlType: "VARCHAR(64)" },
    ]);
    await q.query(
      dialectOf(q) === "mysql"
        ? "CREATE INDEX `idx_archive_approver` ON `archive_record` (`approver_id`, `recorded_at`)"
        : 'CREATE INDEX "idx_archive_approver" ON "archive_record" ("approver_id", "recorded_at")',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    await q.query(
      mysql ? "DROP INDEX `idx_archive_approver` ON `archive_record`" : 'DROP INDEX "idx_archive_approver"',
    );
    for (const c of ["prev_head", "prev_seq", "prev_chain"])
      await q.query(
        mysql
          ? `ALTER TABLE \`archive_chain\` DROP COLUMN \`${c}\``
          : `ALTER TABLE "archive_chain" DROP COLUMN "${c}"`,
      );
  }
}
