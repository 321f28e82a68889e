import type { MigrationInterface, QueryRunner } from "typeorm";
import { addNullableColumns, dialectOf } from "../columns.ts";

/** A sign-in request remembers the browser that started it (a hashed cookie nonce): login CSRF. */
export class SamlBrowser1763700000011 implements MigrationInterface {
  name = "SamlBrowser1763700000011";

  async up(q: QueryRunner): Promise<void> {
    await addNullableColumns(q, "saml_request", [
      { name: "browser_hash", sqliteType: "varchar(64)", mysqlType: "varchar(64)" },
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    if (dialectOf(q) === "mysql") await q.query("ALTER TABLE `saml_request` DROP COLUMN `browser_hash`");
    else await q.query('ALTER TABLE "saml_request" DROP COLUMN "browser_hash"');
  }
}
