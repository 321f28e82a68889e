/**
 * JSON from outsiders, with bounds. `JSON.parse` itself copes with deep nesting, but everything
 * after it (PATCH application, JSON-LD expansion, logging, re-serialisation) recurses: a body
 * nested 10,000 deep must be refused before any of that runs. One linear scan, no recursion.
 */

/** Deeper than any SCIM resource or ActivityStreams document a real peer sends (≈ 10). */
export const MAX_JSON_DEPTH = 64;

export type BoundedJson =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: "syntax" | "depth"; readonly message: string };

/** The deepest nesting of arrays and objects in `text`, stopping as soon as it exceeds `limit`. */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > limit) return true;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}

/** Parses `text` as JSON, refusing nesting deeper than `maxDepth` before parsing. */
export function parseBoundedJson(text: string, maxDepth = MAX_JSON_DEPTH): BoundedJson {
  if (jsonDepthExceeds(text, maxDepth))
    return {
      ok: false,
      reason: "depth",
      message: `The JSON body is nested deeper than ${maxDepth} levels.`,
    };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: "syntax", message: "The request body is not valid JSON." };
  }
}
