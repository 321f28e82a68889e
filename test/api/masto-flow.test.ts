/**
 * Issue 15's first proof through masto 8: an app registers, Jane authorizes it in headless
 * Chromium (the sign-in page, single sign-on through the development IdP, the consent page where
 * she picks @recruiting; PKCE, the code shown for urn:ietf:wg:oauth:2.0:oob) and masto exchanges
 * the code; then verify_credentials, an upload with alt text and a post carrying it, Beta's reply
 * in the notifications and Beta's post in the home timeline, a scheduled status published by the
 * worker, a delete, and the token revoked. Every call is masto's own.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createOAuthAPIClient, createRestAPIClient, type mastodon, MastoHttpError } from "masto";
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

const OOB = "urn:ietf:wg:oauth:2.0:oob";

async function refused(p: Promise<unknown>, status: number) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MastoHttpError, String(e));
    assert.equal(e.statusCode, status, e.message);
    return true;
  });
}

describe(
  `masto 8 through issue 15's whole flow on ${TEST_DB}`,
  { skip: !browserAvailable && "no Chromium" },
  () => {
    let stage: Stage;
    let browser: Awaited<ReturnType<typeof launchBrowser>>;

    before(async () => {
      stage = await startStage();
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.close();
      await stage?.close();
    });

    test("register, authorize in Chromium with PKCE, post a picture, read the reply, schedule, delete", async () => {
      const { a } = stage;
      const app = await createRestAPIClient({ url: a.origin }).v1.apps.create({
        clientName: "Masto flow",
        redirectUris: OOB,
        scopes: "read write",
        website: "https://masto.example",
      });
      assert.equal(app.name, "Masto flow");
      assert.ok(app.clientId && app.clientSecret);

      const { verifier, challenge } = pkce();
      const url = new URL("/oauth/authorize", a.origin);
      for (const [k, v] of Object.entries({
        response_type: "code",
        client_id: app.clientId,
        redirect_uri: OOB,
        scope: "read write",
        code_challenge: challenge,
        code_challenge_method: "S256",
      }))
        url.searchParams.set(k, v);
      const context = await browser.browser.newContext();
      const authorized = await authorizeInBrowser(await context.newPage(), {
        url: url.href,
        person: "Jane Doe",
        account: `@recruiting@${a.s.services.config.handleDomain}`,
        redirectUri: OOB,
      });
      await context.close();
      assert.deepEqual(authorized.scopes, [
        "read the account's posts, timelines and profile",
        "post, and delete posts, as the account",
      ]);
      assert.match(authorized.code, /^[A-Za-z0-9_-]{20,}$/);

      const oauth = createOAuthAPIClient({ url: a.origin });
      const token = await oauth.token.create({
        grantType: "authorization_code",
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        redirectUri: OOB,
        code: authorized.code,
        codeVerifier: verifier,
      } as mastodon.oauth.CreateTokenParams);
      assert.equal(token.scope, "read write");
      const masto = createRestAPIClient({ url: a.origin, accessToken: token.accessToken });

      const me = await masto.v1.accounts.verifyCredentials();
      assert.equal(me.acct, "recruiting");
      assert.equal(me.id, stage.recruitingId);
      assert.equal(me.displayName, "Alpha Recruiting");

      const picture = await sharp({
        create: { width: 1200, height: 800, channels: 3, background: { r: 200, g: 80, b: 40 } },
      })
        .png()
        .toBuffer();
      const media = await masto.v2.media.create({
        file: new Blob([new Uint8Array(picture)], { type: "image/png" }),
        description: "Our new office in Lyon, seen from the river",
        skipPolling: true,
      });
      assert.equal(media.type, "image");
      assert.equal(media.description, "Our new office in Lyon, seen from the river");
      assert.deepEqual(media.meta?.original, { width: 1200, height: 800, size: "1200x800", aspect: 1.5 });
      const posted = await masto.v1.statuses.create({
        status: "We moved to Lyon! #hiring",
        mediaIds: [media.id],
      });
      assert.equal(posted.account.acct, "recruiting");
      assert.deepEqual(
        posted.mediaAttachments.map((m) => [m.id, m.type, m.description]),
        [[media.id, "image", "Our new office in Lyon, seen from the river"]],
      );
      assert.match(posted.content, /We moved to Lyon!/);

      await replyAndPostFromBeta(stage, posted.id);
      const notifications = await masto.v1.notifications.list();
      assert.deepEqual(
        notifications.map((n) => [n.type, n.account.acct]),
        [
          ["mention", stage.newsAcct],
          ["follow", stage.newsAcct],
        ],
      );
      const reply = notifications[0].status;
      assert.equal(reply?.inReplyToId, posted.id);
      assert.match(reply?.content ?? "", /Lovely office! Congratulations\./);
      // Home: the followed account's post and @recruiting's own (replies live in notifications).
      const home = await masto.v1.timelines.home.list({ limit: 10 });
      assert.deepEqual(
        home.map((s) => [s.account.acct, s.id === posted.id]),
        [
          [stage.newsAcct, false],
          ["recruiting", true],
        ],
      );
      assert.match(home[0].content, /Beta News: quarterly results/);

      const at = new Date(Date.now() + 10 * 60_000);
      const scheduled = (await masto.v1.statuses.create({
        status: "Open day on Friday",
        scheduledAt: at.toISOString(),
      })) as unknown as mastodon.v1.ScheduledStatus;
      assert.equal(scheduled.scheduledAt, at.toISOString());
      assert.deepEqual(
        (await masto.v1.scheduledStatuses.list()).map((x) => [x.id, x.params.text]),
        [[scheduled.id, "Open day on Friday"]],
      );
      const published = await publishedWhenDue(stage, scheduled.id);
      assert.deepEqual(await masto.v1.scheduledStatuses.list(), []);
      const shown = await masto.v1.statuses.$select(String(published.apiId)).fetch();
      assert.equal(shown.account.acct, "recruiting");
      assert.equal(shown.content, "<p>Open day on Friday</p>");

      const deleted = await masto.v1.statuses.$select(posted.id).remove();
      assert.equal(deleted.id, posted.id);
      await refused(masto.v1.statuses.$select(posted.id).fetch(), 404);
      const mine = await masto.v1.accounts.$select(stage.recruitingId).statuses.list();
      assert.deepEqual(
        mine.map((s) => s.id),
        [shown.id],
      );

      await oauth.revoke({
        clientId: app.clientId,
        clientSecret: app.clientSecret,
        token: token.accessToken,
      });
      await refused(masto.v1.accounts.verifyCredentials(), 401);
    });
  },
);
