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
