/**
 * Contact attributes are merged key by key: a key in the patch replaces the
 * stored value, a `null` removes the key, keys not in the patch stay. Only
 * the top level is merged; nested objects are replaced whole.
 */
export function mergeAttributes(
  stored: Record<string, unknown>,
  patch: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...stored };
  if (!patch) return merged;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/** The patch as two parts: the keys to set, the keys to remove. */
export function splitAttributePatch(patch: Record<string, unknown> | undefined): {
  set: Record<string, unknown>;
  remove: string[];
} {
  const set: Record<string, unknown> = {};
  const remove: string[] = [];
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === null) remove.push(key);
    else if (value !== undefined) set[key] = value;
  }
  return { set, remove };
}

/**
 * Rows of one batch with the same email folded into one, in order: later
 * attribute keys (a `null` included, so it still removes) and a later status
 * win; the id and time of the first row are kept. Both dialects need this:
 * PostgreSQL cannot update one row twice in a statement.
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
