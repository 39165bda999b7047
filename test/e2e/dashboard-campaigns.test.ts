/**
 * The dashboard's campaign pages over plain HTTP: the list and the detail
 * show a campaign with a hostile name and subject as text, the JSON the page
 * polls, and pause / resume / cancel through the page's forms: refused
 * without the CSRF token or from another origin (nothing changes), applied
 * with them (the same state machine as the API: a second pause is 409).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestSluice, TEST_ADMIN_KEY, type TestSluice } from '../helpers/sluice.js';

const FORM = 'application/x-www-form-urlencoded';
const HOSTILE = `<script>window.__pwned=1</script><img src=x onerror=alert(1)>`;

interface CampaignView {
  id: string;
  status: string;
  pause?: { by: string; reason: string };
}

interface Live {
  status: string;
  pause: string;
  actions: string[];
  final: number;
  stats: { targeted: number; variants: { name: string }[] };
}

describe('dashboard campaign pages over HTTP', () => {
  let t: TestSluice;
  let base: string;
  let cookie: string;
  let csrf: string;
  let id: string;

  before(async () => {
    t = await startTestSluice({ sink: { port: 0 } });
    base = t.sluice.url;
    const list = await t.api<{ id: string }>('POST', '/v1/lists', { name: 'readers' });
    assert.equal(list.status, 201, JSON.stringify(list.body));
    const created = await t.api<CampaignView>('POST', '/v1/campaigns', {
      name: `Spring ${HOSTILE}`,
      from: 'news@example.com',
      lists: [list.body.id],
      subject: `Hello ${HOSTILE}`,
      text: 'Hi.',
      variants: [
        { name: `A ${HOSTILE}`, subject: 'A' },
        { name: 'B', subject: 'B' },
      ],
      sendAt: new Date(Date.now() + 24 * 3600_000).toISOString(),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'scheduled');
    id = created.body.id;

    const signIn = await fetch(`${base}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': FORM, origin: base },
      body: `key=${TEST_ADMIN_KEY}`,
    });
    assert.equal(signIn.status, 303);
    cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const page = await (await fetch(`${base}/ui`, { headers: { cookie } })).text();
    csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? '';
    assert.ok(csrf.length > 20);
  });
  after(() => t.close());

  const get = (path: string) =>
    fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
  const post = (path: string, body: string, headers: Record<string, string> = { origin: base }) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': FORM, ...headers },
      body,
    });
  const status = async () => (await t.api<CampaignView>('GET', `/v1/campaigns/${id}`)).body;

  it('lists campaigns and shows one, every name and subject as text', async () => {
    const list = await get('/ui/campaigns');
    assert.equal(list.status, 200);
    const listHtml = await list.text();
    assert.match(listHtml, /<a href="\/ui\/campaigns"[^>]*aria-current="page">Campaigns<\/a>/);
    assert.ok(listHtml.includes(`href="/ui/campaigns/${id}"`));
    assert.ok(listHtml.includes('Spring &lt;script&gt;window.__pwned=1&lt;/script&gt;'));
    assert.ok(!listHtml.includes(HOSTILE), 'the hostile name is never markup');

    const detail = await get(`/ui/campaigns/${id}`);
    assert.equal(detail.status, 200);
    assert.match(detail.headers.get('content-security-policy') ?? '', /script-src 'self'(;|$)/);
    const page = await detail.text();
    assert.ok(!page.includes(HOSTILE), 'the hostile name, subject and variant are never markup');
    assert.ok(page.includes('Hello &lt;script&gt;'), 'the subject as text');
    assert.ok(page.includes('A &lt;script&gt;'), 'the variant name as text');
    assert.doesNotMatch(page, /<script>|<script [^>]*>[^<]/, 'no inline script');
    // Scheduled: pause and cancel are offered, resume is not.
    assert.match(page, /data-action="pause"\s*>/);
    assert.match(page, /data-action="resume"\s*hidden/);
    assert.match(page, /data-action="cancel"\s*>/);
    assert.match(page, new RegExp(`name="_csrf" value="${csrf}"`));

    const live = await get(`/ui/api/campaigns/${id}`);
    assert.equal(live.status, 200);
    const body = (await live.json()) as Live;
    assert.equal(body.status, 'scheduled');
    assert.deepEqual(body.actions, ['pause', 'cancel']);
    assert.equal(body.stats.targeted, 0);
    assert.deepEqual(
      body.stats.variants.map((v) => v.name),
      [`A ${HOSTILE}`, 'B'],
    );
  });

  it('filters the messages page by campaign, named as text', async () => {
    const page = await get(`/ui/messages?campaign=${id}`);
    assert.equal(page.status, 200);
    const text = await page.text();
    assert.ok(!text.includes(HOSTILE));
    assert.ok(text.includes('Messages of campaign Spring &lt;script&gt;'));
    assert.match(text, new RegExp(`<option value="${id}"\\s*selected`));
    const unknown = await (await get('/ui/messages?campaign=campaign_nope')).text();
    assert.match(unknown, /No campaign has the id campaign_nope/);
  });

  it('refuses the JSON and the actions without a session', async () => {
    assert.equal((await fetch(`${base}/ui/api/campaigns/${id}`)).status, 401);
    const noSession = await fetch(`${base}/ui/campaigns/${id}/pause`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': FORM, origin: base },
      body: `_csrf=${csrf}`,
    });
    assert.equal(noSession.status, 303);
    assert.equal(noSession.headers.get('location'), '/ui/login');
    assert.equal((await status()).status, 'scheduled');
  });

  it('changes nothing without the CSRF token or from another origin', async () => {
    const noToken = await post(`/ui/campaigns/${id}/pause`, '');
    assert.equal(noToken.status, 403);
    assert.match(await noToken.text(), /CSRF token/);
    assert.equal((await post(`/ui/campaigns/${id}/pause`, `_csrf=${csrf}x`)).status, 403);
    assert.equal(
      (
        await post(`/ui/campaigns/${id}/cancel`, `_csrf=${csrf}`, {
          origin: 'https://evil.example',
        })
      ).status,
      403,
    );
    assert.equal((await post(`/ui/campaigns/${id}/cancel`, `_csrf=${csrf}`, {})).status, 403);
    assert.equal((await status()).status, 'scheduled', 'nothing changed');
  });

  it('pauses, resumes and cancels through the forms, with the API state machine', async () => {
    const paused = await post(`/ui/campaigns/${id}/pause`, `_csrf=${csrf}`);
    assert.equal(paused.status, 303);
    assert.equal(paused.headers.get('location'), `/ui/campaigns/${id}?done=paused`);
    const view = await status();
    assert.equal(view.status, 'paused');
    assert.deepEqual(
      { by: view.pause?.by, reason: view.pause?.reason },
      { by: 'user', reason: 'paused in the dashboard' },
    );
    const page = await (await get(`/ui/campaigns/${id}?done=paused`)).text();
    assert.match(page, /Campaign paused\./);
    assert.match(page, /Paused by a user at [^:]+:\d\d:\d\dZ: paused in the dashboard/);
    assert.match(page, /data-action="pause"\s*hidden/);
    assert.match(page, /data-action="resume"\s*>/);
    const live = (await (await get(`/ui/api/campaigns/${id}`)).json()) as Live;
    assert.deepEqual(live.actions, ['resume', 'cancel']);
    assert.match(live.pause, /paused in the dashboard/);

    const again = await post(`/ui/campaigns/${id}/pause`, `_csrf=${csrf}`);
    assert.equal(again.status, 409, 'pausing a paused campaign is refused');
    assert.match(await again.text(), /Cannot pause campaign/);

    assert.equal((await post(`/ui/campaigns/${id}/resume`, `_csrf=${csrf}`)).status, 303);
    assert.equal((await status()).status, 'scheduled', 'back to where it was paused');
    assert.equal((await post(`/ui/campaigns/${id}/cancel`, `_csrf=${csrf}`)).status, 303);
    assert.equal((await status()).status, 'cancelled');
    const cancelled = (await (await get(`/ui/api/campaigns/${id}`)).json()) as Live;
    assert.deepEqual(cancelled.actions, []);
  });

  it('answers 404 for an unknown campaign or action', async () => {
    assert.equal((await get('/ui/campaigns/campaign_nope')).status, 404);
    assert.equal((await get('/ui/api/campaigns/campaign_nope')).status, 404);
    assert.equal((await post(`/ui/campaigns/${id}/send`, `_csrf=${csrf}`)).status, 404);
    assert.equal((await post('/ui/campaigns/campaign_nope/pause', `_csrf=${csrf}`)).status, 404);
  });
});
