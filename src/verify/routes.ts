/**
 * `/api/verification` (JSON, CORS open, rate-limited per client, never cached), `/verify` (a page
 * for candidates) and `/.well-known/jwks.json` (the organization's public keys).
 */
import { koa, ROUTES } from "../http/routes.ts";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Context, Middleware } from "koa";
import type { Config } from "../config.ts";
import { fail } from "../http/errors.ts";
import { type Html, html, page, timeTag } from "../http/html.ts";
import { orgIdentity } from "../web/design.ts";
import type { RateLimiter, RateLimits } from "../http/rate-limit.ts";
import { formBody } from "../http/form.ts";
import type { ReportField, Reports } from "./reports.ts";
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

  const org = orgIdentity(config);
  const chrome = {
    org,
    navLabel: "Site",
    nav: [
      { href: ROUTES.home, label: "Home" },
      { href: ROUTES.verify, label: "Verify an account", current: true },
    ],
  };
  const checked = (at: string) => html`<p class="small">Checked ${timeTag(new Date(at))}.</p>`;

  /** The answer to one question, as one of three unmistakable boxes. */
  async function answerFor(ctx: Context, input: string): Promise<Html> {
    if (input === "") return html``;
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
      return e.status === "active"
        ? html`<section role="status" class="verdict verdict-current">
            <h2>
              <span class="verdict-icon" aria-hidden="true">✔</span> A current ${config.orgName} address
            </h2>
            <p><code>${e.email}</code> belongs to someone who works at ${config.orgName} today.</p>
            ${checked(e.checkedAt)}
          </section>`
        : html`<section role="status" class="verdict verdict-unknown">
            <h2>
              <span class="verdict-icon" aria-hidden="true">⚠</span> Not a current ${config.orgName} address
            </h2>
            <p>No current employee of ${config.orgName} uses <code>${e.email}</code>. Do not trust it.</p>
            ${checked(e.checkedAt)}
          </section>`;
    }
    await limited(ctx.ip);
    const v: Verification = await (await verifier()).verify(input);
    switch (v.status) {
      case "active":
        return html`<section role="status" class="verdict verdict-current">
          <h2><span class="verdict-icon" aria-hidden="true">✔</span> Current ${config.orgName} account</h2>
          <dl>
            ${
              v.displayName
                ? html`<dt>Name</dt>
                    <dd><strong>${v.displayName}</strong></dd>`
                : ""
            }
            <dt>Account</dt>
            <dd>
              ${v.profileUrl ? html`<a rel="me" href="${v.profileUrl}">${v.handle}</a>` : html`<code>${v.handle}</code>`}
            </dd>
            ${
              v.title
                ? html`<dt>Title</dt>
                    <dd>${v.title}</dd>`
                : ""
            }
            ${
              v.roles.length
                ? html`<dt>Roles</dt>
                    <dd>${v.roles.join(", ")}</dd>`
                : ""
            }
          </dl>
          <p>This account speaks for ${config.orgName} today.</p>
          ${checked(v.checkedAt)}
        </section>`;
      case "former": {
        const since = v.until ? new Date(v.until) : undefined;
        return html`<section role="status" class="verdict verdict-former">
          <h2><span class="verdict-icon" aria-hidden="true">✖</span> Former ${config.orgName} account</h2>
          <p>
            <code>${v.handle}</code> no longer speaks for
            ${config.orgName}${
              since ? html` since <strong>${timeTag(since, { relative: false })}</strong>` : ""
            }
            — <strong>do not trust messages from this account.</strong>
          </p>
          ${checked(v.checkedAt)}
        </section>`;
      }
      case "unknown":
        return html`<section role="status" class="verdict verdict-unknown">
          <h2><span class="verdict-icon" aria-hidden="true">⚠</span> Not a ${config.orgName} account</h2>
          ${v.handle ? html`<p><code>${v.handle}</code> is not one of ${config.orgName}'s accounts.</p>` : ""}
          <p>
            ${config.orgName}'s accounts end in <code>@${v.officialDomain}</code>. Be careful with anyone who
            claims otherwise.
          </p>
          ${checked(v.checkedAt)}
        </section>`;
      default:
        return v.status satisfies never;
    }
  }

  interface ReportForm {
    readonly reported: string;
    readonly details: string;
    readonly contact: string;
    readonly error?: { readonly field: ReportField; readonly message: string };
  }

  /** The /verify page: the question, its answer, the report form (with its input kept on an error). */
  function verifyPage(input: string, answer: Html, report?: ReportForm): string {
    const askFor = `Handle, profile or post link${config.verify.emailLookup ? ", or an e-mail address" : ""}`;
    const field = (name: ReportField, label: string, control: (invalid: Html) => Html) => {
      const error = report?.error?.field === name ? report.error.message : undefined;
      const invalid = error ? html` aria-invalid="true" aria-describedby="${name}-error"` : html``;
      return html`<div class="field">
        <label for="${name}">${label}</label>
        ${control(invalid)} ${error ? html`<p class="error" id="${name}-error">${error}</p>` : ""}
      </div>`;
    };
    return page(
      `Verify a ${config.orgName} account`,
      html`<h1>Is this really ${config.orgName}?</h1>
        <p>
          Check that an account speaks for ${config.orgName} before you trust it. Our accounts end in
          <code>@${config.handleDomain}</code>.
        </p>
        <form method="get" action="${ROUTES.verify}" class="card">
          <div class="field">
            <label for="q">${askFor}</label>
            <input
              id="q"
              name="q"
              value="${input}"
              placeholder="@jane@${config.handleDomain}"
              autocomplete="off"
              spellcheck="false"
            />
          </div>
          <button type="submit">Check</button>
        </form>
        ${answer}
        <h2 id="report">Report an impersonation attempt</h2>
        ${report?.error ? html`<p class="notice notice-error" role="alert">Your report was not sent: ${report.error.message}</p>` : ""}
        <form method="post" action="${ROUTES.verifyReport}" class="card">
          ${field(
            "reported",
            "Account or link",
            (invalid) =>
              html`<input
                id="reported"
                name="reported"
                required
                maxlength="2048"
                value="${report?.reported ?? ""}"
                ${invalid}
              />`,
          )}
          ${field(
            "details",
            "What happened?",
            (invalid) =>
              html`<textarea id="details" name="details" required maxlength="5000" rows="4" ${invalid}>
${report?.details ?? ""}</textarea>`,
          )}
          ${field(
            "contact",
            "Your e-mail (optional, if you want an answer)",
            (invalid) =>
              html`<input
                id="contact"
                name="contact"
                type="email"
                autocomplete="email"
                maxlength="320"
                value="${report?.contact ?? ""}"
                ${invalid}
              />`,
          )}
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
      chrome,
    );
  }

  const sendPage = (ctx: Context, body: string) => {
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    ctx.body = body;
  };

  router.get(koa(ROUTES.verify), async (ctx) => {
    // `?handle=` too: the staff app's profile page links that way.
    const asked = typeof ctx.query.q === "string" ? ctx.query.q : ctx.query.handle;
    const input = typeof asked === "string" ? asked.trim().slice(0, 2048) : "";
    sendPage(ctx, verifyPage(input, await answerFor(ctx, input)));
  });

  // The shareable link (an e-mail signature's): the same answer for one of our handles.
  router.get(koa(ROUTES.verifyHandle), async (ctx) => {
    const handle = String(ctx.params.handle ?? "").slice(0, 64);
    const input = `@${handle}@${config.handleDomain}`;
    sendPage(ctx, verifyPage(input, await answerFor(ctx, input)));
  });

  router.post(koa(ROUTES.verifyReport), async (ctx) => {
    await limited(ctx.ip);
    const form = await formBody(ctx);
    const values = {
      reported: form.get("reported") ?? "",
      details: form.get("details") ?? "",
      contact: form.get("contact") ?? "",
    };
    const r = await reports.submit({
      reported: values.reported,
      details: values.details,
      contact: values.contact || undefined,
      source: ctx.ip,
    });
    if (!r.ok) {
      // The page again, with what was typed and the error beside its field (not a bare 400).
      sendPage(ctx, verifyPage("", html``, { ...values, error: { field: r.field, message: r.message } }));
      ctx.status = 400;
      return;
    }
    sendPage(
      ctx,
      page(
        "Thank you",
        html`<h1>Thank you</h1>
          <p class="notice notice-success" role="status">
            ${config.orgName}'s security team has your report (reference <code>${r.id}</code>).
          </p>
          <p><a href="${ROUTES.verify}">Check another account</a></p>`,
        { ...chrome, nav: chrome.nav.map((l) => ({ ...l, current: false })) },
      ),
    );
  });
  return router;
}
