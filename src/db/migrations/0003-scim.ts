import { type MigrationInterface, type QueryRunner, Table, TableIndex } from "typeorm";
import { addNullableColumns, autoId, dialectOf, document, timestamp } from "../columns.ts";

/**
 * SCIM: the full resource documents (every attribute a client sends round-trips), the columns
 * that filters and sorting use (an allow-list, each indexed where IdPs look up by it), one row per
 * e-mail address (value-path filters match within one address), soft deletion of people (handles
 * and verification outlive the account), and the domain event log with per-consumer cursors.
 */
export class Scim1763700000003 implements MigrationInterface {
  name = "Scim1763700000003";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    const str = (name: string, length = 255) => ({
      name,
      sqliteType: `varchar(${length})`,
      mysqlType: `varchar(${length})`,
    });
    await addNullableColumns(q, "person", [
      str("nick_name"),
      str("formatted_name", 512),
      str("user_type"),
      str("preferred_language", 64),
      str("locale", 64),
      str("timezone", 64),
      str("employee_number"),
      str("cost_center"),
      str("organization"),
      str("division"),
      str("manager_value"),
      str("former_external_id"),
      { name: "scim_doc", sqliteType: "text", mysqlType: "mediumtext" },
      { name: "deleted_at", sqliteType: "datetime", mysqlType: "datetime(3)" },
    ]);
    await q.createIndices("person", [
      new TableIndex({ name: "idx_person_display_name", columnNames: ["display_name"] }),
      new TableIndex({ name: "idx_person_employee_number", columnNames: ["employee_number"] }),
      new TableIndex({ name: "idx_person_manager", columnNames: ["manager_value"] }),
      new TableIndex({ name: "idx_person_former_external_id", columnNames: ["former_external_id"] }),
      new TableIndex({ name: "idx_person_created", columnNames: ["created_at"] }),
      new TableIndex({ name: "idx_person_updated", columnNames: ["updated_at"] }),
    ]);
    if (dialect === "mysql") {
      // Herald lowercases the *_key columns itself and compares ids exactly: binary collation
      // gives both dialects the same semantics (no "ß" = "ss" surprises in uniqueness checks).
      await q.query(
        "ALTER TABLE `person` MODIFY `user_name_key` varchar(255) COLLATE utf8mb4_bin NOT NULL, " +
          "MODIFY `external_id` varchar(255) COLLATE utf8mb4_bin NULL, " +
          "MODIFY `former_external_id` varchar(255) COLLATE utf8mb4_bin NULL, " +
          "MODIFY `manager_value` varchar(255) COLLATE utf8mb4_bin NULL",
      );
      await q.query(
        "ALTER TABLE `directory_group` MODIFY `display_name_key` varchar(255) COLLATE utf8mb4_bin NOT NULL, " +
          "MODIFY `external_id` varchar(255) COLLATE utf8mb4_bin NULL",
      );
    }
    await q.createTable(
      new Table({
        name: "person_email",
        columns: [
          { name: "person_id", type: "varchar", length: "36", isPrimary: true },
          { name: "position", type: "int", isPrimary: true },
          { name: "value", type: "varchar", length: "320" },
          // E-mail values are not caseExact (RFC 7643 §4.1.2): matched on this lowercased copy.
          {
            name: "value_key",
            type: "varchar",
            length: "320",
            ...(dialect === "mysql" ? { collation: "utf8mb4_bin" } : {}),
          },
          { name: "type", type: "varchar", length: "64", isNullable: true },
          { name: "is_primary", type: "boolean", default: dialect === "sqlite" ? 0 : false },
        ],
        indices: [
          { name: "idx_person_email_value", columnNames: ["value_key"] },
          { name: "idx_person_email_type_value", columnNames: ["type", "value_key"] },
        ],
        foreignKeys: [
          {
            columnNames: ["person_id"],
            referencedTableName: "person",
            referencedColumnNames: ["id"],
            onDelete: "CASCADE",
          },
        ],
      }),
    );
    // The display a client sent for a member (round-trips; RFC 7643 §4.2 makes it readOnly, but
    // IdPs send it and read it back).
    await addNullableColumns(q, "group_member", [
      { name: "display", sqliteType: "varchar(255)", mysqlType: "varchar(255)" },
    ]);
    await addNullableColumns(q, "directory_group", [
      { name: "scim_doc", sqliteType: "text", mysqlType: "mediumtext" },
    ]);
    await q.createIndices("directory_group", [
      new TableIndex({ name: "idx_group_created", columnNames: ["created_at"] }),
      new TableIndex({ name: "idx_group_updated", columnNames: ["updated_at"] }),
    ]);

    await q.createTable(
      new Table({
        name: "domain_event",
        columns: [
          autoId("id", dialect),
          { name: "type", type: "varchar", length: "64" },
          { name: "subject_type", type: "varchar", length: "32" },
          { name: "subject_id", type: "varchar", length: "36" },
          document("payload", dialect),
          { name: "actor", type: "varchar", length: "255" },
          timestamp("occurred_at", dialect),
        ],
        indices: [{ name: "idx_domain_event_subject", columnNames: ["subject_type", "subject_id"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "event_cursor",
        columns: [
          { name: "consumer", type: "varchar", length: "100", isPrimary: true },
          { name: "last_id", type: dialect === "mysql" ? "bigint" : "integer", default: 0 },
          timestamp("updated_at", dialect),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("event_cursor", true);
    await q.dropTable("domain_event", true);
    for (const i of ["idx_group_created", "idx_group_updated"]) await q.dropIndex("directory_group", i);
    for (const i of [
      "idx_person_display_name",
      "idx_person_employee_number",
      "idx_person_manager",
      "idx_person_former_external_id",
      "idx_person_created",
      "idx_person_updated",
    ]) {
      await q.dropIndex("person", i);
    }
    // (SQLite ≥ 3.35 drops unindexed columns in place.)
    await q.query("ALTER TABLE directory_group DROP COLUMN scim_doc");
    await q.query("ALTER TABLE group_member DROP COLUMN display");
    await q.dropTable("person_email", true);
    for (const c of [
      "nick_name",
      "formatted_name",
      "user_type",
      "preferred_language",
      "locale",
      "timezone",
      "employee_number",
      "cost_center",
      "organization",
      "division",
      "manager_value",
      "former_external_id",
      "scim_doc",
      "deleted_at",
    ]) {
      await q.query(`ALTER TABLE person DROP COLUMN ${c}`);
    }
  }
}
