import { type MigrationInterface, type QueryRunner, Table } from "typeorm";
import { dialectOf, document, timestamp } from "../columns.ts";

/**
 * The identity provider connected at /admin/connect (src/saml/stored.ts): its SAML metadata as
 * uploaded or fetched from a URL, one row whose version every process polls; and the test
 * sign-ins an administrator starts there, with their redacted outcome.
 */
export class IdpConnection1763700000021 implements MigrationInterface {
  name = "IdpConnection1763700000021";

  async up(q: QueryRunner): Promise<void> {
    const d = dialectOf(q);
    await q.createTable(
      new Table({
        name: "saml_idp_metadata",
        columns: [
          { name: "id", type: "varchar", length: "16", isPrimary: true },
          { name: "version", type: "integer" },
          { name: "source_url", type: "varchar", length: "2048", isNullable: true },
          { ...document("xml", d), isNullable: false },
          { name: "entity_id", type: "varchar", length: "1024" },
          timestamp("updated_at", d),
          { name: "updated_by", type: "varchar", length: "255" },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "saml_test",
        columns: [
          { name: "id", type: "varchar", length: "36", isPrimary: true },
          { name: "person_id", type: "varchar", length: "36" },
          timestamp("created_at", d),
          timestamp("expires_at", d),
          document("outcome", d),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable("saml_test");
    await q.dropTable("saml_idp_metadata");
  }
}
