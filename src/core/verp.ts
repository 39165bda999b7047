/**
 * VERP (variable envelope return path): each message goes out with its own
 * envelope sender, `bounces+<message id>@<bounce domain>`, so that a bounce
 * that arrives later, as a mail to that address, names the message it is
 * about without parsing the bounce's body. The receiving MTA copies the
 * envelope sender into the Return-Path header.
 */

/** Local part before the `+`: the mailbox the bounce domain's MX delivers to Sluice. */
export const VERP_LOCAL_PART = 'bounces';

/** A Sluice message id (`msg_` + 32 hex digits, see ids.ts); nothing else is read back. */
const MESSAGE_ID = /^msg_[0-9a-f]{32}$/;

/** The envelope sender for message `messageId` under `domain`. */
export function verpAddress(messageId: string, domain: string): string {
  return `${VERP_LOCAL_PART}+${messageId}@${domain.toLowerCase()}`;
}

/**
 * The message id a VERP address carries, or undefined when `address` is not
 * one. Accepts the forms a bounce shows it in: bare, or in angle brackets as
 * in a Return-Path header; the local part's case is ignored (some MTAs
 * lower- or upper-case it). When `domain` is given, the address must be
 * under it.
 */
export function parseVerpAddress(address: string, domain?: string): string | undefined {
  const bare = address.trim().replace(/^<(.*)>$/, '$1');
  const at = bare.lastIndexOf('@');
  if (at < 0) return undefined;
  const local = bare.slice(0, at).toLowerCase();
  if (domain !== undefined && bare.slice(at + 1).toLowerCase() !== domain.toLowerCase()) {
    return undefined;
  }
  const prefix = `${VERP_LOCAL_PART}+`;
  if (!local.startsWith(prefix)) return undefined;
  const id = local.slice(prefix.length);
  return MESSAGE_ID.test(id) ? id : undefined;
}
