/**
 * The audit log as people read it (the admin pages): who acted and what they acted on by name or
 * handle instead of `person:<uuid>`, and a record's JSON detail as a key: value list. Names are
 * looked up once per page; the stored rows are never changed (the log is append-only).
 */
import { type Html, html } from "../http/html.ts";
import type { Database } from "../db/database.ts";
import type { Accounts } from "../federation/accounts.ts";
import { DraftSchema } from "../federation/drafts.ts";
import { PostSchema } from "../federation/entities.ts";
import type { Directory } from "../identity/directory.ts";

export interface AuditNames {
  /** Who acted (`person:<id>`, `cli:root`, `scim-token:okta`, `system`, …) as a name. */
  actor(raw: string): Promise<string>;
  /** What a record is about, by name or handle ("@recruiting", "Jane Doe (jane@…)"). */
  target(type: string | null, id: string | null): Promise<string>;
  /** A person's name by id ("Jane Doe (jane@corp.example)"), or undefined when unknown. */
  person(id: string): Promise<string | undefined>;
}

/** Detail keys whose values are person ids: shown with the person's name. */
const PERSON_KEYS = new Set(["personId", "approverId", "draftAuthorPersonId"]);

export function auditNames(deps: {
  db: Database;
  accounts: Pick<Accounts, "byId">;
  directory: Pick<Directory, "personById" | "groupEntry">;
}): AuditNames {
  const { db, accounts, directory } = deps;
  const cache = new Map<string, Promise<string | undefined>>();
  const once = (key: string, look: () => Promise<string | undefined>) => {
    let hit = cache.get(key);
    if (!hit) cache.set(key, (hit = look()));
    return hit;
  };
  const person = (id: string) =>
    once(`person:${id}`, async () => {
      const p = await directory.personById(id);
      if (!p) return undefined;
      return p.displayName ? `${p.displayName} (${p.userName})` : p.userName;
    });
  const handle = (id: string) =>
    once(`actor:${id}`, async () => {
      const a = await accounts.byId(id);
      return a ? `@${a.handle}` : undefined;
    });
  const short = (id: string) => (id.length > 12 ? `${id.slice(0, 8)}…` : id);
  /** A record that belongs to an account ("a post of @recruiting"), else `fallback`. */
  const ofAccount = (
    key: string,
    what: string,
    fallback: string,
    accountId: () => Promise<string | undefined>,
  ) =>
    once(key, async () => {
      const id = await accountId();
      const h = id ? await handle(id) : undefined;
      return h ? `${what} ${h}` : undefined;
    }).then((n) => n ?? fallback);

  return {
    person,
    async actor(raw) {
      const colon = raw.indexOf(":");
      const [kind, rest] = colon < 0 ? [raw, ""] : [raw.slice(0, colon), raw.slice(colon + 1)];
      switch (kind) {
        case "person":
          return (await person(rest)) ?? `a deleted person (${short(rest)})`;
        case "cli":
          return `command line (${rest})`;
        case "scim-token":
          return `SCIM token “${rest}”`;
        case "saml":
          return "the identity provider (SAML)";
        case "api-app":
          return `API app ${short(rest)}`;
        case "system":
          return "Herald itself";
        default:
          return raw;
      }
    },
    async target(type, id) {
      if (!type && !id) return "";
      if (!id) return type ?? "";
      switch (type) {
        case "org":
          return "the organization";
        case "person":
          return (await person(id)) ?? `a deleted person (${short(id)})`;
        case "group":
          return once(`group:${id}`, async () => {
            const g = await directory.groupEntry(id, false);
            return g ? `group ${g.group.displayName}` : undefined;
          }).then((n) => n ?? `a deleted group (${short(id)})`);
        case "actor":
          return (await handle(id)) ?? `account ${short(id)}`;
        case "post":
          return ofAccount(`post:${id}`, "a post of", `post ${short(id)}`, async () => {
            const post = await db.run((em) => em.getRepository(PostSchema).findOneBy({ id }));
            return post?.actorId;
          });
        case "draft":
          return ofAccount(`draft:${id}`, "a draft for", `draft ${short(id)}`, async () => {
            const draft = await db.run((em) => em.getRepository(DraftSchema).findOneBy({ id }));
            return draft?.accountId;
          });
        default:
          return `${(type ?? "").replace(/[_-]/g, " ")} ${short(id)}`.trim();
      }
    },
  };
}

/** One line of a record's detail: a dotted key and its value as text. */
export interface DetailPair {
  readonly key: string;
  readonly value: string;
}

/**
 * A record's JSON detail flattened to key: value pairs (nested keys dotted, lists joined), in the
 * order written. Text that is not a JSON object is one pair under "detail".
 */
export function detailPairs(detail: string | null): DetailPair[] {
  if (!detail) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(detail);
  } catch {
    return [{ key: "detail", value: detail }];
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    return [{ key: "detail", value: text(parsed) }];
  const out: DetailPair[] = [];
  const walk = (prefix: string, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const entries = Object.entries(value);
      if (entries.length === 0) out.push({ key: prefix, value: "—" });
      for (const [k, v] of entries) walk(prefix ? `${prefix}.${k}` : k, v);
    } else out.push({ key: prefix, value: text(value) });
  };
  walk("", parsed);
  return out;
}

function text(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Array.isArray(value)) return value.length === 0 ? "—" : value.map(text).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The detail as lines of "key: value", person ids shown with their names. */
export async function renderDetail(detail: string | null, names: AuditNames): Promise<Html> {
  const pairs = detailPairs(detail);
  const lines: Html[] = [];
  for (const { key, value } of pairs) {
    const name = PERSON_KEYS.has(key.split(".").at(-1) ?? "") ? await names.person(value) : undefined;
    lines.push(html`<div><strong>${key}</strong>: ${name ?? value}</div>`);
  }
  return html`${lines}`;
}
