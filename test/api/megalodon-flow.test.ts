/**
 * Issue 15's first proof through megalodon 10, a second independent client: an app registers,
 * Jane authorizes it in headless Chromium (the sign-in page, single sign-on through the
 * development IdP, the consent page where she picks @recruiting; PKCE, the code handed back on the
 * app's redirect URI) and the code is exchanged; then verify_credentials, an upload with alt text
 * (a file stream, multipart through form-data) and a post carrying it, Beta's reply in the
 * notifications and Beta's post in the home timeline, a scheduled status published by the worker,
 * a delete, and the token revoked. megalodon's own calls throughout, save one: its
 * fetchAccessToken sends no code_verifier, so the exchange goes through the same library's API
 * client with the verifier added.
 */
import assert from "node:assert/strict";
import { createReadStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import generator, { type Entity, Mastodon } from "megalodon";
import sharp from "sharp";
import { browserAvailable, launchBrowser } from "../helpers/browser.ts";
import {
  authorizeInBrowser,
  pkce,
  publishedWhenDue,
  replyAndPostFromBeta,
  type Stage,
  startStage,
} from "../helpers/client-flow.ts";
import { TEST_DB } from "../helpers/env.ts";

// Nothing listens here: the browser answers the redirect itself (client-flow.ts).
const REDIRECT = "http://127.0.0.1:9/megalodon/callback";

async function refused(p: Promise<unknown>, status: number) {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { response?: { status?: number } }).response?.status, status, String(e));
    return true;
  });
}

describe(
  `megalodon 10 through issue 15's whole flow on ${TEST_DB}`,
  { skip: !browserAvailable && "no Chromium" },
  () => {
    let stage: Stage;
    let browser: Awaited<ReturnType<typeof launchBrowser>>;
    let dir: string;

    before(async () => {
      stage = await startStage();
      browser = await launchBrowser();
      dir = mkdtempSync(path.join(tmpdir(), "herald-megalodon-"));
    });
    after(async () => {
      await browser?.close();
      await stage?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test("register, authorize in Chromium with PKCE, post a picture, read the reply, schedule, delete", async () => {
      const { a } = stage;
      const anonymous = generator("mastodon", a.origin);
      const app = await anonymous.registerApp("Megalodon flow", {
        scopes: ["read", "write"],
        redirect_uris: REDIRECT,
        website: "https://megalodon.example",
      });
      assert.equal(app.name, "Megalodon flow");
      assert.equal(app.redirect_uri, REDIRECT);
      assert.ok(app.client_id && app.client_secret && app.url);

      // The library's authorization URL, with the PKCE challenge added (megalodon 10 has no PKCE).
      const { verifier, challenge } = pkce();
      const url = new URL(app.url);
      assert.equal(url.origin + url.pathname, `${a.origin}/oauth/authorize`);
      assert.equal(url.searchParams.get("scope"), "read write");
      url.searchParams.set("code_challenge", challenge);
      url.searchParams.set("code_challenge_method", "S256");
      url.searchParams.set("state", "megalodon-state");
      const context = await browser.browser.newContext();
      const authorized = await authorizeInBrowser(await context.newPage(), {
        url: url.href,
        person: "Jane Doe",
        account: `@recruiting@${a.s.services.config.handleDomain}`,
        redirectUri: REDIRECT,
      });
      await context.close();
      assert.equal(authorized.state, "megalodon-state");

      // Without the verifier the code is refused (and, as a failed exchange, not spent)...
      await refused(
        anonymous.fetchAccessToken(app.client_id, app.client_secret, authorized.code, REDIRECT),
        400,
      );
      // ... with it, megalodon's API client gets the token.
      const exchanged = await new Mastodon(a.origin).client.post<{ access_token: string; scope: string }>(
        "/oauth/token",
        {
          grant_type: "authorization_code",
          client_id: app.client_id,
          client_secret: app.client_secret,
          redirect_uri: REDIRECT,
          code: authorized.code,
          code_verifier: verifier,
        },
      );
      assert.equal(exchanged.status, 200);
      assert.equal(exchanged.data.scope, "read write");
      const token = exchanged.data.access_token;
      const client = generator("mastodon", a.origin, token);

      const me = (await client.verifyAccountCredentials()).data;
      assert.equal(me.acct, "recruiting");
      assert.equal(me.id, stage.recruitingId);
      assert.equal(me.display_name, "Alpha Recruiting");

      const file = path.join(dir, "office.jpg");
      await sharp({ create: { width: 900, height: 600, channels: 3, background: { r: 20, g: 90, b: 160 } } })
        .jpeg()
        .toFile(file);
      const media = (
        await client.uploadMedia(createReadStream(file), {
          description: "The reception desk, with our logo on the wall",
        })
      ).data as Entity.Attachment;
      assert.equal(media.type, "image");
      assert.equal(media.description, "The reception desk, with our logo on the wall");
      assert.deepEqual(media.meta?.original, { width: 900, height: 600, size: "900x600", aspect: 1.5 });
      const posted = (
        await client.postStatus("Come and see us at reception! #hiring", { media_ids: [media.id] })
      ).data as Entity.Status;
      assert.equal(posted.account.acct, "recruiting");
      assert.deepEqual(
        posted.media_attachments.map((m) => [m.id, m.type, m.description]),
        [[media.id, "image", "The reception desk, with our logo on the wall"]],
      );

      await replyAndPostFromBeta(stage, posted.id);
      const notifications = (await client.getNotifications()).data;
      assert.deepEqual(
        notifications.map((n) => [n.type, n.account?.acct]),
        [
          ["mention", stage.newsAcct],
          ["follow", stage.newsAcct],
        ],
      );
      const reply = notifications[0].status;
      assert.equal(reply?.in_reply_to_id, posted.id);
      assert.match(reply?.content ?? "", /Lovely office! Congratulations\./);
      const mentions = (await client.getNotifications({ exclude_types: ["follow"] })).data;
      assert.deepEqual(
        mentions.map((n) => n.id),
        [notifications[0].id],
      );
      const home = (await client.getHomeTimeline({ limit: 10 })).data;
      assert.deepEqual(
        home.map((s) => [s.account.acct, s.id === posted.id]),
        [
          [stage.newsAcct, false],
          ["recruiting", true],
        ],
      );
      assert.match(home[0].content, /Beta News: quarterly results/);

      const at = new Date(Date.now() + 10 * 60_000);
      const scheduled = (await client.postStatus("Open day on Friday", { scheduled_at: at.toISOString() }))
        .data as Entity.ScheduledStatus;
      assert.equal(scheduled.scheduled_at, at.toISOString());
      assert.deepEqual(
        (await client.getScheduledStatuses()).data.map((x) => [x.id, x.params.text]),
        [[scheduled.id, "Open day on Friday"]],
      );
      const published = await publishedWhenDue(stage, scheduled.id);
      assert.deepEqual((await client.getScheduledStatuses()).data, []);
      const shown = (await client.getStatus(String(published.apiId))).data;
      assert.equal(shown.account.acct, "recruiting");
      assert.equal(shown.content, "<p>Open day on Friday</p>");

      await client.deleteStatus(posted.id);
      await refused(client.getStatus(posted.id), 404);
      assert.deepEqual(
        (await client.getAccountStatuses(stage.recruitingId)).data.map((s) => s.id),
        [shown.id],
      );

      await anonymous.revokeToken(app.client_id, app.client_secret, token);
      await refused(client.verifyAccountCredentials(), 401);
    });
  },
);
