/**
 * Pictures: uploads (processed by process.ts, stored by store.ts), their alt text and focal point,
 * attaching them to a post in the post's transaction, serving their files, and sweeping uploads no
 * post took within a day. An image belongs to the person and the account it was uploaded for:
 * only they may see it before it is posted, change it, or attach it.
 */
import { randomUUID } from "node:crypto";
import { type EntityManager, In, IsNull, LessThan } from "typeorm";
import type { Database } from "../db/database.ts";
import { createPeriodic } from "../db/periodic.ts";
import { PostSchema } from "../federation/entities.ts";
import { logger } from "../logging.ts";
import {
  type AttachedMedia,
  attachedOf,
  CONTENT_TYPES,
  fileName,
  type MediaRow,
  MediaSchema,
  storageKey,
} from "./entities.ts";
import { type Limits, processImage } from "./process.ts";
import type { MediaStore } from "./store.ts";

const log = logger("media");

/** Mastodon's limits: alt text of at most 1,500 characters, four images a post. */
export const MAX_DESCRIPTION = 1500;
export const MAX_ATTACHMENTS = 4;
/** Uploads no post took are removed after this long (Mastodon keeps them a day too). */
export const UNATTACHED_TTL_MS = 24 * 60 * 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type Refused = { readonly ok: false; readonly status: 404 | 413 | 422; readonly message: string };
const refused = (status: Refused["status"], message: string): Refused => ({ ok: false, status, message });

/** Who an image belongs to: the person who uploaded it, for the account they acted as. */
export interface MediaOwner {
  readonly personId: string;
  readonly accountId: string;
  /**
   * The draft awaiting approval that holds the images, when it is the one publishing them (its
   * approval): held images are attachable by that draft's post only.
   */
  readonly draftId?: string | null;
  /** The scheduled status that holds the images, when it is the one publishing (or filing) them. */
  readonly scheduledStatusId?: number | string | null;
}

export interface MediaChanges {
  readonly description?: string;
  /** "x,y", each in [-1, 1]. */
  readonly focus?: string;
}

/** Alt text and focal point as given, or why not (422). */
function checkChanges(
  changes: MediaChanges,
): Refused | { ok: true; description?: string | null; focus?: string | null } {
  const out: { ok: true; description?: string | null; focus?: string | null } = { ok: true };
  if (changes.description !== undefined) {
    if ([...changes.description].length > MAX_DESCRIPTION)
      return refused(
        422,
        `Validation failed: Description is too long (maximum is ${MAX_DESCRIPTION} characters)`,
      );
    out.description = changes.description.trim() === "" ? null : changes.description;
  }
  if (changes.focus !== undefined) {
    if (changes.focus.trim() === "") out.focus = null;
    else {
      const parts = changes.focus.split(",").map((p) => p.trim());
      const nums = parts.map(Number);
      if (
        parts.length !== 2 ||
        parts.some((p) => p === "") ||
        nums.some((n) => !Number.isFinite(n) || n < -1 || n > 1)
      )
        return refused(422, "Validation failed: Focus must be two numbers from -1.0 to 1.0, as x,y");
      out.focus = nums.map((n) => String(Math.round(n * 100) / 100)).join(",");
    }
  }
  return out;
}

/** An image was attached (or held) by another post, draft or scheduled status meanwhile. */
export class MediaTakenError extends Error {
  constructor() {
    super("a media attachment was taken by another post meanwhile");
  }
}

export function createMedia(deps: {
  readonly db: Database;
  readonly store: MediaStore;
  readonly limits: Limits;
}) {
  const { db, store, limits } = deps;
  const keysOf = (m: Pick<MediaRow, "id" | "format" | "smallFormat">) => [
    storageKey(m.id, "original", m.format),
    storageKey(m.id, "small", m.smallFormat),
  ];

  /**
   * Which rows are this owner's to attach: unattached, and free or held by the owner's draft (or
   * scheduled status).
   */
  const ownedBy = (owner: MediaOwner) => ({
    personId: owner.personId,
    accountId: owner.accountId,
    postId: IsNull(),
    draftId: owner.draftId ?? IsNull(),
    scheduledStatusId:
      owner.scheduledStatusId === undefined || owner.scheduledStatusId === null
        ? IsNull()
        : String(owner.scheduledStatusId),
  });

  /**
   * An image of this owner's its owner may still see and change through the API: not yet posted,
   * not waiting with a draft for approval (the approver saw it as it is); held by a scheduled
   * status, it may (as on Mastodon: fixing the alt text before it goes out).
   */
  async function ownEditable(id: string, owner: MediaOwner): Promise<MediaRow | null> {
    if (!UUID.test(id)) return null;
    return db.run((em) =>
      em.getRepository(MediaSchema).findOneBy({
        id,
        personId: owner.personId,
        accountId: owner.accountId,
        postId: IsNull(),
        draftId: IsNull(),
      }),
    );
  }

  /** An unattached image of this owner's, or null (someone else's is not found either). */
  async function ownUnattached(id: string, owner: MediaOwner): Promise<MediaRow | null> {
    if (!UUID.test(id)) return null;
    return db.run((em) => em.getRepository(MediaSchema).findOneBy({ id, ...ownedBy(owner) }));
  }

  /** In `em`: the rows `ids` of this owner's become `changes`, all of them or it throws. */
  async function take(
    em: EntityManager,
    ids: readonly string[],
    owner: MediaOwner,
    changes: Partial<MediaRow>,
  ): Promise<AttachedMedia[]> {
    if (ids.length === 0) return [];
    const r = await em.getRepository(MediaSchema).update({ id: In([...ids]), ...ownedBy(owner) }, changes);
    if (r.affected !== ids.length) throw new MediaTakenError();
    const rows = await em.getRepository(MediaSchema).findBy({ id: In([...ids]) });
    return ids.map((id) => attachedOf(rows.find((m) => m.id === id)!));
  }

  return {
    limits,
    ownUnattached,
    ownEditable,

    async upload(
      owner: MediaOwner & { readonly tokenId: string | null },
      bytes: Buffer,
      changes: MediaChanges = {},
    ): Promise<{ ok: true; media: MediaRow } | Refused> {
      const checked = checkChanges(changes);
      if (!checked.ok) return checked;
      const p = await processImage(bytes, limits);
      if (!p.ok) return p;
      const row: MediaRow = {
        id: randomUUID(),
        accountId: owner.accountId,
        personId: owner.personId,
        tokenId: owner.tokenId,
        postId: null,
        draftId: null,
        scheduledStatusId: null,
        format: p.original.format,
        width: p.original.width,
        height: p.original.height,
        smallFormat: p.small.format,
        smallWidth: p.small.width,
        smallHeight: p.small.height,
        size: p.original.data.length,
        sha256: p.sha256,
        blurhash: p.blurhash,
        description: checked.description ?? null,
        focus: checked.focus ?? null,
        createdAt: new Date(),
        attachedAt: null,
      };
      const [originalKey, smallKey] = keysOf(row);
      try {
        await store.put(originalKey, p.original.data, CONTENT_TYPES[row.format]);
        await store.put(smallKey, p.small.data, CONTENT_TYPES[row.smallFormat]);
        await db.run((em) => em.getRepository(MediaSchema).insert(row));
      } catch (err) {
        await store.remove([originalKey, smallKey]).catch(() => undefined);
        throw err;
      }
      return { ok: true, media: row };
    },

    /**
     * Alt text and focal point of an image not yet posted (attached ones are part of their post;
     * a draft's wait with it for approval as they are).
     */
    async update(
      id: string,
      owner: MediaOwner,
      changes: MediaChanges,
    ): Promise<{ ok: true; media: MediaRow } | Refused> {
      const row = await ownEditable(id, owner);
      if (!row) return refused(404, "Record not found");
      const checked = checkChanges(changes);
      if (!checked.ok) return checked;
      const set: Partial<MediaRow> = {};
      if (checked.description !== undefined) set.description = checked.description;
      if (checked.focus !== undefined) set.focus = checked.focus;
      if (Object.keys(set).length > 0)
        await db.run((em) =>
          em.getRepository(MediaSchema).update(
            {
              id: row.id,
              personId: owner.personId,
              accountId: owner.accountId,
              postId: IsNull(),
              draftId: IsNull(),
            },
            set,
          ),
        );
      return { ok: true, media: { ...row, ...set } };
    },

    /**
     * Before a post (or a draft) is written: the images exist, are this owner's, unattached (and
     * held by no draft but the owner's own), at most four.
     */
    async attachable(ids: readonly string[], owner: MediaOwner): Promise<{ ok: true } | Refused> {
      if (ids.length > MAX_ATTACHMENTS)
        return refused(422, `Validation failed: Media attachments can be at most ${MAX_ATTACHMENTS}`);
      if (new Set(ids).size !== ids.length)
        return refused(422, "Validation failed: Media attachments are repeated");
      for (const id of ids)
        if (!(await ownUnattached(id, owner)))
          return refused(
            422,
            `Validation failed: Media attachment ${id} is not an unattached upload of yours for this account`,
          );
      return { ok: true };
    },

    /**
     * In the post's transaction: the images become the post's, in the order given. Another post
     * that took one meanwhile makes this throw (the transaction rolls back; `attachable` said why
     * the moment before).
     */
    async attach(
      em: EntityManager,
      ids: readonly string[],
      owner: MediaOwner,
      postId: string,
    ): Promise<AttachedMedia[]> {
      return take(em, ids, owner, { postId, draftId: null, scheduledStatusId: null, attachedAt: new Date() });
    },

    /**
     * In the draft's transaction: a draft awaiting approval holds the images (in the order
     * given), so they are not swept while it waits and nothing else attaches them; its approval
     * attaches them to the post (`attach` with the draft as owner), its rejection lets the sweep
     * remove them. A draft filed by a scheduled status takes them from that scheduled status.
     */
    async hold(
      em: EntityManager,
      ids: readonly string[],
      owner: MediaOwner,
      draftId: string,
    ): Promise<AttachedMedia[]> {
      return take(em, ids, { ...owner, draftId: null }, { draftId, scheduledStatusId: null });
    },

    /**
     * In the scheduled status's transaction: it holds the images (in the order given) until it
     * is published or filed as a draft; `release` lets them go when it is cancelled.
     */
    async holdForSchedule(
      em: EntityManager,
      ids: readonly string[],
      owner: MediaOwner,
      scheduledStatusId: number | string,
    ): Promise<AttachedMedia[]> {
      return take(
        em,
        ids,
        { ...owner, draftId: null, scheduledStatusId: null },
        { scheduledStatusId: String(scheduledStatusId) },
      );
    },

    /**
     * Before a scheduled status publishes: those of `ids` that are its owner's, unattached and
     * held by nobody become held by it; how many. A status scheduled by a version before 0027
     * held nothing (migration 0029 made those pending then hold theirs; one scheduled by an old
     * process during a rolling deploy comes later), and publishing takes only images it holds.
     * Someone else's, or one another post, draft or status took, stays as it is.
     */
    async holdUnheld(ids: readonly string[], owner: MediaOwner, scheduledStatusId: number | string) {
      const valid = ids.filter((id) => UUID.test(id));
      if (valid.length === 0) return 0;
      const r = await db.run((em) =>
        em
          .getRepository(MediaSchema)
          .update(
            { id: In(valid), ...ownedBy({ ...owner, draftId: null, scheduledStatusId: null }) },
            { scheduledStatusId: String(scheduledStatusId) },
          ),
      );
      return r.affected ?? 0;
    },

    /** What each scheduled status holds (in no order: its stored media_ids give the order). */
    async heldBy(scheduledStatusIds: readonly (number | string)[]): Promise<Map<string, AttachedMedia[]>> {
      const out = new Map<string, AttachedMedia[]>();
      if (scheduledStatusIds.length === 0) return out;
      const rows = await db.run((em) =>
        em.getRepository(MediaSchema).findBy({
          scheduledStatusId: In(scheduledStatusIds.map(String)),
          postId: IsNull(),
          draftId: IsNull(),
        }),
      );
      for (const m of rows) {
        const key = String(m.scheduledStatusId);
        out.set(key, [...(out.get(key) ?? []), attachedOf(m)]);
      }
      return out;
    },

    /** In the cancelling transaction: the images a scheduled status held are free again. */
    async release(em: EntityManager, scheduledStatusId: number | string): Promise<void> {
      await em
        .getRepository(MediaSchema)
        .update(
          { scheduledStatusId: String(scheduledStatusId), postId: IsNull() },
          { scheduledStatusId: null },
        );
    },

    /**
     * A file at its public URL (`/media/<id>/<name>`): unattached uploads too (their owner's
     * client previews them; the id is a random UUID), not those of a deleted post.
     */
    async file(id: string, name: string): Promise<{ data: Buffer; contentType: string } | null> {
      if (!UUID.test(id)) return null;
      const row = await db.run((em) => em.getRepository(MediaSchema).findOneBy({ id }));
      if (!row) return null;
      const variant =
        name === fileName("original", row.format)
          ? ("original" as const)
          : name === fileName("small", row.smallFormat)
            ? ("small" as const)
            : undefined;
      if (!variant) return null;
      const format = variant === "original" ? row.format : row.smallFormat;
      if (row.postId) {
        const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: row.postId! }));
        if (!post || post.deletedAt) return null;
      }
      const data = await store.get(storageKey(row.id, variant, format));
      return data ? { data, contentType: CONTENT_TYPES[format] } : null;
    },

    /**
     * Removes uploads no post took within a day and no draft or scheduled status holds, and at
     * once those of drafts rejected or withdrawn and of scheduled statuses that ended without
     * taking them (rows and files); returns how many.
     */
    async sweep(now = Date.now()): Promise<number> {
      const stale = await db.run(async (em) => [
        ...(await em.getRepository(MediaSchema).find({
          where: {
            postId: IsNull(),
            draftId: IsNull(),
            scheduledStatusId: IsNull(),
            createdAt: LessThan(new Date(now - UNATTACHED_TTL_MS)),
          },
          order: { createdAt: "ASC" },
          take: 500,
        })),
        ...(await em
          .getRepository(MediaSchema)
          .createQueryBuilder("m")
          .innerJoin("draft", "d", "d.id = m.draft_id")
          .where("m.post_id IS NULL AND d.status IN (:...over)", {
            over: ["rejected", "withdrawn", "discarded"],
          })
          .orderBy("m.created_at", "ASC")
          .take(500)
          .getMany()),
        // Held by a scheduled status that will not publish them: refused, failed, discarded, gone.
        ...(await em
          .getRepository(MediaSchema)
          .createQueryBuilder("m")
          .leftJoin("api_scheduled_status", "s", "s.id = m.scheduled_status_id")
          .where("m.scheduled_status_id IS NOT NULL AND m.post_id IS NULL AND m.draft_id IS NULL")
          .andWhere("(s.id IS NULL OR s.state NOT IN (:...waiting))", {
            waiting: ["scheduled", "publishing"],
          })
          .orderBy("m.created_at", "ASC")
          .take(500)
          .getMany()),
      ]);
      let removed = 0;
      for (const m of stale) {
        // Only if still unattached and held by the same draft (or none): a post may take it
        // between the read and here, and a draft only holds what it took unheld.
        const r = await db.run((em) =>
          em.getRepository(MediaSchema).delete({
            id: m.id,
            postId: IsNull(),
            draftId: m.draftId ?? IsNull(),
            scheduledStatusId: m.scheduledStatusId === null ? IsNull() : String(m.scheduledStatusId),
          }),
        );
        if (!r.affected) continue;
        await store.remove(keysOf(m));
        removed++;
      }
      if (removed > 0) log.info("Removed {count} unattached upload(s) older than a day.", { count: removed });
      return removed;
    },
  };
}

export type Media = ReturnType<typeof createMedia>;

/** Sweeps unattached uploads every hour in the process holding the cluster lease (server.ts). */
export function createMediaSweeper(
  media: Pick<Media, "sweep">,
  held: () => boolean,
  intervalMs = 60 * 60_000,
) {
  return createPeriodic({
    intervalMs,
    held,
    run: () => media.sweep(),
    onError: (error) => log.error("Sweeping unattached uploads failed: {error}", { error }),
  });
}
