/**
 * `/api/verification` (JSON, CORS open, rate-limited per client, never cached), `/verify` (a page
 * for candidates) and `/.well-known/jwks.json` (the organization's public keys).
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Middleware } from "koa";
import type { Config } from "../config.ts";
import { fail } from "../http/errors.ts";
import { html, page } from "../http/html.ts";
import type { RateLimiter, RateLimits } from "../http/rate-limit.ts";
import { formBody } from "../http/form.ts";
import type { Reports } from "./reports.ts";
import type { Verification, Verifier } from "./service.ts";

/**
 * The API's fast path, first in the chain: a fresh cached answer (never across a directory
 * change; see service.ts) is sent as is. Anything else — a miss, a refusal, an error — goes on
 * to the full route below.
 */
export function cachedVerifications(verifier: () => Promise<Verifier>, limiter: RateLimiter): Middleware {
  let ready: Verifier | undefined;
  void verifier().then(
    (v) => {
      ready = v;
    },
    () => undefined,
  );
  return async (ctx, next) => {
    if (!ready || ctx.method !== "GET" || ctx.path !== ROUTES.verification) return next();
    const q = ctx.query;
    const input = typeof q.handle === "string" ? q.handle : typeof q.url === "string" ? q.url : undefined;
    const json = input ? ready.cachedJson(input) : undefined;
    if (json === undefined || !(await limiter.take(ctx.ip)).allowed) return next();
    ctx.set("Access-Control-Allow-Origin", "*");
    ctx.set("Cache-Control", "no-store");
    ctx.type = "application/json; charset=utf-8";
    ctx.body = json;
    ctx.state.fastPath = true;
  };
}

export function verifyRoutes(
  config: Config,
  verifier: () => Promise<Verifier>,
  limits: RateLimits,
  limiter: RateLimiter,
  reports: Reports,
): Router {
  const router = caseSensitiveRouter();

  const limited = async (ip: string) => {
    const d = await limiter.take(ip);
    if (!d.allowed) {
      throw Object.assign(new Error("Too many verification requests; retry in a moment."), {
        status: 429,
        expose: true,
        headers: { "Retry-After": String(d.retryAfterSeconds) },
      });
    }
  };

  router.get(koa(ROUTES.jwks), async (ctx) => {
    ctx.set("Access-Control-Allow-Origin", "*");
    ctx.set("Cache-Control", "public, max-age=300");
    ctx.body = (await verifier()).jwks;
  });

  // Email lookups have their own, much smaller budget: they are the enumeration risk.
  const emailLimiter = limits.limiter("verify-email", {
    ratePerSecond: config.verify.emailPerMinute / 60,
    burst: Math.max(1, Math.ceil(config.verify.emailPerMinute / 2)),
  });

  router.get(koa(ROUTES.verification), async (ctx) => {
    ctx.set("Access-Control-Allow-Origin", "*");
    ctx.set("Cache-Control", "no-store");
    await limited(ctx.ip);
    if (typeof ctx.query.email === "string") {
      if (!config.verify.emailLookup)
        fail(
          404,
          `${config.orgName} does not answer lookups by email address; check a handle or profile link.`,
        );
      const email = ctx.query.email.trim();
      if (email.length > 320 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email))
        fail(400, "Give ?email=name@domain (one address).");
      const d = await emailLimiter.take(ctx.ip);
      if (!d.allowed)
        throw Object.assign(new Error("Too many email lookups; retry in a minute."), {
          status: 429,
          expose: true,
          headers: { "Retry-After": String(d.retryAfterSeconds) },
        });
      ctx.body = await (await verifier()).emailLookup(email);
      return;
    }
    const input = String(ctx.query.handle ?? ctx.query.url ?? "").trim();
    if (input === "" || input.length > 2048)
      fail(
        400,
        `Give ?handle=@name@domain or ?url=<profile or post URL>${config.verify.emailLookup ? " or ?email=name@domain" : ""}.`,
      );
    ctx.body = await (await verifier()).verify(input);
  });

  router.get(koa(ROUTES.verify), async (ctx) => {
    const input = typeof ctx.query.q === "string" ? ctx.query.q.trim().slice(0, 2048) : "";
    let answer = html``;
    const emailDomain = /^[^\s@]+@([^\s@]+)$/.exec(input)?.[1]?.toLowerCase();
    const isEmail =
      config.verify.emailLookup &&
      emailDomain !== undefined &&
      emailDomain !== config.handleDomain &&
      config.verify.emailDomains.includes(emailDomain);
    if (isEmail) {
      await limited(ctx.ip);
      const d = await emailLimiter.take(ctx.ip);
      if (!d.allowed)
        fail(429, "Too many email lookups; retry in a minute.", {
          "Retry-After": String(d.retryAfterSeconds),
        });
      const e = await (await verifier()).emailLookup(input);
      answer =
        e.status === "active"
          ? html`<section role="status">
              <h2>✔ A current ${config.orgName} address</h2>
              <p><code>${e.email}</code> belongs to someone who works at ${config.orgName} today.</p>
            </section>`
          : html`<section role="status">
              <h2>✖ Not a current ${config.orgName} address</h2>
              <p>No current employee of ${config.orgName} uses <code>${e.email}</code>. Do not trust it.</p>
            </section>`;
    } else if (input !== "") {
      await limited(ctx.ip);
      const v: Verification = await (await verifier()).verify(input);
      answer =
        v.status === "active"
          ? html`<section role="status">
              <h2>✔ Current ${config.orgName} account</h2>
              ${v.profileUrl ? html`<p><a rel="me" href="${v.profileUrl}">${v.handle}</a></p>` : ""}
              <p>
                <strong>${v.displayName ?? ""}</strong>
                <code>${v.handle}</code
                >${v.title ? html` — ${v.title}` : ""}${v.roles.length ? html` (${v.roles.join(", ")})` : ""}
              </p>
            </section>`
          : v.status === "former"
            ? html`<section role="status">
                <h2>⚠ Former ${config.orgName} account</h2>
                <p>
                  <code>${v.handle}</code> no longer speaks for
                  ${config.orgName}${v.until ? html` (since ${v.until.slice(0, 10)})` : ""}. Do not trust
                  messages from this account.
                </p>
              </section>`
            : html`<section role="status">
                <h2>✖ Not a ${config.orgName} account</h2>
                <p>
                  ${config.orgName}'s accounts end in <code>@${v.officialDomain}</code>. Be careful with
                  anyone who claims otherwise.
                </p>
              </section>`;
    }
    const askFor = `Handle, profile or post link${config.verify.emailLookup ? ", or an e-mail address" : ""}`;
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      `Verify a ${config.orgName} account`,
      html`<h1>Is this really ${config.orgName}?</h1>
        <form method="get" action="/verify">
          <label for="q">${askFor}</label>
          <input id="q" name="q" value="${input}" placeholder="@jane@${config.handleDomain}" size="40" />
          <button type="submit">Check</button>
        </form>
        ${answer}
        <h2>Report an impersonation attempt</h2>
        <form method="post" action="/verify/report">
          <p>
            <label for="reported">Account or link</label><br /><input
              id="reported"
              name="reported"
              required
              maxlength="2048"
              size="40"
            />
          </p>
          <p>
            <label for="details">What happened?</label><br /><textarea
              id="details"
              name="details"
              required
              maxlength="5000"
              rows="4"
              cols="40"
            ></textarea>
          </p>
          <p>
            <label for="contact">Your e-mail (optional, if you want an answer)</label><br /><input
              id="contact"
              name="contact"
              type="email"
              autocomplete="email"
              maxlength="320"
              size="40"
            />
          </p>
          <button type="submit">Send the report</button>
        </form>
        <h2>How we contact candidates</h2>
        <ul>
          ${(
            config.verify.guidance ?? [
              "We never ask you for payment or bank details.",
              "We never move a conversation to WhatsApp, Telegram or a personal e-mail address.",
            ]
          ).map((line) => html`<li>${line}</li>`)}
          <li>Our accounts end in <code>@${config.handleDomain}</code>.</li>
        </ul>`,
    );
  });
  router.post(koa(ROUTES.verifyReport), async (ctx) => {
    await limited(ctx.ip);
    const form = await formBody(ctx);
    const r = await reports.submit({
      reported: form.get("reported") ?? "",
      details: form.get("details") ?? "",
      contact: form.get("contact") ?? undefined,
      source: ctx.ip,
    });
    if (!r.ok) fail(400, r.message);
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(
      "Thank you",
      html`<h1>Thank you</h1>
        <p>${config.orgName}'s security team has your report (reference <code>${r.id}</code>).</p>
        <p><a href="/verify">Check another account</a></p>`,
    );
  });
  return router;
}
