/**
 * A picture crosses to a second Herald on loopback: B follows A's @recruiting; A posts with an
 * image and its alt text; B's copy of the Note carries it as a Document attachment (mediaType,
 * url, name = the alt text, width, height, Mastodon's blurhash and focalPoint), which Fedify reads
 * back, and the image is fetched from A's URL as the JPEG it is.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Document, Note } from "@fedify/vocab";
import sharp from "sharp";
import { FollowerSchema, FollowingSchema, InboundSchema, iriHash } from "../../src/federation/entities.ts";
import { type FakeRemote, startFakeRemote } from "../helpers/fake-remote.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { type Instance, startInstance } from "../helpers/instance.ts";

const TOOT = "http://joinmastodon.org/ns#";

describe(`a post's image reaches a second Herald (${TEST_DB})`, () => {
  let a: Instance;
  let b: Instance;
  let remote: FakeRemote;
  before(async () => {
    a = await startInstance("Alpha Corp");
    b = await startInstance("Beta Corp");
    remote = await startFakeRemote(["mastodon"]);
  });
  after(async () => {
    await remote.close();
    for (const i of [a, b]) {
      await i.s.shutdown("test");
      await i.fresh.cleanup();
    }
  });

  test("as a Document with its alt text, blurhash and focal point", async () => {
    const r = await a.s.services.accounts.createShared("recruiting", "Alpha Recruiting", "test");
    const n = await b.s.services.accounts.createShared("news", "Beta News", "test");
    assert.ok(r.ok && n.ok);
    const person = await a.s.services.scim.createUser(
      { userName: "jane@alpha.example", displayName: "Jane" },
      { name: "scim-token:test" },
    );
    const personId = String(person.id);
    assert.ok((await b.s.services.posting.follow(n.actor.id, `${a.origin}/ap/actors/${r.actor.id}`)).ok);
    // A second follower, a plain server that records what it is sent.
    const fake = remote.actor("mastodon");
    await a.s.services.db.run((em) =>
      em.getRepository(FollowerSchema).insert({
        actorId: r.actor.id,
        followerHash: iriHash(fake.id),
        followerIri: fake.id.href,
        inboxIri: fake.inbox.href,
        sharedInboxIri: null,
        followIri: null,
        status: "accepted",
        createdAt: new Date(),
      }),
    );
    await waitFor(
      async () =>
        (
          await b.s.services.db.run((em) =>
            em.getRepository(FollowingSchema).findOneBy({ actorId: n.actor.id }),
          )
        )?.status === "accepted" || undefined,
      { what: "B's follow to be accepted" },
    );

    const jpeg = await sharp({ create: { width: 1200, height: 800, channels: 3, background: "#d35400" } })
      .jpeg()
      .toBuffer();
    const up = await a.s.services.media.upload({ personId, accountId: r.actor.id, tokenId: null }, jpeg, {
      description: "Our team at the Lyon office",
      focus: "0.25,-0.5",
    });
    assert.ok(up.ok, up.ok ? "" : up.message);
    const posted = await a.s.services.posting.post({
      actorId: r.actor.id,
      text: "Meet the team #hiring",
      author: { personId, label: "Jane" },
      mediaIds: [up.media.id],
    });
    assert.ok(posted.ok, posted.ok ? "" : posted.message);

    const received = await waitFor(
      async () =>
        (await b.s.services.db.run((em) =>
          em.getRepository(InboundSchema).findOneBy({ actorId: n.actor.id, objectIri: posted.id.href }),
        )) ?? undefined,
      { what: "A's post with its image in B" },
    );
    const raw = JSON.parse(received.raw ?? "{}");
    const attachments = [raw.attachment].flat();
    assert.equal(attachments.length, 1);
    const doc = attachments[0];
    assert.equal(doc.type, "Document");
    assert.equal(doc.mediaType, "image/jpeg");
    assert.equal(doc.url, `${a.origin}/media/${up.media.id}/original.jpg`);
    assert.equal(doc.name, "Our team at the Lyon office");
    assert.deepEqual([doc.width, doc.height], [1200, 800]);
    // Mastodon's extensions as sent (B's stored copy is Fedify's re-serialization, which drops
    // what Fedify has no property for): under Fedify's context prefix, toot: = Mastodon's namespace;
    // the Linked Data signature makes Mastodon compact it with its own context (blurhash, focalPoint).
    const delivered = await waitFor(
      async () =>
        remote.deliveries.find(
          (d) => (d.activity.object as { id?: string } | undefined)?.id === posted.id.href,
        ),
      { what: "the Create at the fake remote follower" },
    );
    const sent = delivered.activity.object as Record<string, unknown>;
    const sentDoc = [sent.attachment].flat()[0] as Record<string, unknown>;
    assert.equal(sentDoc.name, "Our team at the Lyon office");
    assert.equal(sentDoc["toot:blurhash"], up.media.blurhash);
    assert.deepEqual(sentDoc["toot:focalPoint"], { "@list": [0.25, -0.5] });
    assert.equal((delivered.activity.signature as { type?: string } | undefined)?.type, "RsaSignature2017");
    assert.equal(
      raw["@context"].find((c: unknown) => typeof c === "object" && c !== null && "toot" in c)?.toot,
      TOOT,
    );

    // What a receiving Fedify makes of it.
    const note = await Note.fromJsonLd(raw);
    const parsed = [];
    for await (const attachment of note.getAttachments()) parsed.push(attachment);
    assert.equal(parsed.length, 1);
    assert.ok(parsed[0] instanceof Document);
    assert.equal(parsed[0].name?.toString(), "Our team at the Lyon office");

    // The image itself, from A, as B would fetch it.
    const file = await fetch(doc.url);
    assert.equal(file.status, 200);
    assert.equal(file.headers.get("content-type"), "image/jpeg");
    const meta = await sharp(Buffer.from(await file.arrayBuffer())).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 1200, 800]);

    // The Note dereferenced at A says the same.
    const deref = await (await fetch(posted.id, { headers: { accept: "application/activity+json" } })).json();
    assert.equal([deref.attachment].flat()[0].name, "Our team at the Lyon office");
  });
});
