import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, timestamp } from "../columns.ts";

/**
 * The directory: people and groups as SCIM provisions them, and the registry of every handle
 * ever issued (rows are never deleted: handles are never recycled, DESIGN rule 3).
 */
export class Directory1763700000002 implements MigrationInterface {
  name = "Directory1763700000002";

  async up(q: QueryRunner): Promise<void> {
    const dialect = dialectOf(q);
    await q.createTable(
      new Table({
        name: "person",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "user_name", type: "varchar", length: "255" },
          // userName is not caseExact (RFC 7643 §4.1.1): uniqueness and lookups use this key.
          { name: "user_name_key", type: "varchar", length: "255", isUnique: true },
          // Not unique: RFC 7643 §3.1 leaves externalId's uniqueness to the provisioning client.
          { name: "external_id", type: "varchar", length: "255", isNullable: true },
          { name: "display_name", type: "varchar", length: "255", isNullable: true },
          { name: "given_name", type: "varchar", length: "255", isNullable: true },
          { name: "family_name", type: "varchar", length: "255", isNullable: true },
          { name: "email", type: "varchar", length: "320", isNullable: true },
          { name: "title", type: "varchar", length: "255", isNullable: true },
          { name: "department", type: "varchar", length: "255", isNullable: true },
          { name: "active", type: "boolean", default: dialect === "sqlite" ? 1 : true },
          { name: "handle", type: "varchar", length: "64", isNullable: true, isUnique: true },
          timestamp("created_at", dialect),
          timestamp("updated_at", dialect),
          timestamp("deactivated_at", dialect, true),
          { name: "version", type: "int", default: 1 },
        ],
        indices: [
          { name: "idx_person_email", columnNames: ["email"] },
          { name: "idx_person_external_id", columnNames: ["external_id"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "directory_group",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "display_name", type: "varchar", length: "255" },
          { name: "display_name_key", type: "varchar", length: "255", isUnique: true },
          { name: "external_id", type: "varchar", length: "255", isNullable: true },
          timestamp("created_at", dialect),
          timestamp("updated_at", dialect),
          { name: "version", type: "int", default: 1 },
        ],
        indices: [{ name: "idx_group_external_id", columnNames: ["external_id"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "group_member",
        columns: [
          { name: "group_id", type: "varchar", length: "36", isPrimary: true },
          { name: "person_id", type: "varchar", length: "36", isPrimary: true },
        ],
        indices: [{ name: "idx_group_member_person", columnNames: ["person_id"] }],
        foreignKeys: [
          {
            columnNames: ["group_id"],
            referencedTableName: "directory_group",
            referencedColumnNames: ["id"],
            onDelete: "CASCADE",
          },
          {
            columnNames: ["person_id"],
            referencedTableName: "person",
            referencedColumnNames: ["id"],
            onDelete: "CASCADE",
          },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "handle",
        columns: [
          { name: "handle", type: "varchar", length: "64", isPrimary: true },
          { name: "owner_kind", type: "varchar", length: "16" },
          { name: "owner_id", type: "varchar", length: "36", isNullable: true },
          timestamp("issued_at", dialect),
        ],
        indices: [{ name: "idx_handle_owner", columnNames: ["owner_kind", "owner_id"] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ["handle", "group_member", "directory_group", "person"]) {
      await q.dropTable(t, true);
    }
  }
}
