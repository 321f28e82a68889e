/**
 * Scheduled statuses (docs.joinmastodon.org/methods/scheduled_statuses/): POST /api/v1/statuses
 * with `scheduled_at` at least five minutes ahead (as Mastodon) answers 200 with a
 * ScheduledStatus; the person lists, moves and cancels theirs (per the account their token acts
 * as). Its images (`media_ids`, checked as for a post now) are held by it until it is published,
 * and let go when it is cancelled.
 *
 * The worker publishes each one when due, exactly once per cluster: only the process holding the
 * cluster lease looks, and a row is claimed by one conditional UPDATE (state scheduled →
 * publishing, with a random claim id) before anything is published. The post (or draft) and the
 * row's `published` (or `drafted`) are committed in one transaction, and only while the claim is
 * still the same: a claim older than CLAIM_TIMEOUT_MS (its process crashed, or hangs) is taken
 * over by the next round, and if the first process wakes up after all, its commit finds the
 * claim gone and writes nothing. Each claim is counted: a row whose publishing threw goes back
 * to `scheduled`, tried again RETRY_AFTER_MS after that claim, and its MAX_ATTEMPTS-th claim
 * that throws, or finds the previous ones left behind (its publishing kills or hangs the
 * worker), ends it `failed` instead of it being tried forever. A claim without an id (taken by a version before 0027, which
 * published without a claim check) is never taken over.
 * At publish time Casbin decides again, for the person as they
 * are then: a person removed from the group (or gone) is not published for, and the row records
 * why (`refused`, with an audit record); one who may now only draft files a draft awaiting
 * approval (`drafted`).
 */
import { randomUUID } from "node:crypto";
import type Router from "@koa/router";
import type { Context } from "koa";
import { type EntityManager, IsNull, LessThanOrEqual, Not } from "typeorm";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import { createPeriodic } from "../db/periodic.ts";
import { PostSchema, type Visibility } from "../federation/entities.ts";
import { fail } from "../http/errors.ts";
import { koa } from "../http/routes.ts";
import { logger } from "../logging.ts";
import type { AttachedMedia } from "../media/entities.ts";
import { type Media, MediaTakenError } from "../media/service.ts";
import type { ApiAuth, UserCaller } from "./auth.ts";
import { nextApiId, parseApiId } from "./ids.ts";
import type { OAuth } from "./oauth.ts";
import { type Params, str } from "./params.ts";
import type { Publisher, StatusInput } from "./publish.ts";
import { type ScheduledRow, ScheduledSchema } from "./records.ts";
import { keyset, pageOf, setLink } from "./statuses.ts";
import { mediaAttachment } from "./media-routes.ts";
import { toMastodonVisibility } from "./wire.ts";
import type { Config } from "../config.ts";

const log = logger("api", "scheduled");

/** Mastodon's ScheduledStatus::MINIMUM_OFFSET. */
export const MINIMUM_OFFSET_MS = 5 * 60_000;
/** Mastodon's TOTAL_LIMIT per user; here per person and account. */
export const TOTAL_LIMIT = 300;
/**
 * A claim this old is taken over: its process crashed or hangs. Publishing one status takes
 * seconds (mentions are looked up over the network, each with its own timeout).
 */
export const CLAIM_TIMEOUT_MS = 10 * 60_000;
/** Claims left behind this many times (crashed or hung workers) end the row as `failed`. */
export const MAX_ATTEMPTS = 3;
/**
 * A row whose publishing threw is tried again no sooner than this after its claim: an outage
 * (a database failover, a restart) is given minutes to pass, not used up by MAX_ATTEMPTS rounds
 * a second apart.
 */
export const RETRY_AFTER_MS = 2 * 60_000;

export const SCHEDULED_PATHS = {
  list: "/api/v1/scheduled_statuses",
  one: "/api/v1/scheduled_statuses/{id}",
} as const;

interface ScheduledParams extends StatusInput {
  /** The api id the client gave as in_reply_to_id (shown back as it was given). */
  readonly inReplyToId?: string | null;
  readonly appId?: string | null;
}

/**
 * The ScheduledStatus entity, with Herald's extension saying what became of it. `held`: the
 * images it holds (in the order the client gave; none once published, drafted or cancelled).
 */
function scheduledJson(origin: URL, row: ScheduledRow, postApiId: string | null, held: AttachedMedia[] = []) {
  const p = JSON.parse(row.params) as ScheduledParams;
  const mediaIds = p.mediaIds ?? [];
  const media = mediaIds.flatMap((id) => held.filter((m) => m.id === id));
  return {
    id: String(row.id),
    scheduled_at: row.scheduledAt.toISOString(),
    params: {
      text: p.text,
      poll: null,
      media_ids: mediaIds.length > 0 ? [...mediaIds] : null,
      sensitive: null,
      spoiler_text: null,
      visibility: toMastodonVisibility(p.visibility),
      in_reply_to_id: p.inReplyToId ?? null,
      language: p.language ?? null,
      application_id: p.appId ?? null,
      scheduled_at: null,
      idempotency: null,
      with_rate_limit: false,
    },
    media_attachments: media.map((m) => mediaAttachment(origin, m)),
    herald: { state: row.state, outcome: row.outcome, status_id: postApiId, draft_id: row.draftId },
  };
}

function parseWhen(text: string | undefined): Date {
  const t = text ? Date.parse(text) : Number.NaN;
  if (!Number.isFinite(t)) fail(422, "Validation failed: Scheduled at is not a valid date");
  if (t < Date.now() + MINIMUM_OFFSET_MS)
    fail(422, "Validation failed: Scheduled at The scheduled date must be at least 5 minutes in the future");
  return new Date(t);
}

type ScheduledMedia = Pick<Media, "attachable" | "holdForSchedule" | "heldBy" | "release">;

export function createScheduled(deps: {
  config: Config;
  db: Database;
  auth: ApiAuth;
  publisher: Publisher;
  media: ScheduledMedia;
}) {
  const { config, db, auth, publisher, media } = deps;

  /** Rows as ScheduledStatus entities, with the images each holds (one query for all). */
  async function shown(
    rows: readonly ScheduledRow[],
    postIds: ReadonlyMap<string, string | null> = new Map(),
  ) {
    const held = await media.heldBy(rows.map((r) => r.id));
    return rows.map((r) =>
      scheduledJson(config.origin, r, postIds.get(String(r.id)) ?? null, held.get(String(r.id)) ?? []),
    );
  }

  async function postApiId(row: ScheduledRow): Promise<string | null> {
    if (!row.postId) return null;
    const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id: row.postId! }));
    return post?.apiId === undefined || post.apiId === null ? null : String(post.apiId);
  }

  async function mine(c: UserCaller, id: string): Promise<ScheduledRow> {
    const n = parseApiId(id);
    const row =
      n === undefined
        ? null
        : await db.run((em) =>
            em
              .getRepository(ScheduledSchema)
              .findOneBy({ id: n, personId: c.person.id, accountId: c.account.id }),
          );
    if (!row) fail(404, "Record not found");
    return row;
  }

  return {
    /** POST /api/v1/statuses with scheduled_at. */
    async create(c: UserCaller, input: StatusInput, p: Params) {
      const at = parseWhen(str(p, "scheduled_at"));
      // Refused now if the person could neither post nor draft now (decided again when due).
      const may =
        (await c.can(input.inReplyTo ? "reply" : "post", c.account)).allow ||
        (await c.can("draft", c.account)).allow;
      if (!may) fail(403, `This action is not allowed: you may not post as @${c.account.handle}`);
      const mediaIds = input.mediaIds ?? [];
      const owner = { personId: c.person.id, accountId: c.account.id };
      if (mediaIds.length > 0) {
        const usable = await media.attachable(mediaIds, owner);
        if (!usable.ok) fail(usable.status, usable.message);
      }
      const params: ScheduledParams = {
        ...input,
        inReplyToId: str(p, "in_reply_to_id") ?? null,
        appId: c.app.id,
      };
      const row = await db
        .transaction(async (em) => {
          const repo = em.getRepository(ScheduledSchema);
          const pending = await repo.countBy({
            personId: c.person.id,
            accountId: c.account.id,
            state: "scheduled",
          });
          if (pending >= TOTAL_LIMIT)
            fail(422, "Validation failed: Total limit of scheduled statuses exceeded");
          const r: ScheduledRow = {
            id: await nextApiId(em.queryRunner!),
            personId: c.person.id,
            accountId: c.account.id,
            tokenId: c.token.id,
            app: c.app.name,
            params: JSON.stringify(params),
            scheduledAt: at,
            state: "scheduled",
            createdAt: new Date(),
            claimedBy: null,
            claimedAt: null,
            postId: null,
            draftId: null,
            outcome: null,
            finishedAt: null,
          };
          await repo.insert(r);
          await media.holdForSchedule(em, mediaIds, owner, r.id);
          await recordAudit(em, {
            actor: `person:${c.person.id}`,
            action: "api.status.schedule",
            targetType: "scheduled_status",
            targetId: String(r.id),
            detail: {
              account: c.account.handle,
              scheduledAt: at.toISOString(),
              text: input.text,
              ...publisher.pressedSend(
                { person: c.person, account: c.account, can: c.can, app: c.app, tokenId: c.token.id },
                "scheduled",
                {},
              ),
            },
          });
          return r;
        })
        .catch((error: unknown) => {
          if (error instanceof MediaTakenError)
            fail(422, "Validation failed: a media attachment was attached to another status meanwhile");
          throw error;
        });
      return (await shown([row]))[0];
    },

    /** One of the caller's scheduled statuses as shown (an Idempotency-Key's replay). */
    async one(c: UserCaller, id: string) {
      const row = await mine(c, id);
      return (await shown([row], new Map([[String(row.id), await postApiId(row)]])))[0];
    },

    routes(router: Router, params: (ctx: Context) => Promise<Params>) {
      router.get(koa(SCHEDULED_PATHS.list), async (ctx) => {
        const c = await auth.caller(ctx, "user", "read:statuses");
        const p = await params(ctx);
        const page = pageOf(p);
        if (!page) {
          ctx.body = [];
          return;
        }
        const rows = await db.run((em) =>
          keyset(
            em
              .getRepository(ScheduledSchema)
              .createQueryBuilder("s")
              .where("s.person_id = :person AND s.account_id = :account AND s.state = :state", {
                person: c.person.id,
                account: c.account.id,
                state: "scheduled",
              }),
            "s.id",
            page,
          ).getMany(),
        );
        const list = page.min !== undefined ? rows.reverse() : rows;
        setLink(
          ctx,
          config,
          p,
          list.map((r) => String(r.id)),
        );
        ctx.body = await shown(list);
      });
      router.get(koa(SCHEDULED_PATHS.one), async (ctx) => {
        const c = await auth.caller(ctx, "user", "read:statuses");
        const row = await mine(c, ctx.params.id);
        ctx.body = (await shown([row], new Map([[String(row.id), await postApiId(row)]])))[0];
      });
      router.put(koa(SCHEDULED_PATHS.one), async (ctx) => {
        const c = await auth.caller(ctx, "user", "write:statuses");
        const row = await mine(c, ctx.params.id);
        const p = await params(ctx);
        const at = parseWhen(str(p, "scheduled_at"));
        const r = await db.run((em) =>
          em.getRepository(ScheduledSchema).update({ id: row.id, state: "scheduled" }, { scheduledAt: at }),
        );
        if (!r.affected) fail(422, `Validation failed: this status is already ${row.state}`);
        ctx.body = (await shown([{ ...row, scheduledAt: at }]))[0];
      });
      router.delete(koa(SCHEDULED_PATHS.one), async (ctx) => {
        const c = await auth.caller(ctx, "user", "write:statuses");
        const row = await mine(c, ctx.params.id);
        // Cancelled: its images are let go with it (swept like any upload no post took).
        const deleted = await db.transaction(async (em) => {
          const r = await em.getRepository(ScheduledSchema).delete({ id: row.id, state: "scheduled" });
          if (r.affected) await media.release(em, row.id);
          return r.affected;
        });
        if (!deleted) fail(422, `Validation failed: this status is already ${row.state}`);
        ctx.body = {};
      });
    },
  };
}

export type Scheduled = ReturnType<typeof createScheduled>;

/** Parameters the worker publishes with (stored at scheduling time). */
function paramsOf(row: ScheduledRow): StatusInput {
  const p = JSON.parse(row.params) as ScheduledParams;
  return {
    text: p.text,
    visibility: p.visibility as Visibility,
    inReplyTo: p.inReplyTo,
    language: p.language,
    mediaIds: p.mediaIds,
  };
}

/** The claim a round took was taken over meanwhile (it was older than CLAIM_TIMEOUT_MS). */
class ClaimLostError extends Error {
  constructor(id: number | string) {
    super(`the claim on scheduled status ${id} was taken over by another worker`);
  }
}

/**
 * The worker side: publishes due scheduled statuses while `held()` (the cluster lease), every
 * `intervalMs`. `publishDue` is one round (also called by tests, from several "processes" at once,
 * to show that the claim lets exactly one publish).
 */
export function createScheduledWorker(deps: {
  db: Database;
  auth: Pick<ApiAuth, "standing">;
  oauth: Pick<OAuth, "appById">;
  publisher: Publisher;
  media: Pick<Media, "holdUnheld">;
  holder: string;
  held: () => boolean;
  intervalMs?: number;
  /** The time a claim is taken at (tests make a round last minutes); Date.now by default. */
  clock?: () => number;
}) {
  const { db, auth, publisher, holder } = deps;
  const intervalMs = deps.intervalMs ?? 1000;
  const clock = deps.clock ?? Date.now;

  /** The row as this round claimed it: still `publishing`, under this claim. */
  const underClaim = (row: ScheduledRow, claimId: string) => ({
    id: row.id,
    state: "publishing" as const,
    claimId,
  });

  /** Records the end (only while the claim is still this one); false if it was taken over. */
  async function finish(
    row: ScheduledRow,
    claimId: string,
    changes: Partial<ScheduledRow>,
    audit?: Record<string, unknown>,
  ): Promise<boolean> {
    return db.transaction(async (em) => {
      const r = await em
        .getRepository(ScheduledSchema)
        .update(underClaim(row, claimId), { ...changes, finishedAt: new Date() });
      if (r.affected !== 1) return false;
      if (audit)
        await recordAudit(em, {
          actor: "system",
          action: `api.scheduled.${changes.state}`,
          targetType: "scheduled_status",
          targetId: String(row.id),
          detail: audit,
        });
      return true;
    });
  }

  async function publishOne(row: ScheduledRow, claimId: string): Promise<void> {
    const who = { scheduledStatusId: String(row.id), personId: row.personId, accountId: row.accountId };
    const s = await auth.standing({ personId: row.personId, accountId: row.accountId });
    if ("reason" in s) {
      log.info("Scheduled status {id} not published: {reason}", { id: String(row.id), reason: s.reason });
      await finish(row, claimId, { state: "refused", outcome: s.reason }, { ...who, reason: s.reason });
      return;
    }
    const input = paramsOf(row);
    if (input.mediaIds && input.mediaIds.length > 0) {
      const held = await deps.media.holdUnheld(
        input.mediaIds,
        { personId: row.personId, accountId: row.accountId },
        row.id,
      );
      if (held > 0)
        log.info("Scheduled status {id} now holds {count} image(s) it named but did not hold.", {
          id: String(row.id),
          count: held,
        });
    }
    const appRow = await deps.oauth.appById((JSON.parse(row.params) as ScheduledParams).appId ?? "");
    // The post (or draft) and the row's new state commit together, while the claim is ours.
    const within = async (em: EntityManager, made: { kind: "post" | "draft"; id: string }) => {
      const r = await em
        .getRepository(ScheduledSchema)
        .update(
          underClaim(row, claimId),
          made.kind === "post"
            ? { state: "published", postId: made.id, finishedAt: new Date() }
            : { state: "drafted", draftId: made.id, finishedAt: new Date() },
        );
      if (r.affected !== 1) throw new ClaimLostError(row.id);
    };
    const r = await publisher.publish(
      { ...s, app: { id: appRow?.id ?? null, name: row.app }, tokenId: row.tokenId },
      input,
      { scheduledStatusId: String(row.id) },
      { scheduledStatusId: String(row.id), within },
    );
    if (r.kind === "refused") {
      log.info("Scheduled status {id} not published: {reason}", { id: String(row.id), reason: r.message });
      await finish(
        row,
        claimId,
        { state: "refused", outcome: r.message.slice(0, 1000) },
        { ...who, reason: r.message },
      );
    }
  }

  /**
   * Claims one row (due, or under a claim too old) with a new claim id, counting the attempt; the
   * id, or null. A claim without an id is never taken over: it was taken by a version that
   * published without a claim check (migration 0029 ended those rows). The claim time is when
   * the claim is taken, not when the round began: a round publishes one row after another, and a
   * row claimed minutes into it would look minutes older than it is, and be taken over from a
   * worker still publishing it. It is the round's `now` if that is later: tests run rounds at
   * times to come, and a claim dated before its round would look CLAIM_TIMEOUT_MS old to the
   * next round at once. In production `now` is the round's start, always earlier.
   */
  async function claim(row: ScheduledRow, now: Date): Promise<string | null> {
    if (row.state === "publishing" && !row.claimId) return null;
    const claimId = randomUUID();
    const taken = await db.run((em) =>
      em.getRepository(ScheduledSchema).update(
        // Only as it was read: a row another worker claimed, failed and released since (its
        // attempts counted up) waits for its retry time, and its count is not written back lower.
        row.state === "scheduled"
          ? { id: row.id, state: "scheduled", attempts: row.attempts ?? IsNull() }
          : { id: row.id, state: "publishing", claimId: row.claimId! },
        {
          state: "publishing",
          claimedBy: holder,
          claimedAt: new Date(Math.max(now.getTime(), clock())),
          claimId,
          attempts: (row.attempts ?? 0) + 1,
        },
      ),
    );
    return taken.affected === 1 ? claimId : null;
  }

  /**
   * A claim left behind MAX_ATTEMPTS times (each time its worker crashed or hung while publishing
   * it) is not tried again: the row ends `failed`, audited, and its images are swept as for any
   * failed one. True if this round ended it.
   */
  async function giveUp(row: ScheduledRow): Promise<boolean> {
    const outcome =
      `Not published: ${row.attempts} attempts to publish it never finished (the worker stopped or ` +
      `hung each time). Schedule it again, or post it now; if it fails again, tell your administrator.`;
    // Under the claim left behind: only if no other round ended or took it over meanwhile.
    return finish(
      row,
      row.claimId!,
      { state: "failed", outcome },
      { attempts: row.attempts, lastClaimedBy: row.claimedBy, reason: "attempts" },
    );
  }

  /**
   * Publishing threw (a bug, or an outage: not a refusal, which is an answer). Nothing was
   * published (the post and the row's new state commit together), so the row goes back to
   * `scheduled`, under this claim only, for a round RETRY_AFTER_MS after this claim; its
   * MAX_ATTEMPTS-th claim ends it `failed` instead, audited with the error (the person sees what to do, not the stack), and its
   * images are swept. An outage that also stops this write leaves the claim to be taken over
   * after CLAIM_TIMEOUT_MS, which counts as an attempt too.
   */
  async function failedOnce(row: ScheduledRow, claimId: string, error: unknown): Promise<void> {
    const attempts = (row.attempts ?? 0) + 1;
    if (attempts < MAX_ATTEMPTS) {
      log.warn("Scheduled status {id} failed (attempt {attempts} of {max}), tried again: {error}", {
        id: String(row.id),
        attempts,
        max: MAX_ATTEMPTS,
        error,
      });
      await db.run((em) =>
        em
          .getRepository(ScheduledSchema)
          .update(underClaim(row, claimId), { state: "scheduled", claimId: null }),
      );
      return;
    }
    log.error("Scheduled status {id} failed {attempts} times, given up: {error}", {
      id: String(row.id),
      attempts,
      error,
    });
    await finish(
      row,
      claimId,
      {
        state: "failed",
        outcome:
          `Not published: publishing it failed ${attempts} times (an error in Herald, recorded in ` +
          `the audit log). Schedule it again, or post it now; if it fails again, tell your administrator.`,
      },
      {
        scheduledStatusId: String(row.id),
        personId: row.personId,
        accountId: row.accountId,
        attempts,
        reason: "error",
        error: String(error).slice(0, 1000),
      },
    );
  }

  /** One round: claims and publishes what is due now; returns the ids this call published for. */
  async function publishDue(now = new Date()): Promise<string[]> {
    const due = await db.run(async (em) => [
      ...(await em.getRepository(ScheduledSchema).find({
        where: [
          { state: "scheduled", scheduledAt: LessThanOrEqual(now), claimedAt: IsNull() },
          // Back after a publish that threw: once RETRY_AFTER_MS have passed since that claim.
          {
            state: "scheduled",
            scheduledAt: LessThanOrEqual(now),
            claimedAt: LessThanOrEqual(new Date(now.getTime() - RETRY_AFTER_MS)),
          },
        ],
        order: { scheduledAt: "ASC" },
        take: 20,
      })),
      // Claimed by a process that never finished (it crashed, or hangs): taken over.
      ...(await em.getRepository(ScheduledSchema).find({
        where: {
          state: "publishing",
          claimId: Not(IsNull()),
          claimedAt: LessThanOrEqual(new Date(now.getTime() - CLAIM_TIMEOUT_MS)),
        },
        order: { scheduledAt: "ASC" },
        take: 20,
      })),
    ]);
    const done: string[] = [];
    for (const row of due) {
      if (row.state === "publishing" && (row.attempts ?? 0) >= MAX_ATTEMPTS) {
        if (await giveUp(row))
          log.error("Scheduled status {id} given up after {attempts} attempts that never finished.", {
            id: String(row.id),
            attempts: row.attempts,
          });
        continue;
      }
      // The claim: one conditional UPDATE; whoever changes the row publishes it, nobody else.
      const claimId = await claim(row, now);
      if (!claimId) continue;
      if (row.state === "publishing") {
        log.warn("Scheduled status {id} was claimed by {holder} at {at} and never finished: taken over.", {
          id: String(row.id),
          holder: row.claimedBy,
          at: row.claimedAt,
        });
        await db.transaction((em) =>
          recordAudit(em, {
            actor: "system",
            action: "api.scheduled.reclaimed",
            targetType: "scheduled_status",
            targetId: String(row.id),
            detail: { from: row.claimedBy, claimedAt: row.claimedAt?.toISOString() ?? null, by: holder },
          }),
        );
      }
      try {
        await publishOne(row, claimId);
      } catch (error) {
        if (error instanceof ClaimLostError) {
          log.warn("Scheduled status {id}: {error}; nothing was published by this round.", {
            id: String(row.id),
            error: error.message,
          });
          continue;
        }
        await failedOnce(row, claimId, error).catch((e: unknown) =>
          log.error("Scheduled status {id}: recording its failure failed: {error}", {
            id: String(row.id),
            error: e,
          }),
        );
      }
      done.push(String(row.id));
    }
    return done;
  }

  const periodic = createPeriodic({
    intervalMs,
    held: deps.held,
    run: () => publishDue(),
    onError: (error) => log.error("Publishing scheduled statuses failed: {error}", { error }),
  });

  return { publishDue, start: periodic.start, stop: periodic.stop };
}

export type ScheduledWorker = ReturnType<typeof createScheduledWorker>;
