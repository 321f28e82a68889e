/**
 * Impersonation reports: stored for the security team (listed by `herald reports`) and recorded in
 * the archive (kind `report.impersonation`, direction `in`) in the same transaction.
 */
import { createHmac, randomUUID } from "node:crypto";
import { EntitySchema } from "typeorm";
import type { Archive } from "../archive/records.ts";
import type { Database } from "../db/database.ts";

export interface ReportRow {
  id: string;
  reported: string;
  details: string;
  contact: string | null;
  sourceHash: string;
  createdAt: Date;
}

export const ReportSchema = new EntitySchema<ReportRow>({
  name: "ImpersonationReport",
  tableName: "impersonation_report",
  columns: {
    id: { type: "varchar", primary: true },
    reported: { type: "varchar" },
    details: { type: "text" },
    contact: { type: "varchar", nullable: true },
    sourceHash: { name: "source_hash", type: "varchar" },
    createdAt: { name: "created_at", type: "datetime" },
  },
});

/** The form field a refusal is about (shown beside it). */
export type ReportField = "reported" | "details" | "contact";

export type ReportResult = { ok: true; id: string } | { ok: false; field: ReportField; message: string };

/** `archive`: where each report is recorded with the words as given (the sender only as its keyed hash). */
export function createReports(db: Database, secret: string, archive: Archive) {
  return {
    async submit(input: {
      reported: string;
      details: string;
      contact?: string;
      source: string;
    }): Promise<ReportResult> {
      const reported = input.reported.trim();
      const details = input.details.trim();
      const contact = input.contact?.trim() || null;
      if (reported === "" || reported.length > 2048)
        return {
          ok: false,
          field: "reported",
          message: "Say which account or link (up to 2,048 characters).",
        };
      if (details === "" || details.length > 5000)
        return { ok: false, field: "details", message: "Describe what happened (up to 5,000 characters)." };
      if (contact && contact.length > 320)
        return { ok: false, field: "contact", message: "The contact address is too long." };
      const id = randomUUID();
      const sourceHash = createHmac("sha256", secret).update(input.source).digest("hex");
      // Archived as something the organization heard, in the report's own transaction (#16).
      await db.transaction(async (em) => {
        await em
          .getRepository(ReportSchema)
          .insert({ id, reported, details, contact, sourceHash, createdAt: new Date() });
        await archive.append(em, {
          kind: "report.impersonation",
          direction: "in",
          subjectId: id,
          content: { reported, details, contact, sourceHash },
        });
      });
      return { ok: true, id };
    },
    async list(limit = 50): Promise<ReportRow[]> {
      return db.run((em) =>
        em.getRepository(ReportSchema).find({ order: { createdAt: "DESC" }, take: limit }),
      );
    },
  };
}

export type Reports = ReturnType<typeof createReports>;
