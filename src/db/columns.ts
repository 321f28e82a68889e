/** Column helpers shared by migrations and entity schemas, so both dialects get the same shape. */
import type { QueryRunner, TableColumnOptions } from "typeorm";

export type Dialect = "sqlite" | "mysql";

export function dialectOf(q: QueryRunner): Dialect {
  return q.connection.options.type === "mysql" ? "mysql" : "sqlite";
}

/** A millisecond-precision UTC timestamp. */
export function timestamp(name: string, dialect: Dialect, nullable = false): TableColumnOptions {
  return dialect === "mysql"
    ? { name, type: "datetime", precision: 3, isNullable: nullable }
    : { name, type: "datetime", isNullable: nullable };
}

/** An auto-increment primary key: INTEGER on SQLite (rowid alias), BIGINT on MySQL. */
export function autoId(name: string, dialect: Dialect): TableColumnOptions {
  return {
    name,
    type: dialect === "mysql" ? "bigint" : "integer",
    isPrimary: true,
    isGenerated: true,
    generationStrategy: "increment",
  };
}

/** A JSON document column: TEXT on SQLite, MEDIUMTEXT (16 MiB) on MySQL. */
export function document(name: string, dialect: Dialect, nullable = true): TableColumnOptions {
  return { name, type: dialect === "mysql" ? "mediumtext" : "text", isNullable: nullable };
}

/**
 * Adds nullable columns with plain `ALTER TABLE … ADD COLUMN`. TypeORM's own addColumn rebuilds
 * the whole table on SQLite (copy, DROP, rename), and dropping a parent table with foreign keys
 * on cascades deletes into its children: never do that to a table with data.
 */
export async function addNullableColumns(
  q: QueryRunner,
  table: string,
  columns: readonly { name: string; sqliteType: string; mysqlType: string }[],
): Promise<void> {
  if (dialectOf(q) === "mysql") {
    await q.query(
      `ALTER TABLE \`${table}\` ${columns.map((c) => `ADD COLUMN \`${c.name}\` ${c.mysqlType} NULL`).join(", ")}`,
    );
    return;
  }
  for (const c of columns)
    await q.query(`ALTER TABLE "${table}" ADD COLUMN "${c.name}" ${c.sqliteType} NULL`);
}
