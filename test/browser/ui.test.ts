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
    const frame = page.frames().find((f) => f.url().endsWith('/html'));
    assert.ok(frame, 'the HTML is in its own frame');
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
});
