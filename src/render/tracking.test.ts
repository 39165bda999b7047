import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TrackingConfig } from '../config/config.js';
import type { ClaimedMessage } from '../core/message.js';
import { verifyToken } from '../core/tracking-token.js';
import { addPixel, applyTracking, rewriteLinks } from './tracking.js';

const PUBLIC = 'https://t.example.com';
const SECRET = 's'.repeat(32);
const config: TrackingConfig = {
  publicUrl: PUBLIC,
  secret: SECRET,
  opens: true,
  clicks: true,
  unsubscribeMailto: 'unsub@example.com',
};

test('rewriteLinks: http(s) hrefs of <a> only, entities decoded for the target', () => {
  const seen: string[] = [];
  const redirect = (target: string) => {
    seen.push(target);
    return `R${seen.length}`;
  };
  const html = [
    '<a href="https://a.test/x?y=1&amp;z=2">a</a>',
    "<A class=b HREF='http://b.test/'>b</A>",
    '<a href="mailto:x@y.test">m</a>',
    '<a href="#top">t</a>',
    '<a href="tel:+1">p</a>',
    `<a href="${PUBLIC}/t/u/abc">u</a>`,
    '<img src="https://img.test/i.png">',
    '<link href="https://css.test/s.css">',
  ].join('');
  const out = rewriteLinks(html, PUBLIC, redirect);
  assert.deepEqual(seen, ['https://a.test/x?y=1&z=2', 'http://b.test/']);
  assert.match(out, /<a href="R1">a<\/a><A class=b HREF='R2'>b<\/A>/);
  for (const kept of [
    'mailto:x@y.test',
    '#top',
    'tel:+1',
    `${PUBLIC}/t/u/abc`,
    'https://img.test/i.png',
    'https://css.test/s.css',
  ]) {
    assert.ok(out.includes(kept), kept);
  }
});

test('addPixel: before </body>, else at the end', () => {
  assert.match(addPixel('<body>x</body>', 'P'), /^<body>x<img src="P"[^>]*><\/body>$/);
  assert.match(addPixel('x', 'P'), /^x<img src="P"/);
});

function message(stream: 'bulk' | 'transactional'): ClaimedMessage {
  return { id: 'msg_1', stream, headers: {} } as unknown as ClaimedMessage;
}

test('applyTracking: bulk gets both List-Unsubscribe headers, a pixel and signed links', () => {
  const { content, headers } = applyTracking(config, message('bulk'), {
    subject: 's',
    html: '<p><a href="https://a.test/">a</a></p>',
    text: 'https://a.test/',
  });
  const [unsub, post] = headers;
  assert.equal(post?.[1], 'List-Unsubscribe=One-Click');
  const match =
    /^<https:\/\/t\.example\.com\/t\/u\/([^>]+)>, <mailto:unsub@example\.com\?subject=unsubscribe>$/.exec(
      unsub?.[1] ?? '',
    );
  assert.ok(match, unsub?.[1]);
  assert.deepEqual(verifyToken(SECRET, match[1] ?? ''), { kind: 'u', messageId: 'msg_1' });
  const click = /href="https:\/\/t\.example\.com\/t\/c\/([^"]+)"/.exec(content.html ?? '');
  assert.deepEqual(verifyToken(SECRET, click?.[1] ?? ''), {
    kind: 'c',
    messageId: 'msg_1',
    url: 'https://a.test/',
  });
  assert.match(content.html ?? '', /<img src="https:\/\/t\.example\.com\/t\/o\/[^"]+"/);
  assert.equal(content.text, 'https://a.test/', 'the text part is left alone');
});

test('applyTracking: transactional only when opted in; nothing without publicUrl', () => {
  const content = { subject: 's', html: '<a href="https://a.test/">a</a>' };
  assert.deepEqual(applyTracking(config, message('transactional'), content), {
    content,
    headers: [],
  });
  assert.equal(
    applyTracking({ ...config, transactional: true }, message('transactional'), content).headers
      .length,
    2,
  );
  assert.deepEqual(applyTracking({ opens: true, clicks: true }, message('bulk'), content), {
    content,
    headers: [],
  });
  assert.deepEqual(applyTracking(undefined, message('bulk'), content), { content, headers: [] });
});
