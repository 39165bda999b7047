/** Durations and sizes are parsed once, at load, into milliseconds and bytes. */

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SIZE_UNITS = { b: 1, kb: 1024, mb: 1024 * 1024, gb: 1024 * 1024 * 1024 } as const;

/** "250ms", "30s", "5m", "2h", "3d", or a number of milliseconds. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value.trim());
  if (!match) throw new Error(`not a duration: ${value}`);
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] as keyof typeof DURATION_UNITS]);
}

/** Bytes, or "512kb", "10mb", "1gb". */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+)\s*(b|kb|mb|gb)$/.exec(value.trim());
  if (!match) throw new Error(`not a size: ${value}`);
  return Number(match[1]) * SIZE_UNITS[match[2] as keyof typeof SIZE_UNITS];
}
