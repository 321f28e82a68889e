/**
 * OAuth scopes as Mastodon spells them (docs.joinmastodon.org/api/oauth-scopes): the top-level
 * `read`, `write`, `follow`, `push`, `profile`, and granular `read:statuses`, `write:statuses`…
 * A top-level scope covers its granular ones.
 */

const GRANULAR = {
  read: [
    "accounts",
    "blocks",
    "bookmarks",
    "favourites",
    "filters",
    "follows",
    "lists",
    "mutes",
    "notifications",
    "search",
    "statuses",
  ],
  write: [
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "statuses",
  ],
} as const;

export const SCOPES: readonly string[] = [
  "read",
  "write",
  "follow",
  "push",
  "profile",
  ...GRANULAR.read.map((s) => `read:${s}`),
  ...GRANULAR.write.map((s) => `write:${s}`),
];

/** A scope string (space- or plus-separated) as a set, or the first unknown scope. */
export function parseScopes(
  text: string | undefined,
  fallback = "read",
): { ok: true; scopes: string[] } | { ok: false; unknown: string } {
  const words = (text ?? "").split(/[\s+]+/).filter(Boolean);
  const list = words.length > 0 ? words : fallback.split(" ");
  for (const w of list) if (!SCOPES.includes(w)) return { ok: false, unknown: w };
  return { ok: true, scopes: [...new Set(list)] };
}

/** Whether `granted` covers `needed` (`read` covers `read:statuses`). */
export function covers(granted: readonly string[], needed: string): boolean {
  if (granted.includes(needed)) return true;
  const top = needed.split(":")[0];
  return top !== needed && granted.includes(top);
}

/** Whether every scope of `asked` is allowed by `allowed` (an app's registered scopes). */
export function subsetOf(asked: readonly string[], allowed: readonly string[]): boolean {
  return asked.every((s) => covers(allowed, s));
}
