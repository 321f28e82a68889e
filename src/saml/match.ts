/**
 * DESIGN rule 1: the directory decides. A SAML login only names someone the directory already
 * knows — by the NameID or an attribute, against userName (not case-sensitive, RFC 7643 §4.1.1),
 * an email address or the externalId — and that person must be active. There is no just-in-time
 * creation: people come from SCIM.
 */
import type { SamlMatch } from "../config.ts";
import type { Directory, Person } from "../identity/directory.ts";
import { employmentStatus } from "../identity/standing.ts";
import type { SamlLogin } from "./sp.ts";

export type MatchResult =
  | { readonly ok: true; readonly person: Person }
  | {
      readonly ok: false;
      readonly reason: "no-value" | "unknown" | "inactive" | "ambiguous";
      readonly value: string;
    };

export async function matchPerson(
  directory: Directory,
  rule: SamlMatch,
  login: SamlLogin,
): Promise<MatchResult> {
  const value = rule.attribute === undefined ? login.nameId : login.attributes.get(rule.attribute)?.[0];
  if (!value) return { ok: false, reason: "no-value", value: "" };
  const candidates = await (async () => {
    switch (rule.field) {
      case "userName": {
        const p = await directory.personByUserName(value);
        return p ? [p] : [];
      }
      case "externalId":
        return directory.peopleByExternalId(value);
      case "email":
        return directory.peopleByEmail(value);
    }
  })();
  // Deleted people are not in the directory any more: these reads leave them out.
  if (candidates.length === 0) return { ok: false, reason: "unknown", value };
  const active = candidates.filter((p) => employmentStatus(p).kind === "active");
  if (active.length > 1) return { ok: false, reason: "ambiguous", value };
  if (active.length === 0) return { ok: false, reason: "inactive", value };
  return { ok: true, person: active[0] };
}
