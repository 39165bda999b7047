import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { campaignOf, domainGroupIndex, domainGroupOf, routeMessage } from './routing.js';

describe('routing rules', () => {
  const table = {
    transactional: 'tx',
    bulk: 'bulk',
    rules: [
      { match: { campaign: 'black-friday' }, pool: 'promo' },
      {
        match: { senderDomain: 'billing.example', recipientDomain: 'gmail.com' },
        pool: 'google-tx',
      },
      { match: { recipientDomain: 'GMAIL.com' }, pool: 'google' },
    ],
  };
  const facts = (patch: Partial<Parameters<typeof routeMessage>[1]>) => ({
    stream: 'bulk' as const,
    senderDomain: 'news.example',
    recipientDomain: 'example.net',
    ...patch,
  });

  it('the first matching rule wins; every field given must match', () => {
    assert.equal(
      routeMessage(table, facts({ campaign: 'black-friday', recipientDomain: 'gmail.com' })),
      'promo',
    );
    assert.equal(
      routeMessage(table, facts({ senderDomain: 'billing.example', recipientDomain: 'gmail.com' })),
      'google-tx',
    );
    assert.equal(routeMessage(table, facts({ senderDomain: 'billing.example' })), 'bulk');
    assert.equal(
      routeMessage(table, facts({ recipientDomain: 'gmail.com' })),
      'google',
      'case-insensitive',
    );
  });

  it('no rule: the stream decides', () => {
    assert.equal(routeMessage(table, facts({ stream: 'transactional' })), 'tx');
    assert.equal(
      routeMessage({ ...table, rules: [] }, facts({ recipientDomain: 'gmail.com' })),
      'bulk',
    );
  });

  it('reads the campaign from its header, whatever the case of the name', () => {
    assert.equal(campaignOf({ 'x-sluice-campaign': 'c1' }), 'c1');
    assert.equal(campaignOf({ 'X-Other': 'c1' }), undefined);
  });
});

describe('domain groups', () => {
  const index = domainGroupIndex([
    { name: 'google', domains: ['gmail.com', 'GoogleMail.com'] },
    { name: 'microsoft', domains: ['outlook.com', 'hotmail.com'] },
  ]);
  it('maps grouped domains to their group and every other domain to itself', () => {
    assert.equal(domainGroupOf(index, 'gmail.com'), 'google');
    assert.equal(domainGroupOf(index, 'googlemail.com'), 'google');
    assert.equal(domainGroupOf(index, 'Hotmail.com'), 'microsoft');
    assert.equal(domainGroupOf(index, 'Example.ORG'), 'example.org');
  });
});
