/**
 * The CLI only enqueues: `herald post` writes the post and puts the delivery on the persistent
 * queue; the running server (another process) delivers it within about a second.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FollowingSchema, InboundSchema } from "../../src/federation/entities.ts";
import { startServer } from "../../src/server.ts";
import { freePort, freshDatabaseUrl, TEST_DB, testConfig, testEnv, waitFor } from "../helpers/env.ts";
import { runCli, startServerProcess } from "../helpers/process.ts";

test(`herald shared-account create + post, delivered by the server process (${TEST_DB})`, async () => {
  const aDb = await freshDatabaseUrl();
  const bDb = await freshDatabaseUrl();
  const aPort = await freePort();
  const bPort = await freePort();
  const aOrigin = `http://127.0.0.1:${aPort}`;
  const aEnv = testEnv({
    DATABASE_URL: aDb.url,
    HERALD_DATA_DIR: aDb.dir,
    HERALD_ORIGIN: aOrigin,
    HERALD_QUEUE_POLL_MS: "200",
  });
  const a = await startServerProcess(aEnv, aPort, aDb.dir);
  const b = await startServer(
    testConfig(bDb.url, bDb.dir, { PORT: String(bPort), HERALD_ORIGIN: `http://127.0.0.1:${bPort}` }),
  );
  try {
    const created = await runCli(
      ["shared-account", "create", "recruiting", "--name", "Alpha Recruiting"],
      aEnv,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`Created @recruiting@127\\.0\\.0\\.1:${aPort}`));
    const dup = await runCli(["shared-account", "create", "recruiting", "--name", "Again"], aEnv);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already issued/);
    const list = await runCli(["accounts"], aEnv);
    assert.match(list.stdout, /@recruiting@\S+\tshared\tAlpha Recruiting\tactive/);

    const news = await b.services.accounts.createShared("news", "Beta News", "test");
    assert.ok(news.ok);
    const wf = await (
      await fetch(`${aOrigin}/.well-known/webfinger?resource=acct:recruiting@127.0.0.1:${aPort}`)
    ).json();
    const actorUrl = wf.links.find((l: { rel: string }) => l.rel === "self").href;
    assert.ok((await b.services.posting.follow(news.actor.id, actorUrl)).ok);
    await waitFor(
      async () =>
        (
          await b.services.db.run((em) =>
            em.getRepository(FollowingSchema).findOneBy({ actorId: news.actor.id }),
          )
        )?.status === "accepted" || undefined,
      { what: "the follow to be accepted" },
    );

    const posted = await runCli(["post", "recruiting", "Join us at the career fair"], aEnv);
    assert.equal(posted.code, 0, posted.stderr);
    const noteId = posted.stdout.trim().split("\n").at(-1)!;
    assert.match(noteId, new RegExp(`^${aOrigin}/ap/posts/[0-9a-f-]{36}$`));
    const started = Date.now();
    const got = await waitFor(
      async () =>
        (await b.services.db.run((em) => em.getRepository(InboundSchema).findOneBy({ objectIri: noteId }))) ??
        undefined,
      { what: "the CLI's post to be delivered by the server", intervalMs: 25 },
    );
    assert.match(got.contentHtml ?? "", /career fair/);
    assert.ok(Date.now() - started < 5000, `delivered after ${Date.now() - started} ms`);

    const unknown = await runCli(["post", "nobody", "hello"], aEnv);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /No account nobody/);
    const asNobody = await runCli(["post", "recruiting", "hello", "--as", "ghost@corp.example"], aEnv);
    assert.equal(asNobody.code, 1);
    assert.match(asNobody.stderr, /No current employee with userName ghost@corp\.example/);
  } finally {
    a.child.kill("SIGTERM");
    await a.exited;
    await b.shutdown("test");
    await aDb.cleanup();
    await bDb.cleanup();
  }
});
