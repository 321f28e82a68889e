/**
 * Legal holds: a matter under which records survive the retention purge. A hold names a person
 * (records they made or approved), an account, a period, or several of these (a record must match
 * every criterion the hold sets). Created and released, never deleted; every change is audited.
 */
import { randomUUID } from "node:crypto";
import { IsNull } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { type ArchiveHoldRow, ArchiveHoldSchema, type ArchiveRecordRow } from "./entities.ts";

export interface HoldInput {
  readonly name: string;
  readonly personId?: string | null;
  readonly accountId?: string | null;
  readonly fromAt?: Date | null;
  readonly toAt?: Date | null;
  readonly by: string;
}

export type HoldMatch = Pick<ArchiveRecordRow, "personId" | "approverId" | "accountId" | "recordedAt">;

/** Whether an active hold keeps the record. */
export function isHeld(record: HoldMatch, holds: readonly ArchiveHoldRow[]): boolean {
  return holds.some(
    (h) =>
      !h.releasedAt &&
      (!h.personId || record.personId === h.personId || record.approverId === h.personId) &&
      (!h.accountId || record.accountId === h.accountId) &&
      (!h.fromAt || record.recordedAt.getTime() >= h.fromAt.getTime()) &&
      (!h.toAt || record.recordedAt.getTime() <= h.toAt.getTime()),
  );
}

export function createHolds(db: Database) {
  return {
    async create(
      input: HoldInput,
    ): Promise<{ ok: true; hold: ArchiveHoldRow } | { ok: false; message: string }> {
      const name = input.name.trim();
      if (name === "" || name.length > 200)
        return { ok: false, message: "A hold needs a name (the matter), up to 200 characters." };
      if (!input.personId && !input.accountId && !input.fromAt && !input.toAt)
        return { ok: false, message: "A hold needs a person, an account or a period (or several)." };
      if (input.fromAt && input.toAt && input.fromAt > input.toAt)
        return { ok: false, message: "The period ends before it starts." };
      const hold: ArchiveHoldRow = {
        id: randomUUID(),
        name,
        personId: input.personId ?? null,
        accountId: input.accountId ?? null,
        fromAt: input.fromAt ?? null,
        toAt: input.toAt ?? null,
        createdBy: input.by,
        createdAt: new Date(),
        releasedBy: null,
        releasedAt: null,
      };
      await db.transaction(async (em) => {
        await em.getRepository(ArchiveHoldSchema).insert(hold);
        await recordAudit(em, {
          actor: input.by,
          action: "archive.hold.create",
          targetType: "archive_hold",
          targetId: hold.id,
          detail: {
            name,
            personId: hold.personId,
            accountId: hold.accountId,
            from: hold.fromAt?.toISOString(),
            to: hold.toAt?.toISOString(),
          },
        });
      });
      return { ok: true, hold };
    },

    async release(id: string, by: string): Promise<boolean> {
      return db.transaction(async (em) => {
        const r = await em
          .getRepository(ArchiveHoldSchema)
          .update({ id, releasedAt: IsNull() }, { releasedAt: new Date(), releasedBy: by });
        if (!r.affected) return false;
        await recordAudit(em, {
          actor: by,
          action: "archive.hold.release",
          targetType: "archive_hold",
          targetId: id,
        });
        return true;
      });
    },

    async list(options: { includeReleased?: boolean } = {}): Promise<ArchiveHoldRow[]> {
      return db.run((em) =>
        em.getRepository(ArchiveHoldSchema).find({
          where: options.includeReleased ? {} : { releasedAt: IsNull() },
          order: { createdAt: "ASC" },
        }),
      );
    },
  };
}

export type Holds = ReturnType<typeof createHolds>;
