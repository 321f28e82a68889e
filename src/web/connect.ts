/**
 * `/admin/connect`: connecting the company's identity provider through pages alone, for those
 * Casbin allows `connect-idp` on the organization (org admins). The values to paste (SCIM base URL,
 * SP entity ID, ACS, metadata URL, NameID) with a guide per IdP; SCIM tokens made, listed and
 * revoked through the same service as `herald token create` (a new token is shown once, on the
 * answer to the form that made it); the IdP's metadata uploaded, pasted or given as a URL, checked
 * by the same strict parser as HERALD_SAML_IDP_METADATA (which still wins when set) and stored in
 * the database, where every process picks it up; and a test sign-in that makes a real round trip
 * to the IdP without touching the administrator's own session. Every form carries the session's
 * CSRF token; every change is audited by the service that makes it.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import { type Authz, ORG } from "../authz/authz.ts";
import type { Config } from "../config.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import { fail } from "../http/errors.ts";
import { formBody } from "../http/form.ts";
import { type Html, html, page, timeTag } from "../http/html.ts";
import { caseSensitiveRouter } from "../http/paths.ts";
import { href, koa, ROUTES } from "../http/routes.ts";
import type { Directory } from "../identity/directory.ts";
import type { SamlRuntime } from "../saml/index.ts";
import { markBrowser } from "../saml/routes.ts";
import { certificateInfo, MAX_METADATA_CHARS } from "../saml/stored.ts";
import { outcomeOf, type TestOutcome } from "../saml/test-sign-in.ts";
import { SamlRejection } from "../saml/xml.ts";
import type { TokenService } from "../scim/tokens.ts";
import { csrfForm, requireSession, type SessionCookie } from "../sessions/middleware.ts";
import type { ActiveSession, Sessions } from "../sessions/sessions.ts";
import { auditNames } from "./audit-view.ts";
import { connectValues, type ConnectValues, GUIDES, guideOf, matchSentence } from "./connect-guides.ts";
import { orgIdentity } from "./design.ts";

const A = ROUTES.admin;
const at = (pattern: string, params: Record<string, string> = {}) => A.prefix + href(pattern, params);
/** Two copies of the largest metadata (a file and the text box) and the rest of the form. */
const MAX_FORM_BYTES = 2 * MAX_METADATA_CHARS + 64_000;

/** What the metadata form sent, kept for the page that refuses it. */
interface MetadataInput {
  readonly xml: string;
  readonly url: string;
  readonly error: { readonly field: "xml" | "url"; readonly message: string };
}

interface TokenInput {
  readonly name: string;
  readonly error: string;
}

/** A multipart or urlencoded form, read within a size bound. */
interface ReadForm {
  get(name: string): string | undefined;
  /** An uploaded file's text, if one was chosen. */
  file(name: string): Promise<string | undefined>;
}

async function readForm(ctx: Context): Promise<ReadForm> {
  const type = ctx.get("content-type");
  if (!type.toLowerCase().startsWith("multipart/form-data")) {
    const form = await formBody(ctx, MAX_FORM_BYTES);
    return { get: (n) => form.get(n) ?? undefined, file: async () => undefined };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) fail(413, "The form is too large: metadata may be at most 2 MB.");
    chunks.push(chunk);
  }
  let data: FormData;
  try {
    data = await new Response(Buffer.concat(chunks), { headers: { "content-type": type } }).formData();
  } catch {
    fail(400, "The form could not be read (a malformed multipart body).");
  }
  return {
    get: (n) => {
      const v = data.get(n);
      return typeof v === "string" ? v : undefined;
    },
    async file(n) {
      const v = data.get(n);
      if (v === null || typeof v === "string" || v.size === 0) return undefined;
      return v.text();
    },
  };
}

/** What a refused test sign-in means, in the words an IdP administrator acts on. */
const REASONS: Record<string, string> = {
  "bad-signature":
    "Wrong certificate: the answer is signed with a certificate that is not in the metadata Herald has. Give Herald the identity provider's current metadata (it may have rolled its signing key).",
  unsigned:
    "The identity provider signed neither the response nor the assertion: turn on assertion (or response) signing.",
  audience:
    "Wrong audience: set the app's Audience / Entity ID / Identifier to Herald's SP entity ID shown on the connect page.",
  recipient:
    "Wrong recipient: set the app's ACS / Reply / Single sign-on URL to Herald's ACS URL shown on the connect page.",
  destination: "Wrong destination: the response is addressed to another URL than Herald's ACS URL.",
  issuer:
    "Wrong issuer: the answer comes from another identity provider than the one whose metadata Herald has.",
  expired:
    "Clock skew or a slow round trip: the assertion had already expired when Herald received it. Check the clocks of Herald and the identity provider (HERALD_SAML_CLOCK_DRIFT_SECONDS tolerates a difference).",
  "not-yet-valid":
    "Clock skew: the assertion is not valid yet by Herald's clock. Check the clocks of Herald and the identity provider.",
  status:
    "The identity provider refused or cancelled the sign-in (for example: the person is not assigned to the app).",
  "in-response-to":
    "The answer does not belong to this test (started elsewhere, already used, or expired). Start another test.",
  replay: "This assertion was already used: start another test.",
  decrypt:
    "The encrypted assertion could not be decrypted with Herald's key: the identity provider must encrypt with the certificate in Herald's metadata.",
  "not-configured": "No identity provider is connected.",
};

const MATCH_REASONS: Record<string, string> = {
  unknown:
    "No such person: nobody in Herald's directory has this value. Provision the person over SCIM first, or map the NameID to the attribute SCIM sends as userName.",
  inactive: "The person it names is deactivated in the directory.",
  ambiguous: "The value fits several active people in the directory.",
  "no-value": "The answer lacks the value Herald matches people on (see HERALD_SAML_MATCH).",
};

export function connectRoutes(deps: {
  config: Config;
  db: Database;
  authz: Authz;
  sessions: Sessions;
  tokens: TokenService;
  accounts: Accounts;
  directory: Directory;
  cookie: SessionCookie;
  saml: SamlRuntime | undefined;
}): Router {
  const { config, authz, sessions, tokens, saml } = deps;
  const router = caseSensitiveRouter({ prefix: A.prefix });
  const values = connectValues(config);
  /** HERALD_SAML_IDP_METADATA wins over anything stored here. */
  const fromEnv = config.saml.idpMetadata !== undefined;

  router.use(requireSession());

  /** Stops with 403 unless Casbin allows connect-idp on the organization. */
  async function requireConnect(ctx: Context): Promise<ActiveSession> {
    const auth = ctx.state.auth as ActiveSession;
    const d = await authz.decide(auth.person, "connect-idp", ORG);
    if (!d.allow)
      fail(
        403,
        "Connecting the identity provider needs the connect-idp permission of an organization admin.",
      );
    return auth;
  }

  const who = (auth: ActiveSession) => `person:${auth.person.id}`;
  const requestId = (ctx: Context) => String(ctx.state.requestId ?? "") || undefined;
  const csrfField = (auth: ActiveSession) => html`<input type="hidden" name="csrf" value="${auth.csrf}" />`;

  function send(ctx: Context, auth: ActiveSession, title: string, body: Html): void {
    ctx.set("Cache-Control", "no-store");
    ctx.type = "text/html; charset=utf-8";
    const links: [string, string][] = [
      [A.prefix, "Administration"],
      [A.prefix + A.connect, "Identity provider"],
      [ROUTES.app.prefix, "Staff app"],
    ];
    ctx.body = page(`${title} · Herald admin`, body, {
      org: { ...orgIdentity(config), href: A.prefix },
      navLabel: "Administration",
      nav: links.map(([to, label]) => ({ href: to, label, current: ctx.path === to })),
      session: { name: auth.person.displayName ?? auth.person.userName, csrf: auth.csrf },
      wide: true,
    });
  }

  const valueList = (v: ConnectValues) =>
    html`<dl class="card">
      <dt>SCIM base URL</dt>
      <dd><code>${v.scimBaseUrl}</code></dd>
      <dt>SP entity ID (audience)</dt>
      <dd><code>${v.entityId}</code></dd>
      <dt>ACS URL (reply URL, HTTP-POST)</dt>
      <dd><code>${v.acsUrl}</code></dd>
      <dt>SP metadata URL</dt>
      <dd><code>${v.metadataUrl}</code></dd>
      <dt>Single logout URL</dt>
      <dd><code>${v.sloUrl}</code></dd>
      <dt>NameID format</dt>
      <dd><code>${v.nameIdFormat}</code></dd>
      <dt>What Herald reads from the sign-in</dt>
      <dd>${matchSentence(v)}</dd>
    </dl>`;

  /** The IdP in use now and where it comes from. */
  function connectionStatus(): Html {
    if (fromEnv) {
      const md = saml?.sp.idp();
      return html`<p class="notice notice-warning" role="status">
          <code>HERALD_SAML_IDP_METADATA</code> is set on the server, so it decides the identity provider and
          wins over anything uploaded here: uploading is turned off. Remove the variable (and restart) to
          manage the connection on this page.
        </p>
        ${md ? idpFacts(md.entityId, md.signingCerts, html`the server's configuration`) : ""}`;
    }
    const c = saml?.stored.connection();
    if (!c)
      return html`<p class="notice notice-warning" role="status">
        No identity provider is connected
        yet${saml?.devIdp ? " (development: the built-in development IdP signs people in)" : ""}. Give Herald
        its metadata below.
      </p>`;
    return idpFacts(
      c.metadata.entityId,
      c.metadata.signingCerts,
      html`${c.sourceUrl ? html`<code>${c.sourceUrl}</code> (fetched again every ${config.saml.metadataRefreshMs / 60_000} minutes)` : "an upload"},
      version ${c.version}, ${timeTag(c.updatedAt)}`,
    );
  }

  function idpFacts(entityId: string, certs: readonly string[], from: Html): Html {
    return html`<dl class="card">
      <dt>Identity provider (entity ID)</dt>
      <dd><code>${entityId}</code></dd>
      <dt>From</dt>
      <dd>${from}</dd>
      <dt>Signing certificates (SHA-256)</dt>
      ${certs.map((pem) => {
        const info = certificateInfo(pem);
        return html`<dd>
          <code>${info.sha256}</code> <span class="muted">valid until ${info.validTo}</span>
        </dd>`;
      })}
    </dl>`;
  }

  function metadataForm(auth: ActiveSession, kept?: MetadataInput): Html {
    /** One labelled control with its hint, and the refusal under it when it was the one refused. */
    const field = (
      id: string,
      label: string,
      hint: Html | string,
      error: string | undefined,
      control: (described: Html) => Html,
    ) =>
      html`<div class="field">
        <label for="${id}">${label}</label>
        ${control(
          error
            ? html`aria-invalid="true" aria-describedby="${id}-error ${id}-hint"`
            : html`aria-describedby="${id}-hint"`,
        )}
        <p class="hint muted" id="${id}-hint">${hint}</p>
        ${error ? html`<p class="error" id="${id}-error">${error}</p>` : ""}
      </div>`;
    const err = (f: MetadataInput["error"]["field"]) =>
      kept?.error.field === f ? kept.error.message : undefined;
    const accept = ".xml,application/xml,text/xml,application/samlmetadata+xml";
    return html`<form method="post" action="${at(A.connectMetadata)}" enctype="multipart/form-data">
      ${csrfField(auth)}
      ${kept ? html`<p class="notice notice-error" role="alert">Not saved: ${kept.error.message}</p>` : ""}
      <fieldset ${fromEnv ? html`disabled` : ""}>
        <legend>The identity provider's SAML metadata</legend>
        ${field(
          "metadata-file",
          "Metadata file (XML)",
          `The file your identity provider offers as "IdP metadata" or "Federation Metadata XML".`,
          undefined,
          (d) => html`<input type="file" id="metadata-file" name="file" accept="${accept}" ${d} />`,
        )}
        ${field(
          "metadata-xml",
          "…or paste the XML",
          "An EntityDescriptor with an IDPSSODescriptor, at most 2 MB.",
          err("xml"),
          (d) =>
            html`<textarea id="metadata-xml" name="xml" rows="6" spellcheck="false" ${d}>
${kept?.xml ?? ""}</textarea>`,
        )}
        ${field(
          "metadata-url",
          "…or its metadata URL",
          `https only in production; Herald fetches it now and every ${config.saml.metadataRefreshMs / 60_000} minutes.`,
          err("url"),
          (d) =>
            html`<input
              type="url"
              id="metadata-url"
              name="url"
              value="${kept?.url ?? ""}"
              maxlength="2048"
              ${d}
            />`,
        )}
        <p><button type="submit">Save the metadata</button></p>
      </fieldset>
    </form>`;
  }

  async function tokenSection(auth: ActiveSession, kept?: TokenInput): Promise<Html> {
    const names = auditNames({ db: deps.db, accounts: deps.accounts, directory: deps.directory });
    const all = await tokens.list();
    const rows: Html[] = [];
    for (const t of all)
      rows.push(
        html`<tr>
          <td class="words"><code>${t.name}</code></td>
          <td>${timeTag(t.createdAt, { relative: false })}</td>
          <td>${t.lastUsedAt ? timeTag(t.lastUsedAt) : html`<span class="muted">never</span>`}</td>
          <td class="words">${await names.actor(t.createdBy)}</td>
          <td>
            ${
              t.revokedAt
                ? html`<span class="badge badge-former">revoked</span>`
                : html`<form
                    class="inline-form"
                    method="post"
                    action="${at(A.connectRevokeToken, { name: t.name })}"
                  >
                    ${csrfField(auth)}
                    <button type="submit" class="btn-danger">
                      Revoke<span class="visually-hidden"> ${t.name}</span>
                    </button>
                  </form>`
            }
          </td>
        </tr>`,
      );
    return html`<h2 id="tokens">SCIM tokens</h2>
      <p>
        Your identity provider presents one as its bearer token when it provisions people to
        ${values.scimBaseUrl}. A new token is shown once; Herald keeps only its hash.
      </p>
      ${
        all.length === 0
          ? html`<p class="muted">No SCIM tokens yet.</p>`
          : html`<div class="table-wrap" role="region" aria-label="SCIM tokens" tabindex="0">
              <table class="records">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Created</th>
                    <th scope="col">Last used</th>
                    <th scope="col">Created by</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  ${rows}
                </tbody>
              </table>
            </div>`
      }
      <form method="post" action="${at(A.connectTokens)}">
        ${csrfField(auth)}
        <div class="field">
          <label for="token-name">New token's name</label>
          <input
            type="text"
            id="token-name"
            name="name"
            value="${kept?.name ?? ""}"
            required
            maxlength="100"
            ${kept ? html`aria-invalid="true" aria-describedby="token-name-error token-name-hint"` : html`aria-describedby="token-name-hint"`}
          />
          <p class="hint muted" id="token-name-hint">
            Letters, digits, '.', '_' or '-', e.g. okta-prod: one per identity provider connection.
          </p>
          ${kept ? html`<p class="error" id="token-name-error">${kept.error}</p>` : ""}
        </div>
        <p><button type="submit">Create a SCIM token</button></p>
      </form>`;
  }

  async function overview(
    ctx: Context,
    auth: ActiveSession,
    kept: { metadata?: MetadataInput; token?: TokenInput } = {},
  ): Promise<void> {
    const notices = (
      [
        ["saved", "The identity provider's metadata is saved; every Herald process uses it within seconds."],
        ["removed", "The stored metadata is removed."],
        ["revoked", "The token is revoked: requests that present it fail from now on."],
      ] as const
    )
      .filter(([flag]) => typeof ctx.query[flag] === "string")
      .map(([, text]) => html`<p class="notice notice-success" role="status">${text}</p>`);
    const connected = saml?.sp.idp() !== undefined;
    const stored = !fromEnv && saml?.stored.connection() !== undefined;
    send(
      ctx,
      auth,
      "Identity provider",
      html`<h1>Connect your identity provider</h1>
        ${notices}
        <p>
          Herald signs people in with SAML 2.0 and learns who works here over SCIM 2.0 from the same identity
          provider. Paste these values into it; a step-by-step guide for each provider is below.
        </p>
        ${valueList(values)}
        <h2>Guides</h2>
        <ul>
          ${GUIDES.map((g) => html`<li><a href="${at(A.connectGuide, { idp: g.slug })}">${g.name}</a></li>`)}
        </ul>
        <h2 id="metadata">Single sign-on</h2>
        ${connectionStatus()} ${metadataForm(auth, kept.metadata)}
        ${
          stored
            ? html`<form method="post" action="${at(A.connectMetadataRemove)}">
                ${csrfField(auth)}
                <button type="submit" class="btn-secondary">Remove the stored metadata</button>
              </form>`
            : ""
        }
        <h2 id="test">Test sign-in</h2>
        <p>
          Goes to the identity provider and back, and shows what it answered and whom it names here. It does
          not sign you in as anyone: you stay signed in as yourself.
        </p>
        <form method="post" action="${at(A.connectTest)}">
          ${csrfField(auth)}
          <button type="submit" ${connected ? "" : html`disabled aria-describedby="test-hint"`}>
            Test sign-in
          </button>
          ${connected ? "" : html`<p class="hint muted" id="test-hint">Connect an identity provider first.</p>`}
        </form>
        ${await tokenSection(auth, kept.token)}`,
    );
  }

  router.get(koa(A.connect), async (ctx) => overview(ctx, await requireConnect(ctx)));

  router.post(koa(A.connectMetadata), async (ctx) => {
    const auth = await requireConnect(ctx);
    const form = await readForm(ctx);
    if (!sessions.verifyCsrf(auth, form.get("csrf")))
      fail(403, "This form has expired; reload the page and try again.");
    if (fromEnv || !saml)
      fail(
        409,
        "HERALD_SAML_IDP_METADATA is set on the server: it decides the identity provider, so uploads are off.",
      );
    const file = await form.file("file");
    const pasted = form.get("xml") ?? "";
    const url = (form.get("url") ?? "").trim();
    const xml = file ?? pasted;
    const again = (field: MetadataInput["error"]["field"], message: string) => {
      ctx.status = 422;
      return overview(ctx, auth, { metadata: { xml, url, error: { field, message } } });
    };
    let r;
    if (xml.trim() !== "") {
      if (url !== "") return again("url", "Give either the XML or a URL, not both.");
      r = await saml.stored.saveXml(xml, who(auth), requestId(ctx));
      if (!r.ok) return again("xml", r.message);
    } else if (url !== "") {
      r = await saml.stored.saveUrl(url, who(auth), requestId(ctx));
      if (!r.ok) return again("url", r.message);
    } else return again("xml", "Choose a metadata file, paste its XML or give its URL.");
    ctx.status = 303;
    ctx.redirect(`${at(A.connect)}?saved=1#metadata`);
  });

  router.post(koa(A.connectMetadataRemove), async (ctx) => {
    const auth = await requireConnect(ctx);
    await csrfForm(ctx, sessions, 4096);
    if (fromEnv || !saml)
      fail(409, "HERALD_SAML_IDP_METADATA is set on the server: nothing stored here is used.");
    await saml.stored.remove(who(auth), requestId(ctx));
    ctx.status = 303;
    ctx.redirect(`${at(A.connect)}?removed=1#metadata`);
  });

  router.post(koa(A.connectTokens), async (ctx) => {
    const auth = await requireConnect(ctx);
    const { form } = await csrfForm(ctx, sessions, 4096);
    const name = (form.get("name") ?? "").trim();
    const r = await tokens.create(name, who(auth));
    if (!r.ok) {
      ctx.status = 422;
      return overview(ctx, auth, { token: { name, error: r.message } });
    }
    // The one time the token is shown: this answer, never stored by the browser or a proxy.
    ctx.status = 201;
    send(
      ctx,
      auth,
      "SCIM token created",
      html`<h1>SCIM token “${r.record.name}” created</h1>
        <p class="notice notice-warning" role="status">
          Copy it into your identity provider now: Herald keeps only its hash and will not show it again.
        </p>
        <dl class="card">
          <dt>Bearer token</dt>
          <dd><code id="scim-token">${r.token}</code></dd>
          <dt>SCIM base URL</dt>
          <dd><code>${values.scimBaseUrl}</code></dd>
        </dl>
        <p><a href="${at(A.connect)}#tokens">Back to the identity provider page</a></p>`,
    );
  });

  router.post(koa(A.connectRevokeToken), async (ctx) => {
    const auth = await requireConnect(ctx);
    await csrfForm(ctx, sessions, 4096);
    const r = await tokens.revoke(String(ctx.params.name), who(auth));
    if (!r.ok) fail(r.reason === "not-found" ? 404 : 409, r.message);
    ctx.status = 303;
    ctx.redirect(`${at(A.connect)}?revoked=1#tokens`);
  });

  router.post(koa(A.connectTest), async (ctx) => {
    const auth = await requireConnect(ctx);
    await csrfForm(ctx, sessions, 4096);
    if (!saml) fail(503, "Single sign-on is not running in this process.");
    const id = await saml.tests.start(auth.person.id);
    const path = saml.tests.path(id);
    try {
      ctx.set("Cache-Control", "no-store");
      ctx.status = 303;
      ctx.redirect(await saml.sp.startLogin(path, markBrowser(ctx, deps.cookie), path));
    } catch (e) {
      if (!(e instanceof SamlRejection)) throw e;
      fail(409, "No identity provider is connected: give Herald its metadata first.");
    }
  });

  router.get(koa(A.connectTestResult), async (ctx) => {
    const auth = await requireConnect(ctx);
    const test = saml ? await saml.tests.get(String(ctx.params.id)) : undefined;
    // Only the administrator who started it reads it (another's is as good as unknown).
    if (!test || test.personId !== auth.person.id) fail(404, "No such test sign-in (they last 15 minutes).");
    const outcome = outcomeOf(test);
    send(ctx, auth, "Test sign-in", testResult(outcome));
  });

  function testResult(outcome: TestOutcome | undefined): Html {
    const back = html`<p><a href="${at(A.connect)}#test">Back to the identity provider page</a></p>`;
    if (!outcome)
      return html`<h1>Test sign-in</h1>
        <p class="notice notice-warning" role="status">
          No answer from the identity provider yet. Finish signing in there, or start another test.
        </p>
        ${back}`;
    if (!outcome.ok)
      return html`<h1>Test sign-in failed</h1>
        <div class="notice notice-error" role="alert">
          <p><strong>${REASONS[outcome.code] ?? "Herald refused the identity provider's answer."}</strong></p>
          <p>Reason (<code>${outcome.code}</code>): ${outcome.message}</p>
        </div>
        ${back}`;
    const m = outcome.match;
    return html`<h1>Test sign-in ${m.ok ? "succeeded" : "failed"}</h1>
      ${
        m.ok
          ? html`<p class="notice notice-success" role="status">
              The identity provider's answer verified, and it names
              <strong id="matched-person">${m.displayName ?? m.userName}</strong> (<code>${m.userName}</code>)
              in the directory. Nobody was signed in.
            </p>`
          : html`<div class="notice notice-error" role="alert">
              <p>
                <strong>${MATCH_REASONS[m.reason] ?? "The answer names nobody Herald can sign in."}</strong>
              </p>
              <p>
                Reason (<code>${m.reason}</code>): ${m.value ? html`<code>${m.value}</code>` : "no value"}
              </p>
            </div>`
      }
      <h2>What the identity provider said</h2>
      <p class="muted">Verified like a real sign-in. Redacted: no signature values, no session index.</p>
      <dl class="card">
        <dt>Issuer</dt>
        <dd><code>${outcome.issuer}</code></dd>
        <dt>NameID</dt>
        <dd><code id="name-id">${outcome.nameId}</code></dd>
        <dt>NameID format</dt>
        <dd><code>${outcome.nameIdFormat ?? "(none)"}</code></dd>
      </dl>
      <div class="table-wrap" role="region" aria-label="Assertion attributes" tabindex="0">
        <table class="records">
          <caption class="muted">
            Attributes in the assertion
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Values</th>
            </tr>
          </thead>
          <tbody>
            ${outcome.attributes.map(
              ([name, vals]) =>
                html`<tr>
                  <td class="words"><code>${name}</code></td>
                  <td>${vals.map((v, i) => html`${i ? html`<br />` : ""}${v}`)}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      ${back}`;
  }

  router.get(koa(A.connectGuide), async (ctx) => {
    const auth = await requireConnect(ctx);
    const guide = guideOf(String(ctx.params.idp));
    if (!guide)
      fail(404, `No guide for that identity provider; there are: ${GUIDES.map((g) => g.slug).join(", ")}.`);
    const steps = (list: Html[]) =>
      html`<ol class="stack">
        ${list.map((s) => html`<li>${s}</li>`)}
      </ol>`;
    send(
      ctx,
      auth,
      `Connect ${guide.name}`,
      html`<h1>Connect ${guide.name}</h1>
        <p>
          Every value below is this Herald's own; paste it as it is. When you are done, give Herald the
          metadata and run a test sign-in on <a href="${at(A.connect)}">the identity provider page</a>.
        </p>
        <h2>Single sign-on (SAML 2.0)</h2>
        ${steps(guide.sso(values))}
        <h2>Provisioning (SCIM 2.0)</h2>
        ${steps(guide.scim(values))}
        <h2>All values</h2>
        ${valueList(values)}`,
    );
  });

  return router;
}
