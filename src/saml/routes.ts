/**
 * `/saml/metadata`, `/saml/login`, `/saml/acs`, `/saml/slo` (DESIGN: HTTP). A refused message is
 * logged with its precise reason and the person gets a page saying what to do next — never a 500,
 * never the details an attacker could tune a forgery with.
 */
import { koa, ROUTES } from "../http/routes.ts";
import { randomBytes } from "node:crypto";
import type Router from "@koa/router";
import { caseSensitiveRouter } from "../http/paths.ts";
import type { Context } from "koa";
import type { Config } from "../config.ts";
import type { Directory } from "../identity/directory.ts";
import { fail } from "../http/errors.ts";
import { formBody } from "../http/form.ts";
import type { RateLimits } from "../http/rate-limit.ts";
import { html, page } from "../http/html.ts";
import { type SessionCookie, setSessionCookie } from "../sessions/middleware.ts";
import { logger } from "../logging.ts";
import { matchPerson } from "./match.ts";
import type { Sessions } from "../sessions/sessions.ts";
import type { ServiceProvider } from "./sp.ts";
import { safeNext } from "./sp.ts";
import { reject, SamlRejection } from "./xml.ts";
import type { TestOutcome, TestSignIns } from "./test-sign-in.ts";

const log = logger("saml");

/** The nonce cookie that ties an SP-initiated sign-in to its browser (https only). */
const BROWSER_COOKIE = "herald_saml_browser";

interface Explanation {
  readonly status: number;
  readonly title: string;
  readonly text: string;
}

function explain(code: string, config: Config): Explanation {
  switch (code) {
    case "not-configured":
      return {
        status: 503,
        title: "Single sign-on is not set up yet",
        text: `${config.orgName}'s administrator has not connected Herald to the company identity provider. Ask them to connect it at /admin/connect (see docs/saml.md).`,
      };
    case "status":
      return {
        status: 401,
        title: "The identity provider did not sign you in",
        text: "Your company's sign-in service refused or cancelled the sign-in. Try again; if it keeps happening, ask IT whether you are assigned to Herald.",
      };
    case "unknown":
      return {
        status: 403,
        title: "You are not in Herald's directory",
        text: `You signed in at the identity provider, but ${config.orgName}'s directory has not provisioned you to Herald. Ask IT to assign the Herald app to you; it will work a minute later.`,
      };
    case "inactive":
      return {
        status: 403,
        title: "Your account is deactivated",
        text: `${config.orgName}'s directory marks this account as no longer active, so it cannot sign in to Herald.`,
      };
    case "ambiguous":
      return {
        status: 403,
        title: "Your sign-in matches several people",
        text: "The identity provider's answer fits more than one person in the directory. Ask IT to fix the duplicate; nothing was signed in.",
      };
    case "no-value":
      return {
        status: 403,
        title: "The identity provider left out who you are",
        text: "Its answer lacks the attribute Herald matches people on (HERALD_SAML_MATCH). Ask IT to check the attribute mapping (docs/saml.md).",
      };
    case "expired":
    case "replay":
    case "in-response-to":
    case "not-yet-valid":
      return {
        status: 400,
        title: "This sign-in has expired or was already used",
        text: "Sign-in answers work once and only for a few minutes. Start again from the sign-in page.",
      };
    case "test-unknown":
      return {
        status: 400,
        title: "This test sign-in is over",
        text: "It expired or already has its result. Start another test from the identity provider page (/admin/connect).",
      };
    case "browser":
      return {
        status: 400,
        title: "Finish signing in where you started",
        text: "This sign-in was started in another browser, or this browser blocked Herald's cookie. Start again from the sign-in page in this browser.",
      };
    case "unsolicited":
      return {
        status: 400,
        title: "Start signing in from Herald",
        text: "Herald only accepts sign-ins it started itself. Use the sign-in page below instead of the tile in your company portal.",
      };
    default:
      return {
        status: 400,
        title: "The sign-in could not be verified",
        text: "Herald refused the answer from the identity provider. Start again from the sign-in page; if it keeps happening, give your administrator the reference below.",
      };
  }
}

function refusal(ctx: Context, config: Config, code: string, reason: string): void {
  const requestId = String(ctx.state.requestId ?? "");
  log.warn("SAML sign-in refused ({code}): {reason}", { code, reason, requestId });
  const e = explain(code, config);
  ctx.status = e.status;
  ctx.type = "text/html; charset=utf-8";
  ctx.set("Cache-Control", "no-store");
  ctx.body = page(
    e.title,
    html`<h1>${e.title}</h1>
      <p>${e.text}</p>
      <p><a href="/login">Back to the sign-in page</a></p>
      <p class="muted">Reference: <code>${requestId}</code> (${code})</p>`,
  );
}

/**
 * On https, marks this browser: the IdP's answer is accepted only from it (login CSRF). The
 * answer arrives as a cross-site POST, so the cookie must be SameSite=None (hence Secure).
 * Returns the nonce to remember with the request (undefined on http).
 */
export function markBrowser(ctx: Context, cookie: SessionCookie): string | undefined {
  if (!cookie.secure) return undefined;
  const nonce = randomBytes(24).toString("base64url");
  ctx.cookies.secure = true;
  ctx.cookies.set(BROWSER_COOKIE, nonce, {
    httpOnly: true,
    secure: true,
    sameSite: "none",
    path: "/saml/acs",
    maxAge: 10 * 60_000,
    overwrite: true,
  });
  return nonce;
}

export function samlRoutes(deps: {
  config: Config;
  directory: Directory;
  sp: ServiceProvider;
  sessions: Sessions;
  cookie: SessionCookie;
  limits: RateLimits;
  /** Test sign-ins started at /admin/connect: their answers sign nobody in. */
  tests?: TestSignIns;
}): Router {
  const { config, sp, sessions, cookie } = deps;
  const router = caseSensitiveRouter({ prefix: ROUTES.saml.prefix });
  // Verifying a message costs a schema validation and RSA work: a per-client budget keeps anyone
  // from burning the CPU with junk (generous for people signing in, even behind one NAT).
  const limiter = deps.limits.limiter("saml", {
    ratePerSecond: config.saml.ratePerSecond,
    burst: config.saml.burst,
  });
  router.use(async (ctx, next) => {
    if (ctx.path === ROUTES.saml.prefix + ROUTES.saml.metadata) return next();
    const d = await limiter.take(ctx.ip);
    if (!d.allowed) {
      ctx.set("Retry-After", String(d.retryAfterSeconds));
      fail(429, "Too many sign-in attempts from this address; wait a moment and try again.");
    }
    return next();
  });

  router.get(koa(ROUTES.saml.metadata), (ctx) => {
    ctx.type = "application/samlmetadata+xml";
    ctx.set("Content-Disposition", 'inline; filename="herald-sp-metadata.xml"');
    ctx.body = sp.metadataXml();
  });

  router.get(koa(ROUTES.saml.login), async (ctx) => {
    const next = safeNext(typeof ctx.query.next === "string" ? ctx.query.next : "/app");
    try {
      ctx.set("Cache-Control", "no-store");
      ctx.redirect(await sp.startLogin(next, markBrowser(ctx, cookie)));
    } catch (e) {
      if (!(e instanceof SamlRejection)) throw e;
      refusal(ctx, config, e.code, e.message);
    }
  });

  router.post(koa(ROUTES.saml.acs), async (ctx) => {
    const form = await formBody(ctx, 2_000_000);
    const message = form.get("SAMLResponse");
    if (!message) return refusal(ctx, config, "structure", "the POST carries no SAMLResponse");
    const testId = deps.tests?.idOf(form.get("RelayState"));
    if (deps.tests && testId) return testAnswer(ctx, deps.tests, testId, message, form.get("RelayState"));
    try {
      const login = await sp.acceptResponse(
        message,
        form.get("RelayState") ?? undefined,
        ctx.cookies.get(BROWSER_COOKIE) ?? undefined,
      );
      const match = await matchPerson(deps.directory, config.saml.match, login);
      if (!match.ok)
        return refusal(ctx, config, match.reason, `no active person for "${match.value}" (${match.reason})`);
      const { token, expiresAt } = await sessions.create(match.person.id, {
        method: "saml",
        userAgent: ctx.get("user-agent"),
        ip: ctx.ip,
        samlNameId: login.nameId,
        samlSessionIndex: login.sessionIndex,
      });
      log.info("Signed in {userName} through SAML{how}.", {
        userName: match.person.userName,
        how: login.idpInitiated ? " (IdP-initiated)" : "",
      });
      setSessionCookie(ctx, cookie, token, expiresAt);
      ctx.status = 303;
      ctx.redirect(login.next);
    } catch (e) {
      if (!(e instanceof SamlRejection)) throw e;
      refusal(ctx, config, e.code, e.message);
    }
  });

  /**
   * The answer to a test sign-in (/admin/connect): verified by the same acceptResponse, matched by
   * the same rule, recorded (redacted) for the administrator who started it — and nobody is signed
   * in: the browser goes to the result page with whatever session it already had.
   */
  async function testAnswer(
    ctx: Context,
    tests: TestSignIns,
    testId: string,
    message: string,
    relayState: string | null,
  ): Promise<void> {
    const pending = await tests.get(testId);
    if (!pending || pending.outcome !== null)
      return refusal(ctx, config, "test-unknown", `test sign-in ${testId} is unknown, finished or expired`);
    const at = new Date().toISOString();
    let outcome: TestOutcome;
    try {
      const login = await sp.acceptResponse(
        message,
        relayState ?? undefined,
        ctx.cookies.get(BROWSER_COOKIE),
      );
      if (login.idpInitiated || login.next !== tests.path(testId))
        reject("in-response-to", "this answer belongs to another sign-in, not to this test");
      const match = await matchPerson(deps.directory, config.saml.match, login);
      outcome = {
        ok: true,
        issuer: login.issuer,
        nameId: login.nameId,
        nameIdFormat: login.nameIdFormat ?? null,
        attributes: [...login.attributes],
        match: match.ok
          ? {
              ok: true,
              personId: match.person.id,
              userName: match.person.userName,
              displayName: match.person.displayName ?? null,
            }
          : { ok: false, reason: match.reason, value: match.value },
        at,
      };
    } catch (e) {
      if (!(e instanceof SamlRejection)) throw e;
      outcome = { ok: false, code: e.code, message: e.message, at };
    }
    log.info("Test sign-in {testId}: {result}", {
      testId,
      result: outcome.ok
        ? outcome.match.ok
          ? "matched"
          : `no match (${outcome.match.reason})`
        : outcome.code,
    });
    if (!(await tests.record(testId, outcome)))
      return refusal(ctx, config, "test-unknown", `test sign-in ${testId} finished meanwhile`);
    ctx.set("Cache-Control", "no-store");
    ctx.status = 303;
    ctx.redirect(tests.path(testId));
  }

  const slo = async (ctx: Context) => {
    const body = ctx.method === "POST" ? await formBody(ctx, 2_000_000) : undefined;
    try {
      const outcome = await sp.handleSlo({ query: ctx.querystring, body }, (nameId, indexes) =>
        sessions.revokeSaml(nameId, indexes),
      );
      ctx.set("Cache-Control", "no-store");
      if (outcome.kind === "request") {
        log.info("The IdP ended {count} session(s).", { count: outcome.sessionsEnded });
        ctx.redirect(outcome.redirect);
        return;
      }
      ctx.type = "text/html; charset=utf-8";
      ctx.body = page(
        "Signed out",
        html`<h1>You are signed out</h1>
          <p>
            ${
              outcome.success
                ? "You are signed out of Herald and of the company's identity provider."
                : "You are signed out of Herald. The identity provider reported a problem ending its own session; close the browser to be sure."
            }
          </p>
          <p><a href="/login">Sign in again</a></p>`,
      );
    } catch (e) {
      if (!(e instanceof SamlRejection)) throw e;
      refusal(ctx, config, e.code, e.message);
    }
  };
  router.get(koa(ROUTES.saml.slo), slo);
  router.post(koa(ROUTES.saml.slo), slo);
  return router;
}
