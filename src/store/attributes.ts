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
