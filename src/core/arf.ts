/**
 * Reading an ARF feedback report (RFC 5965): the message a mailbox
 * provider's feedback loop sends when a recipient marks mail as spam. It is
 * a multipart/report with three parts: a human-readable text, a
 * `message/feedback-report` of `Name: value` fields (Feedback-Type,
 * Original-Rcpt-To …), and the original message or its headers
 * (`message/rfc822` or `text/rfc822-headers`).
 *
 * What Sluice takes from it: the feedback type, the recipient
 * (Original-Rcpt-To, else Removal-Recipient), and the Sluice message id from
 * the original's Message-ID (Sluice writes `<msg_….<random>@domain>`,
 * core/ids.ts). Providers that redact the recipient leave only the message
 * id; the caller then takes the recipient from the stored message.
 */

export interface FeedbackReport {
  feedbackType?: string;
  /** The complaining recipient, when the report names one. */
  recipient?: string;
  /** The Sluice message id (`msg_…`) found in the original's Message-ID. */
  messageId?: string;
}

interface Part {
  headers: Map<string, string>;
  body: string;
}

/** Splits a header block and its body; header names lower-cased, folded lines joined. */
function splitEntity(text: string): Part {
  const match = /\r?\n\r?\n/.exec(text);
  const head = match ? text.slice(0, match.index) : text;
  const body = match ? text.slice(match.index + match[0].length) : '';
  return { headers: parseFields(head), body };
}

/** `Name: value` lines (RFC 5322 header syntax, which the feedback report also uses). */
function parseFields(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!fields.has(name)) fields.set(name, line.slice(colon + 1).trim());
  }
  return fields;
}

function decoded(part: Part): string {
  const encoding = part.headers.get('content-transfer-encoding')?.toLowerCase();
  return encoding === 'base64'
    ? Buffer.from(part.body.replace(/\s+/g, ''), 'base64').toString('utf8')
    : part.body;
}

function mediaType(part: Part): string {
  return (
    (part.headers.get('content-type') ?? 'text/plain').split(';')[0]?.trim().toLowerCase() ?? ''
  );
}

/** `rfc822; a@b`, `<a@b>` or `a@b` → `a@b`. */
function address(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const bare = value.replace(/^[a-z0-9-]+\s*;/i, '').trim();
  const inner = /<([^>]+)>/.exec(bare)?.[1] ?? bare;
  return /^[^\s@<>]+@[^\s@<>]+$/.test(inner) ? inner : undefined;
}

/** The report's parts, or undefined when `raw` is not a multipart/report. */
function reportParts(raw: string): Part[] | undefined {
  const top = splitEntity(raw);
  const contentType = top.headers.get('content-type') ?? '';
  if (!/^multipart\/report/i.test(contentType)) return undefined;
  const boundary = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (!marker) return undefined;
  const delimiter = `--${marker}`;
  const chunks = top.body.split(delimiter).slice(1);
  const parts: Part[] = [];
  for (const chunk of chunks) {
    if (chunk.startsWith('--')) break;
    parts.push(splitEntity(chunk.replace(/^[ \t]*\r?\n/, '')));
  }
  return parts;
}

/** What the report says, or undefined when it is not an ARF report (no feedback-report part). */
export function readFeedbackReport(raw: string): FeedbackReport | undefined {
  const parts = reportParts(raw);
  const report = parts?.find((p) => mediaType(p) === 'message/feedback-report');
  if (!parts || !report) return undefined;
  const fields = parseFields(decoded(report));
  const original = parts.find((p) =>
    ['message/rfc822', 'text/rfc822-headers'].includes(mediaType(p)),
  );
  const originalHeaders = original ? splitEntity(decoded(original)).headers : undefined;
  const messageIdHeader = originalHeaders?.get('message-id');
  const messageId = /<?(msg_[0-9a-f]+)\./i.exec(messageIdHeader ?? '')?.[1];
  const recipient =
    address(fields.get('original-rcpt-to')) ?? address(fields.get('removal-recipient'));
  const feedbackType = fields.get('feedback-type')?.toLowerCase();
  return {
    ...(feedbackType ? { feedbackType } : {}),
    ...(recipient ? { recipient } : {}),
    ...(messageId ? { messageId } : {}),
  };
}
