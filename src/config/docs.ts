/**
 * The configuration reference, generated from the schema so that every key
 * is documented and the document cannot drift (a test compares it with
 * docs/configuration.md; `sluice config-docs` prints it).
 */
import type { TSchema } from '@sinclair/typebox';
import { describeExpected } from './load.js';
import { envName } from './env.js';
import { ConfigSchema } from './schema.js';

export const REFERENCE_BEGIN = '<!-- BEGIN GENERATED: sluice config-docs -->';
export const REFERENCE_END = '<!-- END GENERATED -->';

interface Row {
  key: string;
  env?: string;
  expected: string;
  default: string;
  description: string;
}

function expectedWords(schema: TSchema, inArray: boolean): string {
  if (schema.type === 'array') {
    const items: unknown = (schema.items as TSchema | undefined)?.type;
    const of = items === 'integer' ? 'integers' : items === 'object' ? 'objects' : 'strings';
    return inArray ? `array of ${of}` : 'array (JSON in the environment)';
  }
  const description = String(schema.description ?? '');
  if (description.includes('A duration:')) return 'duration';
  if (description.includes('A size:')) return 'size';
  return describeExpected(schema);
}

export function configReference(): string {
  const rows: Row[] = [];
  const walk = (schema: TSchema, path: string[], key: string, inArray: boolean): void => {
    const isObject = schema.type === 'object' && schema.properties !== undefined;
    if (path.length > 0) {
      rows.push({
        key,
        ...(inArray || isObject ? {} : { env: envName(path) }),
        expected: isObject ? 'object' : expectedWords(schema, inArray),
        default: schema.default === undefined || isObject ? '' : JSON.stringify(schema.default),
        description: String(schema.description ?? ''),
      });
    }
    if (isObject) {
      for (const [name, inner] of Object.entries(schema.properties as Record<string, TSchema>)) {
        walk(inner, [...path, name], key ? `${key}.${name}` : name, inArray);
      }
    } else if (schema.type === 'array' && (schema.items as TSchema).type === 'object') {
      walk(schema.items as TSchema, path, `${key}[]`, true);
    }
  };
  walk(ConfigSchema, [], '', false);
  const escape = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const lines = [
    REFERENCE_BEGIN,
    '| key | environment | expected | default | meaning |',
    '|---|---|---|---|---|',
    ...rows
      .filter((r) => !r.key.endsWith('[]') || r.description)
      .map(
        (r) =>
          `| \`${r.key}\` | ${r.env ? `\`${r.env}\`` : ''} | ${escape(r.expected)} | ${r.default ? `\`${escape(r.default)}\`` : ''} | ${escape(r.description)} |`,
      ),
    REFERENCE_END,
  ];
  return lines.join('\n') + '\n';
}
