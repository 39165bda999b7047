import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import type { ClaimedMessage } from '../core/message.js';
import type { Template } from '../core/ports/store.js';
import { buildMime, renderContent } from './compose.js';
import { TemplateEngine } from './liquid.js';

const strict = new TemplateEngine({ strict: true, renderTimeoutMs: 100 });
const lenient = new TemplateEngine({ strict: false, renderTimeoutMs: 100 });
const date = new Date('2024-05-01T12:00:00Z');

function message(patch: Partial<ClaimedMessage> = {}): ClaimedMessage {
  return {
    id: 'msg_1',
    stream: 'transactional',
    from: { email: 'shop@sender.example', name: 'The Shop' },
    to: { email: 'ada@example.com', name: 'Ada Lovelace' },
    subject: 'Hello {{ contact.first_name | default: "there" }}',
    text: 'Your code is {{ code }}.',
    html: '<p>Your code is <b>{{ code }}</b>.</p>',
    variables: { code: '123456' },
    headers: {},
    messageId: 'msg_1.abcd@sender.example',
    createdAt: 1,
    expiresAt: 2,
    status: 'sending',
    attempts: 0,
    dueAt: 0,
    updatedAt: 1,
    ...patch,
  };
}

const template: Template = {
  id: 'tpl_1',
  name: 'welcome',
  subject: 'Welcome, {{ contact.first_name }}',
  text: 'Plan: {{ plan }}',
  createdAt: 1,
  updatedAt: 1,
};

describe('renderContent', () => {
  it('personalizes inline sources with variables and the contact', () => {
    const content = renderContent(
      strict,
      message({ contact: { id: 'ct_1', attributes: { first_name: 'Ada' } } }),
    );
    assert.deepEqual(content, {
      subject: 'Hello Ada',
      text: 'Your code is 123456.',
      html: '<p>Your code is <b>123456</b>.</p>',
    });
  });

  it('renders the template when the message has one', () => {
    const content = renderContent(
      strict,
      message({
        templateId: 'tpl_1',
        subject: undefined,
        html: undefined,
        text: undefined,
        variables: { plan: 'pro' },
        contact: { id: 'ct_1', attributes: { first_name: 'Ada' } },
      }),
      template,
    );
    assert.deepEqual(content, { subject: 'Welcome, Ada', text: 'Plan: pro' });
  });

  it('a missing template is ERR_TEMPLATE_NOT_FOUND', () => {
    assert.throws(() => renderContent(strict, message({ templateId: 'tpl_gone' })), {
      code: 'ERR_TEMPLATE_NOT_FOUND',
    });
  });

  it('strict fails on an unknown variable; lenient renders it empty', () => {
    const m = message({ text: 'Hi {{ nickname }}!' });
    assert.throws(() => renderContent(strict, m), { code: 'ERR_TEMPLATE_RENDER' });
    assert.equal(renderContent(lenient, m).text, 'Hi !');
  });

  it('folds line breaks of a rendered subject into spaces', () => {
    const content = renderContent(
      strict,
      message({
        subject: 'Hi {{ who }}',
        variables: { code: 1, who: 'x\r\nBcc: evil@attacker.example' },
      }),
    );
    assert.equal(content.subject, 'Hi x Bcc: evil@attacker.example');
  });
});

describe('buildMime', () => {
  it('writes the headers and a multipart/alternative body', async () => {
    const m = message({
      replyTo: { email: 'help@sender.example', name: 'Help Desk' },
      headers: { 'X-Campaign': 'spring', 'List-Unsubscribe': '<https://u.example/1>' },
    });
    const raw = await buildMime(m, renderContent(strict, m), date);
    const text = raw.toString();
    assert.match(text, /^Message-ID: <msg_1\.abcd@sender\.example>\r$/m);
    assert.match(text, /^Content-Type: multipart\/alternative;/m);
    const parsed = await simpleParser(raw);
    assert.equal(parsed.from?.value[0]?.name, 'The Shop');
    assert.equal(parsed.from?.value[0]?.address, 'shop@sender.example');
    assert.equal(parsed.subject, 'Hello there');
    assert.equal(parsed.date?.toISOString(), date.toISOString());
    assert.equal(parsed.messageId, '<msg_1.abcd@sender.example>');
    assert.equal(parsed.headers.get('x-campaign'), 'spring');
    assert.equal(parsed.replyTo?.value[0]?.address, 'help@sender.example');
    assert.equal(parsed.text?.trim(), 'Your code is 123456.');
    assert.match(String(parsed.html), /<b>123456<\/b>/);
  });

  it('keeps the Message-ID stable across builds (retries)', async () => {
    const m = message();
    const content = renderContent(strict, m);
    const a = await simpleParser(await buildMime(m, content, date));
    const b = await simpleParser(await buildMime(m, content, new Date()));
    assert.equal(a.messageId, b.messageId);
    assert.equal(a.messageId, '<msg_1.abcd@sender.example>');
  });

  it('single part when only text is given', async () => {
    const m = message({ html: undefined });
    const raw = (await buildMime(m, renderContent(strict, m), date)).toString();
    assert.match(raw, /^Content-Type: text\/plain; charset=utf-8\r$/m);
  });

  it('encodes non-ASCII subjects and names', async () => {
    const m = message({ subject: 'Grüße, {{ n }} ✓', from: { email: 'a@b.example', name: 'Zoë' } });
    const m2 = { ...m, variables: { n: 'Jürgen', code: 1 } };
    const raw = await buildMime(m2, renderContent(strict, m2), date);
    assert.ok(!/[^\x00-\x7f]/.test(raw.toString('latin1')), 'headers are 7-bit');
    const parsed = await simpleParser(raw);
    assert.equal(parsed.subject, 'Grüße, Jürgen ✓');
    assert.equal(parsed.from?.value[0]?.name, 'Zoë');
  });

  it('variables and stored values cannot inject headers', async () => {
    const evil = 'x\r\nBcc: victim@attacker.example\r\nX-Injected: yes';
    const m = message({
      subject: '{{ v }}',
      variables: { v: evil, code: 1 },
      from: { email: 'shop@sender.example', name: evil },
      headers: { 'X-Note': evil, 'Message-ID': '<forged@attacker.example>', 'Bad Name': 'x' },
    });
    const raw = await buildMime(m, renderContent(strict, m), date);
    const headerBlock = raw.toString().split('\r\n\r\n')[0] ?? '';
    assert.doesNotMatch(headerBlock, /^Bcc:/im);
    assert.doesNotMatch(headerBlock, /^X-Injected:/im);
    assert.doesNotMatch(headerBlock, /^Bad Name:/im);
    const parsed = await simpleParser(raw);
    assert.equal(parsed.messageId, '<msg_1.abcd@sender.example>');
    assert.equal(parsed.bcc, undefined);
    assert.equal(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value.length : 0, 1);
  });
});
