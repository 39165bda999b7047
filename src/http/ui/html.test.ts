import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, html, raw, type SafeHtml } from './html.js';

/** Prettier reflows html`` templates: compare without the line breaks it adds. */
const flat = (h: SafeHtml) => h.toString().replace(/\s*\n\s*/g, '');

describe('dashboard HTML escaping', () => {
  it('escapes the characters that end text or a quoted attribute', () => {
    assert.equal(
      escapeHtml(`<script>alert("x")</script> & 'y' \`z\``),
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39; &#96;z&#96;',
    );
    assert.equal(escapeHtml('plain text'), 'plain text');
  });

  it('escapes every interpolated value, nests templates without double escaping, joins arrays', () => {
    const subject = '<img src=x onerror="window.__pwned=1">';
    const row = (s: string) => html`<td title="${s}">${s}</td>`;
    const page = html`<table>
        ${[row(subject), row('a&b')]}
      </table>
      ${raw('<hr>')}${undefined}${null}${false}${0}`;
    assert.equal(
      flat(page),
      '<table><td title="&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;">&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;</td><td title="a&amp;b">a&amp;b</td></table><hr>0',
    );
  });

  it('cannot be broken out of a quoted attribute', () => {
    const value = `" autofocus onfocus="alert(1)`;
    const out = html`<input value="${value}" />`.toString();
    assert.match(out, /^<input value="&quot; autofocus onfocus=&quot;alert\(1\)"( \/)?>$/);
    assert.equal(out.split('"').length - 1, 2, 'only the two quotes of the attribute remain');
  });
});
