/**
 * What the public pages (home, `/@handle`, `/tags/<tag>`) share: their chrome, one post as a list
 * shows it, and the QR code of a verification link.
 */
import { renderSVG } from "uqr";
import type { Config } from "../config.ts";
import type { ActorRow, PostRow } from "../federation/entities.ts";
import { type Chrome, type Html, html, raw, timeTag } from "../http/html.ts";
import { href, ROUTES } from "../http/routes.ts";
import { orgIdentity } from "./design.ts";

/** The public pages' chrome: the organization, Home and Verify (`current` marks the page shown). */
export function publicChrome(
  config: Pick<Config, "orgName" | "orgLogoUrl">,
  current?: "home" | "verify",
): Chrome {
  return {
    org: orgIdentity(config),
    navLabel: "Site",
    nav: [
      { href: ROUTES.home, label: "Home", current: current === "home" },
      { href: ROUTES.verify, label: "Verify an account", current: current === "verify" },
    ],
  };
}

/** A QR code of `url` as an <img> with an SVG data: URL (the page CSP allows data: images). */
export function qrImage(url: string, alt: string): Html {
  const svg = renderSVG(url, { ecc: "M", border: 2 });
  return html`<img
    src="data:image/svg+xml;base64,${Buffer.from(svg).toString("base64")}"
    alt="${alt}"
    width="160"
    height="160"
  />`;
}

/**
 * One post in a list: its text (HTML rendered at posting time by renderText: links, mentions and
 * hashtags already linked), and when — absolute and relative — linking to the post's own page.
 * `author` names the account (tag pages list several); a profile omits it.
 */
export function postArticle(
  post: Pick<PostRow, "id" | "contentHtml" | "publishedAt" | "updatedAt">,
  actor: Pick<ActorRow, "handle">,
  author?: Html,
): Html {
  return html`<article class="post">
    ${author ?? ""}
    <div>${raw(post.contentHtml)}</div>
    <p class="muted small">
      <a href="${href(ROUTES.profilePost, { handle: actor.handle, postId: post.id })}"
        >${timeTag(post.publishedAt)}</a
      >${post.updatedAt ? html` · edited ${timeTag(post.updatedAt, { relative: false })}` : ""}
    </p>
  </article>`;
}
