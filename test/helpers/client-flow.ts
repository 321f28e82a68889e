/**
 * The stage of issue 15's first proof, shared by the masto and megalodon tests: two Herald
 * organizations on loopback (Alpha signs people in through its development IdP; Beta answers),
 * Jane in Alpha's Recruiting group publishing for @recruiting, @news at Beta following and
 * followed by @recruiting; an app authorized in headless Chromium through /oauth/authorize, the
 * sign-in page and the development IdP; a reply and a post arriving from Beta; a scheduled status
 * made due by moving its time in the row (clients cannot schedule under five minutes).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { Page } from "playwright-core";
import { IsNull } from "typeorm";
import { ScheduledSchema } from "../../src/api/records.ts";
import {
  FollowerSchema,
  type InboundKind,
  InboundSchema,
  PostSchema,
  type PostRow,
} from "../../src/federation/entities.ts";
import { waitFor } from "./env.ts";
import { type Instance, startInstance } from "./instance.ts";

const scimActor = { name: "scim-token:test" };

export const JANE = { userName: "jane@corp.example", displayName: "Jane Doe" };

export interface Stage {
  readonly a: Instance;
  readonly b: Instance;
  readonly janeId: string;
  readonly recruitingId: string;
  readonly newsId: string;
  /** `news@<Beta's host>`, as Alpha's API names Beta's account. */
  readonly newsAcct: string;
  close(): Promise<void>;
}

export async function startStage(): Promise<Stage> {
  const a = await startInstance("Alpha Corp", { HERALD_DEV_IDP: "true" });
  const b = await startInstance("Beta Corp");
  const janeId = String((await a.s.services.scim.createUser(JANE, scimActor)).id);
  await a.s.services.scim.createGroup({ displayName: "Recruiting", members: [{ value: janeId }] }, scimActor);
  const r = await a.s.services.accounts.createShared("recruiting", "Alpha Recruiting", "test");
  const n = await b.s.services.accounts.createShared("news", "Beta News", "test");
  assert.ok(r.ok && n.ok);
  const subject = await a.s.services.authz.resolveSubject("Recruiting");
  assert.ok(!("error" in subject));
  assert.ok((await a.s.services.authz.grant(subject, "publisher", r.actor, "test")).ok);
  for (const [i, id] of [
    [a, r.actor.id],
    [b, n.actor.id],
  ] as const)
    await waitFor(async () => (await i.s.services.accounts.byId(id))?.keysReadyAt ?? undefined, {
      timeoutMs: 60_000,
      what: "keys",
    });
  const recruitingIri = `${a.origin}/ap/actors/${r.actor.id}`;
  const newsIri = `${b.origin}/ap/actors/${n.actor.id}`;
  assert.ok((await b.s.services.posting.follow(n.actor.id, recruitingIri)).ok);
  assert.ok((await a.s.services.posting.follow(r.actor.id, newsIri)).ok);
  for (const [i, actorId] of [
    [a, r.actor.id],
    [b, n.actor.id],
  ] as const)
    await waitFor(
      async () =>
        (await i.s.services.db.run((em) =>
          em.getRepository(FollowerSchema).existsBy({ actorId, status: "accepted" }),
        )) || undefined,
      { what: "the follows accepted" },
    );
  return {
    a,
    b,
    janeId,
    recruitingId: r.actor.id,
    newsId: n.actor.id,
    newsAcct: `news@${new URL(b.origin).host}`,
    async close() {
      for (const i of [a, b]) {
        await i.s.shutdown("test");
        await i.fresh.cleanup();
      }
    },
  };
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/**
 * A person authorizes an app in the browser: the authorization URL sends her to the sign-in page,
 * single sign-on goes to the development IdP, where she picks `person`; back on the consent page
 * she picks `account` (its label, e.g. `@recruiting@127.0.0.1:1234`) and authorizes. The code is
 * read from the page for `urn:ietf:wg:oauth:2.0:oob`, or from the redirect to `redirectUri`
 * (answered in the browser: nothing listens there).
 */
export async function authorizeInBrowser(
  page: Page,
  opts: { url: string; person: string; account: string; redirectUri: string },
): Promise<{ code: string; state: string | null; scopes: string[] }> {
  const redirected = new Promise<URL>((resolve) => {
    if (opts.redirectUri === "urn:ietf:wg:oauth:2.0:oob") return;
    void page.route(`${opts.redirectUri}**`, async (route) => {
      resolve(new URL(route.request().url()));
      await route.fulfill({ status: 200, contentType: "text/plain", body: "back in the app" });
    });
  });
  await page.goto(opts.url);
  assert.match(new URL(page.url()).pathname, /^\/login$/, "no session: the sign-in page");
  await page.getByRole("link", { name: "Sign in with single sign-on" }).click();
  await page.waitForURL(/\/dev-idp\/sso\?/);
  await Promise.all([
    page.waitForURL(/\/oauth\/authorize\?/),
    page.getByRole("button", { name: opts.person, exact: true }).click(),
  ]);
  const scopes = await page.locator("main ul li").allTextContents();
  await page.getByLabel(opts.account).check();
  if (opts.redirectUri === "urn:ietf:wg:oauth:2.0:oob") {
    await Promise.all([
      page.waitForSelector("#code"),
      page.getByRole("button", { name: "Authorize", exact: true }).click(),
    ]);
    return { code: (await page.textContent("#code")) ?? "", state: null, scopes };
  }
  await page.getByRole("button", { name: "Authorize", exact: true }).click();
  const back = await redirected;
  assert.equal(back.origin + back.pathname, opts.redirectUri);
  return { code: back.searchParams.get("code") ?? "", state: back.searchParams.get("state"), scopes };
}

/**
 * Beta's @news replies to the post with `apiId` and then posts on its own; both arrive at Alpha
 * (the reply as a mention of @recruiting, the post in its home timeline).
 */
export async function replyAndPostFromBeta(stage: Stage, apiId: string): Promise<void> {
  const { a, b, newsId, recruitingId } = stage;
  const row = await a.s.services.db.run((em) =>
    em.getRepository(PostSchema).findOneByOrFail({ apiId: Number(apiId) }),
  );
  const reply = await b.s.services.posting.post({
    actorId: newsId,
    text: "Lovely office! Congratulations.",
    author: { personId: null, label: "cli:test" },
    inReplyTo: `${a.origin}/ap/posts/${row.id}`,
  });
  assert.ok(reply.ok);
  const news = await b.s.services.posting.post({
    actorId: newsId,
    text: "Beta News: quarterly results",
    author: { personId: null, label: "cli:test" },
  });
  assert.ok(news.ok);
  const inbound = (kind: InboundKind) =>
    a.s.services.db.run((em) =>
      em.getRepository(InboundSchema).existsBy({ actorId: recruitingId, kind, deletedAt: IsNull() }),
    );
  await waitFor(async () => ((await inbound("reply")) && (await inbound("post"))) || undefined, {
    what: "Beta's reply and post at Alpha",
  });
}

/** The scheduled status made due now; waits for the worker and returns the post it published. */
export async function publishedWhenDue(stage: Stage, scheduledId: string): Promise<PostRow> {
  const { a } = stage;
  const id = Number(scheduledId);
  await a.s.services.db.run((em) =>
    em.getRepository(ScheduledSchema).update({ id }, { scheduledAt: new Date(Date.now() - 1000) }),
  );
  const done = await waitFor(
    async () => {
      const row = await a.s.services.db.run((em) =>
        em.getRepository(ScheduledSchema).findOneByOrFail({ id }),
      );
      return row.state === "published" ? row : undefined;
    },
    { what: "the worker to publish the scheduled status" },
  );
  return a.s.services.db.run((em) => em.getRepository(PostSchema).findOneByOrFail({ id: done.postId! }));
}
