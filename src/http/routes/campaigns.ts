/**
 * Campaigns (docs/campaigns.md): create, list, get with live statistics,
 * edit while draft or scheduled, schedule, send now, pause, resume, cancel,
 * delete a draft, and a preview rendered for given or sample contacts.
 * Every check is made before anything is stored (campaigns/campaign-input.ts);
 * state changes are conditional (campaigns/campaign-actions.ts), so a
 * request that lost a race gets 409 ERR_CAMPAIGN_STATE.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { applyAction } from '../../campaigns/campaign-actions.js';
import { prepareCampaign, type CampaignInput } from '../../campaigns/campaign-input.js';
import { loadStats, type CampaignStats } from '../../campaigns/campaign-stats.js';
import { renderPreview } from '../../campaigns/campaign-preview.js';
import {
  CAMPAIGN_STATUSES,
  EDITABLE_STATUSES,
  initialProgress,
  WINNER_METRICS,
  type Campaign,
  type CampaignAction,
  type CampaignStatus,
} from '../../core/campaign.js';
import { SluiceError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { AppDeps } from '../app.js';
import {
  AddressInput,
  AddressView,
  DEFAULT_PAGE_SIZE,
  IdParams,
  IsoTime,
  JsonObject,
  NoContent,
  Page,
  PageQuery,
  iso,
  pageView,
  withErrors,
  type IdParamsValue,
} from '../schemas.js';

const TAGS = ['campaigns'];

/** sendAt may be this far in the past (clock skew, a slow request) and still mean "now". */
const SEND_AT_SLACK_MS = 60_000;

const Liquid = (description: string) => Type.String({ minLength: 1, description });
const Variant = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    subject: Type.Optional(Liquid('Replaces the campaign subject.')),
    html: Type.Optional(Liquid('Replaces the campaign HTML.')),
    text: Type.Optional(Liquid('Replaces the campaign text.')),
    templateId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    from: Type.Optional(AddressInput),
  },
  { additionalProperties: false },
);
const Test = Type.Object(
  {
    share: Type.Number({
      description: 'Part of the audience that gets the test, more than 0 and less than 1.',
    }),
    metric: Type.Union(
      WINNER_METRICS.map((m) => Type.Literal(m)),
      { description: 'The winner has the higher unique open (or click) rate.' },
    ),
    window: Type.String({
      minLength: 1,
      maxLength: 20,
      description: 'How long the test runs before the winner goes to the rest: "30m", "4h".',
    }),
  },
  { additionalProperties: false },
);

const definitionFields = {
  from: AddressInput,
  replyTo: Type.Optional(AddressInput),
  subject: Type.Optional(Liquid('Liquid; `contact.*` and the campaign variables.')),
  html: Type.Optional(Liquid('Liquid.')),
  text: Type.Optional(Liquid('Liquid.')),
  templateId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  lists: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100 }),
  ),
  segmentId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  segment: Type.Optional(
    Type.Unknown({ description: 'An inline condition of the segment language.' }),
  ),
  pool: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  variables: Type.Optional(JsonObject),
  variants: Type.Optional(Type.Array(Variant, { maxItems: 20 })),
  test: Type.Optional(Test),
  sendAt: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 40,
      description: 'ISO 8601 date-time; given on create, the campaign is scheduled at once.',
    }),
  ),
};

const CreateBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 200 }), ...definitionFields },
  { additionalProperties: false },
);
type CreateBodyValue = Static<typeof CreateBody>;

const PatchBody = Type.Partial(CreateBody, { additionalProperties: false, minProperties: 1 });
type PatchBodyValue = Static<typeof PatchBody>;

const ScheduleBody = Type.Object(
  { sendAt: Type.String({ minLength: 1, maxLength: 40, description: 'ISO 8601 date-time.' }) },
  { additionalProperties: false },
);

const PreviewBody = Type.Object(
  {
    contactIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 20 }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  },
  { additionalProperties: false },
);

const ListQuery = Type.Object(
  {
    ...PageQuery.properties,
    status: Type.Optional(Type.Union(CAMPAIGN_STATUSES.map((s) => Type.Literal(s)))),
  },
  { additionalProperties: false },
);

const Count = Type.Integer();
const VariantStatsView = Type.Object({
  index: Count,
  name: Type.String(),
  targeted: Count,
  delivered: Count,
  bounced: Count,
  opened: Count,
  clicked: Count,
  openRate: Type.Number(),
  clickRate: Type.Number(),
});
const StatsView = Type.Object({
  targeted: Count,
  queued: Count,
  sending: Count,
  sent: Count,
  delivered: Count,
  deferred: Count,
  bounced: Count,
  bouncedByCategory: Type.Record(Type.String(), Count),
  suppressed: Count,
  failed: Count,
  expired: Count,
  opened: Count,
  clicked: Count,
  unsubscribed: Count,
  rates: Type.Object({
    delivery: Type.Number(),
    bounce: Type.Number(),
    open: Type.Number(),
    click: Type.Number(),
    unsubscribe: Type.Number(),
  }),
  variants: Type.Array(VariantStatsView),
});

const CampaignView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String(),
  from: AddressView,
  replyTo: Type.Optional(AddressView),
  subject: Type.Optional(Type.String()),
  html: Type.Optional(Type.String()),
  text: Type.Optional(Type.String()),
  templateId: Type.Optional(Type.String()),
  lists: Type.Array(Type.String()),
  segmentId: Type.Optional(Type.String()),
  segment: Type.Optional(Type.Unknown()),
  pool: Type.Optional(Type.String()),
  variables: JsonObject,
  variants: Type.Array(
    Type.Object({
      name: Type.String(),
      subject: Type.Optional(Type.String()),
      html: Type.Optional(Type.String()),
      text: Type.Optional(Type.String()),
      templateId: Type.Optional(Type.String()),
      from: Type.Optional(AddressView),
    }),
  ),
  test: Type.Optional(
    Type.Object({ share: Type.Number(), metric: Type.String(), windowSeconds: Type.Number() }),
  ),
  sendAt: Type.Optional(IsoTime),
  startedAt: Type.Optional(IsoTime),
  testEndsAt: Type.Optional(IsoTime),
  fannedOutAt: Type.Optional(IsoTime),
  completedAt: Type.Optional(IsoTime),
  pause: Type.Optional(
    Type.Object(
      { by: Type.String(), reason: Type.String(), at: IsoTime, resumedAt: Type.Optional(IsoTime) },
      {
        description:
          'Why the campaign is (or was) paused: by the user, or by the guard rails. `resumedAt`: a user resumed it after a guard pause, and the guard rails leave it alone since.',
      },
    ),
  ),
  winner: Type.Optional(Type.Object({ index: Count, name: Type.String(), metric: Type.String() })),
  phase: Type.String({ description: 'Fan-out phase: pending, all, test, waiting, rest, done.' }),
  stats: Type.Optional(StatsView),
  createdAt: IsoTime,
  updatedAt: IsoTime,
});
type CampaignViewValue = Static<typeof CampaignView>;

const PreviewView = Type.Object({
  items: Type.Array(
    Type.Object({
      contact: Type.Object({ id: Type.Optional(Type.String()), email: Type.String() }),
      variant: Count,
      subject: Type.Optional(Type.String()),
      html: Type.Optional(Type.String()),
      text: Type.Optional(Type.String()),
      error: Type.Optional(
        Type.Object({
          code: Type.String(),
          message: Type.String(),
          field: Type.Optional(Type.String()),
        }),
      ),
    }),
  ),
});

export function campaignView(campaign: Campaign, stats?: CampaignStats): CampaignViewValue {
  const view: CampaignViewValue = {
    id: campaign.id,
    name: campaign.name,
    status: campaign.status,
    from: campaign.from,
    ...campaign.content,
    lists: campaign.audience.listIds,
    variables: campaign.variables,
    variants: campaign.variants,
    phase: campaign.progress.phase,
    createdAt: iso(campaign.createdAt),
    updatedAt: iso(campaign.updatedAt),
  };
  if (campaign.replyTo) view.replyTo = campaign.replyTo;
  if (campaign.audience.segmentId !== undefined) view.segmentId = campaign.audience.segmentId;
  if (campaign.audience.conditions !== undefined) view.segment = campaign.audience.conditions;
  if (campaign.pool !== undefined) view.pool = campaign.pool;
  if (campaign.test) {
    const { share, metric, windowMs } = campaign.test;
    view.test = { share, metric, windowSeconds: windowMs / 1000 };
  }
  if (campaign.sendAt !== undefined) view.sendAt = iso(campaign.sendAt);
  if (campaign.startedAt !== undefined) view.startedAt = iso(campaign.startedAt);
  if (campaign.testEndsAt !== undefined) view.testEndsAt = iso(campaign.testEndsAt);
  if (campaign.fannedOutAt !== undefined) view.fannedOutAt = iso(campaign.fannedOutAt);
  if (campaign.completedAt !== undefined) view.completedAt = iso(campaign.completedAt);
  if (campaign.pause) {
    const { resumedAt, ...pause } = campaign.pause;
    view.pause = {
      ...pause,
      at: iso(pause.at),
      ...(resumedAt !== undefined ? { resumedAt: iso(resumedAt) } : {}),
    };
  }
  if (campaign.winner !== undefined) {
    view.winner = {
      index: campaign.winner,
      name: campaign.variants[campaign.winner]?.name ?? 'default',
      metric: campaign.test?.metric ?? 'opens',
    };
  }
  if (stats) view.stats = stats;
  return view;
}

function notFound(id: string): SluiceError {
  return new SluiceError('ERR_NOT_FOUND', `No campaign has the id "${id}".`);
}

/** An ISO 8601 date-time not in the past (beyond a minute of slack). */
function parseSendAt(value: string, now: number, field = 'sendAt'): number {
  const iso8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
  const ms = iso8601.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) {
    throw new SluiceError(
      'ERR_VALIDATION',
      `${field}: "${value.slice(0, 40)}" is not an ISO 8601 date-time with a time zone, e.g. 2030-05-01T09:00:00Z`,
      { field },
    );
  }
  if (ms < now - SEND_AT_SLACK_MS) {
    throw new SluiceError('ERR_VALIDATION', `${field}: ${value} is in the past`, { field });
  }
  return Math.max(ms, now);
}

function inputOf(body: CreateBodyValue): CampaignInput {
  const { sendAt: _sendAt, ...rest } = body;
  return rest;
}

/** The stored campaign as a create body, so a patch can be merged into it and checked whole. */
function bodyOf(campaign: Campaign): CreateBodyValue {
  const body: CreateBodyValue = {
    name: campaign.name,
    from: campaign.from,
    ...campaign.content,
    lists: campaign.audience.listIds,
    variables: campaign.variables,
    variants: campaign.variants,
  };
  if (campaign.replyTo) body.replyTo = campaign.replyTo;
  if (campaign.audience.segmentId !== undefined) body.segmentId = campaign.audience.segmentId;
  if (campaign.audience.conditions !== undefined) body.segment = campaign.audience.conditions;
  if (campaign.pool !== undefined) body.pool = campaign.pool;
  if (campaign.test) {
    body.test = {
      share: campaign.test.share,
      metric: campaign.test.metric,
      window: `${campaign.test.windowMs}ms`,
    };
  }
  return body;
}

export function campaignRoutes(app: FastifyInstance, deps: AppDeps): void {
  const { store, clock } = deps;
  const wake = () => deps.onCampaignChange?.();

  async function existing(id: string): Promise<Campaign> {
    const campaign = await store.campaigns.get(id);
    if (!campaign) throw notFound(id);
    return campaign;
  }

  app.post<{ Body: CreateBodyValue }>(
    '/campaigns',
    {
      schema: {
        summary: 'Create a campaign',
        description:
          'A draft, or scheduled when `sendAt` is given. Every part is checked first: addresses, content, audience, pool, A/B settings, and (strict templates) a render against sample contacts and an empty contact.',
        tags: TAGS,
        body: CreateBody,
        response: withErrors({ 201: CampaignView }),
      },
    },
    async (request, reply) => {
      const now = clock.now();
      const sendAt =
        request.body.sendAt === undefined ? undefined : parseSendAt(request.body.sendAt, now);
      const definition = await prepareCampaign(inputOf(request.body), deps);
      const campaign = await store.campaigns.create({
        id: newId('campaign'),
        name: request.body.name,
        status: sendAt === undefined ? 'draft' : 'scheduled',
        ...definition,
        ...(sendAt !== undefined ? { sendAt } : {}),
        progress: initialProgress(),
        createdAt: now,
        updatedAt: now,
      });
      if (sendAt !== undefined) {
        deps.events.emit('campaign:status', { id: campaign.id, status: 'scheduled', by: 'api' });
        wake();
      }
      return reply.status(201).send(campaignView(campaign));
    },
  );

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/campaigns',
    {
      schema: {
        summary: 'List campaigns',
        tags: TAGS,
        querystring: ListQuery,
        response: withErrors({ 200: Page(CampaignView) }),
      },
    },
    async (request) => {
      const { limit = DEFAULT_PAGE_SIZE, after, status } = request.query;
      const page = await store.campaigns.list({
        limit,
        ...(after ? { after } : {}),
        ...(status ? { status: status } : {}),
      });
      return pageView(page, (c) => campaignView(c));
    },
  );

  app.get<{ Params: IdParamsValue }>(
    '/campaigns/:id',
    {
      schema: {
        summary: 'Get a campaign with its live statistics',
        description:
          'Statistics are counted when asked (aggregate queries over the campaign messages): targeted, queued, sent, delivered, deferred, bounced by category, suppressed, failed, opened, clicked, unsubscribed (unique per message), rates, and per-variant results.',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 200: CampaignView }),
      },
    },
    async (request) => {
      const campaign = await existing(request.params.id);
      return campaignView(campaign, await loadStats(store, campaign));
    },
  );

  app.patch<{ Params: IdParamsValue; Body: PatchBodyValue }>(
    '/campaigns/:id',
    {
      schema: {
        summary: 'Edit a draft or scheduled campaign',
        description:
          'The fields given replace the stored ones; the result is checked as a whole, like a new campaign. `sendAt` reschedules a scheduled campaign.',
        tags: TAGS,
        params: IdParams,
        body: PatchBody,
        response: withErrors({ 200: CampaignView }),
      },
    },
    async (request) => {
      const current = await existing(request.params.id);
      if (!EDITABLE_STATUSES.includes(current.status)) {
        throw new SluiceError(
          'ERR_CAMPAIGN_STATE',
          `Campaign "${current.id}" is ${current.status}: only draft and scheduled campaigns can be edited.`,
          { field: 'status', status: current.status },
        );
      }
      const now = clock.now();
      const merged = { ...bodyOf(current), ...request.body };
      const sendAt =
        request.body.sendAt === undefined ? undefined : parseSendAt(request.body.sendAt, now);
      const definition = await prepareCampaign(inputOf(merged), deps);
      const statuses: readonly CampaignStatus[] =
        sendAt !== undefined ? ['scheduled'] : EDITABLE_STATUSES;
      if (sendAt !== undefined && current.status !== 'scheduled') {
        throw new SluiceError(
          'ERR_VALIDATION',
          'sendAt: schedule a draft with POST /v1/campaigns/{id}/schedule',
          { field: 'sendAt' },
        );
      }
      const updated = await store.campaigns.update(
        current.id,
        {
          name: merged.name,
          definition,
          ...(sendAt !== undefined ? { sendAt } : {}),
          at: now,
        },
        statuses,
      );
      if (!updated) {
        const latest = await existing(current.id);
        throw new SluiceError(
          'ERR_CAMPAIGN_STATE',
          `Campaign "${current.id}" is ${latest.status}: only draft and scheduled campaigns can be edited.`,
          { field: 'status', status: latest.status },
        );
      }
      if (sendAt !== undefined) wake();
      return campaignView(updated);
    },
  );

  app.delete<{ Params: IdParamsValue }>(
    '/campaigns/:id',
    {
      schema: {
        summary: 'Delete a draft campaign',
        description: 'Only drafts: a campaign that sent anything is kept (cancel it instead).',
        tags: TAGS,
        params: IdParams,
        response: withErrors({ 204: NoContent }),
      },
    },
    async (request, reply) => {
      const campaign = await existing(request.params.id);
      if (!(await store.campaigns.deleteDraft(campaign.id))) {
        throw new SluiceError(
          'ERR_CAMPAIGN_STATE',
          `Campaign "${campaign.id}" is ${campaign.status}: only drafts can be deleted; cancel it instead.`,
          { field: 'status', status: campaign.status },
        );
      }
      return reply.status(204).send();
    },
  );

  app.post<{ Params: IdParamsValue; Body: Static<typeof ScheduleBody> }>(
    '/campaigns/:id/schedule',
    {
      schema: {
        summary: 'Schedule a campaign',
        description: 'From draft (or scheduled: reschedule). The fan-out starts at `sendAt`.',
        tags: TAGS,
        params: IdParams,
        body: ScheduleBody,
        response: withErrors({ 200: CampaignView }),
      },
    },
    async (request) => {
      const sendAt = parseSendAt(request.body.sendAt, clock.now());
      const campaign = await applyAction(deps, request.params.id, 'schedule', { sendAt });
      wake();
      return campaignView(campaign);
    },
  );

  const actions: {
    action: Exclude<CampaignAction, 'schedule'>;
    summary: string;
    description: string;
  }[] = [
    {
      action: 'send',
      summary: 'Send a campaign now',
      description: 'From draft or scheduled: scheduled for now; the fan-out starts at once.',
    },
    {
      action: 'pause',
      summary: 'Pause a campaign',
      description:
        'From scheduled, sending or sent (while messages are still queued): the fan-out stops at its next batch and queued messages are held (messages already handed to a relay finish).',
    },
    {
      action: 'resume',
      summary: 'Resume a paused campaign',
      description: 'Back to scheduled, sending or sent; held messages are due at once.',
    },
    {
      action: 'cancel',
      summary: 'Cancel a campaign',
      description:
        'Final. Queued and deferred messages become `failed` with lastError "campaign cancelled".',
    },
  ];
  for (const { action, summary, description } of actions) {
    app.post<{ Params: IdParamsValue }>(
      `/campaigns/:id/${action}`,
      {
        schema: {
          summary,
          description,
          tags: TAGS,
          params: IdParams,
          response: withErrors({ 200: CampaignView }),
        },
      },
      async (request) => {
        const campaign = await applyAction(deps, request.params.id, action);
        wake();
        return campaignView(campaign);
      },
    );
  }

  app.post<{ Params: IdParamsValue; Body: Static<typeof PreviewBody> }>(
    '/campaigns/:id/preview',
    {
      schema: {
        summary: 'Render a campaign for some contacts',
        description:
          'Every variant rendered (strict, as at send time) for the contacts given by id, or for the first `limit` contacts of the audience (default 3); a contact that fails to render gets `error` instead.',
        tags: TAGS,
        params: IdParams,
        body: PreviewBody,
        response: withErrors({ 200: PreviewView }),
      },
    },
    async (request) => {
      const campaign = await existing(request.params.id);
      return {
        items: await renderPreview(campaign, deps, {
          ...(request.body.contactIds ? { contactIds: request.body.contactIds } : {}),
          limit: request.body.limit ?? 3,
        }),
      };
    },
  );
}
