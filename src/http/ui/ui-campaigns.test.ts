import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeStats } from '../../campaigns/campaign-stats.js';
import { initialProgress, type Campaign } from '../../core/campaign.js';
import { campaignLive, finalCount, percent } from './ui-campaigns.js';

const T0 = Date.UTC(2030, 0, 1, 9, 0, 0);

function campaign(overrides: Partial<Campaign> = {}): Campaign {
  return {
    id: 'cmp_1',
    name: 'Spring',
    status: 'sending',
    from: { email: 'news@example.test' },
    content: { subject: 'Hi', text: 'Hi' },
    variables: {},
    audience: { listIds: ['lst_1'] },
    variants: [{ name: 'A' }, { name: 'B' }],
    test: { share: 0.2, metric: 'clicks', windowMs: 3_600_000 },
    progress: { ...initialProgress(), phase: 'rest' },
    startedAt: T0,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

describe('campaign page figures', () => {
  const stats = computeStats(
    campaign(),
    [
      { variant: 0, status: 'delivered', count: 6 },
      { variant: 1, status: 'delivered', count: 2 },
      { variant: 1, status: 'bounced', bounceCategory: 'bad-mailbox', count: 1 },
      { variant: 0, status: 'queued', count: 3 },
      { variant: 1, status: 'deferred', count: 1 },
      { variant: 1, status: 'sending', count: 1 },
      { variant: 0, status: 'failed', count: 1 },
    ],
    [
      { variant: 1, kind: 'click', messages: 2 },
      { variant: 0, kind: 'open', messages: 3 },
    ],
  );

  it('counts final messages as the targeted ones no longer waiting', () => {
    assert.equal(stats.targeted, 15);
    assert.equal(finalCount(stats), 10);
    assert.equal(percent(stats.rates.bounce), '11.1 %');
  });

  it('names the winner with its metric, and offers the actions the state allows', () => {
    const live = campaignLive(campaign({ winner: 1 }), stats);
    assert.equal(live.winnerText, 'B (higher unique clicks rate)');
    assert.deepEqual(live.actions, ['pause', 'cancel']);
    assert.equal(live.pause, '');
    assert.equal(live.final, 10);
    assert.equal(campaignLive(campaign(), stats).winnerText, '');
  });

  it('says who paused and why, and that a guard pause was overridden', () => {
    const guard = { by: 'guard' as const, reason: 'bounce rate 11.1% is above 5.0%', at: T0 };
    const paused = campaignLive(campaign({ status: 'paused', pause: guard }), stats);
    assert.equal(
      paused.pause,
      'Paused by the guard rails at 2030-01-01 09:00:00Z: bounce rate 11.1% is above 5.0%',
    );
    assert.deepEqual(paused.actions, ['resume', 'cancel']);
    const resumed = campaignLive(campaign({ pause: { ...guard, resumedAt: T0 + 60_000 } }), stats);
    assert.equal(
      resumed.pause,
      'Was paused by the guard rails (bounce rate 11.1% is above 5.0%); resumed at 2030-01-01 09:01:00Z.',
    );
    const done = campaignLive(campaign({ status: 'sent', completedAt: T0 }), stats);
    assert.deepEqual(done.actions, [], 'nothing left to pause or cancel');
    assert.equal(done.completed, true, 'the page stops polling');
    assert.equal(paused.completed, false);
  });
});
