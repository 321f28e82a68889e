/**
 * Remote HTML as Herald keeps it (src/federation/sanitize.ts): Mastodon's allow-list, as a table
 * (cases/remote-html.json) run through one loop, and the bounds on size and depth.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { MAX_REMOTE_HTML, sanitizeRemoteHtml } from "../../src/federation/sanitize.ts";
import { ROOT } from "../helpers/env.ts";

const cases = JSON.parse(readFileSync(path.join(ROOT, "test/federation/cases/remote-html.json"), "utf8")) as {
  case: string;
  html: string;
  out: string;
}[];

describe("remote HTML", () => {
  for (const c of cases)
    test(c.case, () => {
      assert.equal(sanitizeRemoteHtml(c.html), c.out);
    });

  test("input beyond the bound is cut", () => {
    const out = sanitizeRemoteHtml(`<p>${"a".repeat(MAX_REMOTE_HTML)}</p>`);
    assert.equal(out, `<p>${"a".repeat(MAX_REMOTE_HTML - 3)}</p>`);
  });

  test("not between the halves of a surrogate pair", () => {
    const out = sanitizeRemoteHtml(`${"a".repeat(MAX_REMOTE_HTML - 1)}😀`);
    assert.equal(out, "a".repeat(MAX_REMOTE_HTML - 1));
  });

  test("tags nested deeper than 400 keep their text only", () => {
    const out = sanitizeRemoteHtml(`${"<b>".repeat(500)}x`);
    assert.equal(out, `${"<b>".repeat(400)}x${"</b>".repeat(400)}`);
  });
});
