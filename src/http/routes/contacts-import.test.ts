import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportContacts } from '../../import/contact-export.js';
import { errorOf, startTestApp, testConfig, type TestApp } from '../test-support.js';

interface Summary {
  imported: number;
  created: number;
  updated: number;
  skipped: number;
  errors: Array<{ line: number; field?: string; reason: string }>;
  listId?: string;
}

const CSV = { 'content-type': 'text/csv' };
const NDJSON = { 'content-type': 'application/x-ndjson' };

/** A GET whose body is text (`api()` would parse an NDJSON body as one JSON document). */
async function download(t: TestApp, path: string): Promise<{ type: string; text: string }> {
  const response = await fetch(t.baseUrl + path, {
    headers: { authorization: `Bearer ${t.key}` },
  });
  assert.equal(response.status, 200);
  return { type: response.headers.get('content-type') ?? '', text: await response.text() };
}

describe('contacts import and export', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({
      config: testConfig({
        http: { host: '127.0.0.1', port: 0, bodyLimit: 1024, importLimit: 64 * 1024 * 1024 },
      }),
    });
  });
  after(async () => {
    await t.close();
  });

  it('imports CSV with a BOM, CRLF and quoted fields, creating the list named, reporting bad rows by line', async () => {
    const csv =
      '\ufeffEmail,first_name,Status,note\r\n' +
      'ada@example.test,Ada,,"likes ""math"", logic"\r\n' +
      'bob@example.test,Bob,unsubscribed,"two\r\nlines"\r\n' +
      'not-an-address,X,,\r\n' +
      'cy@example.test,Cy,sleeping,\r\n' +
      'dee@example.test,Dee\r\n' +
      'eve@example.test,"Eve"x,,\r\n' +
      'fay@EXAMPLE.test,,,\r\n';
    const response = await t.api<Summary>('POST', '/v1/contacts/import?list=newsletter', csv, CSV);
    assert.equal(response.status, 200, response.text);
    const list = await t.store.lists.getByName('newsletter');
    assert.ok(list, 'the list is created by name');
    assert.deepEqual(response.body, {
      imported: 3,
      created: 3,
      updated: 0,
      skipped: 4,
      errors: [
        {
          line: 5,
          field: 'email',
          reason: 'email: "not-an-address" has no @ and domain',
        },
        {
          line: 6,
          field: 'status',
          reason: 'status "sleeping" is not one of active, unsubscribed, bounced, complained',
        },
        { line: 7, reason: 'has 2 columns where the header has 4' },
        { line: 8, reason: 'has text after the closing quote of a field' },
      ],
      listId: list.id,
    });
    assert.equal(list.memberCount, 3);
    const bob = await t.store.contacts.getByEmail('bob@example.test');
    assert.equal(bob?.status, 'unsubscribed');
    assert.deepEqual(bob?.attributes, { first_name: 'Bob', note: 'two\r\nlines' });
    const ada = await t.store.contacts.getByEmail('ada@example.test');
    assert.deepEqual(ada?.attributes, { first_name: 'Ada', note: 'likes "math", logic' });
    assert.deepEqual((await t.store.contacts.getByEmail('fay@example.test'))?.attributes, {});
  });

  it('imports NDJSON into a list given by id, merging into known contacts', async () => {
    const list = await t.store.lists.create({ id: 'lst_nd', name: 'nd', description: '', at: 0 });
    const ndjson = [
      '{"email":"ada@example.test","attributes":{"first_name":null,"plan":"pro"}}',
      '',
      '{"email":"gus@example.test","status":"bounced"}',
      '{"email":"gus@example.test",',
      '["not an object"]',
      '{"email":"hal@example.test","attributes":[1]}',
      '{"email":"ivy@example.test","name":"Ivy"}',
      '{"email":"jo@example.test","status":"gone"}',
    ].join('\n');
    const response = await t.api<Summary>(
      'POST',
      `/v1/contacts/import?list=${list.id}`,
      ndjson,
      NDJSON,
    );
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(response.body, {
      imported: 2,
      created: 1,
      updated: 1,
      skipped: 5,
      errors: [
        { line: 4, reason: 'is not valid JSON' },
        { line: 5, reason: 'is not a JSON object' },
        { line: 6, field: 'attributes', reason: '"attributes" must be an object' },
        { line: 7, field: 'name', reason: 'has the unknown field "name"' },
        {
          line: 8,
          field: 'status',
          reason: 'status "gone" is not one of active, unsubscribed, bounced, complained',
        },
      ],
      listId: list.id,
    });
    assert.deepEqual((await t.store.contacts.getByEmail('ada@example.test'))?.attributes, {
      note: 'likes "math", logic',
      plan: 'pro',
    });
    assert.equal((await t.store.lists.get(list.id))?.memberCount, 2);
  });

  it('takes the format from ?format= and ignores http.bodyLimit (1 KiB here)', async () => {
    const rows = Array.from({ length: 200 }, (_, i) => `bulk${i}@example.test,${i}`);
    const body = ['email,n', ...rows].join('\n');
    assert.ok(body.length > 1024);
    const response = await t.api<Summary>('POST', '/v1/contacts/import?format=csv', body, {
      'content-type': 'application/octet-stream',
    });
    assert.equal(response.status, 200, response.text);
    assert.equal(response.body.imported, 200);
    assert.equal(response.body.listId, undefined);
  });

  it('refuses an import whose format is unknown, or whose CSV header has no email column', async () => {
    const unknown = await t.api('POST', '/v1/contacts/import', 'email\na@example.test\n', {
      'content-type': 'text/plain',
    });
    assert.equal(unknown.status, 400);
    assert.equal(errorOf(unknown).code, 'ERR_IMPORT_FORMAT');
    assert.equal(errorOf(unknown).field, 'format');

    const json = await t.api('POST', '/v1/contacts/import', { email: 'a@example.test' });
    assert.equal(errorOf(json).code, 'ERR_IMPORT_FORMAT');

    const header = await t.api('POST', '/v1/contacts/import', 'mail,name\nx@y.test,X\n', CSV);
    assert.equal(header.status, 400);
    assert.equal(errorOf(header).code, 'ERR_IMPORT_HEADER');
    assert.match(errorOf(header).message, /no "email" column/);
    assert.equal(await t.store.contacts.getByEmail('x@y.test'), undefined);

    const empty = await t.api('POST', '/v1/contacts/import', '', CSV);
    assert.equal(errorOf(empty).code, 'ERR_IMPORT_HEADER');
  });

  it('answers an import over http.importLimit with 413 ERR_BODY_TOO_LARGE', async () => {
    const small = await startTestApp({
      config: testConfig({
        http: { host: '127.0.0.1', port: 0, bodyLimit: 1024, importLimit: 100 },
      }),
    });
    try {
      const body = 'email\n' + 'someone@example.test\n'.repeat(20);
      const response = await small.api('POST', '/v1/contacts/import', body, CSV);
      assert.equal(response.status, 413);
      assert.equal(errorOf(response).code, 'ERR_BODY_TOO_LARGE');
      assert.match(errorOf(response).message, /http\.importLimit/);
    } finally {
      await small.close();
    }
  });

  it('exports CSV with formulas neutralised, attribute columns from the first page or ?columns=', async () => {
    await t.store.lists.create({ id: 'lst_x', name: 'export', description: '', at: 0 });
    await t.store.contacts.upsertMany(
      [
        {
          id: 'ct_x1',
          email: 'x1@example.test',
          attributes: { a: '=HYPERLINK("http://evil")', b: '+1', c: 'plain, "quoted"' },
          at: 0,
        },
        {
          id: 'ct_x2',
          email: 'x2@example.test',
          attributes: { a: '-2', b: '@SUM(A1)', c: '\tx', d: { n: 1 }, e: '\rcr' },
          status: 'bounced',
          at: 0,
        },
      ],
      { listId: 'lst_x' },
    );
    const csv = await t.api('GET', '/v1/contacts/export?list=export');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    assert.equal(
      csv.text,
      'email,status,a,b,c,d,e\r\n' +
        `x1@example.test,active,"'=HYPERLINK(""http://evil"")",'+1,"plain, ""quoted""",,\r\n` +
        `x2@example.test,bounced,'-2,'@SUM(A1),'\tx,"{""n"":1}","'\rcr"\r\n`,
    );
    const picked = await t.api('GET', '/v1/contacts/export?list=lst_x&columns=c,zz');
    assert.equal(
      picked.text,
      'email,status,c,zz\r\n' +
        'x1@example.test,active,"plain, ""quoted""",\r\n' +
        "x2@example.test,bounced,'\tx,\r\n",
    );
    const ndjson = await download(t, '/v1/contacts/export?list=lst_x&format=ndjson');
    assert.match(ndjson.type, /^application\/x-ndjson/);
    const lines = ndjson.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as unknown);
    assert.deepEqual(lines[1], {
      email: 'x2@example.test',
      status: 'bounced',
      attributes: { a: '-2', b: '@SUM(A1)', c: '\tx', d: { n: 1 }, e: '\rcr' },
    });
    const missing = await t.api('GET', '/v1/contacts/export?list=nope');
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing).field, 'list');
  });

  it('exports every contact across pages, and an export re-imports to the same contacts', async () => {
    const all = await download(t, '/v1/contacts/export?format=ndjson');
    const count = all.text.trimEnd().split('\n').length;
    const stored = await t.store.contacts.list({ limit: 10_000 });
    assert.equal(count, stored.items.length);
    const again = await t.api<Summary>('POST', '/v1/contacts/import', all.text, NDJSON);
    assert.equal(again.body.updated, count);
    assert.equal(again.body.created, 0);

    const paged: string[] = [];
    for await (const text of exportContacts(t.store, { format: 'ndjson', pageSize: 7 })) {
      paged.push(text);
    }
    assert.equal(paged.join(''), all.text, 'pages of 7 make the same export');
  });
});

describe('contacts import: 50,000 generated rows streamed through the API', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    await t.close();
  });

  it('imports them all in batches, with the one bad row in every 10,000 reported', async () => {
    const total = 50_000;
    function* lines(): Generator<string> {
      yield 'email,first_name,plan\n';
      for (let i = 1; i <= total; i += 1) {
        const bad = i % 10_000 === 0;
        yield `${bad ? 'broken' : `user${i}@example.test`},"Name ${i}",${i % 3 === 0 ? 'pro' : 'free'}\n`;
      }
    }
    const encoder = new TextEncoder();
    const source = lines();
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        let chunk = '';
        for (let n = 0; n < 500; n += 1) {
          const next = source.next();
          if (next.done) {
            if (chunk) controller.enqueue(encoder.encode(chunk));
            controller.close();
            return;
          }
          chunk += next.value;
        }
        controller.enqueue(encoder.encode(chunk));
      },
    });
    const response = await fetch(`${t.baseUrl}/v1/contacts/import?list=big`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.key}`, 'content-type': 'text/csv' },
      body,
      duplex: 'half',
    });
    assert.equal(response.status, 200);
    const summary = (await response.json()) as Summary;
    assert.equal(summary.imported, total - 5);
    assert.equal(summary.created, total - 5);
    assert.equal(summary.skipped, 5);
    assert.deepEqual(
      summary.errors.map((e) => e.line),
      [10_001, 20_001, 30_001, 40_001, 50_001],
    );
    const list = await t.store.lists.getByName('big');
    assert.equal(list?.memberCount, total - 5);
    for (const i of [1, 9_999, 33_333, 49_999]) {
      const contact = await t.store.contacts.getByEmail(`user${i}@example.test`);
      assert.deepEqual(contact?.attributes, {
        first_name: `Name ${i}`,
        plan: i % 3 === 0 ? 'pro' : 'free',
      });
    }
  });
});
