/**
 * What the public pages (home, `/@handle`, `/tags/<tag>`) share: their chrome, one post as a list
 * shows it, and the QR code of a verification link.
 */
import { renderSVG } from "uqr";
import type { Config } from "../config.ts";
import type { ActorRow, PostRow } from "../federation/entities.ts";
import type { ErrorChrome } from "../http/errors.ts";
import { type Chrome, type Html, html, raw, timeTag } from "../http/html.ts";
import { href, ROUTES } from "../http/routes.ts";
import { attachedMedia, fileName } from "../media/entities.ts";
import type { ActiveSession } from "../sessions/sessions.ts";
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

/**
 * Error pages' chrome (src/http/errors.ts): the public header with Home, Verify and "Sign in" —
 * or, for a signed-in person, "Staff app", their name and sign-out — and a way back: to the staff
 * app from its own and the admin pages, else to the home page.
 */
export function errorChrome(config: Pick<Config, "orgName" | "orgLogoUrl">): ErrorChrome {
  return (ctx) => {
    const auth = ctx.state.auth as ActiveSession | undefined;
    const staffPage = /^\/(app|admin)(\/|$)/.test(ctx.path);
    const chrome = publicChrome(config);
    return {
      chrome: {
        ...chrome,
        nav: [
          ...(chrome.nav ?? []),
          auth ? { href: ROUTES.app.prefix, label: "Staff app" } : { href: ROUTES.login, label: "Sign in" },
        ],
        session: auth && { name: auth.person.displayName ?? auth.person.userName, csrf: auth.csrf },
      },
      back:
        auth && staffPage
          ? { href: ROUTES.app.prefix, label: "Back to the staff app" }
          : { href: ROUTES.home, label: "Back to the home page" },
    };
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
 * A post's images: each preview links to the full file; the alt text is the image's text (an
 * image posted without one says so rather than leaving a nameless link).
 */
export function postMedia(post: Pick<PostRow, "media">): Html | "" {
  const images = attachedMedia(post);
  if (images.length === 0) return "";
  return html`<div class="post-media">
    ${images.map(
      (m) =>
        html`<a href="${href(ROUTES.media.file, { id: m.id, name: fileName("original", m.format) })}"
          ><img
            src="${href(ROUTES.media.file, { id: m.id, name: fileName("small", m.smallFormat) })}"
            alt="${m.description ?? "Image without a description"}"
            width="${m.smallWidth}"
            height="${m.smallHeight}"
            loading="lazy"
        /></a>`,
    )}
  </div>`;
}

/**
 * One post in a list: its text (HTML rendered at posting time by renderText: links, mentions and
 * hashtags already linked), and when — absolute and relative — linking to the post's own page.
 * `author` names the account (tag pages list several); a profile omits it.
 */
export function postArticle(
  post: Pick<PostRow, "id" | "contentHtml" | "publishedAt" | "updatedAt" | "media">,
  actor: Pick<ActorRow, "handle">,
  author?: Html,
): Html {
  return html`<article class="post">
    ${author ?? ""}
    <div>${raw(post.contentHtml)}</div>
    ${postMedia(post)}
    <p class="muted small">
      <a href="${href(ROUTES.profilePost, { handle: actor.handle, postId: post.id })}"
        >${timeTag(post.publishedAt)}</a
      >${post.updatedAt ? html` · edited ${timeTag(post.updatedAt, { relative: false })}` : ""}
    </p>
  </article>`;
}
