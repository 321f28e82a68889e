/**
 * The audit log: append-only. Nothing in Herald updates or deletes its rows; this module offers
 * only `recordAudit` (inside the caller's transaction, so the record commits with the change)
 * and a reader.
 */
import { type EntityManager, EntitySchema } from "typeorm";

export interface AuditEvent {
  id?: number;
  at: Date;
  /** Who acted: `scim-token:<name>`, `cli:<os user>`, `person:<id>`, `system`. */
  actor: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  /** JSON text; never secrets. */
  detail: string | null;
  requestId: string | null;
}

export const AuditEventSchema = new EntitySchema<AuditEvent>({
  name: "AuditEvent",
  tableName: "audit_event",
  columns: {
    id: { type: "integer", primary: true, generated: "increment" },
    at: { type: "datetime" },
    actor: { type: "varchar", length: 255 },
    action: { type: "varchar", length: 100 },
    targetType: { name: "target_type", type: "varchar", length: 50, nullable: true },
    targetId: { name: "target_id", type: "varchar", length: 255, nullable: true },
    detail: { type: "text", nullable: true },
    requestId: { name: "request_id", type: "varchar", length: 64, nullable: true },
  },
});

export interface AuditInput {
  readonly actor: string;
  readonly action: string;
  readonly targetType?: string;
  readonly targetId?: string;
  readonly detail?: Record<string, unknown>;
  readonly requestId?: string;
}

export async function recordAudit(em: EntityManager, input: AuditInput): Promise<void> {
  await em.getRepository(AuditEventSchema).insert({
    at: new Date(),
    actor: input.actor,
    action: input.action,
    targetType: input.targetType ?? null,
    targetId: input.targetId ?? null,
    detail: input.detail === undefined ? null : JSON.stringify(input.detail),
    requestId: input.requestId ?? null,
  });
}

export async function listAudit(
  em: EntityManager,
  filter: { action?: string; limit?: number } = {},
): Promise<AuditEvent[]> {
  return em.getRepository(AuditEventSchema).find({
    where: filter.action ? { action: filter.action } : {},
    order: { id: "DESC" },
    take: filter.limit ?? 100,
  });
}
