import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { normalizeUserName, userNameKey } from "../../src/identity/user-names.ts";

// [a, b, same person?, why] — UAX #15 forms and case (userName is not caseExact, RFC 7643 §4.1.1).
const pairs: [string, string, boolean, string][] = [
  ["jos\u00e9@corp.example", "jose\u0301@corp.example", true, "é composed (NFC) and decomposed (NFD)"],
  ["JOS\u00c9@corp.example", "jose\u0301@corp.example", true, "and in another letter case"],
  ["\u1e9b\u0323@x", "\u017f\u0323\u0307@x", true, "ẛ̣: canonical reordering of combining marks"],
  ["\uac00@x", "\u1100\u1161@x", true, "Hangul syllable and its jamo"],
  ["jose@corp.example", "jos\u00e9@corp.example", false, "an accent is not a spelling: two people"],
  ["\ufb01@x", "fi@x", false, "compatibility forms (NFKC) stay distinct: ﬁ is not fi"],
  ["stra\u00dfe@x", "strasse@x", false, "ß is not ss (no case folding beyond lowercase)"],
];

describe("userName normalisation (identity/user-names.ts)", () => {
  for (const [a, b, same, why] of pairs) {
    test(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: ${same ? "one" : "two"} (${why})`, () => {
      assert.equal(userNameKey(a) === userNameKey(b), same);
    });
  }

  test("the stored userName is NFC and keeps its case; the key is NFC and lowercased", () => {
    assert.equal(normalizeUserName("Jose\u0301@Corp.example"), "Jos\u00e9@Corp.example");
    assert.equal(userNameKey("Jose\u0301@Corp.example"), "jos\u00e9@corp.example");
    assert.equal(userNameKey(userNameKey("JOSE\u0301@X")), userNameKey("JOSE\u0301@X"), "idempotent");
  });
});
