/**
 * SLUICE_* environment variables: one per configuration key, named after its
 * path (http.bodyLimit → SLUICE_HTTP_BODY_LIMIT, delivery.retry.maxAge →
 * SLUICE_DELIVERY_RETRY_MAX_AGE). Arrays (relays, pools) take JSON.
 */
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema } from './schema.js';

export interface EnvTarget {
  path: string[];
  schema: TSchema;
}

/** Short names for the settings scripts set most. */
const ALIASES: Record<string, string[]> = {
  SLUICE_ADMIN_API_KEY: ['auth', 'adminApiKey'],
};

export function envName(path: string[]): string {
  return (
    'SLUICE_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')
  );
}

/** Every variable name Sluice reads, with the key it sets. */
export function envVariables(): Map<string, EnvTarget> {
  const out = new Map<string, EnvTarget>();
  const walk = (schema: TSchema, path: string[]): void => {
    if (schema.type === 'object' && schema.properties) {
      for (const [key, inner] of Object.entries(schema.properties as Record<string, TSchema>)) {
        walk(inner, [...path, key]);
      }
      return;
    }
    out.set(envName(path), { path, schema });
  };
  walk(ConfigSchema, []);
  for (const [name, path] of Object.entries(ALIASES)) {
    const target = [...out.values()].find((t) => t.path.join('.') === path.join('.'));
    if (target) out.set(name, target);
  }
  return out;
}

/** Converts a variable's text to the type its key wants. */
export function parseEnvValue(
  name: string,
  text: string,
  schema: TSchema,
  fail: (message: string) => Error,
): unknown {
  const types = acceptedTypes(schema);
  if (types.has('array') || types.has('object')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw fail(`environment variable ${name} must hold JSON: ${(error as Error).message}`);
    }
  }
  if ((types.has('integer') || types.has('number')) && /^-?\d+(\.\d+)?$/.test(text.trim())) {
    return Number(text);
  }
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  // Strings, and anything else, are validated as given by the schema check.
  return text;
}

function acceptedTypes(schema: TSchema): Set<string> {
  if (Array.isArray(schema.anyOf)) {
    return new Set((schema.anyOf as TSchema[]).flatMap((s) => [...acceptedTypes(s)]));
  }
  return new Set(typeof schema.type === 'string' ? [schema.type] : []);
}
