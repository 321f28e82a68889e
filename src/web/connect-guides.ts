/**
 * Step-by-step guides for connecting an identity provider (/admin/connect/<idp>), with the exact
 * values to paste computed from the configuration: Herald's SAML endpoints derive from
 * HERALD_ORIGIN (src/saml/sp.ts), the SCIM base URL too, and what the NameID must carry from
 * HERALD_SAML_MATCH. Menu names are each vendor's as of 2026; the values are Herald's.
 */
import type { Config } from "../config.ts";
import { type Html, html } from "../http/html.ts";
import { ROUTES } from "../http/routes.ts";

export const NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
export const NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/** The values an IdP administrator pastes, all derived from the configuration. */
export interface ConnectValues {
  readonly scimBaseUrl: string;
  readonly entityId: string;
  readonly acsUrl: string;
  readonly sloUrl: string;
  readonly metadataUrl: string;
  readonly signInUrl: string;
  readonly nameIdFormat: string;
  /** Where Herald reads who signed in: "NameID" or the attribute's name. */
  readonly matchSource: string;
  /** The directory field that value is compared with (SCIM's spelling). */
  readonly matchField: "userName" | "emails" | "externalId";
}

export function connectValues(config: Config): ConnectValues {
  const at = (path: string) => new URL(path, config.origin).href;
  const { match } = config.saml;
  return {
    scimBaseUrl: at(ROUTES.scim.prefix),
    entityId: at(ROUTES.saml.prefix + ROUTES.saml.metadata),
    acsUrl: at(ROUTES.saml.prefix + ROUTES.saml.acs),
    sloUrl: at(ROUTES.saml.prefix + ROUTES.saml.slo),
    metadataUrl: at(ROUTES.saml.prefix + ROUTES.saml.metadata),
    signInUrl: at(ROUTES.saml.prefix + ROUTES.saml.login),
    nameIdFormat: match.field === "email" ? NAMEID_EMAIL : NAMEID_UNSPECIFIED,
    matchSource: match.attribute === undefined ? "NameID" : match.attribute,
    matchField: match.field === "email" ? "emails" : match.field,
  };
}

/** A sentence saying what the NameID (or matching attribute) must carry. */
export function matchSentence(v: ConnectValues): Html {
  const field = html`<code>${v.matchField}</code>`;
  return v.matchSource === "NameID"
    ? html`The <strong>NameID</strong> must be the value your SCIM provisioning sends as ${field} (usually the
        person's work e-mail address). Herald reads no other attribute to sign someone in.`
    : html`The attribute <code>${v.matchSource}</code> must carry the value your SCIM provisioning sends as
        ${field}; the NameID is then only recorded. Herald reads no other attribute to sign someone in.`;
}

export interface Guide {
  readonly slug: string;
  readonly name: string;
  /** Single sign-on: ordered steps. */
  sso(v: ConnectValues): Html[];
  /** Provisioning over SCIM: ordered steps, or a note when the IdP cannot push to Herald itself. */
  scim(v: ConnectValues): Html[];
}

const c = (value: string) => html`<code>${value}</code>`;

const PEOPLE_FIELDS = html`Herald reads <code>userName</code> (unique; the fediverse handle derives from it),
  <code>active</code>, <code>displayName</code> and <code>name</code>, <code>emails</code> (the primary work
  address), <code>title</code>, <code>externalId</code>, the enterprise extension's
  <code>employeeNumber</code>, <code>department</code> and <code>manager</code>, and group memberships.`;

const TOKEN = html`the SCIM token you create below on the identity provider page (shown once: paste it
straight away)`;

export const GUIDES: readonly Guide[] = [
  {
    slug: "okta",
    name: "Okta",
    sso: (v) => [
      html`In the Okta Admin Console: <strong>Applications → Applications → Create App Integration</strong>,
        choose <strong>SAML 2.0</strong>, name it Herald.`,
      html`<strong>Single sign-on URL</strong>: ${c(v.acsUrl)} (leave "Use this for Recipient URL and
        Destination URL" ticked).`,
      html`<strong>Audience URI (SP Entity ID)</strong>: ${c(v.entityId)}`,
      html`<strong>Name ID format</strong>:
        ${v.nameIdFormat === NAMEID_EMAIL ? "EmailAddress" : "Unspecified"} (${c(v.nameIdFormat)});
        <strong>Application username</strong>: the Okta attribute your SCIM <code>userName</code> comes from
        (usually Email). ${matchSentence(v)}`,
      html`Under <strong>Show Advanced Settings</strong>: Response <em>Signed</em>, Assertion Signature
        <em>Signed</em>, SHA-256. Assertion encryption is optional: its certificate is in Herald's metadata
        (${c(v.metadataUrl)}).`,
      html`Finish, open the app's <strong>Sign On</strong> tab and copy the
        <strong>Metadata URL</strong> under SAML 2.0: give it to Herald below ("Metadata URL"), or download
        the XML and upload it.`,
      html`Assign the app to the people and groups who use Herald, then press <strong>Test sign-in</strong> on
        the identity provider page.`,
    ],
    scim: (v) => [
      html`In the app's <strong>General</strong> tab: App Settings → <strong>Provisioning: SCIM</strong>,
        Save.`,
      html`<strong>Provisioning → Integration</strong>: SCIM connector base URL ${c(v.scimBaseUrl)}; Unique
        identifier field for users ${c("userName")}; supported actions: Push New Users, Push Profile Updates,
        Push Groups; Authentication Mode <strong>HTTP Header</strong>, Authorization: ${TOKEN}. Test Connector
        Configuration, Save.`,
      html`<strong>Provisioning → To App</strong>: enable Create Users, Update User Attributes and Deactivate
        Users.`,
      html`${PEOPLE_FIELDS}`,
    ],
  },
  {
    slug: "entra",
    name: "Microsoft Entra ID",
    sso: (v) => [
      html`In the Microsoft Entra admin center:
        <strong>Enterprise applications → New application → Create your own application</strong> ("Integrate
        any other application you don't find in the gallery"), name it Herald.`,
      html`<strong>Single sign-on → SAML</strong>, then <strong>Basic SAML Configuration → Edit</strong>:
        Identifier (Entity ID) ${c(v.entityId)}; Reply URL (Assertion Consumer Service URL) ${c(v.acsUrl)};
        Sign on URL ${c(v.signInUrl)}; Logout Url ${c(v.sloUrl)}.`,
      html`<strong>Attributes &amp; Claims → Unique User Identifier (Name ID)</strong>: source attribute
        <code>user.userprincipalname</code> or <code>user.mail</code> — whichever your provisioning sends as
        <code>userName</code> — with name identifier format
        ${v.nameIdFormat === NAMEID_EMAIL ? "Email address" : "Unspecified"}. ${matchSentence(v)}`,
      html`<strong>SAML Certificates</strong>: signing option "Sign SAML response and assertion", SHA-256.
        Copy the <strong>App Federation Metadata Url</strong> and give it to Herald below, or download
        Federation Metadata XML and upload it.`,
      html`<strong>Users and groups</strong>: assign the people who use Herald, then press
        <strong>Test sign-in</strong> on the identity provider page.`,
    ],
    scim: (v) => [
      html`<strong>Provisioning → Get started</strong>, Provisioning Mode <strong>Automatic</strong>.`,
      html`<strong>Tenant URL</strong>: ${c(`${v.scimBaseUrl}?aadOptscim062020`)} (the flag turns on Entra's
        RFC-compliant PATCH behaviour); <strong>Secret Token</strong>: ${TOKEN}. Test Connection, Save.`,
      html`<strong>Mappings</strong>: keep "Provision Microsoft Entra ID Users" and "Groups"; map
        <code>userName</code> from the same attribute as the Name ID above.`,
      html`Set Provisioning Status <strong>On</strong>. Entra syncs every 40 minutes; "Provision on demand"
        pushes one person now.`,
      html`${PEOPLE_FIELDS}`,
    ],
  },
  {
    slug: "google",
    name: "Google Workspace",
    sso: (v) => [
      html`In the Google Admin console:
        <strong>Apps → Web and mobile apps → Add app → Add custom SAML app</strong>, name it Herald.`,
      html`On "Google Identity Provider details", <strong>download the IdP metadata</strong> (Option 1) and
        upload that file to Herald below.`,
      html`<strong>Service provider details</strong>: ACS URL ${c(v.acsUrl)}; Entity ID ${c(v.entityId)};
        leave "Signed response" ticked; Name ID format
        ${v.nameIdFormat === NAMEID_EMAIL ? "EMAIL" : "UNSPECIFIED"}; Name ID
        <strong>Basic Information → Primary email</strong>. ${matchSentence(v)}`,
      html`Attribute mapping is not needed. Finish, then set <strong>User access</strong> to ON for the
        organizational units or groups who use Herald (it can take a few minutes), and press
        <strong>Test sign-in</strong> on the identity provider page.`,
    ],
    scim: () => [
      html`Google Workspace provisions over SCIM only to applications in its own catalogue, not to a custom
      SAML app: people reach Herald through SCIM from another system (an HR system or a directory sync tool),
      with ${TOKEN}.`,
      html`${PEOPLE_FIELDS}`,
    ],
  },
  {
    slug: "keycloak",
    name: "Keycloak",
    sso: (v) => [
      html`In the realm Herald uses: <strong>Clients → Import client</strong> and load Herald's metadata from
        ${c(v.metadataUrl)} (or <strong>Create client</strong>, type <strong>SAML</strong>, Client ID
        ${c(v.entityId)}).`,
      html`<strong>Settings</strong>: Valid redirect URIs ${c(v.acsUrl)}; Master SAML Processing URL
        ${c(v.acsUrl)}; Name ID format
        <strong>${v.nameIdFormat === NAMEID_EMAIL ? "email" : "username"}</strong>; "Sign documents" and "Sign
        assertions" on, signature algorithm RSA_SHA256. ${matchSentence(v)}`,
      html`<strong>Keys</strong>: if "Client signature required" is on, import Herald's certificate from its
        metadata: Herald then signs its requests, because Keycloak's metadata says
        <code>WantAuthnRequestsSigned="true"</code>.`,
      html`<strong>Advanced → Logout Service Redirect Binding URL</strong>: ${c(v.sloUrl)}.`,
      html`Give Herald the realm's metadata URL below:
        <code>https://&lt;keycloak&gt;/realms/&lt;realm&gt;/protocol/saml/descriptor</code>. Then press
        <strong>Test sign-in</strong> on the identity provider page.`,
    ],
    scim: () => [
      html`Keycloak has no SCIM client of its own: provisioning needs a SCIM extension for Keycloak (community
      plugins exist) or another system pushing to Herald's SCIM base URL with ${TOKEN}.`,
      html`${PEOPLE_FIELDS}`,
    ],
  },
  {
    slug: "onelogin",
    name: "OneLogin",
    sso: (v) => [
      html`In OneLogin: <strong>Applications → Add App</strong>, search
        <strong>SCIM Provisioner with SAML (SCIM v2 Enterprise)</strong> (single sign-on and provisioning in
        one app), name it Herald.`,
      html`<strong>Configuration</strong>: SAML Audience URL ${c(v.entityId)}; SAML Consumer URL
        ${c(v.acsUrl)}; SAML Single Logout URL ${c(v.sloUrl)}.`,
      html`<strong>Parameters → NameID value</strong>: the OneLogin field your provisioning sends as
        <code>userName</code> (usually Email); <strong>SSO</strong> tab: SAML Signature Algorithm SHA-256.
        ${matchSentence(v)}`,
      html`<strong>SSO</strong> tab: copy the <strong>Issuer URL</strong> (it serves the metadata) and give it
        to Herald below, or <strong>More Actions → SAML Metadata</strong> and upload the file.`,
      html`Assign the app to people or roles, then press <strong>Test sign-in</strong> on the identity
        provider page.`,
    ],
    scim: (v) => [
      html`<strong>Configuration</strong>: SCIM Base URL ${c(v.scimBaseUrl)}; SCIM Bearer Token: ${TOKEN};
        SCIM JSON Template: keep the default <code>userName</code> mapping. Press
        <strong>Enable</strong> under API Connection.`,
      html`<strong>Provisioning</strong>: tick "Enable provisioning"; choose what happens when a user is
        deleted (Suspend is what Herald expects: a deactivated person keeps the record of what they said).`,
      html`${PEOPLE_FIELDS}`,
    ],
  },
];

export function guideOf(slug: string): Guide | undefined {
  return GUIDES.find((g) => g.slug === slug);
}
