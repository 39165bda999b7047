import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashApiKey } from '../../core/api-keys.js';
import type { Template } from '../../core/ports/store.js';
import { allPages } from './contacts-contract.js';
import { rejectsWith, T0, withStore, type MakeStore } from './fixtures.js';

function template(id: string, name: string): Template {
  return {
    id,
    name,
    subject: `Hello {{ name }} (${name})`,
    html: '<p>Hi {{ name }}</p>',
    text: 'Hi {{ name }}',
    createdAt: T0,
    updatedAt: T0,
  };
}

export function templatesContract(make: MakeStore): void {
  describe('templates', () => {
    it('creates and reads, one or many, and refuses a taken name', () =>
      withStore(make, async (store) => {
        const welcome = template('tpl_b', 'welcome');
        const reset = template('tpl_a', 'reset');
        delete reset.html;
        assert.deepEqual(await store.templates.create(welcome), welcome);
        await store.templates.create(reset);
        assert.deepEqual(await store.templates.get('tpl_a'), reset);
        assert.equal(await store.templates.get('tpl_nope'), undefined);
        assert.deepEqual(await store.templates.getMany(['tpl_b', 'tpl_nope', 'tpl_a']), [
          welcome,
          reset,
        ]);
        assert.deepEqual(await store.templates.getMany([]), []);
        const error = await rejectsWith(
          store.templates.create(template('tpl_c', 'welcome')),
          'ERR_CONFLICT',
          'name',
        );
        assert.equal(error.message, 'name: "welcome" is already taken');
        const pages = await allPages((q) => store.templates.list(q), 1);
        assert.deepEqual(
          pages.map((page) => page.map((t) => t.id)),
          [['tpl_a'], ['tpl_b']],
        );
      }));

    it('updates given fields, clears html or text with null, keeps the rest', () =>
      withStore(make, async (store) => {
        await store.templates.create(template('tpl_a', 'welcome'));
        await store.templates.create(template('tpl_b', 'reset'));
        const updated = await store.templates.update('tpl_a', {
          subject: 'New subject',
          html: null,
          at: T0 + 500,
        });
        const expected: Template = {
          id: 'tpl_a',
          name: 'welcome',
          subject: 'New subject',
          text: 'Hi {{ name }}',
          createdAt: T0,
          updatedAt: T0 + 500,
        };
        assert.deepEqual(updated, expected);
        assert.deepEqual(await store.templates.get('tpl_a'), expected);
        await rejectsWith(
          store.templates.update('tpl_b', { name: 'welcome', at: T0 + 600 }),
          'ERR_CONFLICT',
          'name',
        );
        assert.equal(await store.templates.update('tpl_nope', { name: 'x', at: T0 }), undefined);
        assert.equal(await store.templates.delete('tpl_a'), true);
        assert.equal(await store.templates.delete('tpl_a'), false);
        assert.equal(await store.templates.get('tpl_a'), undefined);
      }));
  });

  describe('apiKeys', () => {
    it('finds a key by its hash and counts the active ones', () =>
      withStore(make, async (store) => {
        assert.equal(await store.apiKeys.countActive(), 0);
        const active = {
          id: 'key_1',
          name: 'admin',
          hash: hashApiKey('sk_one'),
          prefix: 'sk_one',
          createdAt: T0,
        };
        await store.apiKeys.create(active);
        await store.apiKeys.create({
          id: 'key_2',
          name: 'old',
          hash: hashApiKey('sk_two'),
          prefix: 'sk_two',
          createdAt: T0,
          revokedAt: T0 + 1,
        });
        assert.deepEqual(await store.apiKeys.findByHash(active.hash), active);
        assert.equal((await store.apiKeys.findByHash(hashApiKey('sk_two')))?.revokedAt, T0 + 1);
        assert.equal(await store.apiKeys.findByHash(hashApiKey('sk_nope')), undefined);
        assert.equal(await store.apiKeys.countActive(), 1);
        await rejectsWith(store.apiKeys.create({ ...active, id: 'key_3' }), 'ERR_CONFLICT', 'hash');
      }));
  });
}
