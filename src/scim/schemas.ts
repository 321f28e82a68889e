/**
 * The SCIM schemas Herald serves (RFC 7643 §4, §8.7): core User and Group, and the enterprise User
 * extension. These definitions drive behaviour as well as discovery — attribute-name
 * canonicalisation (names are case-insensitive), caseExact in filters, mutability, and which
 * attributes are returned.
 */

export const USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User";
export const GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group";
export const ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
export const LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
export const PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
export const SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
export const SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
export const RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
export const SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema";

export type AttrType = "string" | "boolean" | "decimal" | "integer" | "dateTime" | "reference" | "complex";

export interface AttributeDef {
  readonly name: string;
  readonly type: AttrType;
  readonly multiValued: boolean;
  readonly description: string;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: "readOnly" | "readWrite" | "immutable" | "writeOnly";
  readonly returned: "always" | "never" | "default" | "request";
  readonly uniqueness: "none" | "server" | "global";
  readonly subAttributes?: readonly AttributeDef[];
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
}

type Opts = Partial<Omit<AttributeDef, "name" | "type" | "description">>;

function a(name: string, type: AttrType, description: string, opts: Opts = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: "readWrite",
    returned: "default",
    uniqueness: "none",
    ...opts,
  };
}

const str = (name: string, description: string, opts: Opts = {}) => a(name, "string", description, opts);

/** type/primary/display/value for multi-valued attributes such as emails (RFC 7643 §2.4). */
function multi(name: string, description: string, types: readonly string[], extra: AttributeDef[] = []) {
  return a(name, "complex", description, {
    multiValued: true,
    subAttributes: [
      str("value", `The ${name} value.`),
      str("display", "A human-readable name, primarily used for display purposes."),
      str("type", "A label indicating the attribute's function.", { canonicalValues: types }),
      a("primary", "boolean", "Whether this is the primary value of the attribute."),
      ...extra,
    ],
  });
}

export const USER_ATTRIBUTES: readonly AttributeDef[] = [
  str("userName", "Unique identifier for the User, typically used by the user to directly authenticate.", {
    required: true,
    uniqueness: "server",
  }),
  a("name", "complex", "The components of the user's real name.", {
    subAttributes: [
      str("formatted", "The full name, including all middle names, titles, and suffixes."),
      str("familyName", "The family name of the User."),
      str("givenName", "The given name of the User."),
      str("middleName", "The middle name(s) of the User."),
      str("honorificPrefix", "The honorific prefix(es) of the User."),
      str("honorificSuffix", "The honorific suffix(es) of the User."),
    ],
  }),
  str("displayName", "The name of the User, suitable for display to end-users."),
  str("nickName", "The casual way to address the user."),
  a(
    "profileUrl",
    "reference",
    "A fully qualified URL pointing to a page representing the User's online profile.",
    {
      referenceTypes: ["external"],
    },
  ),
  str("title", 'The user\'s title, such as "Vice President".'),
  str("userType", "Identifies the relationship between the organization and the user."),
  str("preferredLanguage", "The User's preferred written or spoken language."),
  str("locale", "The User's default location for localizing items."),
  str("timezone", "The User's time zone in the 'Olson' time zone database format."),
  a("active", "boolean", "The User's administrative status."),
  str("password", "The User's cleartext password. Herald never stores or returns it.", {
    mutability: "writeOnly",
    returned: "never",
  }),
  multi("emails", "Email addresses for the user.", ["work", "home", "other"]),
  multi("phoneNumbers", "Phone numbers for the User.", ["work", "home", "mobile", "fax", "pager", "other"]),
  multi("ims", "Instant messaging addresses for the User.", [
    "aim",
    "gtalk",
    "icq",
    "xmpp",
    "msn",
    "skype",
    "qq",
    "yahoo",
  ]),
  multi("photos", "URLs of photos of the User.", ["photo", "thumbnail"]),
  a("addresses", "complex", "A physical mailing address for this User.", {
    multiValued: true,
    subAttributes: [
      str("formatted", "The full mailing address."),
      str("streetAddress", "The full street address component."),
      str("locality", "The city or locality component."),
      str("region", "The state or region component."),
      str("postalCode", "The zip code or postal code component."),
      str("country", "The country name component."),
      str("type", "A label indicating the attribute's function.", {
        canonicalValues: ["work", "home", "other"],
      }),
      a("primary", "boolean", "Whether this is the primary address."),
    ],
  }),
  a("groups", "complex", "The groups the user belongs to (read-only: change them through Groups).", {
    multiValued: true,
    mutability: "readOnly",
    subAttributes: [
      str("value", "The identifier of the User's group.", { mutability: "readOnly" }),
      a("$ref", "reference", "The URI of the corresponding Group resource.", {
        mutability: "readOnly",
        referenceTypes: ["Group"],
      }),
      str("display", "A human-readable name.", { mutability: "readOnly" }),
      str("type", "direct or indirect.", { mutability: "readOnly", canonicalValues: ["direct", "indirect"] }),
    ],
  }),
  multi("entitlements", "A list of entitlements for the User.", []),
  multi("roles", "A list of roles for the User.", []),
  a("x509Certificates", "complex", "A list of certificates issued to the User.", {
    multiValued: true,
    subAttributes: [
      a("value", "string", "The value of an X.509 certificate (base64 DER)."),
      str("display", "A human-readable name."),
      str("type", "A label indicating the attribute's function."),
      a("primary", "boolean", "Whether this is the primary certificate."),
    ],
  }),
];

export const ENTERPRISE_ATTRIBUTES: readonly AttributeDef[] = [
  str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person by the organization."),
  str("costCenter", "Identifies the name of a cost center."),
  str("organization", "Identifies the name of an organization."),
  str("division", "Identifies the name of a division."),
  str("department", "Identifies the name of a department."),
  a("manager", "complex", "The User's manager.", {
    subAttributes: [
      str("value", "The id of the SCIM resource representing the User's manager."),
      a("$ref", "reference", "The URI of the SCIM resource representing the User's manager.", {
        referenceTypes: ["User"],
      }),
      str("displayName", "The displayName of the User's manager.", { mutability: "readOnly" }),
    ],
  }),
];

export const GROUP_ATTRIBUTES: readonly AttributeDef[] = [
  str("displayName", "A human-readable name for the Group.", { required: true, uniqueness: "server" }),
  a("members", "complex", "A list of members of the Group.", {
    multiValued: true,
    returned: "default",
    subAttributes: [
      str("value", "Identifier of the member of this Group.", { mutability: "immutable", caseExact: true }),
      a("$ref", "reference", "The URI corresponding to a SCIM resource that is a member of this Group.", {
        mutability: "immutable",
        referenceTypes: ["User", "Group"],
      }),
      str("display", "A human-readable name of the member.", { mutability: "readOnly" }),
      str("type", "The type of the member.", { mutability: "immutable", canonicalValues: ["User", "Group"] }),
    ],
  }),
];

/** Common attributes (RFC 7643 §3.1), listed in every schema document by convention. */
export const COMMON_ATTRIBUTES: readonly AttributeDef[] = [
  str("id", "Unique identifier for the SCIM resource, issued by the service provider.", {
    caseExact: true,
    mutability: "readOnly",
    returned: "always",
    uniqueness: "server",
  }),
  str("externalId", "An identifier for the resource as defined by the provisioning client.", {
    caseExact: true,
  }),
];

export interface SchemaDoc {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly AttributeDef[];
}

export const SCHEMAS: readonly SchemaDoc[] = [
  { id: USER_SCHEMA, name: "User", description: "User Account", attributes: USER_ATTRIBUTES },
  { id: GROUP_SCHEMA, name: "Group", description: "Group", attributes: GROUP_ATTRIBUTES },
  {
    id: ENTERPRISE_SCHEMA,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
  },
];

/** Finds an attribute definition by case-insensitive name among `defs`. */
export function findAttr(defs: readonly AttributeDef[] | undefined, name: string): AttributeDef | undefined {
  if (!defs) return undefined;
  const lower = name.toLowerCase();
  return defs.find((d) => d.name.toLowerCase() === lower);
}
