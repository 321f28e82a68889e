/**
 * `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9). Names are case-insensitive and
 * may be URN-qualified or name a sub-attribute (`name.givenName`). A value filter inside an
 * attribute name (`emails[type eq "work"]`, which Microsoft's validator sends) selects the whole
 * attribute. `id` and `schemas` are always returned.
 */
import { isObject, type JsonObject } from "./documents.ts";

export interface Projection {
  readonly attributes: readonly string[] | undefined;
  readonly excluded: readonly string[] | undefined;
}

export function parseAttributeList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const parts = Array.isArray(value) ? value.map(String) : String(value).split(",");
  const names = parts
    .map((p) =>
      p
        .trim()
        .replace(/\[.*\]/s, "")
        .toLowerCase(),
    )
    .filter((p) => p !== "");
  return names.length > 0 ? names : undefined;
}

interface Selector {
  readonly urn: string | undefined;
  readonly attr: string;
  readonly sub: string | undefined;
}

function selector(name: string, coreUrn: string, extensions: readonly string[]): Selector {
  let rest = name;
  let urn: string | undefined;
  if (rest.startsWith(`${coreUrn.toLowerCase()}:`)) rest = rest.slice(coreUrn.length + 1);
  else {
    const ext = extensions.find((u) => rest === u.toLowerCase() || rest.startsWith(`${u.toLowerCase()}:`));
    if (ext) {
      urn = ext;
      rest = rest === ext.toLowerCase() ? "" : rest.slice(ext.length + 1);
    }
  }
  const [attr, sub] = rest.split(".", 2);
  return { urn, attr, sub };
}

const ALWAYS = new Set(["id", "schemas"]);

export function project(resource: JsonObject, p: Projection, coreUrn: string): JsonObject {
  if (!p.attributes && !p.excluded) return resource;
  const extensions = Object.keys(resource).filter((k) => k.startsWith("urn:"));
  const lookup = (obj: JsonObject, name: string) => Object.keys(obj).find((k) => k.toLowerCase() === name);

  if (p.attributes) {
    const out: JsonObject = {};
    for (const k of Object.keys(resource)) if (ALWAYS.has(k)) out[k] = resource[k];
    for (const name of p.attributes) {
      const s = selector(name, coreUrn, extensions);
      const source = s.urn ? resource[s.urn] : resource;
      if (!isObject(source)) continue;
      const target: JsonObject = s.urn ? ((out[s.urn] as JsonObject | undefined) ?? {}) : out;
      if (s.urn && s.attr === "") {
        out[s.urn] = source;
        continue;
      }
      const key = lookup(source, s.attr);
      if (key === undefined) continue;
      const value = source[key];
      if (s.sub === undefined) target[key] = value;
      else if (isObject(value)) {
        const subKey = lookup(value, s.sub);
        if (subKey !== undefined)
          target[key] = { ...((target[key] as JsonObject) ?? {}), [subKey]: value[subKey] };
      } else if (Array.isArray(value)) {
        target[key] = value.map((el) => {
          if (!isObject(el)) return el;
          const subKey = lookup(el, s.sub!);
          return subKey === undefined ? {} : { [subKey]: el[subKey] };
        });
      }
      if (s.urn && Object.keys(target).length > 0) out[s.urn] = target;
    }
    return out;
  }

  const out: JsonObject = structuredClone(resource);
  for (const name of p.excluded ?? []) {
    const s = selector(name, coreUrn, extensions);
    const source = s.urn ? out[s.urn] : out;
    if (!isObject(source)) continue;
    if (s.urn && s.attr === "") {
      delete out[s.urn];
      continue;
    }
    const key = lookup(source, s.attr);
    if (key === undefined || (!s.urn && ALWAYS.has(key))) continue;
    if (s.sub === undefined) delete source[key];
    else {
      const value = source[key];
      const drop = (o: unknown) => {
        if (!isObject(o)) return;
        const subKey = lookup(o, s.sub!);
        if (subKey !== undefined) delete o[subKey];
      };
      if (Array.isArray(value)) value.forEach(drop);
      else drop(value);
    }
  }
  return out;
}
