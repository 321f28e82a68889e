/**
 * The design system's parts that need no browser: every text colour pair meets WCAG 2.1 AA
 * (≥ 4.5:1) in light and dark, the logo setting (HERALD_ORG_LOGO_URL, else the avatar setting;
 * https in production), the page CSP, the page shell's chrome and the time format.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, parseConfig } from "../../src/config.ts";
import { page, relativeTime, timeTag } from "../../src/http/html.ts";
import { pageCsp } from "../../src/http/request-context.ts";
import { CONTRAST_PAIRS, monogram, orgIdentity, TOKENS } from "../../src/web/design.ts";

/** WCAG 2.1 relative luminance and contrast ratio (§1.4.3, "contrast ratio" definition). */
function luminance(hex: string): number {
  const n = Number.parseInt(hex.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const contrast = (a: string, b: string) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};

const problemsOf = (env: Record<string, string>) => {
  try {
    parseConfig(env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
};
const PRODUCTION = {
  NODE_ENV: "production",
  HERALD_ORIGIN: "https://social.corp.example",
  HERALD_SESSION_SECRET: "x".repeat(48),
  HERALD_ORG_SIGNING_KEY: "k",
  HERALD_SAML_SP_KEY: "k",
  HERALD_SAML_SP_CERT: "c",
};

describe("the design system", () => {
  test("every text colour pair is AA (4.5:1) in light and in dark", () => {
    const failing: string[] = [];
    for (const [fg, bg] of CONTRAST_PAIRS)
      for (const i of [0, 1] as const) {
        const ratio = contrast(TOKENS[fg][i], TOKENS[bg][i]);
        if (ratio < 4.5) failing.push(`${fg} on ${bg} (${i ? "dark" : "light"}): ${ratio.toFixed(2)}`);
      }
    assert.deepEqual(failing, []);
  });

  test("the logo: HERALD_ORG_LOGO_URL, else the avatar setting, else none (a monogram)", () => {
    assert.equal(parseConfig({}).orgLogoUrl, undefined);
    assert.equal(
      parseConfig({ HERALD_ORG_AVATAR_URL: "https://corp.example/a.png" }).orgLogoUrl,
      "https://corp.example/a.png",
    );
    assert.equal(
      parseConfig({
        HERALD_ORG_AVATAR_URL: "https://corp.example/a.png",
        HERALD_ORG_LOGO_URL: "https://corp.example/logo.svg",
      }).orgLogoUrl,
      "https://corp.example/logo.svg",
    );
    assert.equal(
      parseConfig({ HERALD_ORG_LOGO_URL: "http://localhost:8080/l.png" }).orgLogoUrl,
      "http://localhost:8080/l.png",
    );
    assert.ok(
      problemsOf({ HERALD_ORG_LOGO_URL: "javascript:alert(1)" }).some((p) =>
        p.startsWith("HERALD_ORG_LOGO_URL="),
      ),
    );
    assert.ok(
      problemsOf({ HERALD_ORG_LOGO_URL: "not a url" }).some((p) => p.startsWith("HERALD_ORG_LOGO_URL=")),
    );
    assert.ok(
      problemsOf({ ...PRODUCTION, HERALD_ORG_LOGO_URL: "http://corp.example/l.png" }).includes(
        "HERALD_ORG_LOGO_URL must be an https URL in production (pages allow images over https only)",
      ),
    );
    assert.ok(
      !problemsOf({ ...PRODUCTION, HERALD_ORG_LOGO_URL: "https://corp.example/l.png" }).some((p) =>
        p.includes("LOGO"),
      ),
    );
  });

  test("the page CSP: nothing but this origin's stylesheet and images; an http logo's origin when named", () => {
    assert.equal(
      pageCsp(),
      "default-src 'none'; style-src 'self'; img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'",
    );
    assert.match(pageCsp(["http://localhost:8080"]), /img-src 'self' https: data: http:\/\/localhost:8080;/);
  });

  test("the page shell: the org's name with its logo or monogram, nav, and sign-out with the CSRF token", () => {
    const plain = page("T", "<p>x</p>");
    assert.doesNotMatch(plain, /site-header/, "no chrome unless asked");
    assert.match(plain, /<link rel="stylesheet" href="\/assets\/herald-[\w-]{16}\.css">/);
    const withLogo = page("T", "", {
      org: orgIdentity({ orgName: "Acme", orgLogoUrl: "https://acme.example/l.svg" }),
      nav: [{ href: "/a", label: "A", current: true }],
      session: { name: "Jane <Doe>", csrf: "tok" },
    });
    assert.match(withLogo, /<img class="org-logo" src="https:\/\/acme\.example\/l\.svg" alt=""/);
    assert.match(withLogo, /<a href="\/a" aria-current="page">A<\/a>/);
    assert.match(withLogo, /<form class="signout" method="post" action="\/logout">/);
    assert.match(withLogo, /name="csrf" value="tok"/);
    assert.ok(withLogo.includes("Jane &lt;Doe&gt;"), "escaped");
    const monogrammed = page("T", "", { org: orgIdentity({ orgName: "ünicorn Ltd" }) });
    assert.match(monogrammed, /<span class="org-mark" aria-hidden="true">Ü<\/span><span>ünicorn Ltd<\/span>/);
    assert.equal(monogram("  42 things"), "4");
  });

  test("times: absolute in UTC with an ISO datetime, and a relative hint", () => {
    const now = new Date("2026-12-04T19:35:00Z");
    assert.equal(
      String(timeTag(new Date("2026-12-04T16:35:00Z"), { now })),
      '<time datetime="2026-12-04T16:35:00.000Z">4 Dec 2026, 16:35 UTC</time> <span class="muted">(3 hours ago)</span>',
    );
    assert.equal(relativeTime(new Date("2026-12-03T19:35:00Z"), now), "yesterday");
    assert.equal(relativeTime(new Date("2026-12-04T19:34:30Z"), now), "just now");
  });
});
