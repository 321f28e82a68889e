/** Whether a database error is a unique-key violation (SQLite and MySQL/MariaDB wording). */
export function isUniqueViolation(err: unknown): boolean {
  return /UNIQUE constraint|Duplicate entry|ER_DUP_ENTRY/i.test(String((err as Error)?.message ?? err));
}
