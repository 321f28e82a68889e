/**
 * A metadata URL given on /admin/connect is fetched by the server: in production it must be
 * https and must not resolve to a private, loopback or link-local address (the cloud's metadata
 * service at 169.254.169.254, the operator's own network). Development allows loopback so the
 * tests' SimpleSAMLphp can be connected by URL.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { createStoredMetadata } from "../../src/saml/stored.ts";
import { migratedDatabase, type TestDb, TEST_DB } from "../helpers/env.ts";

describe(`metadata URLs given on the page, on ${TEST_DB}`, () => {
  let t: TestDb;
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { "content-type": "application/xml" }).end("<not-metadata/>");
  });
  before(async () => {
    t = await migratedDatabase();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    server.close();
    await t.close();
  });
  const stored = (httpsOnly: boolean) =>
    createStoredMetadata(t.db, { checkMs: 60_000, refreshMs: 60_000, httpsOnly, onError: () => {} });

  const cases: [url: string, host: string][] = [
    ["https://127.0.0.1/saml/metadata", "127.0.0.1"],
    ["https://169.254.169.254/latest/meta-data", "169.254.169.254"],
    ["https://10.1.2.3/idp/metadata", "10.1.2.3"],
    ["https://[::1]/metadata", "[::1]"],
    ["https://localhost/metadata", "localhost"],
  ];
  for (const [url, host] of cases) {
    test(`production refuses ${url} before fetching it`, async () => {
      const r = await stored(true).saveUrl(url, "test");
      assert.equal(r.ok, false);
      assert.match(
        r.ok ? "" : r.message,
        new RegExp(`${host.replace(/[[\].]/g, "\\$&")} is not a public address`, "i"),
      );
    });
  }

  test("production refuses http, and development fetches a loopback URL (then refuses what it got)", async () => {
    const port = (server.address() as AddressInfo).port;
    const http = await stored(true).saveUrl(`http://127.0.0.1:${port}/m`, "test");
    assert.equal(http.ok, false);
    assert.equal(hits, 0);
    const dev = await stored(false).saveUrl(`http://127.0.0.1:${port}/m`, "test");
    assert.equal(dev.ok, false);
    assert.equal(hits, 1, "development fetched the loopback URL once");
    assert.doesNotMatch(dev.ok ? "" : dev.message, /not a public address/);
  });
});
