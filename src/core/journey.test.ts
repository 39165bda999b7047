import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSluiceError } from './errors.js';
import { capsFor, brokenCap } from './frequency-cap.js';
import {
  compileJourney,
  journeyIssues,
  parseJourneyDefinition,
  reentryCooldownMs,
  sendSteps,
  type JourneyDefinition,
} from './journey.js';
import { matchesProperties } from './journey-conditions.js';
import { journeyMessageId, journeyRunId } from './journey-ids.js';

const WELCOME = {
  entry: { event: 'signup', where: { property: 'plan', op: 'eq', value: 'pro' } },
  from: 'hello@example.com',
  reentry: 'once',
  frequencyCap: { messages: 3, per: '1d' },
  quietHours: { start: '21:00', end: '08:00' },
  steps: [
    { id: 'welcome', type: 'send', template: 'tpl_welcome' },
    { type: 'wait', duration: '1d' },
    {
      type: 'branch',
      if: { engagement: 'opened', step: 'welcome' },
      then: [{ type: 'send', template: 'tpl_tips', stream: 'bulk' }],
      else: [
        { type: 'send', template: 'tpl_nudge', from: { email: 'team@example.com', name: 'Team' } },
      ],
    },
    {
      type: 'wait-for',
      event: 'purchase',
      timeout: '3d',
      then: [{ type: 'exit' }],
      onTimeout: { goto: 'last' },
    },
    { id: 'last', type: 'send', template: 'tpl_last' },
  ],
};

const definition = (patch: Record<string, unknown>): Record<string, unknown> => ({
  ...WELCOME,
  ...patch,
});

/** [input, path, message fragment] */
const BAD: [unknown, string, string][] = [
  [null, '', 'must be an object'],
  [definition({ entry: undefined }), 'entry', 'must be'],
  [definition({ entry: { event: 'bad name!' } }), 'entry.event', 'event name'],
  [
    definition({ entry: { event: 'x', where: { property: 'a', op: 'gt', value: 'x' } } }),
    'entry.where.value',
    'number',
  ],
  [definition({ entry: { segment: '' } }), 'entry.segment', 'segment id'],
  [definition({ from: 'not an address' }), 'from', ''],
  [definition({ from: undefined }), 'from', 'required'],
  [definition({ steps: [] }), 'steps', 'at least one'],
  [definition({ steps: [{ type: 'teleport' }] }), 'steps[0].type', 'unknown step type'],
  [definition({ steps: [{ type: 'send' }] }), 'steps[0].template', 'template id'],
  [
    definition({ steps: [{ type: 'send', template: 't', stream: 'x' }] }),
    'steps[0].stream',
    'transactional',
  ],
  [definition({ steps: [{ type: 'wait', duration: 'soon' }] }), 'steps[0].duration', 'duration'],
  [definition({ steps: [{ type: 'wait', duration: '400d' }] }), 'steps[0].duration', '366 days'],
  [
    definition({ steps: [{ type: 'wait-for', event: 'e', timeout: '1d', then: 5 }] }),
    'steps[0].then',
    'array of steps',
  ],
  [
    definition({
      steps: [
        { type: 'branch', if: { contact: { attribute: 'a', op: 'zz', value: 1 } }, then: [] },
      ],
    }),
    'steps[0].if.contact.op',
    'unknown operator',
  ],
  [
    definition({ steps: [{ type: 'branch', if: { engagement: 'opened' } }] }),
    'steps[0].then',
    'required',
  ],
  [
    definition({ steps: [{ type: 'branch', if: { engagement: 'read' }, then: [] }] }),
    'steps[0].if.engagement',
    'opened',
  ],
  [
    definition({
      steps: [{ type: 'branch', if: { engagement: 'opened', step: 'nope' }, then: [] }],
    }),
    'steps[0].if.step',
    'no step has the id',
  ],
  [
    definition({
      steps: [
        { id: 'w', type: 'wait', duration: '1d' },
        { type: 'branch', if: { engagement: 'opened', step: 'w' }, then: [] },
      ],
    }),
    'steps[1].if.step',
    'not a send step',
  ],
  [
    definition({
      steps: [
        { type: 'branch', if: { event: { property: 'a', op: 'exists' } }, then: { goto: 'x' } },
      ],
    }),
    'steps[0].then.goto',
    'no step has the id',
  ],
  [
    definition({
      steps: [
        { id: 'a', type: 'exit' },
        { id: 'a', type: 'exit' },
      ],
    }),
    'steps[1].id',
    'the id of steps[0]',
  ],
  [definition({ steps: [{ type: 'exit', extra: 1 }] }), 'steps[0].extra', 'unknown key'],
  [definition({ reentry: 'sometimes' }), 'reentry', 'once'],
  [definition({ reentry: { cooldown: 'x' } }), 'reentry.cooldown', 'duration'],
  [definition({ frequencyCap: { messages: 0, per: '1d' } }), 'frequencyCap.messages', 'integer'],
  [definition({ quietHours: { start: '25:00', end: '08:00' } }), 'quietHours.start', 'HH:MM'],
  [definition({ quietHours: { start: '08:00', end: '08:00' } }), 'quietHours.end', 'differ'],
  [definition({ colour: 'red' }), 'colour', 'unknown key'],
];

describe('journey definitions', () => {
  it('accepts a full definition', () => {
    assert.deepEqual(journeyIssues(WELCOME), []);
  });

  for (const [input, path, fragment] of BAD) {
    it(`refuses ${JSON.stringify(input).slice(0, 90)}… at ${path || '(root)'}`, () => {
      const issues = journeyIssues(input);
      const hit = issues.find((i) => i.path === path);
      assert.ok(hit, `no issue at ${path}: ${JSON.stringify(issues)}`);
      assert.ok(hit.message.includes(fragment), hit.message);
    });
  }

  it('throws ERR_JOURNEY_INVALID naming the field under a prefix', () => {
    assert.throws(
      () => parseJourneyDefinition(definition({ steps: [{ type: 'send' }] }), 'definition'),
      (error: unknown) =>
        isSluiceError(error) &&
        error.code === 'ERR_JOURNEY_INVALID' &&
        error.details.field === 'definition.steps[0].template',
    );
  });

  it('compiles nested steps to a flat program with jumps', () => {
    const program = compileJourney(WELCOME as JourneyDefinition);
    const ops = program.instructions.map((i) => {
      switch (i.op) {
        case 'send':
          return `send ${i.template} ${i.stream} ${i.from.email}`;
        case 'branch':
          return `branch else→${i.elsePc}`;
        case 'jump':
          return `jump→${i.to}`;
        case 'wait':
          return `wait ${i.ms}`;
        case 'wait-for':
          return `wait-for ${i.event} ${i.timeoutMs} timeout→${i.timeoutPc}`;
        case 'exit':
          return 'exit';
      }
    });
    assert.deepEqual(ops, [
      'send tpl_welcome transactional hello@example.com',
      'wait 86400000',
      'branch else→5',
      'send tpl_tips bulk hello@example.com',
      'jump→6',
      'send tpl_nudge transactional team@example.com',
      'wait-for purchase 259200000 timeout→9',
      'exit',
      'jump→10',
      'jump→10',
      'send tpl_last transactional hello@example.com',
    ]);
    assert.equal(program.labels.get('welcome'), 0);
    assert.equal(program.labels.get('last'), 10);
  });

  it('lists the send steps with their paths', () => {
    assert.deepEqual(
      sendSteps(WELCOME as JourneyDefinition).map((s) => `${s.path}=${s.template}`),
      [
        'steps[0]=tpl_welcome',
        'steps[2].then[0]=tpl_tips',
        'steps[2].else[0]=tpl_nudge',
        'steps[4]=tpl_last',
      ],
    );
  });

  it('turns re-entry policies into cool-downs', () => {
    assert.equal(reentryCooldownMs(undefined), Number.POSITIVE_INFINITY);
    assert.equal(reentryCooldownMs('once'), Number.POSITIVE_INFINITY);
    assert.equal(reentryCooldownMs('always'), 0);
    assert.equal(reentryCooldownMs({ cooldown: '2h' }), 7_200_000);
  });

  it('derives stable ids from what they stand for', () => {
    assert.equal(journeyMessageId('run_1', 3), journeyMessageId('run_1', 3));
    assert.notEqual(journeyMessageId('run_1', 3), journeyMessageId('run_1', 4));
    assert.match(journeyMessageId('run_1', 0), /^msg_[0-9a-f]{32}$/);
    assert.notEqual(journeyRunId('j1', 'evt:a', 1), journeyRunId('j2', 'evt:a', 1));
    assert.equal(journeyRunId('j1', 'evt:a', 1), journeyRunId('j1', 'evt:a', 1));
    // Time first: runs (and their messages) made later sort later.
    const early = journeyRunId('j1', 'evt:b', Date.UTC(2026, 0, 1));
    const late = journeyRunId('j1', 'evt:a', Date.UTC(2026, 0, 2));
    assert.ok(early < late);
    assert.ok(journeyMessageId(early, 0) < journeyMessageId(late, 0));
  });
});

describe('property conditions', () => {
  const props = { plan: 'pro', total: 120, tags: 'a,b', vip: true, none: null };
  const cases: [unknown, boolean][] = [
    [{ property: 'plan', op: 'eq', value: 'pro' }, true],
    [{ property: 'total', op: 'eq', value: '120' }, false],
    [{ property: 'total', op: 'gt', value: 100 }, true],
    [{ property: 'total', op: 'lt', value: 100 }, false],
    [{ property: 'missing', op: 'ne', value: 'x' }, true],
    [{ property: 'plan', op: 'in', value: ['free', 'pro'] }, true],
    [{ property: 'tags', op: 'contains', value: 'b' }, true],
    [{ property: 'none', op: 'exists' }, false],
    [{ property: 'vip', op: 'exists' }, true],
    [{ not: { property: 'vip', op: 'eq', value: true } }, false],
    [
      {
        or: [
          { property: 'plan', op: 'eq', value: 'x' },
          { property: 'vip', op: 'eq', value: true },
        ],
      },
      true,
    ],
    [{ and: [] }, true],
    [{ property: 'toString', op: 'exists' }, false],
  ];
  for (const [condition, expected] of cases) {
    it(`${JSON.stringify(condition)} is ${expected}`, () => {
      assert.equal(matchesProperties(condition as never, props), expected);
    });
  }
});

describe('frequency caps', () => {
  it('combines the configured caps with the journey’s own', () => {
    assert.deepEqual(capsFor([{ messages: 5, perMs: 1000 }], 'j1', { messages: 2, per: '1h' }), [
      { scope: 'all', limit: 5, windowMs: 1000 },
      { scope: { journeyId: 'j1' }, limit: 2, windowMs: 3_600_000 },
    ]);
    assert.deepEqual(capsFor([], 'j1', undefined), []);
  });

  it('is broken when the window already holds the limit', () => {
    const sends = [100, 200, 900];
    const rules = capsFor([{ messages: 3, perMs: 1000 }], 'j', undefined);
    const count = (_rule: unknown, since: number) => sends.filter((t) => t >= since).length;
    assert.ok(brokenCap(rules, 1000, count), 'three sends since 0');
    assert.equal(brokenCap(rules, 1150, count), undefined, 'the send at 100 left the window');
  });
});
