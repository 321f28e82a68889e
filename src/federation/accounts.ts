/**
 * Accounts: the fediverse actors Herald serves — one per eligible active person, one per shared
 * account (`herald shared-account create`), one for the organization. This module keeps their
 * state (actor rows, suspension, tombstones, keys made in the background); it tells no one. The
 * federation bridge (bridge.ts) applies directory events here and announces what changed, and
 * operators' commands (configure, rename, create a shared account) append an account event in
 * their transaction for the bridge to announce.
 */
import { randomUUID } from "node:crypto";
import { type EntityManager, In, IsNull } from "typeorm";
import type { Config } from "../config.ts";
import { recordAudit } from "../db/audit.ts";
import type { Database } from "../db/database.ts";
import type { Directory } from "../identity/directory.ts";
import { accountCandidate } from "../identity/eligibility.ts";
import { appendEvents } from "../identity/events.ts";
import {
  baseHandle,
  claimHandle,
  isValidHandle,
  issueHandle,
  RESERVED_HANDLES,
} from "../identity/handles.ts";
import { logger } from "../logging.ts";
import { type ActorKind, type ActorRow, ActorSchema } from "./entities.ts";
import type { KeyStore } from "./keys.ts";

const log = logger("federation", "accounts");

/** The most of the wall time key generation takes while requests keep arriving (decision 0008). */
export const KEY_WORK_SHARE = 0.5;

export type CreateSharedResult =
  | { readonly ok: true; readonly actor: ActorRow }
  | { readonly ok: false; readonly reason: "invalid" | "taken"; readonly message: string };

/** State of another capability keyed by actor id, moved when an account is renamed. */
export type RenameHook = (em: EntityManager, fromActorId: string, toActorId: string) => Promise<void>;

export function createAccounts(deps: {
  readonly db: Database;
  readonly config: Pick<Config, "accounts" | "orgName">;
  readonly keys: KeyStore;
  /** Reads of people (which are the directory's); handles are issued through identity/handles.ts. */
  readonly directory: Pick<Directory, "activePersonIds">;
  /** True while the server is answering requests: key generation then takes its share only. */
  readonly isBusy?: () => boolean;
  /**
   * After an account change committed in this process: its caches drop at once and the event
   * dispatcher wakes (other processes learn of it from the change's event).
   */
  readonly afterChange?: () => void;
  /** Moves other capabilities' state (grants, drafts) to a renamed account, in its transaction. */
  readonly onRename?: RenameHook;
}) {
  const { db, config, keys } = deps;
  const isBusy = deps.isBusy ?? (() => false);
  const changed = () => deps.afterChange?.();

  async function newActor(
    em: EntityManager,
    kind: ActorKind,
    handle: string,
    displayName: string,
    personId: string | null,
    id: string = randomUUID(),
  ) {
    const now = new Date();
    const actor: ActorRow = {
      id,
      kind,
      personId,
      handle,
      displayName,
      summary: null,
      manualApproval: false,
      signPosts: false,
      createdAt: now,
      updatedAt: now,
      keysReadyAt: null,
      suspendedAt: null,
      deletedAt: null,
      movedToId: null,
      formerPersonId: null,
    };
    await em.getRepository(ActorSchema).insert(actor);
    return actor;
  }

  /**
   * The handle an actor row keeps once it gives its handle up: outside the handle alphabet
   * (`~`), so no lookup by handle ever finds it, and unique by the actor's id.
   */
  const retiredHandle = (a: ActorRow) => `${a.handle.slice(0, 31)}~${a.id.replaceAll("-", "")}`;

  /**
   * The person's actor, created if the person is eligible and has none carrying their handle.
   * A rehire (their actor was deleted: it answers with a Tombstone, and followers got a Delete
   * that remote servers do not undo) and a relinked handle (`herald person relink`) get a NEW
   * actor with the person's current handle. The tombstone keeps its id and gives the handle up;
   * a live actor with the person's previous handle stays as an alias moved to the new one (as on
   * a rename), so nothing that was reachable stops resolving.
   */
  async function ensurePersonActor(
    personId: string,
  ): Promise<{ readonly actor: ActorRow | undefined; readonly movedFrom?: string }> {
    const result = await db.transaction(async (em) => {
      const repo = em.getRepository(ActorSchema);
      const existing = await repo.findOneBy({ personId });
      const { person, eligible } = await accountCandidate(em, personId, config.accounts.eligibleGroups);
      const live = existing && !existing.deletedAt ? existing : undefined;
      if (live && (!person?.handle || live.handle === person.handle)) return { actor: live };
      if (!person?.handle || !eligible) return { actor: live };
      const holder = await repo.findOneBy({ handle: person.handle });
      if (holder && holder.id !== existing?.id && !holder.deletedAt && !holder.movedToId) {
        // The registry gave this handle to the person, yet another live account serves it.
        log.warn("Handle @{handle} of person {personId} is served by actor {actorId}; not taken over.", {
          handle: person.handle,
          personId,
          actorId: holder.id,
        });
        return { actor: live };
      }
      const now = new Date();
      if (holder) await repo.update({ id: holder.id }, { handle: retiredHandle(holder), updatedAt: now });
      if (existing)
        await repo.update({ id: existing.id }, { personId: null, formerPersonId: personId, updatedAt: now });
      const row = await newActor(
        em,
        "person",
        person.handle,
        person.displayName ?? person.userName,
        person.id,
      );
      if (live) {
        await repo.update({ id: live.id }, { movedToId: row.id });
        // Who may act for the account and its pending drafts follow it, as on a rename.
        await deps.onRename?.(em, live.id, row.id);
      }
      return { actor: row, movedFrom: live?.id };
    });
    if (result.movedFrom) changed();
    // Keys come from the background key worker: an RSA key costs a noticeable slice of a core,
    // and a bulk import must not starve the SCIM requests that provision people.
    if (result.actor && !result.actor.keysReadyAt) keyWorker.notify();
    return result;
  }

  /** Suspends or reinstates the person's actor; returns its id if that changed anything. */
  async function setSuspended(personId: string, suspended: boolean): Promise<string | undefined> {
    const actor = await db.run((em) => em.getRepository(ActorSchema).findOneBy({ personId }));
    if (!actor || actor.deletedAt) return undefined;
    if (Boolean(actor.suspendedAt) === suspended) return undefined;
    await db.run((em) =>
      em
        .getRepository(ActorSchema)
        .update({ id: actor.id }, { suspendedAt: suspended ? new Date() : null, updatedAt: new Date() }),
    );
    changed();
    return actor.id;
  }

  /** Tombstones the person's actor; returns its id if it was live until now. */
  async function tombstone(personId: string): Promise<string | undefined> {
    const actor = await db.run((em) => em.getRepository(ActorSchema).findOneBy({ personId }));
    if (!actor || actor.deletedAt) return undefined;
    await db.run((em) => em.getRepository(ActorSchema).update({ id: actor.id }, { deletedAt: new Date() }));
    changed();
    return actor.id;
  }

  /**
   * `herald person erase`: the person's accounts (the current one and those they had before a
   * rename or rehire) keep no name or bio: the display name becomes the handle. Returns the ids
   * of the actors it changed.
   */
  async function forgetPerson(personId: string): Promise<string[]> {
    const ids = await db.transaction(async (em) => {
      const repo = em.getRepository(ActorSchema);
      const rows = await repo.find({ where: [{ personId }, { formerPersonId: personId }] });
      const out: string[] = [];
      for (const a of rows.filter((r) => r.kind === "person")) {
        if (a.displayName === a.handle && a.summary === null) continue;
        await repo.update({ id: a.id }, { displayName: a.handle, summary: null, updatedAt: new Date() });
        out.push(a.id);
      }
      return out;
    });
    if (ids.length > 0) changed();
    return ids;
  }

  /**
   * Generates missing actor keys one at a time. Under load it takes a fixed share of the time
   * instead of waiting for a quiet moment, which never comes on a live server (decision 0008):
   * after each key it pauses as long as that key took while requests keep arriving, so requests
   * get at least half, and a new hire is still followable within a second or two.
   */
  const keyWorker = (() => {
    let wake: (() => void) | undefined;
    let running: Promise<void> | undefined;
    const controller = new AbortController();
    /** Sleeps until `ms` pass, stop() is called, or (when `wakeable`) notify() is. */
    const sleep = (ms: number, wakeable = true) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          if (wake === done) wake = undefined;
          controller.signal.removeEventListener("abort", done);
          resolve();
        }
        if (wakeable) wake = done;
        controller.signal.addEventListener("abort", done, { once: true });
      });
    async function loop(): Promise<void> {
      while (!controller.signal.aborted) {
        let pending: ActorRow[] = [];
        try {
          pending = await db.run((em) =>
            em.getRepository(ActorSchema).find({
              where: { keysReadyAt: IsNull(), deletedAt: IsNull() },
              order: { createdAt: "ASC" },
              take: 20,
            }),
          );
          for (const actor of pending) {
            if (controller.signal.aborted) return;
            const started = performance.now();
            await keys.ensure(actor.id);
            changed();
            const spent = performance.now() - started;
            // Not woken by notify(): during a bulk import every provisioned person notifies.
            if (isBusy()) await sleep(spent * (1 / KEY_WORK_SHARE - 1), false);
          }
        } catch (error) {
          log.error("Key generation failed; retrying: {error}", { error });
          await sleep(5000);
        }
        if (pending.length === 0) await sleep(2000);
      }
    }
    return {
      notify: () => wake?.(),
      start: () => {
        running ??= loop();
      },
      stop: async () => {
        controller.abort();
        await running;
      },
    };
  })();

  return {
    ensurePersonActor,
    setSuspended,
    tombstone,
    forgetPerson,
    /** Starts the background key worker (the server does; the CLI does not). */
    startKeyWorker: () => keyWorker.start(),
    stopKeyWorker: () => keyWorker.stop(),

    async byId(id: string): Promise<ActorRow | null> {
      return db.run((em) => em.getRepository(ActorSchema).findOneBy({ id }));
    },

    /** The person's actor (the current one: a renamed or rehired person's earlier ones have moved). */
    async byPerson(personId: string): Promise<ActorRow | null> {
      return db.run((em) => em.getRepository(ActorSchema).findOneBy({ personId }));
    },

    async byHandle(handle: string): Promise<ActorRow | null> {
      return db.run((em) => em.getRepository(ActorSchema).findOneBy({ handle: handle.toLowerCase() }));
    },

    async list(): Promise<ActorRow[]> {
      return db.run((em) => em.getRepository(ActorSchema).find({ order: { kind: "ASC", handle: "ASC" } }));
    },

    /** Creates a shared account (`@recruiting`) with exactly the handle asked for. */
    async createShared(handle: string, displayName: string, actor: string): Promise<CreateSharedResult> {
      const h = handle.replace(/^@/, "").toLowerCase();
      if (!isValidHandle(h) || RESERVED_HANDLES.has(h)) {
        return {
          ok: false,
          reason: "invalid",
          message: `"${handle}" cannot be a handle: use 1–30 of a-z, 0-9 and _ (not starting or ending with _), and not a reserved name.`,
        };
      }
      if (!displayName.trim())
        return { ok: false, reason: "invalid", message: "A display name is required (--name)." };
      const created = await db.transaction(async (em) => {
        const id = randomUUID();
        if (!(await claimHandle(em, h, { kind: "shared", id }))) return undefined;
        const row = await newActor(em, "shared", h, displayName.trim(), null, id);
        await appendEvents(em, actor, [{ type: "account.shared_created", actorId: row.id, handle: h }]);
        await recordAudit(em, {
          actor,
          action: "account.shared.create",
          targetType: "actor",
          targetId: row.id,
          detail: { handle: h, displayName },
        });
        return row;
      });
      if (!created) {
        return {
          ok: false,
          reason: "taken",
          message: `The handle @${h} is already issued (handles are never recycled); choose another.`,
        };
      }
      await keys.ensure(created.id);
      changed();
      return { ok: true, actor: { ...created, keysReadyAt: new Date() } };
    },

    /**
     * Renames an account: a new actor with the new handle, the old one marked as moved to it (it
     * keeps its handle, which stays issued forever, as an alias). The federation bridge tells the
     * old account's followers with a Move (the `account.renamed` event).
     */
    async rename(
      idOrHandle: string,
      newHandle: string,
      by: string,
    ): Promise<{ ok: true; from: ActorRow; to: ActorRow } | { ok: false; message: string }> {
      const h = newHandle.replace(/^@/, "").toLowerCase();
      if (!isValidHandle(h) || RESERVED_HANDLES.has(h))
        return { ok: false, message: `"${newHandle}" cannot be a handle.` };
      const from =
        (await db.run((em) =>
          em.getRepository(ActorSchema).findOneBy({ handle: idOrHandle.replace(/^@/, "").toLowerCase() }),
        )) ?? (await db.run((em) => em.getRepository(ActorSchema).findOneBy({ id: idOrHandle })));
      if (!from || from.deletedAt) return { ok: false, message: `No account ${idOrHandle}.` };
      if (from.movedToId) return { ok: false, message: `@${from.handle} has already moved.` };
      if (from.kind === "org")
        return { ok: false, message: "The organization's account is renamed with HERALD_ORG_HANDLE." };
      const to = await db.transaction(async (em) => {
        const id = randomUUID();
        // The new handle is issued to the person (it becomes theirs) or to the new shared actor.
        const owner = from.personId
          ? { kind: "person" as const, id: from.personId }
          : { kind: "shared" as const, id };
        if (!(await claimHandle(em, h, owner))) return undefined;
        await em
          .getRepository(ActorSchema)
          .update({ id: from.id }, { personId: null, formerPersonId: from.personId, updatedAt: new Date() });
        const row = await newActor(em, from.kind, h, from.displayName, from.personId, id);
        await em
          .getRepository(ActorSchema)
          .update(
            { id: row.id },
            { manualApproval: from.manualApproval, signPosts: from.signPosts, summary: from.summary },
          );
        await em.getRepository(ActorSchema).update({ id: from.id }, { movedToId: row.id });
        // Who may act for the account (grants, pending drafts) follows it, in the same transaction.
        await deps.onRename?.(em, from.id, row.id);
        await appendEvents(em, by, [{ type: "account.renamed", actorId: from.id, toActorId: row.id }]);
        await recordAudit(em, {
          actor: by,
          action: "account.rename",
          targetType: "actor",
          targetId: from.id,
          detail: { from: from.handle, to: h, newActor: row.id },
        });
        return row;
      });
      if (!to)
        return { ok: false, message: `The handle @${h} is already issued (handles are never recycled).` };
      await keys.ensure(to.id);
      changed();
      const fresh = await db.run((em) => em.getRepository(ActorSchema).findOneByOrFail({ id: to.id }));
      return { ok: true, from: { ...from, movedToId: to.id }, to: fresh };
    },

    /** Account settings an operator may change. */
    async configure(
      idOrHandle: string,
      settings: { manualApproval?: boolean; signPosts?: boolean; displayName?: string; summary?: string },
      by: string,
    ): Promise<ActorRow | undefined> {
      const actor =
        (await db.run((em) => em.getRepository(ActorSchema).findOneBy({ id: idOrHandle }))) ??
        (await db.run((em) =>
          em.getRepository(ActorSchema).findOneBy({ handle: idOrHandle.replace(/^@/, "").toLowerCase() }),
        ));
      if (!actor || actor.deletedAt) return undefined;
      const changes: Partial<ActorRow> = { updatedAt: new Date() };
      if (settings.manualApproval !== undefined) changes.manualApproval = settings.manualApproval;
      if (settings.signPosts !== undefined) changes.signPosts = settings.signPosts;
      if (settings.displayName !== undefined && actor.kind !== "person")
        changes.displayName = settings.displayName;
      if (settings.summary !== undefined) changes.summary = settings.summary;
      await db.transaction(async (em) => {
        await em.getRepository(ActorSchema).update({ id: actor.id }, changes);
        await appendEvents(em, by, [{ type: "account.configured", actorId: actor.id }]);
        await recordAudit(em, {
          actor: by,
          action: "account.configure",
          targetType: "actor",
          targetId: actor.id,
          detail: { ...settings },
        });
      });
      changed();
      return { ...actor, ...changes };
    },

    /** The organization's own actor, created on first use. */
    async ensureOrgActor(): Promise<ActorRow> {
      const existing = await db.run((em) => em.getRepository(ActorSchema).findOneBy({ kind: "org" }));
      if (existing) {
        if (!existing.keysReadyAt) await keys.ensure(existing.id);
        return existing;
      }
      const wanted = config.accounts.orgHandle ?? baseHandle(config.orgName);
      const row = await db.transaction(async (em) => {
        const again = await em.getRepository(ActorSchema).findOneBy({ kind: "org" });
        if (again) return again;
        const id = randomUUID();
        const h = await issueHandle(em, wanted, "org", id);
        return newActor(em, "org", h, config.orgName, null, id);
      });
      await keys.ensure(row.id);
      changed();
      return row;
    },

    /** Actors for eligible people who have none yet (people provisioned before Presence existed). */
    async reconcile(limit = 1000): Promise<number> {
      // The directory's active people, a page at a time; those without an account get one.
      let made = 0;
      for (let after = ""; made < limit;) {
        const ids = await deps.directory.activePersonIds(after, 500);
        if (ids.length === 0) break;
        after = ids[ids.length - 1];
        const have = new Set(
          (
            await db.run((em) =>
              em
                .getRepository(ActorSchema)
                .find({ select: { personId: true }, where: { personId: In(ids) } }),
            )
          ).map((a) => a.personId),
        );
        for (const id of ids)
          if (!have.has(id) && made < limit && (await ensurePersonActor(id)).actor) made++;
      }
      if (made > 0) log.info("Created {n} accounts for people provisioned earlier.", { n: made });
      return made;
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;
