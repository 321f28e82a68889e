import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { addNullableColumns, dialectOf, timestamp } from "../columns.ts";

/**
 * Pictures in posts (src/media/): the uploaded images, their bytes when stored in the database
 * (HERALD_MEDIA_STORE=database; decision 0014), and `post.media`, the snapshot of the images a
 * post carries (JSON), read by the API, the Note and the pages without another query.
 */
export class Media1763700000019 implements MigrationInterface {
  name = "Media1763700000019";

  async up(q: QueryRunner): Promise<void> {
    const d = dialectOf(q);
    const id = (name: string, nullable = false) => ({
      name,
      type: "varchar",
      length: "36",
      isNullable: nullable,
    });
    const int = (name: string) => ({ name, type: "integer" });
    const format = (name: string) => ({ name, type: "varchar", length: "8" });
    await q.createTable(
      new Table({
        name: "media_attachment",
        columns: [
          { ...id("id"), isPrimary: true },
          id("account_id"),
          id("person_id"),
          id("token_id", true),
          id("post_id", true),
          format("format"),
          int("width"),
          int("height"),
          format("small_format"),
          int("small_width"),
          int("small_height"),
          int("size"),
          { name: "sha256", type: "varchar", length: "64" },
          { name: "blurhash", type: "varchar", length: "100" },
          { name: "description", type: "text", isNullable: true },
          { name: "focus", type: "varchar", length: "32", isNullable: true },
          timestamp("created_at", d),
          timestamp("attached_at", d, true),
        ],
        indices: [
          { name: "idx_media_post", columnNames: ["post_id"] },
          // The sweep of unattached uploads reads the oldest first.
          { name: "idx_media_created", columnNames: ["created_at"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "media_blob",
        columns: [
          { name: "key", type: "varchar", length: "100", isPrimary: true },
          { name: "content_type", type: "varchar", length: "32" },
          // LONGBLOB: MySQL's BLOB holds 64 KiB, MEDIUMBLOB 16 MiB.
          { name: "data", type: d === "mysql" ? "longblob" : "blob" },
          timestamp("created_at", d),
        ],
      }),
    );
    await addNullableColumns(q, "post", [{ name: "media", sqliteType: "TEXT", mysqlType: "TEXT" }]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn("post", "media");
    for (const t of ["media_blob", "media_attachment"]) await q.dropTable(t, true);
  }
}
