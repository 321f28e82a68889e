/**
 * Discovery (RFC 7644 §4): what Herald really supports, and nothing it does not. Bulk and
 * changePassword are not offered; filters, sorting, ETags and PATCH are.
 */
import type { JsonObject } from "./documents.ts";
import {
  type AttributeDef,
  ENTERPRISE_SCHEMA,
  GROUP_SCHEMA,
  LIST_SCHEMA,
  RESOURCE_TYPE_SCHEMA,
  SCHEMA_SCHEMA,
  SCHEMAS,
  SPC_SCHEMA,
  USER_SCHEMA,
} from "./schemas.ts";

export const MAX_RESULTS = 500;

export function serviceProviderConfig(base: string): JsonObject {
  return {
    schemas: [SPC_SCHEMA],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: "oauthbearertoken",
        name: "Bearer token",
        description: "A token made with `herald token create <name>`, sent as Authorization: Bearer <token>.",
        specUri: "https://www.rfc-editor.org/rfc/rfc6750",
        primary: true,
      },
    ],
    meta: { resourceType: "ServiceProviderConfig", location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypes(base: string): JsonObject[] {
  return [
    {
      schemas: [RESOURCE_TYPE_SCHEMA],
      id: "User",
      name: "User",
      endpoint: "/Users",
      description: "User Account",
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: ENTERPRISE_SCHEMA, required: false }],
      meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: [RESOURCE_TYPE_SCHEMA],
      id: "Group",
      name: "Group",
      endpoint: "/Groups",
      description: "Group",
      schema: GROUP_SCHEMA,
      schemaExtensions: [],
      meta: { resourceType: "ResourceType", location: `${base}/ResourceTypes/Group` },
    },
  ];
}

function attributeJson(a: AttributeDef): JsonObject {
  const out: JsonObject = {
    name: a.name,
    type: a.type,
    multiValued: a.multiValued,
    description: a.description,
    required: a.required,
    caseExact: a.caseExact,
    mutability: a.mutability,
    returned: a.returned,
    uniqueness: a.uniqueness,
  };
  if (a.canonicalValues) out.canonicalValues = [...a.canonicalValues];
  if (a.referenceTypes) out.referenceTypes = [...a.referenceTypes];
  if (a.subAttributes) out.subAttributes = a.subAttributes.map(attributeJson);
  return out;
}

export function schemaDocuments(base: string): JsonObject[] {
  return SCHEMAS.map((s) => ({
    schemas: [SCHEMA_SCHEMA],
    id: s.id,
    name: s.name,
    description: s.description,
    attributes: s.attributes.map(attributeJson),
    meta: { resourceType: "Schema", location: `${base}/Schemas/${s.id}` },
  }));
}

export function listOf(resources: JsonObject[]): JsonObject {
  return {
    schemas: [LIST_SCHEMA],
    totalResults: resources.length,
    itemsPerPage: resources.length,
    startIndex: 1,
    Resources: resources,
  };
}
