/**
 * The state changes a user asks for (schedule, send now, pause, resume,
 * cancel) and the guard rails' pause, as conditional store transitions: the
 * state machine of core/campaign.ts decides what is allowed, the store
 * applies it only if the campaign is still in the state it was read in, so
 * two racing requests (or a request racing the scheduler) cannot both win.
 */
import {
  canDo,
  resumeTarget,
  ACTION_FROM,
  type Campaign,
  type CampaignAction,
  type CampaignPause,
} from '../core/campaign.js';
import type { Clock } from '../core/clock.js';
import { SluiceError } from '../core/errors.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { CampaignTransition, Store } from '../core/ports/store.js';

export interface ActionDeps {
  store: Store;
  clock: Clock;
  events: EventBus<SluiceEventMap>;
}

function refused(campaign: Campaign, action: CampaignAction): SluiceError {
  const allowed = ACTION_FROM[action].join(', ');
  const done = campaign.status === 'sent' && campaign.completedAt !== undefined;
  return new SluiceError(
    'ERR_CAMPAIGN_STATE',
    done
      ? `Campaign "${campaign.id}" is sent and every message is final: nothing left to ${action}.`
      : `Cannot ${action} campaign "${campaign.id}" while it is ${campaign.status} (allowed from: ${allowed}).`,
    { field: 'status', status: campaign.status },
  );
}

/** The transition an action makes from the campaign's current state. */
export function transitionFor(
  campaign: Campaign,
  action: CampaignAction,
  at: number,
  options: { sendAt?: number; pause?: CampaignPause } = {},
): CampaignTransition {
  const from = [campaign.status];
  switch (action) {
    case 'schedule':
      return { from, to: 'scheduled', at, sendAt: options.sendAt ?? at };
    case 'send':
      return { from, to: 'scheduled', at, sendAt: at };
    case 'pause':
      return {
        from,
        to: 'paused',
        at,
        pause: options.pause ?? { by: 'user', reason: 'paused through the API', at },
        messages: 'hold',
      };
    case 'resume': {
      // A guard pause is kept, marked resumed: the guard rails leave the campaign alone now.
      const pause = campaign.pause?.by === 'guard' ? { ...campaign.pause, resumedAt: at } : null;
      return { from, to: resumeTarget(campaign), at, pause, messages: 'release' };
    }
    case 'cancel':
      return { from, to: 'cancelled', at, messages: 'cancel' };
  }
}

/**
 * Applies `action` to the campaign `id`. ERR_NOT_FOUND when there is none,
 * ERR_CAMPAIGN_STATE when the action is not allowed from its state (also
 * when another change got there first).
 */
export async function applyAction(
  deps: ActionDeps,
  id: string,
  action: CampaignAction,
  options: { sendAt?: number; pause?: CampaignPause; by?: 'api' | 'guard' } = {},
): Promise<Campaign> {
  const campaign = await deps.store.campaigns.get(id);
  if (!campaign) throw new SluiceError('ERR_NOT_FOUND', `No campaign has the id "${id}".`);
  if (!canDo(action, campaign)) throw refused(campaign, action);
  const change = transitionFor(campaign, action, deps.clock.now(), options);
  const changed = await deps.store.campaigns.transition(id, change);
  if (!changed) {
    const now = await deps.store.campaigns.get(id);
    throw refused(now ?? campaign, action);
  }
  deps.events.emit('campaign:status', {
    id,
    status: changed.status,
    by: options.by ?? 'api',
    ...(changed.pause ? { reason: changed.pause.reason } : {}),
  });
  return changed;
}
