/**
 * For the campaign tests: a campaign created over given lists and moved to
 * `sending`, as `POST /v1/campaigns/:id/send` leaves it, ready for a fan-out.
 */
import { initialProgress } from '../core/campaign.js';
import { newId } from '../core/ids.js';
import type { Store } from '../core/ports/store.js';

export async function sendingCampaign(
  store: Store,
  options: { listIds: string[]; variants: number; at: number },
): Promise<string> {
  const { at } = options;
  const campaign = await store.campaigns.create({
    id: newId('campaign'),
    name: 'c',
    status: 'draft',
    from: { email: 'news@example.test' },
    content: { subject: 'Hi', text: 'Body' },
    variables: {},
    audience: { listIds: options.listIds },
    variants: ['A', 'B', 'C', 'D'].slice(0, options.variants).map((name) => ({ name })),
    progress: initialProgress(),
    createdAt: at,
    updatedAt: at,
  });
  await store.campaigns.transition(campaign.id, {
    from: ['draft'],
    to: 'sending',
    at,
    startedAt: at,
  });
  return campaign.id;
}
