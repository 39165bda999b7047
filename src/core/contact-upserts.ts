/**
 * Rows of one batch with the same email folded into one, in order: later
 * attribute keys (a `null` included, so it still removes) and a later status
 * win; the id and time of the first row are kept. Both store dialects need
 * this (PostgreSQL cannot update one row twice in a statement), and so does
 * the import, which sorts a window of rows by email before writing it
 * (src/import/contact-import.ts).
 */
export function combineUpserts<
  R extends { email: string; attributes?: Record<string, unknown>; status?: string },
>(rows: readonly R[]): R[] {
  const byEmail = new Map<string, R>();
  for (const row of rows) {
    const previous = byEmail.get(row.email);
    if (!previous) {
      byEmail.set(row.email, row);
      continue;
    }
    const attributes =
      previous.attributes || row.attributes
        ? { ...previous.attributes, ...row.attributes }
        : undefined;
    const status = row.status ?? previous.status;
    byEmail.set(row.email, {
      ...previous,
      ...(attributes ? { attributes } : {}),
      ...(status !== undefined ? { status } : {}),
    });
  }
  return [...byEmail.values()];
}
