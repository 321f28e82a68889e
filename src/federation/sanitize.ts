/**
 * HTML received from other servers (a note's `content`, an actor's `summary`) as Herald keeps
 * and serves it. It is cleaned once, on receipt, with Mastodon's allow-list for remote HTML
 * (`Sanitize::Config::MASTODON_STRICT`, mastodon/mastodon lib/sanitize_ext/sanitize_config.rb),
 * so clients show it as they would on Mastodon — which also sanitises on receipt, and clients
 * trust it to have done so — and no script, event handler, style or foreign link scheme reaches
 * a client or page. What goes, as Mastodon does:
 * - elements outside the list lose their tags and keep their text; script, style and other
 *   elements whose content is not text (Sanitize's `remove_contents` list) go with their content;
 * - headings (h1–h6) become a paragraph in bold (`<p><strong>…</strong></p>`);
 * - a link whose href is not an absolute URL of a listed scheme becomes its text;
 * - links always open with rel="nofollow noopener" in a new tab;
 * - classes other than microformats (`h-`, `p-`, `u-`, `dt-`, `e-`), mention, hashtag, invisible,
 *   ellipsis and quote-inline are dropped; `translate` is kept only as "no".
 * One difference: MathML (FEP-dc88) is dropped with its content, where Mastodon shows its TeX or
 * plain-text annotation.
 */
import sanitizeHtml from "sanitize-html";

/**
 * Input beyond this many characters is cut before it is cleaned (the cut half-tag, if any, goes
 * with the rest of what is not allowed). Real posts are far below it (Mastodon 500 characters,
 * Misskey 3,000, Pleroma 5,000 by default; long-form articles tens of kilobytes). The document
 * loader lets through up to 1 MiB; this bounds what a row keeps of one note or bio and the work
 * of cleaning it: about 20 ms for 128 KiB of ordinary markup, 0.3 s at worst (40,000 unclosed
 * `<b>` tags) on the development machine, once per received note or bio.
 */
export const MAX_REMOTE_HTML = 128 * 1024;

/** Tags nested deeper than this lose their tags, keeping their text (Nokogiri's HTML5 parser, Mastodon's, stops at 400 too). */
const MAX_DEPTH = 400;

/** The schemes of links kept (Mastodon's LINK_PROTOCOLS); anything else, relative included, is text. */
const LINK_SCHEMES = [
  "http",
  "https",
  "dat",
  "dweb",
  "ipfs",
  "ipns",
  "ssb",
  "gopher",
  "xmpp",
  "magnet",
  "gemini",
];

/** Mastodon's classes: microformats, the semantic and link-formatting ones, quote-inline. */
const CLASSES = [/^(h|p|u|dt|e)-/, "mention", "hashtag", "invisible", "ellipsis", "quote-inline"];

/**
 * No tag is renamed while it is cleaned: sanitize-html 2.18.1 remembers a rename by depth and does
 * not forget it when the renamed tag is then dropped, so a later tag at that depth would be closed
 * under the new name. Headings stay h1–h6 and are written as `<p><strong>` afterwards (only an
 * allowed heading can put `<hN` in the output: text and attribute values come out escaped), and a
 * link of another scheme is excluded when it closes, keeping its content.
 */
const HEADING_OPEN = /<h[1-6](?:\s[^>]*)?>/g;
const HEADING_CLOSE = /<\/h[1-6]>/g;

/** The scheme of an href as Sanitize reads it (`scheme:` before any `/` or `#`), lower case; null when relative. */
function schemeOf(href: string): string | null {
  const m = /^\s*([^/#]*?):/.exec(href);
  return m ? m[1].toLowerCase() : null;
}

function linkable(href: string | undefined): boolean {
  const scheme = schemeOf(href ?? "");
  return scheme !== null && LINK_SCHEMES.includes(scheme);
}

function translate(attribs: sanitizeHtml.Attributes): sanitizeHtml.Attributes {
  if (attribs.translate === undefined || attribs.translate === "no") return attribs;
  const { translate: _, ...rest } = attribs;
  return rest;
}

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: [
    ...["p", "br", "span", "a", "del", "s", "pre", "blockquote", "code", "b", "strong", "u", "i", "em"],
    ...["ul", "ol", "li", "ruby", "rt", "rp", "h1", "h2", "h3", "h4", "h5", "h6"],
  ],
  allowedAttributes: {
    "*": ["lang"],
    a: ["href", "rel", "target", "class", "translate"],
    span: ["class", "translate"],
    ol: ["start", "reversed"],
    li: ["value"],
    p: ["class"],
  },
  allowedClasses: { a: CLASSES, span: CLASSES, p: CLASSES },
  allowedSchemes: LINK_SCHEMES,
  allowedSchemesByTag: {},
  allowedSchemesAppliedToAttributes: ["href"],
  allowProtocolRelative: false,
  // Sanitize's remove_contents (what Mastodon drops with its content), and what sanitize-html
  // itself treats so.
  nonTextTags: [
    ...["script", "style", "textarea", "option", "xmp", "iframe", "math", "noembed", "noframes"],
    ...["noscript", "plaintext", "svg", "template", "title"],
  ],
  disallowedTagsMode: "discard",
  nestingLimit: MAX_DEPTH,
  transformTags: {
    a: (_tag, attribs) => ({
      tagName: "a",
      attribs: { ...translate(attribs), rel: "nofollow noopener", target: "_blank" },
    }),
    span: (_tag, attribs) => ({ tagName: "span", attribs: translate(attribs) }),
  },
  exclusiveFilter: (frame) => (frame.tag === "a" && !linkable(frame.attribs.href) ? "excludeTag" : false),
};

/** `html` from another server, cleaned with Mastodon's allow-list (see above); at most MAX_REMOTE_HTML characters of it are read. */
export function sanitizeRemoteHtml(html: string): string {
  let input = html;
  if (input.length > MAX_REMOTE_HTML) {
    // Not between the two halves of a surrogate pair.
    const end = /[\uD800-\uDBFF]/.test(input[MAX_REMOTE_HTML - 1]) ? MAX_REMOTE_HTML - 1 : MAX_REMOTE_HTML;
    input = input.slice(0, end);
  }
  return sanitizeHtml(input, OPTIONS)
    .replace(HEADING_OPEN, "<p><strong>")
    .replace(HEADING_CLOSE, "</strong></p>");
}
