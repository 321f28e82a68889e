/**
 * The staff app's compose form with an image and its alt text (multipart, CSRF-checked): the post
 * carries the image, its page shows it with the alt text; a forged CSRF token is refused; a file
 * that is not an image comes back as the form with the problem under the image field. A drafter's
 * image waits with the draft.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { PostSchema } from "../../src/federation/entities.ts";
import { attachedMedia } from "../../src/media/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { signInByLink } from "../helpers/sign-in.ts";

describe(`staff compose with an image (${TEST_DB})`, () => {
  let s: TestServer;
  let personId: string;
  before(async () => {
    s = await startTestServer();
    personId = String(
      (
        await s.services.scim.createUser(
          { userName: "jane@corp.example", displayName: "Jane" },
          { name: "scim-token:test" },
        )
      ).id,
    );
    await waitFor(async () => (await s.services.accounts.byHandle("jane"))?.keysReadyAt ?? undefined, {
      timeoutMs: 60_000,
      what: "jane's keys",
    });
  });
  after(async () => {
    await s?.close();
  });

  test("post with an image and alt text; forged CSRF and a text file refused", async () => {
    const { cookie, csrf } = await signInByLink(s, personId);
    const page = await (await fetch(`${s.url}/app`, { headers: { cookie } })).text();
    assert.match(page, /<form method="post" action="\/app\/posts" enctype="multipart\/form-data">/);
    assert.match(page, /<input\s+type="file"\s+id="image"\s+name="image"/);
    const as = /<select id="as" name="as"[^>]*>\s*<option\s+value="([^"]+)"/.exec(page)?.[1];
    assert.ok(as);
    const png = await sharp({ create: { width: 900, height: 600, channels: 3, background: "#2c7" } })
      .png()
      .toBuffer();
    const form = (token: string, file: Uint8Array, type = "image/png") => {
      const f = new FormData();
      f.set("csrf", token);
      f.set("as", as);
      f.set("text", "Our new office");
      f.set("visibility", "public");
      f.set("alt", "A green wall with our logo");
      f.set("image", new Blob([new Uint8Array(file)], { type }), "office.png");
      return f;
    };
    const post = (body: FormData) =>
      fetch(`${s.url}/app/posts`, { method: "POST", headers: { cookie }, body, redirect: "manual" });

    const forged = await post(form("not-the-token", png));
    assert.equal(forged.status, 403);

    const text = await post(form(csrf, Buffer.from("not a picture"), "image/png"));
    assert.equal(text.status, 422);
    const again = await text.text();
    assert.match(
      again,
      /<p class="error" id="image-error">Validation failed: File content type is not supported/,
    );
    assert.match(again, /A green wall with our logo<\/textarea/);

    const ok = await post(form(csrf, png));
    assert.equal(ok.status, 303, await ok.clone().text());
    const posts = await s.services.db.run((em) => em.getRepository(PostSchema).findBy({ actorId: as }));
    assert.equal(posts.length, 1);
    const media = attachedMedia(posts[0]);
    assert.equal(media.length, 1);
    assert.equal(media[0].description, "A green wall with our logo");
    assert.deepEqual([media[0].format, media[0].width, media[0].height], ["png", 900, 600]);
    const postPage = await (await fetch(`${s.url}/@jane/${posts[0].id}`)).text();
    assert.match(
      postPage,
      new RegExp(`src="/media/${media[0].id}/small\\.png"\\s+alt="A green wall with our logo"`),
    );
  });

  test("a drafter's image waits with the draft, shown with its alt text", async () => {
    const dora = String(
      (
        await s.services.scim.createUser(
          { userName: "dora@corp.example", displayName: "Dora" },
          { name: "scim-token:test" },
        )
      ).id,
    );
    const created = await s.services.accounts.createShared("careers", "Careers", "test");
    assert.ok(created.ok);
    const subject = await s.services.authz.resolveSubject("user:dora@corp.example");
    assert.ok(!("error" in subject));
    assert.ok((await s.services.authz.grant(subject, "drafter", created.actor, "test")).ok);
    const { cookie, csrf } = await signInByLink(s, dora);
    const f = new FormData();
    f.set("csrf", csrf);
    f.set("as", created.actor.id);
    f.set("text", "Open day on Friday");
    f.set("visibility", "public");
    f.set("alt", "Our lobby with balloons");
    const jpeg = await sharp({ create: { width: 400, height: 300, channels: 3, background: "#36c" } })
      .jpeg()
      .toBuffer();
    f.set("image", new Blob([new Uint8Array(jpeg)], { type: "image/jpeg" }), "lobby.jpg");
    const res = await fetch(`${s.url}/app/posts`, {
      method: "POST",
      headers: { cookie },
      body: f,
      redirect: "manual",
    });
    assert.equal(res.status, 303, await res.clone().text());
    assert.match(res.headers.get("location") ?? "", /drafted=/);
    const drafts = await s.services.drafts.pending(created.actor.id);
    assert.equal(drafts.length, 1);
    const media = attachedMedia(drafts[0]);
    assert.deepEqual(
      media.map((m) => [m.format, m.width, m.height, m.description]),
      [["jpeg", 400, 300, "Our lobby with balloons"]],
    );
    // Her own drafts list shows it with the alt text.
    const home = await (
      await fetch(`${s.url}/app?account=${created.actor.id}`, { headers: { cookie } })
    ).text();
    assert.match(
      home,
      new RegExp(`src="/media/${media[0].id}/small\\.jpg"\\s+alt="Our lobby with balloons"`),
    );
  });
});
