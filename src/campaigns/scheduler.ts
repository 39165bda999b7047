/**
 * The campaign scheduler: one per node that delivers (any number on
 * PostgreSQL; the store's conditional updates and leases keep them apart).
 *
 * Loop:
 *
 *   ┌► start due campaigns: scheduled with sendAt <= now → sending
 *   │  fan-out: when none runs here, claim a campaign with fan-out work
 *   │           (lease) and run it in the background (fan-out.ts)
 *   │  upkeep, for campaigns whose messages may still change (at most every
 *   │           UPKEEP_INTERVAL_MS per campaign, and at most
 *   │           1/UPKEEP_COST_FACTOR of the time): guard rails, sweeps of
 *   │           paused and cancelled campaigns, completedAt
 *   └─ sleep until the earliest sendAt or pollInterval, or wake()
 *
 * Time comes from the injected Clock; `tick()` runs one round, for tests.
 */
import { guarded, type Campaign } from '../core/campaign.js';
import type { FanOutDeps, FanOutResult } from './fan-out.js';
import { campaignsConfig, fanOutNext } from './fan-out.js';
import { applyAction } from './campaign-actions.js';
import { guardVerdict } from './guard-rails.js';
import { loadStats } from './campaign-stats.js';

/**
 * Statistics of a large campaign are a GROUP BY over all its messages:
 * cheap once, too much once a second for a million rows. Ten seconds lets
 * the guard rails react within a few hundred messages at typical rates.
 */
export const UPKEEP_INTERVAL_MS = 10_000;
/**
 * The next upkeep of a campaign waits at least this many times as long as
 * its last one took. The statistics cost grows with the campaign's messages,
 * so a fixed interval made the upkeep's share of the time grow with the
 * audience: at 1M recipients on SQLite each one took ~2 s of the one thread
 * (1M index entries, each a random read of its row), every 10 s, and the
 * campaign's CPU per message doubled (docs/benchmarks.md, 30 Nov). 20 keeps
 * it under ~5 %. Since the statistics are read from their own index in
 * short statements with the event loop free between them (the SQLite
 * store, migration 0013), an upkeep at 1M takes ~0.7 s and never holds the
 * loop for more than a few ms; it is timed by the clock, so on a busy node
 * (other work between its statements) it waits longer, not shorter.
 */
export const UPKEEP_COST_FACTOR = 20;
/** Campaigns started or looked after per round; more wait for the next. */
const ROUND_LIMIT = 100;

export class CampaignScheduler {
  private stopping = false;
  private loop: Promise<void> | undefined;
  private fanOut: Promise<FanOutResult | undefined> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  /** When each campaign's next upkeep is due (epoch ms). */
  private readonly nextUpkeep = new Map<string, number>();

  private readonly deps: FanOutDeps;

  constructor(deps: FanOutDeps) {
    this.deps = { ...deps, stopping: () => this.stopping || (deps.stopping?.() ?? false) };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A campaign changed (scheduled, resumed …): look now rather than at the next poll. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    await this.fanOut;
  }

  /** One round: start due campaigns, start a fan-out if none runs, upkeep. */
  async tick(): Promise<void> {
    const { store, clock, logger } = this.deps;
    for (const id of await store.campaigns.due(clock.now(), ROUND_LIMIT)) {
      const now = clock.now();
      const started = await store.campaigns.transition(id, {
        from: ['scheduled'],
        to: 'sending',
        at: now,
        startedAt: now,
      });
      if (started) {
        this.deps.events.emit('campaign:status', { id, status: 'sending', by: 'scheduler' });
        logger.info({ campaign: id }, 'campaign started');
      }
    }
    this.startFanOut();
    for (const campaign of await store.campaigns.active(ROUND_LIMIT)) {
      const started = clock.now();
      if (started < (this.nextUpkeep.get(campaign.id) ?? started)) continue;
      // Set first, so that an upkeep that fails is not retried at every round.
      this.nextUpkeep.set(campaign.id, started + UPKEEP_INTERVAL_MS);
      if (await this.upkeep(campaign)) {
        this.nextUpkeep.delete(campaign.id);
        continue;
      }
      const took = clock.now() - started;
      const wait = Math.max(UPKEEP_INTERVAL_MS, UPKEEP_COST_FACTOR * took);
      this.nextUpkeep.set(campaign.id, started + wait);
    }
  }

  /** Waits for the fan-out started by the last tick, if any (for tests). */
  async settled(): Promise<FanOutResult | undefined> {
    return this.fanOut;
  }

  private startFanOut(): void {
    if (this.fanOut || this.stopping) return;
    const run = async (): Promise<FanOutResult | undefined> => {
      let last: FanOutResult | undefined;
      // Campaigns one after another until none has fan-out work.
      for (let result = await fanOutNext(this.deps); result; result = await fanOutNext(this.deps)) {
        last = result;
        if (this.stopping) break;
      }
      return last;
    };
    this.fanOut = run()
      .catch((error: unknown) => {
        this.deps.logger.error(
          { err: error },
          'campaign fan-out failed; retrying at the next poll',
        );
        return undefined;
      })
      .finally(() => {
        this.fanOut = undefined;
      });
  }

  /** True once every message of the campaign is final (no more upkeep). */
  private async upkeep(campaign: Campaign): Promise<boolean> {
    const { store, clock, logger, config } = this.deps;
    const now = clock.now();
    if (campaign.status === 'cancelled') await store.campaigns.sweepCancelled(campaign.id, now);
    if (campaign.status === 'paused') await store.campaigns.sweepPaused(campaign.id, now);
    if ((campaign.status === 'sending' || campaign.status === 'sent') && guarded(campaign)) {
      const stats = await loadStats(store, campaign);
      const { guard } = campaignsConfig(config);
      const complaints =
        guard.maxComplaintRate < 1 && stats.sent >= guard.minSample
          ? await store.campaigns.complaints(campaign.id)
          : 0;
      const reason = guardVerdict(stats, complaints, guard);
      if (reason) {
        try {
          await applyAction(this.deps, campaign.id, 'pause', {
            by: 'guard',
            pause: { by: 'guard', reason, at: now },
          });
          logger.warn({ campaign: campaign.id, reason }, 'guard rails paused a campaign');
        } catch (error) {
          logger.debug({ err: error, campaign: campaign.id }, 'guard rails: pause not applied');
        }
        return false;
      }
    }
    if (campaign.status === 'sent' || campaign.status === 'cancelled') {
      if (await store.campaigns.completeIfSettled(campaign.id, now)) {
        logger.info({ campaign: campaign.id }, 'every message of the campaign is final');
        return true;
      }
    }
    return false;
  }

  private async run(): Promise<void> {
    const { pollIntervalMs } = campaignsConfig(this.deps.config);
    while (!this.stopping) {
      this.woken = false;
      try {
        await this.tick();
      } catch (error) {
        this.deps.logger.error({ err: error }, 'campaign scheduler round failed');
      }
      if (this.stopping) break;
      let delay = pollIntervalMs;
      try {
        const next = await this.deps.store.campaigns.nextSendAt();
        if (next !== undefined) delay = Math.min(delay, next - this.deps.clock.now());
      } catch {
        // The next round reports store trouble.
      }
      if (!this.woken) await this.sleep(Math.max(1, delay));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(this.timer);
        this.wakeUp = undefined;
        resolve();
      };
      this.wakeUp = done;
      this.timer = setTimeout(done, ms);
    });
  }
}
