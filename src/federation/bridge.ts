/**
 * The federation bridge: the only place that sends activities because something changed — a
 * person provisioned, updated, deactivated, reactivated, deleted or relinked, a group membership
 * that makes someone eligible, an account an operator configured, renamed or created. It is one
 * `cluster` event consumer, as Ghost's ActivityPub service federates from domain events (its ADR
 * 0013): a local write never waits on a remote server, nor fails with one (DESIGN rule 5), and a
 * change made by the CLI is announced by the server like any other.
 *
 * One change, one activity (per account it touches). A change is what one transaction appended
 * (src/identity/events.ts): a SCIM deactivation appends person.updated and person.deactivated, a
 * deletion person.deactivated and person.deleted. Announced event by event, each became an
 * activity, and the first Update of a deactivation still said `suspended: false`. The bridge first
 * applies the whole change to account state (accounts.ts), then sends each account it touched
 * the one activity its final state calls for: Delete if the change tombstoned it, else Move if it
 * was renamed, else Update (an actor document carries the whole state, so one Update says it all).
 * Changes are delivered at least once: after a crash or a lease takeover one may be announced
 * again — with the same activity id (made from the change's id), so a receiver that remembers ids
 * sees a repeat, not a second change.
 */
import { type Activity, Delete, Move, Update } from "@fedify/vocab";
import { Temporal } from "@js-temporal/polyfill";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Directory } from "../identity/directory.ts";
import { appendEvents, type Change, type EventConsumer, RetryLater } from "../identity/events.ts";
import { logger } from "../logging.ts";
import type { Accounts } from "./accounts.ts";
import { actorDocument } from "./actors.ts";
import type { HeraldFederation } from "./context.ts";

const log = logger("federation", "bridge");

/** What an account's followers are told about a change. */
/** How long a Move waits for its successor's keys before it is sent regardless. */
const MOVE_WAIT_MS = 60_000;

export type Announcement =
  { readonly kind: "update" } | { readonly kind: "move"; readonly to: string } | { readonly kind: "delete" };

/** When one change calls for several activities on one account, the strongest is sent. */
const STRENGTH = { update: 0, move: 1, delete: 2 } as const;
const UPDATE: Announcement = { kind: "update" };
const DELETE: Announcement = { kind: "delete" };
const PUBLIC = new URL("https://www.w3.org/ns/activitystreams#Public");

export function createFederationBridge(deps: {
  readonly db: Database;
  readonly config: Pick<Config, "origin" | "orgName" | "accounts" | "handleDomain">;
  readonly federation: HeraldFederation;
  readonly accounts: Accounts;
  readonly directory: Pick<Directory, "personById">;
}): EventConsumer {
  const { db, config, federation, accounts, directory } = deps;

  /**
   * Applies a change to account state; returns what to announce, per actor id, and the actors
   * whose rows it changed (suspended, reinstated, tombstoned, moved to a successor).
   */
  async function apply(
    change: Change,
  ): Promise<{ announce: Map<string, Announcement>; changed: Set<string> }> {
    const out = new Map<string, Announcement>();
    const changed = new Set<string>();
    const mark = (actorId: string | undefined) => {
      if (actorId) changed.add(actorId);
      return actorId;
    };
    const note = (actorId: string | undefined, a: Announcement) => {
      if (!actorId) return;
      const before = out.get(actorId);
      if (!before || STRENGTH[a.kind] >= STRENGTH[before.kind]) out.set(actorId, a);
    };
    /** The person's account, made if due; a rehire's or relink's previous actor now names its successor. */
    const provision = async (personId: string) => {
      const { movedFrom } = await accounts.ensurePersonActor(personId);
      note(mark(movedFrom), UPDATE);
    };
    for (const { event } of change.events) {
      switch (event.type) {
        case "person.provisioned":
          if (event.active) await provision(event.personId);
          break;
        case "person.reactivated":
          await provision(event.personId);
          note(mark(await accounts.setSuspended(event.personId, false)), UPDATE);
          break;
        case "person.relinked":
          await provision(event.personId);
          break;
        case "person.deactivated":
          // Followers are kept, so a reactivation reverses this (issue: Presence, lifecycle).
          note(mark(await accounts.setSuspended(event.personId, true)), UPDATE);
          break;
        case "person.updated": {
          // A suspended account's profile shows nothing of the person: nothing to tell.
          const actor = await accounts.byPerson(event.personId);
          if (actor && !actor.deletedAt && !actor.suspendedAt) note(actor.id, UPDATE);
          break;
        }
        case "person.deleted":
          note(mark(await accounts.tombstone(event.personId)), DELETE);
          break;
        case "person.erased":
          // Its account is a tombstone already (the erasure deletes the record): nothing to tell.
          for (const id of await accounts.forgetPerson(event.personId)) mark(id);
          break;
        case "group.membership_changed":
          if (config.accounts.eligibleGroups.length > 0)
            for (const personId of event.added) await provision(personId);
          break;
        case "account.configured":
          note(event.actorId, UPDATE);
          break;
        case "account.renamed":
          note(event.actorId, { kind: "move", to: event.toActorId });
          break;
        // A new account has no followers yet; groups and grants are not federated; the bridge's
        // own record of what it changed (below) is for other processes' caches.
        case "account.shared_created":
        case "account.grants_changed":
        case "account.state_changed":
        case "group.created":
        case "group.updated":
        case "group.deleted":
          break;
        default:
          event satisfies never;
      }
    }
    return { announce: out, changed };
  }

  /** Sends one announcement to the account's followers (enqueued on Fedify's queue). */
  async function announce(changeId: string, actorId: string, a: Announcement): Promise<void> {
    const actor = await accounts.byId(actorId);
    // Keys come first: before them nobody could follow the account, and nothing could be signed.
    if (!actor?.keysReadyAt) return;
    const ctx = federation.createContext(new URL(config.origin.origin), { requestId: "bridge" });
    const uri = ctx.getActorUri(actorId);
    let activity: Activity;
    switch (a.kind) {
      case "update":
        activity = new Update({
          id: new URL(`#updates/${changeId}`, uri),
          actor: uri,
          object: await actorDocument(ctx, { db, directory, config }, actor),
          published: Temporal.Now.instant() as never,
        });
        break;
      case "delete":
        activity = new Delete({
          id: new URL(`#delete/${changeId}`, uri),
          actor: uri,
          object: uri,
          tos: [PUBLIC],
        });
        break;
      case "move":
        // Mastodon's Move: followers re-follow the target, which lists this actor as an alias.
        activity = new Move({
          id: new URL(`#moves/${changeId}`, uri),
          actor: uri,
          object: uri,
          target: ctx.getActorUri(a.to),
        });
        break;
    }
    await ctx.sendActivity({ identifier: actorId }, "followers", activity, { preferSharedInbox: true });
    log.debug("Told the followers of {actorId}: {kind}.", { actorId, kind: a.kind });
  }

  return {
    // The accounts consumer's cursor, kept under its name: renaming it would replay every event.
    name: "federation.accounts",
    kind: "cluster",
    async handleChange(change) {
      const { announce: todo, changed } = await apply(change);
      // A Move names its successor, which followers fetch at once (and Mastodon, like Herald, does
      // not fetch again): the successor is served only once its keys exist (made just after the
      // rename commits, by the process that renamed, else by a worker's key job). Until then the
      // change waits, applying it again is harmless; a successor that is gone, or keys that never
      // came within MOVE_WAIT_MS, no longer hold up every later change.
      for (const a of todo.values()) {
        if (a.kind !== "move") continue;
        const successor = await accounts.byId(a.to);
        if (!successor || successor.deletedAt || successor.keysReadyAt) continue;
        if (Date.now() - change.occurredAt.getTime() < MOVE_WAIT_MS)
          throw new RetryLater(`the Move's successor ${a.to} has no keys yet`);
        log.warn("Sending the Move to {to} although it still has no keys after {ms} ms.", {
          to: a.to,
          ms: MOVE_WAIT_MS,
        });
      }
      // Actor rows this process changed: the other processes' served documents (a tombstone, a
      // successor) must drop too, and only an event reaches them (their `process` consumers).
      if (changed.size > 0)
        await db.transaction((em) =>
          appendEvents(
            em,
            "federation.bridge",
            [...changed].map((actorId) => ({ type: "account.state_changed" as const, actorId })),
          ),
        );
      for (const [actorId, a] of todo) await announce(change.id, actorId, a);
    },
  };
}
