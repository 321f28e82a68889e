import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns } from "../columns.ts";

/** Renames as moves: the old actor points at its successor (ActivityPub `movedTo`). */
export class AccountMoves1763700000006 implements MigrationInterface {
  name = "AccountMoves1763700000006";

  async up(q: QueryRunner): Promise<void> {
    await addNullableColumns(q, "actor", [
      { name: "moved_to_id", sqliteType: "varchar(36)", mysqlType: "varchar(36)" },
      // The person an actor belonged to before it moved (person_id is unique to the live actor).
      { name: "former_person_id", sqliteType: "varchar(36)", mysqlType: "varchar(36)" },
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query("ALTER TABLE actor DROP COLUMN moved_to_id");
    await q.query("ALTER TABLE actor DROP COLUMN former_person_id");
  }
}
