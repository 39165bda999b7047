/**
 * The one escaping helper of the dashboard. Pages are built with the `html`
 * tagged template: every interpolated value is escaped unless it is already
 * `SafeHtml` (the result of another `html` template, or of `raw` for the few
 * constant fragments that need it); arrays are joined. So a subject line,
 * a bounce text or an address reaches the page as text whatever it holds.
 *
 * Escaped: & < > " ' (and `, for attribute values some old parsers ended
 * on); enough for element content and quoted attribute values, which is the
 * only place pages put values. Never interpolate into a <script>, a style,
 * an unquoted attribute or a URL scheme position: the pages have no inline
 * script at all (the CSP forbids it), and URLs are built with encodeURIComponent.
 */

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Marks a constant fragment as HTML. Never pass user-supplied text. */
export function raw(value: string): SafeHtml {
  return new SafeHtml(value);
}

export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}
