/**
 * A rehire (src/identity/records.ts findRehire: the same externalId and userName) gets its old
 * handle back and a new actor, made by the federation bridge a moment after the SCIM 201. In that
 * moment the handle still names the old actor's tombstone; verification must already answer from
 * the directory (DESIGN rule 1): current, without an attestation (which names an actor) and not
 * cached — then, once the new actor exists, current with an attestation.
 *
 * Step by step in one process: the bridge runs only when the test lets it (its lease).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TEST_DB } from "../helpers/env.ts";
import { withSteppedServices } from "../helpers/stepped.ts";

test(`a rehire is verified as current before its new actor exists (${TEST_DB})`, async () => {
  await withSteppedServices(true, async ({ services, config, bridge }) => {
    const verifier = await services.verifier();
    const who = { name: "scim-token:test" };
    const user = { userName: "ren@corp.example", externalId: "ren-1", displayName: "Ren Again" };
    const handle = `@ren@${config.handleDomain}`;

    const first = await services.scim.createUser(user, who);
    await services.events.drain();
    const firstActor = await services.accounts.byHandle("ren");
    assert.ok(firstActor);
    await services.scim.deleteUser(String(first.id), who);
    await services.events.drain();
    assert.equal((await verifier.verify(handle)).status, "former", "deleted: former");

    // The rehire is committed; the bridge has not run.
    bridge.held = false;
    const back = await services.scim.createUser(user, who);
    assert.equal(back.id, first.id, "the same person, restored");
    assert.ok((await services.accounts.byHandle("ren"))?.deletedAt, "the handle still names the tombstone");
    const early = await verifier.verify(handle);
    assert.equal(early.status, "active");
    assert.equal(early.displayName, "Ren Again");
    assert.equal(early.attestation, null, "no attestation before the new actor exists");
    assert.equal(verifier.cachedJson(handle), undefined, "not cached");

    bridge.held = true;
    await services.events.drain();
    const now = await services.accounts.byHandle("ren");
    assert.ok(now && !now.deletedAt && now.id !== firstActor.id, "a new actor carries the handle");
    const later = await verifier.verify(handle);
    assert.equal(later.status, "active");
    assert.equal(typeof later.attestation, "string");
  });
});
