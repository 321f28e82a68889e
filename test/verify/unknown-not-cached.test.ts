/**
 * A hire's account is made by the federation bridge a moment after the directory change, and no
 * event says when (src/federation/bridge.ts). A verification answer asked for in that moment —
 * "unknown": no account yet — must not be kept: it would outlive the change's invalidation for
 * the answers' whole lifetime (5 s), in every process (issue 13, test/cluster/freshness.test.ts).
 *
 * Here in one process, step by step: the hire is committed, the answer is asked for (unknown),
 * the bridge runs — and nothing else: the process consumers' cursors start at the hire's event,
 * so no invalidation comes — and the next answer must say "active".
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { withSteppedServices } from "../helpers/stepped.ts";

test(`an "unknown" verification is not kept: the account the bridge makes next is verified at once (${TEST_DB})`, async () => {
  await withSteppedServices(false, async ({ services, config, bridge }) => {
    const verifier = await services.verifier();

    await services.scim.createUser({ userName: "wren@corp.example" }, { name: "scim-token:test" });
    // The process consumers' in-memory cursors start at the newest event, the hire's: from here on
    // nothing drops this process's answers.
    await services.events.drain();
    const handle = `@wren@${config.handleDomain}`;
    assert.equal((await verifier.verify(handle)).status, "unknown", "no account before the bridge runs");

    bridge.held = true;
    await services.events.drain();
    const actor = await services.accounts.byHandle("wren");
    assert.ok(actor, "the bridge made the account");
    assert.equal((await verifier.verify(handle)).status, "active");
    assert.equal(verifier.cachedJson(handle) !== undefined, true, "an answer about an account is cached");
  });
});
