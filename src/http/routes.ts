/**
 * Every path Herald serves, in one table: the Koa routers, Fedify's dispatchers and the guards
 * all derive their patterns from here, so a path is spelt once (the path rule in paths.ts then
 * makes sure it is served in that one spelling). Patterns use URI-template parameters
 * (`{handle}`, RFC 6570 level 1), which Fedify takes as they are; `koa()` turns them into the
 * router's `:handle`. Groups mounted under a prefix list their paths relative to it.
 */

export const ROUTES = {
  home: "/",
  health: "/healthz",
  ready: "/readyz",
  login: "/login",
  loginLink: "/login/link/{token}",
  logout: "/logout",
  me: "/api/me",
  verify: "/verify",
  verifyReport: "/verify/report",
  /** The shareable verification link (an e-mail signature's): `/verify/@jane`. */
  verifyHandle: "/verify/@{handle}",
  /** Static assets (the stylesheet) at content-hashed names, and the favicon. */
  asset: "/assets/{name}",
  favicon: "/favicon.ico",
  verification: "/api/verification",
  jwks: "/.well-known/jwks.json",
  hostMeta: "/.well-known/host-meta",
  hostMetaJson: "/.well-known/host-meta.json",
  webfinger: "/.well-known/webfinger",
  nodeinfoLink: "/.well-known/nodeinfo",
  nodeinfo: "/nodeinfo/2.1",
  profile: "/@{handle}",
  profilePost: "/@{handle}/{postId}",
  /** The organization's public posts with a hashtag (the links renderText puts in posts). */
  tag: "/tags/{tag}",
  /** ActivityPub (Fedify). */
  ap: {
    actor: "/ap/actors/{identifier}",
    inbox: "/ap/actors/{identifier}/inbox",
    sharedInbox: "/ap/inbox",
    outbox: "/ap/actors/{identifier}/outbox",
    followers: "/ap/actors/{identifier}/followers",
    following: "/ap/actors/{identifier}/following",
    note: "/ap/posts/{id}",
    /** The organization's verified accounts (its actor's `streams`). */
    verified: "/ap/actors/{identifier}/verified",
  },
  /** The staff app (signed in). */
  app: {
    prefix: "/app",
    home: "/",
    posts: "/posts",
    decideDraft: "/drafts/{id}/decide",
    deletePost: "/posts/{id}/delete",
    inbox: "/inbox",
    profile: "/profile",
    /** The apps the person authorized (src/web/app-tokens.ts). */
    tokens: "/tokens",
    revokeToken: "/tokens/{id}/revoke",
  },
  /** Admin pages (org admins, compliance officers). */
  admin: {
    prefix: "/admin",
    home: "/",
    accounts: "/accounts",
    account: "/accounts/{id}",
    grants: "/grants",
    revokeGrant: "/grants/{id}/revoke",
    audit: "/audit",
    reports: "/reports",
    /** The archive, read-only (src/web/compliance.ts): search, and exports of a search. */
    archive: "/archive",
    archiveExport: "/archive/export",
    /** The admin console (issue 17): people (src/web/directory.ts), SCIM health, insights. */
    directory: "/directory",
    person: "/directory/{id}",
    personRelink: "/directory/{id}/relink",
    personSessions: "/directory/{id}/end-sessions",
    personTokens: "/directory/{id}/revoke-tokens",
    personErase: "/directory/{id}/erase",
    provisioning: "/provisioning",
    /** Every client-API token (src/web/app-tokens.ts): listed and revoked by administrators. */
    appTokens: "/app-tokens",
    revokeAppToken: "/app-tokens/{id}/revoke",
    insights: "/insights",
    insightsCsv: "/insights/export.csv",
    /** Connecting the identity provider (src/web/connect.ts): SAML metadata, SCIM tokens, test sign-in. */
    connect: "/connect",
    connectMetadata: "/connect/metadata",
    connectMetadataRemove: "/connect/metadata/remove",
    connectTokens: "/connect/tokens",
    connectRevokeToken: "/connect/tokens/{name}/revoke",
    connectTest: "/connect/test",
    connectTestResult: "/connect/test/{id}",
    /** A step-by-step guide per identity provider (okta, entra, google, keycloak, onelogin). */
    connectGuide: "/connect/{idp}",
  },
  /** The SAML service provider. */
  saml: { prefix: "/saml", metadata: "/metadata", login: "/login", acs: "/acs", slo: "/slo" },
  /** The development IdP (never in production). */
  devIdp: { prefix: "/dev-idp", metadata: "/metadata", sso: "/sso", slo: "/slo" },
  /** OAuth 2 for the client API (src/api/), as Mastodon publishes it. */
  oauth: {
    metadata: "/.well-known/oauth-authorization-server",
    authorize: "/oauth/authorize",
    token: "/oauth/token",
    revoke: "/oauth/revoke",
  },
  /** The Mastodon client API (src/api/): paths as docs.joinmastodon.org spells them. */
  mastodon: {
    apps: "/api/v1/apps",
    appCredentials: "/api/v1/apps/verify_credentials",
    instance: "/api/v1/instance",
    instanceV2: "/api/v2/instance",
    verifyCredentials: "/api/v1/accounts/verify_credentials",
    accountLookup: "/api/v1/accounts/lookup",
    account: "/api/v1/accounts/{id}",
    accountStatuses: "/api/v1/accounts/{id}/statuses",
    statuses: "/api/v1/statuses",
    status: "/api/v1/statuses/{id}",
    homeTimeline: "/api/v1/timelines/home",
    publicTimeline: "/api/v1/timelines/public",
    customEmojis: "/api/v1/custom_emojis",
    filters: "/api/v1/filters",
    filtersV2: "/api/v2/filters",
    lists: "/api/v1/lists",
    announcements: "/api/v1/announcements",
    trends: "/api/v1/trends",
    trendsTags: "/api/v1/trends/tags",
    trendsStatuses: "/api/v1/trends/statuses",
    trendsLinks: "/api/v1/trends/links",
    preferences: "/api/v1/preferences",
    markers: "/api/v1/markers",
  },
  /** Pictures (src/media/): their files, and the client API's uploads (docs.joinmastodon.org/methods/media/). */
  media: {
    file: "/media/{id}/{name}",
    upload: "/api/v1/media",
    uploadV2: "/api/v2/media",
    one: "/api/v1/media/{id}",
  },
  /** SCIM 2.0 (RFC 7644 §3.2): endpoint names as the RFC spells them. */
  scim: {
    prefix: "/scim/v2",
    serviceProviderConfig: "/ServiceProviderConfig",
    resourceTypes: "/ResourceTypes",
    resourceType: "/ResourceTypes/{name}",
    schemas: "/Schemas",
    schema: "/Schemas/{id}",
    users: "/Users",
    usersSearch: "/Users/.search",
    user: "/Users/{id}",
    groups: "/Groups",
    groupsSearch: "/Groups/.search",
    group: "/Groups/{id}",
    bulk: "/Bulk",
    search: "/.search",
    me: "/Me",
  },
} as const;

/** A table pattern as a Koa router path: `/@{handle}` → `/@:handle`. */
export function koa(pattern: string): string {
  return pattern.replace(/\{(\w+)\}/g, ":$1");
}

/** A concrete path: the pattern with its parameters filled in (percent-encoded). */
export function href(pattern: string, params: Record<string, string> = {}): string {
  return pattern.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`href(${pattern}): no value for {${name}}`);
    return encodeURIComponent(value);
  });
}

/**
 * A RegExp that matches exactly the paths of the given patterns, a parameter standing for one
 * non-empty segment (as the routers and Fedify match them); `param` narrows what a parameter may be.
 */
export function matcher(patterns: readonly string[], param = "[^/]+"): RegExp {
  const one = (p: string) =>
    p
      .split(/(\{\w+\})/)
      .map((part) => (/^\{\w+\}$/.test(part) ? param : part.replace(/[.*+?^$()|[\]\\]/g, "\\$&")))
      .join("");
  return new RegExp(`^(?:${patterns.map(one).join("|")})$`);
}
