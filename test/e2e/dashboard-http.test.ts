/**
 * The dashboard's security over plain HTTP (no browser needed): sign-in,
 * the cookie's attributes, pages and JSON refused without a session, CSP
 * and framing headers, CSRF and origin checks on state changes, and the
 * captured HTML served under its own locked-down policy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  sendTestMessage,
  startTestSluice,
  TEST_ADMIN_KEY,
  waitFor,
  type TestSluice,
} from '../helpers/sluice.js';

const FORM = 'application/x-www-form-urlencoded';

describe('dashboard over HTTP', () => {
  let t: TestSluice;
  let base: string;
  let cookie: string;
  let csrf: string;

  before(async () => {
    t = await startTestSluice({ sink: { port: 0 } });
    base = t.sluice.url;
  });
  after(() => t.close());

  it('refuses a wrong key, signs in with a right one, and sets a strict cookie', async () => {
    const wrong = await fetch(`${base}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': FORM, origin: base },
      body: 'key=sk_wrong',
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);

    const crossSite = await fetch(`${base}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': FORM, origin: 'https://evil.example' },
      body: `key=${TEST_ADMIN_KEY}`,
    });
    assert.equal(crossSite.status, 403, 'sign-in from another origin');

    const ok = await fetch(`${base}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': FORM, origin: base },
      body: `key=${TEST_ADMIN_KEY}`,
    });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/ui');
    const setCookie = ok.headers.get('set-cookie') ?? '';
    assert.match(
      setCookie,
      /^sluice_session=v1\.[^;]+; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=43200$/,
    );
    cookie = setCookie.split(';')[0] ?? '';
    const page = await fetch(`${base}/ui`, { headers: { cookie } });
    assert.equal(page.status, 200);
    const body = await page.text();
    csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(body)?.[1] ?? '';
    assert.ok(csrf.length > 20);
    assert.doesNotMatch(body, /<script>|<script [^>]*>[^<]/, 'no inline script');
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  });

  it('sends pages to sign-in and refuses the JSON without a session, or with a forged one', async () => {
    const page = await fetch(`${base}/ui/messages`, { redirect: 'manual' });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/ui/login');
    const json = await fetch(`${base}/ui/api/overview`);
    assert.equal(json.status, 401);
    assert.equal(
      ((await json.json()) as { error: { code: string } }).error.code,
      'ERR_AUTH_REQUIRED',
    );
    const forged = cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'));
    assert.equal(
      (await fetch(`${base}/ui/api/relays`, { headers: { cookie: forged } })).status,
      401,
    );
    const live = await fetch(`${base}/ui/api/overview?since=0`, { headers: { cookie } });
    assert.equal(live.status, 200);
    assert.ok(Array.isArray(((await live.json()) as { points: unknown[] }).points));
  });

  it('changes nothing without the CSRF token or from another origin', async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${base}/ui/suppressions`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie, 'content-type': FORM, ...headers },
        body,
      });
    const noToken = await post({ origin: base }, 'email=a@example.com');
    assert.equal(noToken.status, 403);
    assert.match(await noToken.text(), /CSRF token/);
    assert.equal((await post({ origin: base }, `email=a@example.com&_csrf=${csrf}x`)).status, 403);
    assert.equal(
      (await post({ origin: 'https://evil.example' }, `email=a@example.com&_csrf=${csrf}`)).status,
      403,
    );
    assert.equal((await post({}, `email=a@example.com&_csrf=${csrf}`)).status, 403, 'no Origin');
    assert.equal((await t.api('GET', '/v1/suppressions/a@example.com')).status, 404);

    const done = await post({ origin: base }, `email=a@example.com&reason=test&_csrf=${csrf}`);
    assert.equal(done.status, 303);
    assert.equal((await t.api('GET', '/v1/suppressions/a@example.com')).status, 200);
    const bad = await post({ origin: base }, `email=not-an-address&_csrf=${csrf}`);
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /email/);
  });

  it('serves captured HTML under a policy that runs nothing and loads nothing', async () => {
    await sendTestMessage(t, 'x@example.com', { html: '<p>x<script>alert(1)</script></p>' });
    const list = await waitFor('the captured message', async () => {
      const text = await (await fetch(`${base}/ui/captured`, { headers: { cookie } })).text();
      return /href="\/ui\/captured\/([^"]+)"/.exec(text)?.[1];
    });
    const detail = await (
      await fetch(`${base}/ui/captured/${list}`, { headers: { cookie } })
    ).text();
    assert.match(detail, /<iframe[^>]*sandbox=""/);
    const raw = await fetch(`${base}/ui/captured/${list}/html`, { headers: { cookie } });
    assert.equal(
      raw.headers.get('content-security-policy'),
      "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'",
    );
  });

  it('signs out', async () => {
    const out = await fetch(`${base}/ui/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': FORM, origin: base },
      body: `_csrf=${csrf}`,
    });
    assert.equal(out.status, 303);
    assert.match(out.headers.get('set-cookie') ?? '', /^sluice_session=; Path=\/ui;.*Max-Age=0/);
  });

  it('is not in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: object };
    assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/ui')));
  });
});
