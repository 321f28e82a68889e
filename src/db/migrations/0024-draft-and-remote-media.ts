import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/**
 * Pictures, second step (issue 15):
 *
 * - `media_attachment.draft_id`: the draft waiting for approval that holds an upload. Held
 *   uploads are not swept while the draft waits (src/media/service.ts); approval moves them to
 *   the post, rejection lets them go.
 * - `draft.media`: the snapshot of the images a draft carries (the same JSON as `post.media`),
 *   shown to the approver with their alt text.
 * - `inbound_message.media`: what a received post says of its images (remote URL, media type,
 *   alt text, blurhash, size), never their bytes: Herald neither fetches nor proxies them.
 */
export class DraftAndRemoteMedia1763700000024 implements MigrationInterface {
  name = "DraftAndRemoteMedia1763700000024";

  async up(q: QueryRunner): Promise<void> {
    await addNullableColumns(q, "media_attachment", [
      { name: "draft_id", sqliteType: "varchar(36)", mysqlType: "VARCHAR(36)" },
    ]);
    await q.query(
      dialectOf(q) === "mysql"
        ? "CREATE INDEX `idx_media_draft` ON `media_attachment` (`draft_id`)"
        : 'CREATE INDEX "idx_media_draft" ON "media_attachment" ("draft_id")',
    );
    await addNullableColumns(q, "draft", [{ name: "media", sqliteType: "TEXT", mysqlType: "TEXT" }]);
    await addNullableColumns(q, "inbound_message", [
      { name: "media", sqliteType: "TEXT", mysqlType: "TEXT" },
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    const mysql = dialectOf(q) === "mysql";
    await q.query(
      mysql ? "DROP INDEX `idx_media_draft` ON `media_attachment`" : 'DROP INDEX "idx_media_draft"',
    );
    for (const [table, column] of [
      ["inbound_message", "media"],
      ["draft", "media"],
      ["media_attachment", "draft_id"],
    ])
      await q.query(
        mysql
          ? `ALTER TABLE \`${table}\` DROP COLUMN \`${column}\``
          : `ALTER TABLE "${table}" DROP COLUMN "${column}"`,
      );
  }
}
