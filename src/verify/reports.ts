/** Impersonation reports: stored for the security team (listed by `herald reports`). */
import { createHmac, randomUUID } from "node:crypto";
import { EntitySchema } from "typeorm";
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

export function createReports(db: Database, secret: string) {
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
      await db.run((em) =>
        em.getRepository(ReportSchema).insert({
          id,
          reported,
          details,
          contact,
          sourceHash: createHmac("sha256", secret).update(input.source).digest("hex"),
          createdAt: new Date(),
        }),
      );
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
