/**
 * Reports over the audit log for the admin console: when people last signed in (every sign-in is
 * audited as session.create, so nothing else needs to store it) and a person's audit history.
 * Both read through the audit_event index on (target_type, target_id).
 */
import { type AuditEvent, AuditEventSchema } from "./audit.ts";
import type { Database } from "./database.ts";

/** The last sign-in of each of these people (absent: never signed in). */
export async function lastSignIns(db: Database, personIds: readonly string[]): Promise<Map<string, Date>> {
  if (personIds.length === 0) return new Map();
  const rows = await db.run((em) =>
    em
      .getRepository(AuditEventSchema)
      .createQueryBuilder("a")
      .select("a.targetId", "id")
      .addSelect("MAX(a.at)", "at")
      .where("a.targetType = :t AND a.targetId IN (:...ids) AND a.action = :act", {
        t: "person",
        ids: [...personIds],
        act: "session.create",
      })
      .groupBy("a.targetId")
      .getRawMany<{ id: string; at: string | Date }>(),
  );
  // MAX() comes back as the driver's raw text on SQLite (stored UTC) and a Date on MySQL.
  const asDate = (v: string | Date) => (v instanceof Date ? v : new Date(`${v.replace(" ", "T")}Z`));
  return new Map(rows.map((r) => [r.id, asDate(r.at)]));
}

/** What the audit log says about a person, newest first. */
export async function auditAbout(db: Database, personId: string, limit = 200): Promise<AuditEvent[]> {
  return db.run((em) =>
    em
      .getRepository(AuditEventSchema)
      .find({ where: { targetType: "person", targetId: personId }, order: { id: "DESC" }, take: limit }),
  );
}
