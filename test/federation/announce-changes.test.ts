/**
 * Followers hear about account changes: a deactivation sends Update(actor) with
 * `suspended: true` to every follower inbox, a reactivation `suspended: false`, a deletion Delete.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { ActorSchema, FollowerSchema, iriHash } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer } from "../helpers/server.ts";

test(`deactivation, reactivation and deletion reach followers (${TEST_DB})`, async () => {
  const got: { type: string; suspended?: boolean; object?: unknown }[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      try {
        const a = JSON.parse(body);
        got.push({ type: a.type, suspended: a.object?.suspended, object: a.object });
      } catch {
        // ignore
      }
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
  const rport = (receiver.address() as AddressInfo).port;
  const s = await startTestServer();
  try {
    const user = await s.services.scim.createUser(
      { userName: "leaver@corp.example" },
      { name: "scim-token:test" },
    );
    const actor = await waitFor(
      async () => {
        const row = await s.services.db.run((em) =>
          em.getRepository(ActorSchema).findOneBy({ personId: String(user.id) }),
        );
        return row?.keysReadyAt ? row : undefined;
      },
      { what: "the actor's keys", timeoutMs: 30_000 },
    );
    const iri = `http://127.0.0.1:${rport}/users/watcher`;
    await s.services.db.run((em) =>
      em.getRepository(FollowerSchema).insert({
        actorId: actor.id,
        followerHash: iriHash(iri),
        followerIri: iri,
        inboxIri: `http://127.0.0.1:${rport}/inbox`,
        sharedInboxIri: null,
        followIri: null,
        status: "accepted",
        createdAt: new Date(),
      }),
    );
    const patch = (active: boolean) =>
      s.services.scim.patchUser(String(user.id), [{ op: "replace", path: "active", value: active }], {
        name: "scim-token:test",
      });

    await patch(false);
    await waitFor(() => got.some((a) => a.type === "Update" && a.suspended === true) || undefined, {
      what: "Update(actor) with suspended: true",
    });
    await patch(true);
    await waitFor(() => got.some((a) => a.type === "Update" && a.suspended === false) || undefined, {
      what: "Update(actor) with suspended: false",
    });
    await s.services.scim.deleteUser(String(user.id), { name: "scim-token:test" });
    await waitFor(() => got.some((a) => a.type === "Delete") || undefined, { what: "Delete(actor)" });
    const del = got.find((a) => a.type === "Delete");
    assert.equal(del?.object, `${s.services.config.origin.origin}/ap/actors/${actor.id}`);
  } finally {
    await s.close();
    receiver.close();
  }
});
