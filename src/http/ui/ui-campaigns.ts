/**
 * Dashboard pages of campaigns: the list, and one campaign with its live
 * progress (polled from /ui/api/campaigns/:id), per-variant results and the
 * winner, bounce categories, opens, clicks and unsubscribes, the pause
 * reason, and pause / resume / cancel. Statistics come from loadStats and
 * the state changes from applyAction: the same code as GET and
 * POST /v1/campaigns/:id/<action> (src/http/routes/campaigns.ts).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { applyAction } from '../../campaigns/campaign-actions.js';
import { loadStats, type CampaignStats } from '../../campaigns/campaign-stats.js';
import { canDo, type Campaign, type CampaignAction } from '../../core/campaign.js';
import { SluiceError } from '../../core/errors.js';
import { html } from './html.js';
import { isoTime, queryText } from './ui-format.js';
import { layout } from './ui-layout.js';
import type { UiDeps } from './ui-routes.js';
import { sessionOf } from './ui-security.js';

const hide = { schema: { hide: true } };
/** Each row of the list costs two aggregate queries (its statistics). */
const PAGE_SIZE = 25;
export const UI_CAMPAIGN_ACTIONS = [
  'pause',
  'resume',
  'cancel',
] as const satisfies readonly CampaignAction[];
type UiAction = (typeof UI_CAMPAIGN_ACTIONS)[number];

type Render = (reply: FastifyReply, body: string) => FastifyReply;

export function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)} %`;
}

/** Messages of the campaign that are final (delivered, bounced, failed, expired, suppressed). */
export function finalCount(stats: CampaignStats): number {
  return stats.targeted - stats.queued - stats.sending - stats.deferred;
}

function pauseText(campaign: Campaign): string {
  const pause = campaign.pause;
  if (!pause) return '';
  const by = pause.by === 'guard' ? 'the guard rails' : 'a user';
  if (campaign.status === 'paused')
    return `Paused by ${by} at ${isoTime(pause.at)}: ${pause.reason}`;
  return pause.resumedAt !== undefined
    ? `Was paused by ${by} (${pause.reason}); resumed at ${isoTime(pause.resumedAt)}.`
    : '';
}

function winnerText(campaign: Campaign): string {
  if (campaign.winner === undefined) return '';
  const name = campaign.variants[campaign.winner]?.name ?? 'default';
  return `${name} (higher unique ${campaign.test?.metric ?? 'opens'} rate)`;
}

/** What the campaign page polls: its state and statistics, as the page shows them. */
export function campaignLive(campaign: Campaign, stats: CampaignStats) {
  return {
    id: campaign.id,
    status: campaign.status,
    phase: campaign.progress.phase,
    pause: pauseText(campaign),
    winner: campaign.winner ?? null,
    winnerText: winnerText(campaign),
    actions: UI_CAMPAIGN_ACTIONS.filter((a) => canDo(a, campaign)),
    final: finalCount(stats),
    /** Every message final (completedAt): nothing will change, the page stops polling. */
    completed: campaign.completedAt !== undefined,
    stats,
  };
}

export function campaignPages(ui: FastifyInstance, deps: UiDeps, page: Render): void {
  const sink = Boolean(deps.sink);
  const find = async (id: string) => {
    const campaign = await deps.store.campaigns.get(id);
    if (!campaign) throw new SluiceError('ERR_NOT_FOUND', `No campaign has the id "${id}".`);
    return campaign;
  };

  ui.get<{ Querystring: Record<string, unknown> }>(
    '/ui/campaigns',
    hide,
    async (request, reply) => {
      const after = queryText(request.query.after, 200);
      const list = await deps.store.campaigns.list({
        limit: PAGE_SIZE,
        ...(after ? { after } : {}),
      });
      const rows = await Promise.all(
        list.items.map(async (c) => ({ c, s: await loadStats(deps.store, c) })),
      );
      const session = sessionOf(request);
      return page(
        reply,
        layout(
          { page: 'campaigns', title: 'Campaigns', sink, ...(session ? { session } : {}) },
          html`<h1>Campaigns</h1>
            <table id="campaigns">
              <thead>
                <tr>
                  <th>name</th>
                  <th>status</th>
                  <th>progress</th>
                  <th>sent</th>
                  <th>delivered</th>
                  <th>bounced</th>
                  <th>opened</th>
                  <th>clicked</th>
                  <th>created</th>
                </tr>
              </thead>
              <tbody>
                ${rows.map(
                  ({ c, s }) =>
                    html`<tr data-campaign="${c.id}">
                      <td><a href="/ui/campaigns/${encodeURIComponent(c.id)}">${c.name}</a></td>
                      <td class="campaign-${c.status}">
                        ${c.status}${c.status === 'paused' && c.pause ? ` (${c.pause.by})` : ''}
                      </td>
                      <td>
                        <progress
                          max="${Math.max(1, s.targeted)}"
                          value="${finalCount(s)}"
                        ></progress>
                        ${finalCount(s)} / ${s.targeted}
                      </td>
                      <td>${s.sent}</td>
                      <td>${s.delivered}</td>
                      <td>${s.bounced}</td>
                      <td>${s.opened} (${percent(s.rates.open)})</td>
                      <td>${s.clicked} (${percent(s.rates.click)})</td>
                      <td>${isoTime(c.createdAt)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            ${list.items.length === 0 ? html`<p class="muted">No campaign yet (POST /v1/campaigns; docs/campaigns.md).</p>` : ''}
            ${list.next ? html`<p><a href="/ui/campaigns?after=${encodeURIComponent(list.next)}">Next page</a></p>` : ''}`,
        ),
      );
    },
  );

  ui.get<{ Params: { id: string } }>('/ui/api/campaigns/:id', hide, async (request) => {
    const campaign = await find(request.params.id);
    return campaignLive(campaign, await loadStats(deps.store, campaign));
  });

  ui.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/ui/campaigns/:id',
    hide,
    async (request, reply) => {
      const campaign = await find(request.params.id);
      const stats = await loadStats(deps.store, campaign);
      const live = campaignLive(campaign, stats);
      const done = queryText(request.query.done, 40);
      const session = sessionOf(request);
      const csrf = session?.csrf ?? '';
      const tile = (label: string, stat: string, value: string | number) =>
        html`<div class="tile">
          <div class="label">${label}</div>
          <div class="value" data-stat="${stat}">${value}</div>
        </div>`;
      const id = encodeURIComponent(campaign.id);
      return page(
        reply,
        layout(
          { page: 'campaigns', title: campaign.name, sink, ...(session ? { session } : {}) },
          html`<div id="campaign" data-campaign="${campaign.id}">
            <h1>
              ${campaign.name}
              <span class="muted"
                >· <span data-stat="status">${campaign.status}</span> · updated
                <span data-stat="updated">–</span></span
              >
            </h1>
            ${done ? html`<p class="notice" role="status">Campaign ${done}.</p>` : ''}
            <p class="notice" data-stat="pause" ${live.pause ? '' : html`hidden`}>${live.pause}</p>
            <div class="bar">
              ${UI_CAMPAIGN_ACTIONS.map(
                (action: UiAction) =>
                  html`<form
                    class="inline"
                    method="post"
                    action="/ui/campaigns/${id}/${action}"
                    data-action="${action}"
                    ${live.actions.includes(action) ? '' : html`hidden`}
                  >
                    <input type="hidden" name="_csrf" value="${csrf}" /><button
                      type="submit"
                      class="${action === 'cancel' ? 'danger' : 'secondary'}"
                    >
                      ${action[0]?.toUpperCase()}${action.slice(1)}
                    </button>
                  </form> `,
              )}
            </div>
            <p>
              <progress
                id="progress"
                max="${Math.max(1, stats.targeted)}"
                value="${live.final}"
              ></progress>
              <span data-stat="final">${live.final}</span> of
              <span data-stat="targeted">${stats.targeted}</span> messages final · fan-out
              <span data-stat="phase">${campaign.progress.phase}</span>
            </p>
            <div class="tiles">
              ${tile('Waiting', 'waiting', stats.queued + stats.sending + stats.deferred)}
              ${tile('Sent', 'sent', stats.sent)} ${tile('Delivered', 'delivered', stats.delivered)}
              ${tile('Deferred', 'deferred', stats.deferred)}
              ${tile('Bounced', 'bounced', stats.bounced)}
              ${tile('Suppressed', 'suppressed', stats.suppressed)}
              ${tile('Failed', 'failed', stats.failed + stats.expired)}
              ${tile('Opened', 'opened', stats.opened)} ${tile('Clicked', 'clicked', stats.clicked)}
              ${tile('Unsubscribed', 'unsubscribed', stats.unsubscribed)}
              ${tile('Delivery rate', 'rate-delivery', percent(stats.rates.delivery))}
              ${tile('Bounce rate', 'rate-bounce', percent(stats.rates.bounce))}
              ${tile('Open rate', 'rate-open', percent(stats.rates.open))}
              ${tile('Click rate', 'rate-click', percent(stats.rates.click))}
              ${tile('Unsubscribe rate', 'rate-unsubscribe', percent(stats.rates.unsubscribe))}
            </div>
            <h2>Variants</h2>
            <p class="muted">
              ${
                campaign.test
                  ? `A/B test: ${Math.round(campaign.test.share * 100)} % of the audience, the winner by unique ${campaign.test.metric}.`
                  : campaign.variants.length >= 2
                    ? 'A plain split of the whole audience (no test).'
                    : 'One content for everyone.'
              }
              Winner: <span data-stat="winner">${live.winnerText || '–'}</span>
            </p>
            <table id="variants">
              <thead>
                <tr>
                  <th>variant</th>
                  <th>messages</th>
                  <th>delivered</th>
                  <th>bounced</th>
                  <th>opened</th>
                  <th>clicked</th>
                  <th>open rate</th>
                  <th>click rate</th>
                </tr>
              </thead>
              <tbody>
                ${stats.variants.map(
                  (v) =>
                    html`<tr ${campaign.winner === v.index ? html`class="winner"` : ''}>
                      <td>${v.name}${campaign.winner === v.index ? ' (winner)' : ''}</td>
                      <td>${v.targeted}</td>
                      <td>${v.delivered}</td>
                      <td>${v.bounced}</td>
                      <td>${v.opened}</td>
                      <td>${v.clicked}</td>
                      <td>${percent(v.openRate)}</td>
                      <td>${percent(v.clickRate)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            <h2>Bounces by category</h2>
            <table id="bounces">
              <thead>
                <tr>
                  <th>category</th>
                  <th>messages</th>
                </tr>
              </thead>
              <tbody>
                ${Object.entries(stats.bouncedByCategory).map(
                  ([category, n]) =>
                    html`<tr>
                      <td>${category}</td>
                      <td>${n}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            <p
              class="muted"
              data-stat="no-bounces"
              ${Object.keys(stats.bouncedByCategory).length === 0 ? '' : html`hidden`}
            >
              No bounce.
            </p>
            <h2>Campaign</h2>
            <dl class="fields">
              <dt>id</dt>
              <dd><code>${campaign.id}</code></dd>
              <dt>from</dt>
              <dd>${campaign.from.email}</dd>
              <dt>subject (source)</dt>
              <dd>
                ${campaign.content.subject ?? (campaign.content.templateId ? `template ${campaign.content.templateId}` : '')}
              </dd>
              <dt>created</dt>
              <dd>${isoTime(campaign.createdAt)}</dd>
              ${
                campaign.sendAt !== undefined
                  ? html`<dt>send at</dt>
                      <dd>${isoTime(campaign.sendAt)}</dd>`
                  : ''
              }
              ${
                campaign.startedAt !== undefined
                  ? html`<dt>started</dt>
                      <dd>${isoTime(campaign.startedAt)}</dd>`
                  : ''
              }
              ${
                campaign.testEndsAt !== undefined
                  ? html`<dt>test ends</dt>
                      <dd>${isoTime(campaign.testEndsAt)}</dd>`
                  : ''
              }
              ${
                campaign.fannedOutAt !== undefined
                  ? html`<dt>every recipient written</dt>
                      <dd>${isoTime(campaign.fannedOutAt)}</dd>`
                  : ''
              }
              ${
                campaign.completedAt !== undefined
                  ? html`<dt>every message final</dt>
                      <dd>${isoTime(campaign.completedAt)}</dd>`
                  : ''
              }
            </dl>
            <p class="muted">
              <a href="/ui/messages?campaign=${id}">Its messages</a> · the API:
              <code>GET /v1/campaigns/${campaign.id}</code>
            </p>
          </div>`,
        ),
      );
    },
  );

  ui.post<{ Params: { id: string; action: string } }>(
    '/ui/campaigns/:id/:action',
    hide,
    async (request, reply) => {
      const action = UI_CAMPAIGN_ACTIONS.find((a) => a === request.params.action);
      if (!action) {
        throw new SluiceError('ERR_NOT_FOUND', `No campaign action "${request.params.action}".`);
      }
      const changed = await applyAction(
        deps,
        request.params.id,
        action,
        action === 'pause'
          ? { pause: { by: 'user', reason: 'paused in the dashboard', at: deps.clock.now() } }
          : {},
      );
      deps.onCampaignChange?.();
      request.log.info({ campaignId: changed.id, action }, 'campaign changed in the dashboard');
      const done = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' }[action];
      return reply.redirect(
        `/ui/campaigns/${encodeURIComponent(changed.id)}?${new URLSearchParams({ done }).toString()}`,
        303,
      );
    },
  );
}
