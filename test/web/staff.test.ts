import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ActorRow, PostRow } from "../../src/federation/entities.ts";
import { PostSchema } from "../../src/federation/entities.ts";
import { TEST_DB, waitFor } from "../helpers/env.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const scimActor = { name: "scim-token:test" };

interface Staff {
  personId: string;
  handle: string;
  actor: ActorRow;
}

interface Signed {
  cookie: string;
  csrf: string;
}

describe(`the staff web app at /app on ${TEST_DB}`, () => {
  let s: TestServer;
  let jane: Staff;
  let bob: Staff;

  async function provision(userName: string, displayName: string): Promise<Staff> {
    const user = await s.services.scim.createUser({ userName, displayName }, scimActor);
    const personId = String(user.id);
    const handle = userName.split("@")[0];
    const actor = await waitFor(
      async () => {
        const row = await s.services.accounts.byHandle(handle);
        return row && row.personId === personId && row.keysReadyAt ? row : undefined;
      },
      { timeoutMs: 30_000, what: `the actor @${handle} and its keys` },
    );
    return { personId, handle, actor };
  }

  async function signIn(personId: string): Promise<Signed> {
    const link = await s.services.sessions.createLoginLink(personId, "test");
    const res = await fetch(`${s.url}/login/link/${link.token}`, { method: "POST", redirect: "manual" });
    assert.equal(res.status, 302);
    const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0];
    assert.match(cookie, /^herald_session=[A-Za-z0-9_-]{43}$/);
    const auth = await s.services.sessions.resolve(cookie.split("=")[1]);
    assert.ok(auth, "the new session resolves");
    return { cookie, csrf: auth.csrf };
  }

  function get(path: string, cookie?: string): Promise<Response> {
    return fetch(`${s.url}${path}`, { headers: cookie ? { cookie } : {}, redirect: "manual" });
  }

  function postForm(
    path: string,
    cookie: string | undefined,
    fields: Record<string, string>,
  ): Promise<Response> {
    return fetch(`${s.url}${path}`, {
      method: "POST",
      headers: {
        ...(cookie ? { cookie } : {}),
        "content-type": "application/x-www-form-urlencoded",
      },
      body: new URLSearchParams(fields).toString(),
      redirect: "manual",
    });
  }

  async function postsOf(actorId: string): Promise<PostRow[]> {
    return s.services.db.run((em) => em.getRepository(PostSchema).find({ where: { actorId } }));
  }

  async function postById(id: string): Promise<PostRow | null> {
    return s.services.db.run((em) => em.getRepository(PostSchema).findOneBy({ id }));
  }

  /** Posts through the form and returns the new post's id (from the redirect). */
  async function publish(who: Staff, session: Signed, text: string): Promise<string> {
    const res = await postForm("/app/posts", session.cookie, {
      csrf: session.csrf,
      as: who.actor.id,
      text,
      visibility: "public",
    });
    assert.equal(res.status, 303);
    const location = new URL(res.headers.get("location") ?? "", s.url);
    assert.equal(location.pathname, "/app");
    const id = location.searchParams.get("posted");
    assert.ok(id, "the redirect names the new post");
    return id;
  }

  before(async () => {
    s = await startTestServer();
    jane = await provision("jane@corp.example", "Jane Doe");
    bob = await provision("bob@corp.example", "Bob Roe");
  });
  after(async () => {
    await s.close();
  });

  test("without a session, pages send people to sign in and forms are refused", async () => {
    const page = await get("/app");
    assert.equal(page.status, 302);
    assert.equal(page.headers.get("location"), "/login?next=%2Fapp");
    const form = await postForm("/app/posts", undefined, { csrf: "x", as: jane.actor.id, text: "hello" });
    assert.equal(form.status, 401);
    assert.equal((await postsOf(jane.actor.id)).length, 0);
  });

  test("the home page has a compose form with the CSRF token and the person's own account", async () => {
    const session = await signIn(jane.personId);
    const res = await get("/app", session.cookie);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.text();
    assert.match(body, /<form method="post" action="\/app\/posts"[ >]/, "the compose form");
    assert.ok(body.includes(`<input type="hidden" name="csrf" value="${session.csrf}" />`), "the CSRF token");
    const select = /<select id="as" name="as"[^>]*>([\s\S]*?)<\/select>/.exec(body);
    assert.ok(select, "the Post as select");
    const options = [...select[1].matchAll(/<option\s+value="([^"]*)"[^>]*>([^<]*)<\/option>/g)];
    assert.equal(options.length, 1, "only the person's own account");
    assert.equal(options[0][1], jane.actor.id);
    assert.match(options[0][2].trim(), /^@jane@127\.0\.0\.1:3999 \(you\)$/);
  });

  test("posting creates the post as the person, redirects, and lists it", async () => {
    const session = await signIn(jane.personId);
    const text = "Hello from the staff app";
    const id = await publish(jane, session, text);
    const post = await postById(id);
    assert.ok(post, "the post is stored");
    assert.equal(post.actorId, jane.actor.id);
    assert.equal(post.authorPersonId, jane.personId);
    assert.equal(post.contentText, text);
    assert.equal(post.visibility, "public");
    assert.equal(post.deletedAt, null);

    const home = await get(`/app?posted=${id}`, session.cookie);
    assert.equal(home.status, 200);
    const body = await home.text();
    assert.ok(body.includes("Posted. Followers receive it within seconds."), "the confirmation");
    assert.ok(body.includes(`<div>${text}</div>`), "the post is listed");
    assert.ok(body.includes(`action="/app/posts/${id}/delete"`), "with a delete button");
  });

  test("a wrong or missing CSRF token is refused and nothing is posted", async () => {
    const session = await signIn(jane.personId);
    const before = (await postsOf(jane.actor.id)).length;
    const wrong = await postForm("/app/posts", session.cookie, {
      csrf: "wrong",
      as: jane.actor.id,
      text: "forged with a wrong token",
    });
    assert.equal(wrong.status, 403);
    const missing = await postForm("/app/posts", session.cookie, {
      as: jane.actor.id,
      text: "forged without a token",
    });
    assert.equal(missing.status, 403);
    // Another session's token is no good either.
    const other = await signIn(bob.personId);
    const foreign = await postForm("/app/posts", session.cookie, {
      csrf: other.csrf,
      as: jane.actor.id,
      text: "forged with another session's token",
    });
    assert.equal(foreign.status, 403);
    assert.equal((await postsOf(jane.actor.id)).length, before);
  });

  test("posting as another person's account is refused", async () => {
    const session = await signIn(jane.personId);
    const res = await postForm("/app/posts", session.cookie, {
      csrf: session.csrf,
      as: bob.actor.id,
      text: "pretending to be Bob",
      visibility: "public",
    });
    assert.equal(res.status, 403);
    assert.equal((await postsOf(bob.actor.id)).length, 0);
    const mine = await postsOf(jane.actor.id);
    assert.equal(
      mine.filter((p) => p.contentText === "pretending to be Bob").length,
      0,
      "nor posted as the person's own account",
    );
  });

  test("empty text is 422 with the problem shown, and nothing is posted", async () => {
    const session = await signIn(jane.personId);
    const before = (await postsOf(jane.actor.id)).length;
    for (const text of ["", "   \n  "]) {
      const res = await postForm("/app/posts", session.cookie, {
        csrf: session.csrf,
        as: jane.actor.id,
        text,
        visibility: "public",
      });
      assert.equal(res.status, 422);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      const body = await res.text();
      assert.ok(body.includes('<p class="error" id="text-error">A post needs some text.</p>'), "the error");
      assert.match(
        body,
        /<textarea[^>]*aria-invalid="true" aria-describedby="text-error"/,
        "beside the text",
      );
      assert.match(body, /<form method="post" action="\/app\/posts"[ >]/, "the form again");
    }
    assert.equal((await postsOf(jane.actor.id)).length, before);
  });

  test("the text of a post is escaped on the page", async () => {
    const session = await signIn(jane.personId);
    const text = "<script>alert(1)</script>";
    const id = await publish(jane, session, text);
    assert.equal((await postById(id))?.contentText, text);
    const body = await (await get("/app", session.cookie)).text();
    assert.ok(body.includes("<div>&lt;script&gt;alert(1)&lt;/script&gt;</div>"), "escaped");
    assert.ok(!body.includes("<script>alert"), "never raw");
  });

  test("a person deletes their own post; others cannot; unknown posts are 404", async () => {
    const janeSession = await signIn(jane.personId);
    const bobSession = await signIn(bob.personId);
    const keep = await publish(jane, janeSession, "Bob may not delete this");
    const drop = await publish(jane, janeSession, "This one goes away");

    const foreign = await postForm(`/app/posts/${keep}/delete`, bobSession.cookie, { csrf: bobSession.csrf });
    assert.equal(foreign.status, 403);
    assert.equal((await postById(keep))?.deletedAt, null, "still there");

    const noCsrf = await postForm(`/app/posts/${drop}/delete`, janeSession.cookie, { csrf: "wrong" });
    assert.equal(noCsrf.status, 403);
    assert.equal((await postById(drop))?.deletedAt, null, "still there");

    const unknown = await postForm(
      "/app/posts/00000000-0000-4000-8000-000000000000/delete",
      janeSession.cookie,
      {
        csrf: janeSession.csrf,
      },
    );
    assert.equal(unknown.status, 404);

    const res = await postForm(`/app/posts/${drop}/delete`, janeSession.cookie, { csrf: janeSession.csrf });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/app?deleted=1");
    const deleted = await postById(drop);
    assert.ok(deleted);
    assert.ok(deleted.deletedAt instanceof Date, "deletedAt is set");

    const again = await postForm(`/app/posts/${drop}/delete`, janeSession.cookie, { csrf: janeSession.csrf });
    assert.equal(again.status, 404, "a deleted post cannot be deleted twice");

    const body = await (await get("/app?deleted=1", janeSession.cookie)).text();
    assert.ok(body.includes("Deleted; followers&#39; servers are told to remove it."), "the confirmation");
    assert.ok(!body.includes(`action="/app/posts/${drop}/delete"`), "no longer listed");
    assert.ok(body.includes(`action="/app/posts/${keep}/delete"`), "the other post still is");
  });

  test("the profile form saves the bio and follower approval", async () => {
    const session = await signIn(jane.personId);
    const summary = "Recruiter, hiring in Lisbon";
    const bad = await postForm("/app/profile", session.cookie, { csrf: "wrong", summary: "forged" });
    assert.equal(bad.status, 403);
    assert.notEqual((await s.services.accounts.byHandle(jane.handle))?.summary, "forged");

    const res = await postForm("/app/profile", session.cookie, {
      csrf: session.csrf,
      summary,
      manualApproval: "1",
    });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get("location"), "/app/profile?saved=1");
    const actor = await s.services.accounts.byHandle(jane.handle);
    assert.ok(actor);
    assert.equal(actor.summary, summary);
    assert.equal(actor.manualApproval, true);

    const page = await get("/app/profile?saved=1", session.cookie);
    assert.equal(page.status, 200);
    const body = await page.text();
    assert.ok(body.includes(`<p>${summary}</p>`), "the preview shows the bio");
    assert.equal(
      /<textarea\s+id="summary"\s+name="summary"\s+rows="3"\s+maxlength="500"\s*>\n?([^<]*)<\/textarea>/.exec(
        body,
      )?.[1],
      summary,
      "the form holds the bio",
    );
    assert.match(body, /name="manualApproval"\s+value="1"\s+checked/);

    // Unticking the box turns approval off again.
    const off = await postForm("/app/profile", session.cookie, { csrf: session.csrf, summary });
    assert.equal(off.status, 303);
    assert.equal((await s.services.accounts.byHandle(jane.handle))?.manualApproval, false);
  });

  test("a fresh person's inbox says there are no replies yet", async () => {
    const session = await signIn(bob.personId);
    const res = await get("/app/inbox", session.cookie);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.ok(body.includes("<h1>Inbox of @bob@127.0.0.1:3999</h1>"), "the heading");
    assert.ok(body.includes("No replies or mentions yet."), "the empty state");
  });

  test("after a SCIM deactivation the old cookie sends the person to sign in", async () => {
    const carol = await provision("carol@corp.example", "Carol Poe");
    const session = await signIn(carol.personId);
    assert.equal((await get("/app", session.cookie)).status, 200);
    await s.services.scim.patchUser(
      carol.personId,
      [{ op: "replace", path: undefined, value: { active: false } }],
      { name: "test" },
    );
    const res = await get("/app", session.cookie);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get("location"), "/login?next=%2Fapp");
    const form = await postForm("/app/posts", session.cookie, {
      csrf: session.csrf,
      as: carol.actor.id,
      text: "after leaving",
    });
    assert.equal(form.status, 401);
    assert.equal((await postsOf(carol.actor.id)).length, 0);
  });
});
