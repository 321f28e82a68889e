/**
 * A deactivated person's account cannot post from the moment of the deactivation (DESIGN rule 2),
 * not only once the federation bridge has suspended its actor row a moment later: step by step in
 * one process, with the bridge held back.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { withSteppedServices } from "../helpers/stepped.ts";

test(`a leaver's account is refused posting before the bridge suspends it (${TEST_DB})`, async () => {
  await withSteppedServices(true, async ({ services, bridge }) => {
    const who = { name: "scim-token:test" };
    const user = await services.scim.createUser({ userName: "lou@corp.example" }, who);
    await services.events.drain();
    services.accounts.startKeyWorker();
    const actor = await waitFor(
      async () => {
        const a = await services.accounts.byHandle("lou");
        return a?.keysReadyAt ? a : undefined;
      },
      { what: "the account's keys", timeoutMs: 30_000 },
    );
    await services.accounts.stopKeyWorker();
    const post = (text: string) =>
      services.posting.post({ actorId: actor.id, text, author: { personId: null, label: "t" } });
    assert.equal((await post("hello")).ok, true, "a current employee posts");

    bridge.held = false; // the bridge will not run
    await services.scim.patchUser(String(user.id), [{ op: "replace", path: "active", value: false }], who);
    await services.events.drain();
    assert.equal((await services.accounts.byId(actor.id))?.suspendedAt, null, "not suspended yet");
    const refused = await post("still here?");
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.reason, "suspended");
  });
});
