import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newId, orderedIds } from './ids.js';
import {
  ACTION_FROM,
  audienceCondition,
  canDo,
  CAMPAIGN_ACTIONS,
  CAMPAIGN_STATUSES,
  chooseWinner,
  firstPhase,
  initialProgress,
  inTestGroup,
  resumeTarget,
  testBucket,
  variantContent,
  type Campaign,
  type CampaignStatus,
} from './campaign.js';

function campaign(overrides: Partial<Campaign> = {}): Campaign {
  return {
    id: 'cmp_1',
    name: 'c',
    status: 'draft',
    from: { email: 'a@example.test' },
    content: { subject: 'S', html: '<p>H</p>', text: 'T' },
    variables: {},
    audience: { listIds: ['lst_1'] },
    variants: [],
    progress: initialProgress(),
    createdAt: 0,
    updatedAt: 0,
    ...overrides,
  };
}

describe('campaign state machine', () => {
  it('allows each action only from its states (table)', () => {
    const expected: Record<string, CampaignStatus[]> = {
      schedule: ['draft', 'scheduled'],
      send: ['draft', 'scheduled'],
      pause: ['scheduled', 'sending', 'sent'],
      resume: ['paused'],
      cancel: ['draft', 'scheduled', 'sending', 'sent', 'paused'],
    };
    for (const action of CAMPAIGN_ACTIONS) {
      const allowed = CAMPAIGN_STATUSES.filter((status) => canDo(action, campaign({ status })));
      assert.deepEqual(allowed, expected[action], action);
      assert.deepEqual([...ACTION_FROM[action]], expected[action]);
    }
  });

  it('refuses to pause or cancel a sent campaign whose messages are all final', () => {
    const done = campaign({ status: 'sent', completedAt: 5 });
    assert.equal(canDo('pause', done), false);
    assert.equal(canDo('cancel', done), false);
    assert.equal(canDo('pause', campaign({ status: 'sent' })), true);
    assert.equal(canDo('cancel', campaign({ status: 'cancelled' })), false);
  });

  it('resumes to where the campaign was paused', () => {
    assert.equal(resumeTarget(campaign({ status: 'paused' })), 'scheduled');
    assert.equal(resumeTarget(campaign({ status: 'paused', startedAt: 1 })), 'sending');
    const done = { ...initialProgress(), phase: 'done' as const };
    assert.equal(
      resumeTarget(campaign({ status: 'paused', startedAt: 1, progress: done })),
      'sent',
    );
  });
});

describe('A/B', () => {
  it('picks the higher unique rate, ties to the earlier variant, nothing sent to the first', () => {
    const r = (sent: number, opens: number, clicks = 0) => ({
      sent,
      uniqueOpens: opens,
      uniqueClicks: clicks,
    });
    assert.equal(chooseWinner([r(100, 10), r(100, 30)], 'opens'), 1);
    assert.equal(chooseWinner([r(100, 30), r(50, 15)], 'opens'), 0, 'tie: first');
    assert.equal(chooseWinner([r(100, 30, 1), r(100, 10, 5)], 'clicks'), 1);
    assert.equal(chooseWinner([r(0, 0), r(0, 0)], 'opens'), 0);
    assert.equal(
      chooseWinner([r(0, 0), r(10, 0)], 'opens'),
      1,
      'a variant that sent beats one that did not',
    );
    assert.equal(chooseWinner([r(10, 0), r(10, 0), r(10, 1)], 'opens'), 2);
  });

  it('puts about the test share in the test group, stably', () => {
    const c = campaign({ test: { share: 0.2, metric: 'opens', windowMs: 1 } });
    let inside = 0;
    for (let i = 0; i < 10_000; i += 1) if (inTestGroup(c, `ct_${i}`)) inside += 1;
    assert.ok(inside > 1800 && inside < 2200, `${inside} of 10,000`);
    assert.equal(testBucket('cmp_1', 'ct_7'), testBucket('cmp_1', 'ct_7'));
    assert.notEqual(testBucket('cmp_1', 'ct_7'), testBucket('cmp_2', 'ct_7'));
    assert.equal(inTestGroup(campaign(), 'ct_1'), false, 'no test, no test group');
  });

  it('puts about the test share in the test group when ids share their time prefix', () => {
    // Ids made in one millisecond differ only in their last digits.
    const c = campaign({
      id: newId('campaign', 1_800_000_000_000),
      test: { share: 0.4, metric: 'opens', windowMs: 1 },
    });
    for (const size of [50, 10_000]) {
      const next = orderedIds('contact', 1_800_000_000_000);
      let inside = 0;
      for (let i = 0; i < size; i += 1) if (inTestGroup(c, next())) inside += 1;
      const share = inside / size;
      assert.ok(Math.abs(share - 0.4) < (size < 100 ? 0.2 : 0.03), `${inside} of ${size}`);
    }
  });

  it('starts with a test pass only for a test with two or more variants', () => {
    const variants = [{ name: 'A' }, { name: 'B' }];
    assert.equal(firstPhase(campaign()), 'all');
    assert.equal(firstPhase(campaign({ variants })), 'all', 'plain split');
    assert.equal(
      firstPhase(campaign({ variants, test: { share: 0.1, metric: 'clicks', windowMs: 1 } })),
      'test',
    );
  });

  it("merges a variant's subject, html and text into the campaign's; a template replaces them", () => {
    const c = campaign({
      variants: [
        { name: 'A' },
        { name: 'B', subject: 'Other' },
        { name: 'C', templateId: 'tpl_1' },
      ],
    });
    assert.deepEqual(variantContent(c, 0), c.content);
    assert.deepEqual(variantContent(c, 1), { subject: 'Other', html: '<p>H</p>', text: 'T' });
    assert.deepEqual(variantContent(c, 2), { templateId: 'tpl_1' });
    assert.deepEqual(variantContent(c, 9), c.content);
  });
});

describe('audience', () => {
  it('is the active contacts of any list or the segment', () => {
    const segment = { attribute: 'plan', op: 'eq' as const, value: 'pro' };
    assert.deepEqual(audienceCondition({ listIds: ['a', 'b'] }, segment), {
      and: [
        { field: 'status', op: 'eq', value: 'active' },
        { or: [{ inList: 'a' }, { inList: 'b' }, segment] },
      ],
    });
    assert.deepEqual(audienceCondition({ listIds: [] }, segment), {
      and: [{ field: 'status', op: 'eq', value: 'active' }, segment],
    });
  });
});
