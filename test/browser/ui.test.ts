/**
 * The dashboard in a real browser: playwright-core driving Debian's
 * Chromium (/usr/bin/chromium; `.ci/run` installs it). Skipped, saying
 * why, when it is not installed.
 *
 * Two Sluice nodes: one on the embedded defaults (the capture relay), for
 * captured mail and a hostile template; one in front of a relay farm, for
 * live progress, a relay going down and coming back, and a hostile bounce
 * text. Every page is screenshotted to test-artifacts/ui/.
 *
 * "Inert" is checked, not assumed: every hostile string tries to set
 * `window.__pwned` (in the page, or in the parent from the iframe) or to
 * open a dialog; the test fails if either happens.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CAMPAIGN_HOLD } from '../../src/core/ports/store.js';
import { startScriptedRelay, type ScriptedRelay } from '../helpers/smtp-farm.js';
import {
  relayAt,
  sendTestMessage,
  startTestSluice,
  TEST_ADMIN_KEY,
  waitFor,
  type TestSluice,
} from '../helpers/sluice.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'ui');
const SKIP = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (apt-get install -y chromium): browser tests skipped`;

const HOSTILE_SUBJECT = `<img src=x onerror="window.__pwned='subject'"><script>window.__pwned='subject'</script>`;
const HOSTILE_HTML = `<p>Hi</p><script>parent.__pwned='iframe';alert('iframe')</script><img src=x onerror="parent.__pwned='img'"><a href="javascript:parent.__pwned='link'">x</a>`;
const HOSTILE_BOUNCE = `550 5.1.1 <script>window.__pwned='bounce'</script><img src=x onerror=alert(1)> no such user`;

async function signIn(page: Page, t: TestSluice): Promise<void> {
  await page.goto(`${t.sluice.url}/ui`);
  assert.match(page.url(), /\/ui\/login$/, 'signed out: sent to the sign-in page');
  await page.fill('#key', TEST_ADMIN_KEY);
  await Promise.all([page.waitForURL(/\/ui$/), page.click('button[type=submit]')]);
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

describe('dashboard in a browser', { skip: SKIP }, () => {
  let browser: Browser;
  const closers: (() => Promise<unknown>)[] = [];
  let dialogs = 0;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });

  after(async () => {
    await browser?.close();
    for (const close of closers.reverse()) await close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    page.on('dialog', (dialog) => {
      dialogs++;
      void dialog.dismiss();
    });
    return page;
  }

  async function assertInert(page: Page): Promise<void> {
    // Expressions as strings: the test is compiled without the DOM library.
    const flag = await page.evaluate<string | undefined>('window.__pwned');
    assert.equal(flag, undefined, 'no hostile script ran');
    assert.equal(dialogs, 0, 'no dialog opened');
  }

  it('embedded setup: sign in, captured mail with a hostile template stays inert, suppressions', async () => {
    const t = await startTestSluice({ sink: { port: 0 }, dashboard: { sampleInterval: '500ms' } });
    closers.push(() => t.close());
    const page = await newPage();
    await page.goto(`${t.sluice.url}/ui`);
    await shot(page, 'login');
    await signIn(page, t);

    // A stored template with a hostile subject and body, sent and captured.
    const template = await t.api<{ id: string }>('POST', '/v1/templates', {
      name: 'hostile',
      subject: HOSTILE_SUBJECT,
      html: HOSTILE_HTML,
      text: 'plain <b>text</b>',
    });
    assert.equal(template.status, 201);
    const id = await sendTestMessage(t, 'reader@example.com', {
      templateId: template.body.id,
      subject: undefined,
      text: undefined,
    });
    await waitFor('the message captured', async () => {
      const view = await t.api<{ status: string }>('GET', `/v1/messages/${id}`);
      return view.body.status === 'delivered' ? true : undefined;
    });

    await page.goto(`${t.sluice.url}/ui/captured`);
    await page.click('#captured tbody a');
    await page.waitForSelector('iframe.mail');
    // The element comes first; its frame navigates to the HTML a moment later (on a busy machine, later).
    const frame = await waitFor('the HTML in its own frame', () =>
      page.frames().find((f) => f.url().endsWith('/html')),
    );
    await frame.waitForLoadState();
    assert.equal(
      await page.getAttribute('iframe.mail', 'sandbox'),
      '',
      'sandbox without allow-scripts',
    );
    assert.equal(
      (await page.textContent('h1'))?.trim(),
      HOSTILE_SUBJECT,
      'the subject shown as text',
    );
    assert.match((await page.textContent('#text')) ?? '', /plain <b>text<\/b>/);
    await shot(page, 'captured');
    await assertInert(page);

    // Messages: search by recipient, then open it.
    await page.goto(`${t.sluice.url}/ui/messages`);
    await page.fill('input[name=q]', 'reader@example.com');
    await Promise.all([page.waitForURL(/q=reader/), page.press('input[name=q]', 'Enter')]);
    await page.click(`a[href="/ui/messages/${id}"]`);
    await page.waitForSelector('#attempts');
    assert.match((await page.textContent('#message')) ?? '', /delivered/);
    await assertInert(page);

    // Suppressions: add with a hostile reason, find it, remove it.
    await page.goto(`${t.sluice.url}/ui/suppressions`);
    await page.fill('#add-suppression input[name=email]', 'blocked@example.com');
    await page.fill(
      '#add-suppression input[name=reason]',
      `<script>window.__pwned='reason'</script>`,
    );
    await Promise.all([page.waitForURL(/done=/), page.click('#add-suppression button')]);
    const row = page.locator('tr[data-email="blocked@example.com"]');
    assert.match((await row.textContent()) ?? '', /<script>window.__pwned='reason'<\/script>/);
    await shot(page, 'suppressions');
    await assertInert(page);
    await Promise.all([page.waitForURL(/done=/), row.locator('button').click()]);
    assert.equal(await page.locator('tr[data-email="blocked@example.com"]').count(), 0);
    assert.equal((await t.api('GET', '/v1/suppressions/blocked@example.com')).status, 404);

    // A form posted without the CSRF token is refused.
    const refused = await page.evaluate(async () => {
      const r = await fetch('/ui/suppressions', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'email=x@example.com',
      });
      return r.status;
    });
    assert.equal(refused, 403);

    await Promise.all([page.waitForURL(/\/ui\/login$/), page.click('header button')]);
    await page.goto(`${t.sluice.url}/ui/relays`);
    assert.match(page.url(), /\/ui\/login$/, 'signed out');
  });

  it('relay farm: live progress, a relay down and back, a hostile bounce text', async () => {
    const relays: ScriptedRelay[] = [];
    const behaviour = (rcpt: string) =>
      rcpt.startsWith('slow')
        ? { slowMs: 150 }
        : rcpt.startsWith('bounce')
          ? { reply: HOSTILE_BOUNCE }
          : ('accept' as const);
    relays.push(await startScriptedRelay({ behaviour }));
    let b = await startScriptedRelay({ behaviour });
    const bPort = b.port;
    closers.push(() => Promise.all([...relays.map((r) => r.close()), b.close()]));
    const t = await startTestSluice({
      relays: [
        relayAt(relays[0]?.port ?? 0, 'mx-a', { maxConnections: 2 }),
        relayAt(bPort, 'mx-b', { maxConnections: 2 }),
      ],
      health: {
        failureThreshold: 1,
        cooldown: '300ms',
        maxCooldown: '600ms',
        probeInterval: '200ms',
      },
      delivery: { retry: { initialDelay: '100ms', maxDelay: '300ms', jitter: 0, maxAge: '60s' } },
      throttles: {
        domainGroups: [
          { name: 'example', domains: ['example.com'], maxConnections: 3, perSecond: 200 },
        ],
      },
      dashboard: { sampleInterval: '500ms' },
      alerts: { rules: [{ name: 'relay-down', kind: 'relay-down' }], evaluateInterval: '200ms' },
    });
    closers.push(() => t.close());
    const page = await newPage();
    await signIn(page, t);

    // Live progress: messages to slow recipients go out while the page watches.
    for (let i = 0; i < 60; i++) await sendTestMessage(t, `slow${i}@example.com`);
    // Polled from here: the page's CSP forbids the string evaluation waitForFunction uses.
    const delivered = async () => Number(await page.textContent('[data-stat=totalDelivered]'));
    const first = await waitFor('deliveries on the overview', async () =>
      (await delivered()) > 0 ? delivered() : undefined,
    );
    await waitFor('the count to move', async () =>
      (await delivered()) > first ? true : undefined,
    );
    assert.ok(
      Number(await page.getAttribute('body', 'data-points')) >= 2,
      'the charts have points',
    );
    await shot(page, 'overview');

    // A relay goes down and comes back, seen on the relays page without reloading.
    await page.goto(`${t.sluice.url}/ui/relays`);
    await page.waitForSelector('tr[data-relay="mx-b"][data-state="closed"]');
    await b.close();
    for (let i = 0; i < 6; i++) await sendTestMessage(t, `user${i}@example.com`);
    await page.waitForSelector('tr[data-relay="mx-b"]:not([data-state="closed"])', {
      timeout: 15_000,
    });
    await shot(page, 'relays-down');
    await page.goto(`${t.sluice.url}/ui/alerts`);
    assert.match((await page.textContent('#firing')) ?? '', /relay-down\s*mx-b/);
    await shot(page, 'alerts');
    await page.goto(`${t.sluice.url}/ui/relays`);
    b = await startScriptedRelay({ behaviour, port: bPort });
    await page.waitForSelector('tr[data-relay="mx-b"][data-state="closed"]', { timeout: 15_000 });
    await shot(page, 'relays');

    // A hostile bounce text, in the attempts of its message.
    const bounced = await sendTestMessage(t, 'bounce@example.com');
    await waitFor('the bounce', async () => {
      const view = await t.api<{ status: string }>('GET', `/v1/messages/${bounced}`);
      return view.body.status === 'bounced' ? true : undefined;
    });
    await page.goto(`${t.sluice.url}/ui/messages?q=${bounced}`);
    assert.match(
      page.url(),
      new RegExp(`/ui/messages/${bounced}$`),
      'an id goes straight to the message',
    );
    const reply = (await page.textContent('#attempts tbody')) ?? '';
    assert.ok(reply.includes(`<script>window.__pwned='bounce'</script>`), 'the reply line as text');
    assert.match(reply, /bad-mailbox/);
    await shot(page, 'message');
    await assertInert(page);
  });

  it('campaign: progress moves live, pause holds its queued messages, resume finishes it; a hostile name stays inert', async () => {
    const relay = await startScriptedRelay({ behaviour: () => ({ slowMs: 250 }) });
    closers.push(() => relay.close());
    const t = await startTestSluice({
      // Two connections of 250 ms each: 100 recipients take at least 12.5 s.
      relays: [relayAt(relay.port, 'mx', { maxConnections: 2 })],
      // The worker claims no more than it can send at once: a pause holds the rest.
      delivery: { pollInterval: '50ms', concurrency: 2, claimBatch: 2 },
      campaigns: { pollInterval: '50ms' },
      dashboard: { sampleInterval: '500ms' },
    });
    closers.push(() => t.close());
    const RECIPIENTS = 100;
    const csv = `email\n${Array.from({ length: RECIPIENTS }, (_, i) => `reader${i}@example.com`).join('\n')}\n`;
    const imported = await fetch(`${t.sluice.url}/v1/contacts/import?list=readers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'text/csv' },
      body: csv,
    });
    assert.equal(imported.status, 200, await imported.text());
    const lists = await t.api<{ items: { id: string; name: string }[] }>('GET', '/v1/lists');
    const listId = lists.body.items.find((l) => l.name === 'readers')?.id ?? '';
    const created = await t.api<{ id: string }>('POST', '/v1/campaigns', {
      name: `Launch ${HOSTILE_SUBJECT}`,
      from: 'news@example.com',
      lists: [listId],
      subject: HOSTILE_SUBJECT,
      text: 'Hello.',
      variants: [
        { name: `A ${HOSTILE_SUBJECT}`, subject: 'A' },
        { name: 'B', subject: 'B' },
      ],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;

    const page = await newPage();
    await signIn(page, t);
    await page.click('nav a[href="/ui/campaigns"]');
    await page.click(`a[href="/ui/campaigns/${id}"]`);
    await page.waitForSelector('#campaign');
    assert.equal(
      (await page.textContent('h1'))?.split('·')[0]?.trim(),
      `Launch ${HOSTILE_SUBJECT}`,
      'the name shown as text',
    );

    // Sent through the API; the open page follows it without a reload.
    assert.equal((await t.api('POST', `/v1/campaigns/${id}/send`)).status, 200);
    const delivered = async () => Number(await page.getAttribute('#campaign', 'data-delivered'));
    const first = await waitFor('deliveries on the campaign page', async () =>
      (await delivered()) > 0 ? delivered() : undefined,
    );
    await waitFor('the count to move', async () =>
      (await delivered()) > first ? true : undefined,
    );
    const moving = await delivered();
    assert.ok(moving < RECIPIENTS, `still sending when paused (${moving} delivered)`);
    assert.equal(await page.textContent('[data-stat=targeted]'), String(RECIPIENTS));
    assert.ok(Number(await page.getAttribute('#progress', 'value')) >= first, 'the bar moved');
    assert.match((await page.textContent('#variants tbody')) ?? '', /A <img src=x/);

    // Pause from the page: the campaign is paused and its queued messages are held.
    await Promise.all([
      page.waitForURL(/done=paused/),
      page.click('form[data-action="pause"] button'),
    ]);
    assert.equal(await page.textContent('[data-stat=status]'), 'paused');
    assert.match(
      (await page.textContent('[data-stat=pause]')) ?? '',
      /Paused by a user at .*: paused in the dashboard/,
    );
    assert.equal(await page.isVisible('form[data-action="resume"]'), true);
    assert.equal(await page.isVisible('form[data-action="pause"]'), false);
    const store = t.sluice.store;
    const messages = async () =>
      (await store.dashboard.searchMessages({ campaignId: id, limit: RECIPIENTS + 1 })).items;
    // Messages already handed to the relay finish; nothing else leaves.
    const left = await waitFor('the messages in flight to finish', async () => {
      const all = await messages();
      return all.some((m) => m.status === 'sending') ? undefined : all;
    });
    const waiting = left.filter((m) => m.status === 'queued' || m.status === 'deferred');
    assert.ok(waiting.length > 0, 'some messages were still waiting');
    for (const m of waiting) {
      assert.ok(((await store.messages.get(m.id))?.dueAt ?? 0) >= CAMPAIGN_HOLD, `${m.id} held`);
    }
    const received = relay.messages.length;
    assert.equal(received, RECIPIENTS - waiting.length, 'the relay got exactly the others');
    await shot(page, 'campaign-paused');
    await page.goto(`${t.sluice.url}/ui/campaigns`);
    assert.match((await page.textContent(`tr[data-campaign="${id}"]`)) ?? '', /paused \(user\)/);
    await shot(page, 'campaigns');
    await page.goto(`${t.sluice.url}/ui/messages?campaign=${id}`);
    assert.equal(await page.locator('#messages tbody tr').count(), 50, 'a page of its messages');
    await assertInert(page);

    // Resume: the held messages go, and the page follows the campaign to its end.
    await page.goto(`${t.sluice.url}/ui/campaigns/${id}`);
    await Promise.all([
      page.waitForURL(/done=resumed/),
      page.click('form[data-action="resume"] button'),
    ]);
    await waitFor(
      'every message delivered, on the page',
      async () => ((await delivered()) === RECIPIENTS ? true : undefined),
      40_000,
    );
    assert.equal(relay.messages.length, RECIPIENTS, 'each recipient once');
    assert.equal(await page.textContent('[data-stat=final]'), String(RECIPIENTS));
    const variantCells = async (row: number) =>
      (await page.locator('#variants tbody tr').nth(row).locator('td').allTextContents()).slice(
        0,
        3,
      );
    assert.deepEqual(await variantCells(0), [`A ${HOSTILE_SUBJECT}`, '50', '50']);
    assert.deepEqual(await variantCells(1), ['B', '50', '50'], 'half of them per variant');
    await shot(page, 'campaign');
    await assertInert(page);
  });
});
