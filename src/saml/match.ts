/**
 * DESIGN rule 1: the directory decides. A SAML login only names someone the directory already
 * knows — by the NameID or an attribute, against userName (not case-sensitive, RFC 7643 §4.1.1),
 * an email address or the externalId — and that person must be active. There is no just-in-time
 * creation: people come from SCIM.
 */
import type { SamlMatch } from "../config.ts";
import type { Database } from "../db/database.ts";
import { type Person, PersonEmailSchema, PersonSchema } from "../identity/entities.ts";
import { userNameKey } from "../identity/user-names.ts";
import type { SamlLogin } from "./sp.ts";

export type MatchResult =
  | { readonly ok: true; readonly person: Person }
  | {
      readonly ok: false;
      readonly reason: "no-value" | "unknown" | "inactive" | "ambiguous";
      readonly value: string;
    };

export async function matchPerson(db: Database, rule: SamlMatch, login: SamlLogin): Promise<MatchResult> {
  const value = rule.attribute === undefined ? login.nameId : login.attributes.get(rule.attribute)?.[0];
  if (!value) return { ok: false, reason: "no-value", value: "" };
  const candidates = await db.run(async (em) => {
    const people = em.getRepository(PersonSchema);
    switch (rule.field) {
      case "userName":
        return people.findBy({ userNameKey: userNameKey(value) });
      case "externalId":
        return people.findBy({ externalId: value });
      case "email": {
        const key = value.toLowerCase();
        const rows = await em.getRepository(PersonEmailSchema).findBy({ valueKey: key });
        const ids = [...new Set(rows.map((r) => r.personId))];
        return ids.length === 0 ? [] : people.findBy(ids.map((id) => ({ id })));
      }
    }
  });
  const present = candidates.filter((p) => !p.deletedAt);
  if (present.length === 0) return { ok: false, reason: "unknown", value };
  const active = present.filter((p) => p.active);
  if (active.length > 1) return { ok: false, reason: "ambiguous", value };
  if (active.length === 0) return { ok: false, reason: "inactive", value };
  return { ok: true, person: active[0] };
}
