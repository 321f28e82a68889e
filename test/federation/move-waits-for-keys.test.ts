/**
 * A Move names its successor, and followers fetch it at once (Mastodon does not fetch again, nor
 * does Herald's own inbox: src/federation/inbox.ts `move`). The successor is served only once its
 * keys exist, which the renaming process makes just after the rename commits; so the federation
 * bridge holds the rename until then (src/federation/bridge.ts). Found by CI: under load the Move
 * went out first, the follower's fetch of the successor got a 404, and it never re-followed.
 *
 * Step by step in one process (test/helpers/stepped.ts), the successor's keys withheld by the test
 * as if another process were still making them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ActorSchema } from "../../src/federation/entities.ts";
import { DomainEventSchema, EventCursorSchema } from "../../src/identity/events.ts";
import { TEST_DB } from "../helpers/env.ts";
import { withSteppedServices } from "../helpers/stepped.ts";

test(`a rename's Move waits for the successor's keys (${TEST_DB})`, async () => {
  await withSteppedServices(true, async ({ services, bridge }) => {
    const { db } = services;
    const created = await services.accounts.createShared("support", "Support", "test");
    assert.ok(created.ok);
    await services.events.drain();
    const handled = async () =>
      Number(
        (
          await db.run((em) =>
            em.getRepository(EventCursorSchema).findOneBy({ consumer: "federation.accounts" }),
          )
        )?.lastId ?? 0,
      );

    bridge.held = false;
    const renamed = await services.posting.rename("support", "helpdesk", "cli:test");
    assert.ok(renamed.ok, renamed.message);
    const renameEvent = Number(await db.run((em) => em.getRepository(DomainEventSchema).maximum("id")));
    const successor = await services.accounts.byHandle("helpdesk");
    assert.ok(successor);
    // Another process is still making the successor's keys.
    const keysReadyAt = successor.keysReadyAt;
    assert.ok(keysReadyAt, "the renaming process made the keys");
    await db.run((em) => em.getRepository(ActorSchema).update({ id: successor.id }, { keysReadyAt: null }));

    bridge.held = true;
    await services.events.drain();
    assert.ok((await handled()) < renameEvent, "the rename waits: no Move yet");
    await services.events.drain();
    assert.ok((await handled()) < renameEvent, "still waiting on the next round");

    await db.run((em) => em.getRepository(ActorSchema).update({ id: successor.id }, { keysReadyAt }));
    await services.events.drain();
    assert.ok((await handled()) >= renameEvent, "with the keys, the rename is handled (the Move sent)");
  });
});
