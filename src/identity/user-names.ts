/**
 * userNames in one spelling. The same name can arrive composed (`é`, U+00E9) or decomposed (`e` +
 * U+0301) — macOS file names, some HR systems and copy-paste produce the latter — and both look
 * alike to a person. Herald stores userNames in Unicode Normalization Form C (UAX #15) and
 * compares them by a key that is NFC and lowercased (userName is not caseExact, RFC 7643
 * §4.1.1), so the two spellings are one person: one uniqueness check, one lookup.
 */

/** The userName as stored and returned: NFC. */
export function normalizeUserName(userName: string): string {
  return userName.normalize("NFC");
}

/** The key userNames are unique by and looked up by (`person.user_name_key`). */
export function userNameKey(userName: string): string {
  // Lowercasing can leave a sequence that composes further (rarely): normalise after it too.
  return userName.normalize("NFC").toLowerCase().normalize("NFC");
}
