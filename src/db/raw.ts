/**
 * Entities read by hand-written statements (`Database.rows`): the select list of an entity's
 * columns under an alias, and the entity read back from an array row, converted exactly as
 * TypeORM converts its own results (the driver's `prepareHydratedValue`, per column). For hot
 * paths where building and hydrating a query through TypeORM costs more than running it.
 */
import type { DataSource, EntitySchema } from "typeorm";

export interface RawColumns<T> {
  /** `alias.col, alias.col, …` in the driver's quoting. */
  readonly sql: string;
  /** How many columns `sql` selects. */
  readonly width: number;
  /** The entity from `row` at `offset`; null when its primary key is null (an unmatched LEFT JOIN). */
  read(row: readonly unknown[], offset: number): T | null;
}

/** `only`: these properties alone (the primary key among them), read as a `Pick` of the entity. */
export function rawColumns<T, K extends keyof T = keyof T>(
  ds: DataSource,
  schema: EntitySchema<T>,
  alias: string,
  only?: readonly K[],
): RawColumns<Pick<T, K>> {
  const meta = ds.getMetadata(schema);
  const driver = ds.driver;
  const columns = meta.columns.filter(
    (c) => !c.isVirtual && (!only || (only as readonly PropertyKey[]).includes(c.propertyName)),
  );
  if (only && columns.length !== only.length)
    throw new Error(`${meta.name}: no column for one of ${only.join(", ")}`);
  const primary = columns.flatMap((c, i) => (c.isPrimary ? [i] : []));
  return {
    sql: columns.map((c) => `${driver.escape(alias)}.${driver.escape(c.databaseName)}`).join(", "),
    width: columns.length,
    read(row, offset) {
      if (primary.every((i) => row[offset + i] === null || row[offset + i] === undefined)) return null;
      const out: Record<string, unknown> = {};
      for (let i = 0; i < columns.length; i++)
        out[columns[i].propertyName] = driver.prepareHydratedValue(row[offset + i], columns[i]);
      return out as Pick<T, K>;
    },
  };
}
