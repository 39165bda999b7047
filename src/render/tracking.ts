/**
 * Tracking and unsubscribe, applied to a rendered message in the worker's
 * preparation (time-sliced there, never at accept time):
 *
 * - List-Unsubscribe (the signed https link, and `mailto:` when configured)
 *   with List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058), on
 *   every bulk message, and on transactional ones when
 *   `tracking.transactional` is set;
 * - with `tracking.opens`, a 1×1 pixel at the end of the HTML;
 * - with `tracking.clicks`, every `href` of an `<a>` whose target is
 *   http(s) rewritten to a signed redirect. mailto:, tel:, anchors and links
 *   to Sluice's own tracking endpoints are left alone.
 *
 * Only the HTML part is touched: a text part has no markup to hide a
 * redirect behind, and rewriting visible URLs would make them unreadable.
 * Every URL written here is `<publicUrl>/t/<kind>/<token>`, base64url only,
 * so nothing needs escaping in HTML or in a header.
 */
import type { TrackingConfig } from '../config/config.js';
import type { ClaimedMessage } from '../core/message.js';
import { signToken, type TrackingClaim } from '../core/tracking-token.js';
import type { RenderedContent } from './compose.js';

export interface TrackedContent {
  content: RenderedContent;
  /** Headers Sluice adds; they replace custom headers of the same name. */
  headers: [string, string][];
}

/** The tracking URL of a claim: `<publicUrl>/t/<kind>/<token>`. */
export function trackingUrl(publicUrl: string, secret: string, claim: TrackingClaim): string {
  return `${publicUrl}/t/${claim.kind}/${signToken(secret, claim)}`;
}

export function applyTracking(
  config: TrackingConfig | undefined,
  message: ClaimedMessage,
  content: RenderedContent,
): TrackedContent {
  const { publicUrl, secret } = config ?? {};
  if (!config || !publicUrl || !secret) return { content, headers: [] };
  if (message.stream !== 'bulk' && !config.transactional) return { content, headers: [] };
  const url = (claim: TrackingClaim) => trackingUrl(publicUrl, secret, claim);
  const messageId = message.id;
  const targets = [`<${url({ kind: 'u', messageId })}>`];
  if (config.unsubscribeMailto)
    targets.push(`<mailto:${config.unsubscribeMailto}?subject=unsubscribe>`);
  const headers: [string, string][] = [
    ['List-Unsubscribe', targets.join(', ')],
    ['List-Unsubscribe-Post', 'List-Unsubscribe=One-Click'],
  ];
  if (content.html === undefined) return { content, headers };
  let html = content.html;
  if (config.clicks) {
    html = rewriteLinks(html, publicUrl, (target) => url({ kind: 'c', messageId, url: target }));
  }
  if (config.opens) html = addPixel(html, url({ kind: 'o', messageId }));
  return { content: { ...content, html }, headers };
}

/** `href` attributes of `<a>` tags, quoted either way. */
const ANCHOR_HREF = /(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2/gis;

/** Rewrites the http(s) links of `<a>` tags through `redirect`; see the header comment. */
export function rewriteLinks(
  html: string,
  publicUrl: string,
  redirect: (target: string) => string,
): string {
  return html.replace(ANCHOR_HREF, (whole, prefix: string, quote: string, raw: string) => {
    const target = decodeAttribute(raw.trim());
    if (!/^https?:\/\//i.test(target)) return whole;
    if (target.startsWith(`${publicUrl}/t/`)) return whole;
    return `${prefix}${quote}${redirect(target)}${quote}`;
  });
}

/** The pixel, before `</body>` when there is one, else at the end. */
export function addPixel(html: string, src: string): string {
  const pixel = `<img src="${src}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">`;
  const close = html.search(/<\/body\s*>/i);
  return close === -1 ? html + pixel : html.slice(0, close) + pixel + html.slice(close);
}

/** The character references that occur in URLs; the redirect must go to the URL the reader saw. */
function decodeAttribute(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_m, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
