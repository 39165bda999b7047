import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { errorOf, startTestApp, type TestApp } from '../test-support.js';

interface TemplateBody {
  id: string;
  name: string;
  subject: string;
  html: string | null;
  text: string | null;
  createdAt: string;
  updatedAt: string;
}

describe('templates', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  async function templateCount(): Promise<number> {
    return (await t.store.templates.list({ limit: 1000 })).items.length;
  }

  it('creates, reads, patches, lists and deletes a template', async () => {
    const created = await t.api<TemplateBody>('POST', '/v1/templates', {
      name: 'receipt',
      subject: 'Receipt {{ number }}',
      text: 'Thanks, {{ contact.first_name | default: "friend" }}.',
    });
    assert.equal(created.status, 201);
    assert.match(created.body.id, /^tpl_/);
    assert.equal(created.body.html, null);

    t.clock.advance(5000);
    const patched = await t.api<TemplateBody>('PATCH', `/v1/templates/${created.body.id}`, {
      html: '<p>Thanks</p>',
      text: null,
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.html, '<p>Thanks</p>');
    assert.equal(patched.body.text, null);
    assert.equal(patched.body.subject, 'Receipt {{ number }}');
    assert.equal(patched.body.updatedAt, new Date(t.clock.now()).toISOString());

    const fetched = await t.api<TemplateBody>('GET', `/v1/templates/${created.body.id}`);
    assert.deepEqual(fetched.body, patched.body);
    const listed = await t.api<{ items: TemplateBody[] }>('GET', '/v1/templates');
    assert.ok(listed.body.items.some((x) => x.id === created.body.id));

    const duplicate = await t.api('POST', '/v1/templates', {
      name: 'receipt',
      subject: 'x',
      text: 'y',
    });
    assert.equal(duplicate.status, 409);
    assert.equal(errorOf(duplicate).code, 'ERR_CONFLICT');

    assert.equal((await t.api('DELETE', `/v1/templates/${created.body.id}`)).status, 204);
    assert.equal((await t.api('GET', `/v1/templates/${created.body.id}`)).status, 404);
  });

  it('refuses a Liquid syntax error with line and column, storing nothing', async () => {
    const count = await templateCount();
    const response = await t.api('POST', '/v1/templates', {
      name: 'broken',
      subject: 'Hello',
      html: '<h1>Hi</h1>\n<p>\n    {{ contact.first_name | upcase </p>',
    });
    assert.equal(response.status, 422);
    const error = errorOf(response);
    assert.equal(error.code, 'ERR_TEMPLATE_SYNTAX');
    assert.equal(error.field, 'html');
    assert.equal(error.line, 3);
    assert.equal(error.column, 5);
    assert.equal(await templateCount(), count);
  });

  it('refuses a syntax error in the subject and the text too', async () => {
    const subject = await t.api('POST', '/v1/templates', {
      name: 'a',
      subject: '{% if x %}',
      text: 'ok',
    });
    assert.equal(errorOf(subject).code, 'ERR_TEMPLATE_SYNTAX');
    assert.equal(errorOf(subject).field, 'subject');
    const text = await t.api('POST', '/v1/templates', {
      name: 'b',
      subject: 'ok',
      text: 'ok\n{% endfor %}',
    });
    assert.equal(errorOf(text).code, 'ERR_TEMPLATE_SYNTAX');
    assert.equal(errorOf(text).field, 'text');
    assert.equal(errorOf(text).line, 2);
  });

  it('refuses CR/LF in the subject, and a template without a body', async () => {
    const count = await templateCount();
    const injected = await t.api('POST', '/v1/templates', {
      name: 'inj',
      subject: 'Hi\r\nBcc: x@example.com',
      text: 'x',
    });
    assert.equal(injected.status, 400);
    assert.equal(errorOf(injected).code, 'ERR_HEADER_INJECTION');
    assert.equal(errorOf(injected).field, 'subject');

    const bodiless = await t.api('POST', '/v1/templates', { name: 'nobody', subject: 'Hi' });
    assert.equal(bodiless.status, 400);
    assert.equal(errorOf(bodiless).code, 'ERR_VALIDATION');
    assert.equal(errorOf(bodiless).field, 'html');
    assert.equal(await templateCount(), count);
  });

  it('validates a patch against the whole template and leaves it unchanged on error', async () => {
    const created = await t.api<TemplateBody>('POST', '/v1/templates', {
      name: 'patchme',
      subject: 'S',
      text: 'T',
    });
    const path = `/v1/templates/${created.body.id}`;
    const noBody = await t.api('PATCH', path, { text: null });
    assert.equal(noBody.status, 400);
    assert.equal(errorOf(noBody).field, 'html');
    const syntax = await t.api('PATCH', path, { html: '{{ oops' });
    assert.equal(syntax.status, 422);
    assert.equal(errorOf(syntax).code, 'ERR_TEMPLATE_SYNTAX');
    const unknown = await t.api('PATCH', path, { body: 'x' });
    assert.equal(errorOf(unknown).code, 'ERR_UNKNOWN_FIELD');
    const fetched = await t.api<TemplateBody>('GET', path);
    assert.deepEqual(fetched.body, created.body);
    assert.equal((await t.api('PATCH', '/v1/templates/tpl_nope', { subject: 'x' })).status, 404);
  });
});
