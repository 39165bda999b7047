import { randomBytes, randomUUID } from 'node:crypto';

/**
 * Ids are made by the application so that both dialects store plain text and
 * a message's id is known before its row is written. A prefix tells the kind
 * of object at a glance in logs and URLs.
 */
export const ID_PREFIXES = {
  message: 'msg',
  contact: 'ct',
  list: 'lst',
  template: 'tpl',
  apiKey: 'key',
  event: 'evt',
} as const;
export type IdKind = keyof typeof ID_PREFIXES;

export function newId(kind: IdKind): string {
  return `${ID_PREFIXES[kind]}_${randomUUID().replaceAll('-', '')}`;
}

/** An RFC 5322 Message-ID (without angle brackets) for a message id and a sending domain. */
export function newMessageId(id: string, domain: string): string {
  return `${id}.${randomBytes(4).toString('hex')}@${domain}`;
}
