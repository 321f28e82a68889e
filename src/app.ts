/**
 * The Koa application. Order matters: the error boundary (with the request's id and access log)
 * first → security headers → the in-memory fast paths → one spelling per path → health →
 * verification → sessions → Fedify (before any body parser: it verifies signatures over the raw
 * body) → routes.
 */
import { ROUTES } from "./http/routes.ts";
import Koa from "koa";
import { cachedDocuments, fedifyMiddleware } from "./federation/koa.ts";
import { errorBoundary, fail } from "./http/errors.ts";
import { healthRoute, readyRoute } from "./http/health.ts";
import { canonicalPaths } from "./http/paths.ts";
import { createRateLimits } from "./http/rate-limit.ts";
import { pageCsp, securityHeaders } from "./http/request-context.ts";
import { sessionCookie, sessionMiddleware } from "./sessions/middleware.ts";
import { cachedVerifications, verifyRoutes } from "./verify/routes.ts";
import { sessionRoutes } from "./web/session-routes.ts";
import { scimRoutes } from "./scim/routes.ts";
import type { Services } from "./services.ts";
import type { SamlRuntime } from "./saml/index.ts";
import { samlRoutes } from "./saml/routes.ts";
import { assetRoutes } from "./web/assets.ts";
import { homeRoutes } from "./web/home.ts";
import { errorChrome } from "./web/public.ts";
import { staffRoutes } from "./web/staff.ts";
import { adminTokenRoutes, appTokenPages } from "./web/app-tokens.ts";
import { adminRoutes } from "./web/admin.ts";
import { complianceRoutes } from "./web/compliance.ts";
import { adminKit } from "./web/admin-kit.ts";
import { directoryRoutes } from "./web/directory.ts";
import { insightsRoutes } from "./web/insights.ts";
import { provisioningRoutes } from "./web/provisioning.ts";
import { createRoster } from "./identity/roster.ts";
import { connectRoutes } from "./web/connect.ts";
import { profileRoutes } from "./web/profile.ts";
import { wellKnownRoutes } from "./federation/well-known.ts";
import { createApiAuth } from "./api/auth.ts";
import { oauthRoutes } from "./api/oauth-routes.ts";
import { apiRoutes } from "./api/routes.ts";
import { mediaApiRoutes } from "./api/media-routes.ts";
import { mediaFileRoutes } from "./media/routes.ts";
import { apiSlice2 } from "./api/slice2.ts";

export function createApp(services: Services, saml?: SamlRuntime): Koa {
  const { config, db } = services;
  // Behind one trusted proxy, the client is the address it appended: the rightmost in
  // X-Forwarded-For (Koa's default, the leftmost, is whatever the client wrote there).
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  // The boundary handles and logs every error; Koa's default printer would duplicate them.
  app.silent = true;
  // First: nothing below escapes it (koajs/koa docs/error-handling.md). Its pages have the header.
  app.use(errorBoundary({ chrome: errorChrome(config) }));
  // An http logo (development only, src/config.ts) is the one image source beyond https.
  const logo = config.orgLogoUrl ? new URL(config.orgLogoUrl) : undefined;
  app.use(
    securityHeaders({
      hsts: config.mode === "production" && config.origin.protocol === "https:",
      pageCsp: pageCsp(logo?.protocol === "http:" ? [logo.origin] : []),
    }),
  );
  // Hot public documents from memory (most of bare Koa's throughput; DESIGN). Cache hits are not
  // access-logged; misses go through the whole chain and are.
  app.use(cachedDocuments(services.documents));
  // Counted per process or shared through the database (HERALD_RATE_LIMIT_STORE).
  const limits = createRateLimits(config.rateLimitStore, db);
  // The verification API's answers are hot and public (DESIGN: most of bare Koa's throughput): a
  // shared count would put a database write on each. Per process; its email lookups, the
  // enumeration risk, are shared (decision 0011).
  const verifyLimiter = limits.limiter(
    "verify",
    { ratePerSecond: config.verify.ratePerSecond, burst: config.verify.burst },
    { scope: "process" },
  );
  app.use(cachedVerifications(services.verifier, verifyLimiter));
  app.use((ctx, next) => {
    if (ctx.path !== ROUTES.health) services.activity.lastRequestAt = performance.now();
    return next();
  });
  // Before any guard: one spelling per path (src/http/paths.ts).
  app.use(canonicalPaths());
  app.use(healthRoute(db, services.health));
  app.use(readyRoute(db, services.health));
  // The Mastodon client API and its OAuth (src/api/): every call re-decides the token's person.
  const apiAuth = createApiAuth({
    oauth: services.oauth,
    directory: services.directory,
    accounts: services.accounts,
    authz: services.authz,
  });
  // Per process whatever the store (decision 0011, amended for #15): the client API's limit guards
  // CPU per token, and a committed write per call would cost more than the call (bench/api).
  const apiLimiter = limits.limiter(
    "api",
    { ratePerSecond: config.api.ratePerSecond, burst: config.api.burst },
    { scope: "process" },
  );
  // The client API's calls carry bearer tokens: no session, no Fedify, no SCIM, so its router
  // comes before theirs (each request meets fewer middlewares; bench/api). Its OAuth pages, which
  // need the session, stay below.
  app.use(
    apiRoutes({
      config,
      db,
      auth: apiAuth,
      oauth: services.oauth,
      accounts: services.accounts,
      directory: services.directory,
      posting: services.posting,
      drafts: services.drafts,
      limiter: apiLimiter,
      maxBodyBytes: config.api.maxBodyBytes,
      ...apiSlice2(services, apiAuth),
    }).routes(),
  );
  // The stylesheet and the favicon: no session, no Fedify.
  app.use(assetRoutes().routes());
  // Pictures' files (src/media/routes.ts): no session, no Fedify.
  app.use(mediaFileRoutes(services.media).routes());
  // Public verification goes early: it needs neither sessions nor Fedify.
  const verification = verifyRoutes(config, services.verifier, limits, verifyLimiter, services.reports);
  app.use(verification.routes());
  const cookie = sessionCookie(config.origin);
  app.use(sessionMiddleware(services.sessions, cookie));
  app.use(
    fedifyMiddleware(
      services.federation,
      config.origin,
      {
        maxBodyBytes: config.inbox.maxBodyBytes,
        limiter: limits.limiter("inbox", {
          ratePerSecond: config.inbox.ratePerSecond,
          burst: config.inbox.burst,
        }),
      },
      config.accounts.attributionDomains,
      services.documents,
    ),
  );
  const scim = scimRoutes({
    service: services.scim,
    tokens: services.tokens,
    limiter: limits.limiter("scim", { ratePerSecond: config.scim.ratePerSecond, burst: config.scim.burst }),
    authFailureLimiter: limits.limiter("scim-auth-failure", { ratePerSecond: 5, burst: 50 }),
    maxBodyBytes: config.scim.maxBodyBytes,
    requestLog: services.scimLog,
  });
  app.use(scim);
  app.use(wellKnownRoutes(config.origin).routes());
  app.use(
    oauthRoutes({
      config,
      oauth: services.oauth,
      auth: apiAuth,
      authz: services.authz,
      sessions: services.sessions,
      oauthLimiter: limits.limiter("oauth", {
        ratePerSecond: config.api.oauthRatePerSecond,
        burst: config.api.oauthBurst,
      }),
      apiLimiter,
      maxBodyBytes: config.api.maxBodyBytes,
    }).routes(),
  );
  app.use(
    mediaApiRoutes({
      config,
      auth: apiAuth,
      media: services.media,
      limiter: apiLimiter,
      maxBodyBytes: config.api.maxBodyBytes,
    }).routes(),
  );
  if (saml) {
    app.use(
      samlRoutes({
        config,
        directory: services.directory,
        sp: saml.sp,
        sessions: services.sessions,
        cookie,
        limits,
        tests: saml.tests,
      }).routes(),
    );
    if (saml.devIdp) app.use(saml.devIdp.router.routes());
  }
  const signIn = sessionRoutes(config, services.sessions, services.authz, cookie, saml?.sp);
  app.use(signIn.routes());
  const tokenPages = appTokenPages({
    config,
    oauth: services.oauth,
    accounts: services.accounts,
    directory: services.directory,
    sessions: services.sessions,
  });
  app.use(
    staffRoutes({
      config,
      tokens: tokenPages,
      media: services.media,
      db,
      directory: services.directory,
      accounts: services.accounts,
      posting: services.posting,
      sessions: services.sessions,
      authz: services.authz,
      drafts: services.drafts,
    }).routes(),
  );
  // The admin pages' shell: its navigation lists only what Casbin lets the person open.
  const kit = adminKit({ config, authz: services.authz, accounts: services.accounts });
  app.use(
    adminRoutes({
      config,
      db,
      accounts: services.accounts,
      directory: services.directory,
      authz: services.authz,
      sessions: services.sessions,
      reports: services.reports,
      kit,
    }).routes(),
  );
  // Connecting the identity provider (/admin/connect): org admins, through pages alone.
  app.use(
    connectRoutes({
      config,
      db,
      authz: services.authz,
      sessions: services.sessions,
      tokens: services.tokens,
      accounts: services.accounts,
      directory: services.directory,
      cookie,
      saml,
    }).routes(),
  );
  // The archive's search and exports, read-only (issue #16), under /admin beside the admin pages.
  app.use(
    complianceRoutes({
      config,
      db,
      accounts: services.accounts,
      directory: services.directory,
      authz: services.authz,
      sessions: services.sessions,
      orgSigningKeyPem: services.secrets?.orgSigningKeyPem,
    }).routes(),
  );
  // The admin console (issue 17): the directory, provisioning health, insights.
  const roster = createRoster(db, { eligibleGroups: config.accounts.eligibleGroups });
  app.use(
    directoryRoutes({
      config,
      db,
      directory: services.directory,
      roster,
      authz: services.authz,
      sessions: services.sessions,
      oauth: services.oauth,
      accounts: services.accounts,
      kit,
    }).routes(),
  );
  app.use(adminTokenRoutes({ pages: tokenPages, kit }).routes());
  app.use(provisioningRoutes({ tokens: services.tokens, scimLog: services.scimLog, roster, kit }).routes());
  app.use(insightsRoutes({ db, authz: services.authz, accounts: services.accounts, kit }).routes());
  const profiles = profileRoutes(config, db, services.accounts, services.directory);
  app.use(profiles.routes());
  const home = homeRoutes(config, services.directory, services.accounts);
  app.use(home.routes());
  // A path that another method's route takes (POST /api/v1/notifications/CLEAR is
  // GET /api/v1/notifications/:id's) is 405 with the Allow header RFC 9110 §15.5.6 requires; the
  // router's throwing variant drops that header, so its answer is rethrown here with it.
  // Koa's and the router's context types differ only in what the router adds itself.
  const allowedMethods = home.allowedMethods() as Koa.Middleware;
  app.use(async (ctx, next) => {
    await allowedMethods(ctx, next);
    if ((ctx.status === 405 || ctx.status === 501) && ctx.body == null) {
      const allow = ctx.response.get("Allow");
      fail(ctx.status, `${ctx.path} does not take ${ctx.method}; it takes ${allow}.`, { Allow: allow });
    }
  });
  return app;
}

/**
 * A worker's HTTP: only its probes (`/healthz`, `/readyz`), for the orchestrator; everything else
 * is 404 with a reason, so a worker put behind the balancer by mistake is noticed at once.
 */
export function createProbeApp(services: Services): Koa {
  const app = new Koa({ proxy: services.config.trustProxy, maxIpsCount: 1 });
  app.silent = true;
  app.use(errorBoundary());
  app.use(securityHeaders({ hsts: false }));
  app.use(canonicalPaths());
  app.use(healthRoute(services.db, services.health));
  app.use(readyRoute(services.db, services.health));
  app.use((ctx) => {
    ctx.throw(
      404,
      "This is a Herald worker: it serves /healthz and /readyz only (run `herald web` for the rest).",
    );
  });
  return app;
}
