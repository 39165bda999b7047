/**
 * The delivery worker: claims due messages from the outbox, renders and
 * builds them, sends them through the relay pools and records the outcome.
 *
 * Claim loop (one claim query at a time):
 *
 *   ┌► free = concurrency − claimed (waiting for a connection or sending)
 *   │   free < half a batch → sleep until messages settle (or pollInterval)
 *   │   claim min(claimBatch, free) with a lease of leaseMs
 *   │     got a full batch → loop at once
 *   │     got fewer        → nothing more is due: sleep until
 *   │                        min(pollInterval, nextDueAt − now), or wake(),
 *   └───────────────────────  or an earlier retry is scheduled
 *
 * Each claimed batch (transactional first: the store's claim order) loads its
 * templates, campaigns and suppressions in one query each, then hands each
 * message to the pool of its stream with a builder of its bytes; outcomes
 * are settled through the SettleBatcher (settle-batcher.ts). `inFlight`
 * counts messages claimed and not yet settled or released.
 *
 * A slot (of `delivery.concurrency`) is freed when its message's SMTP
 * transaction ends, not when its settlement is written: a settlement waits
 * up to 20 ms for its batch, and counting that wait made the slots a
 * throughput limit (the default 200 held ~6,300 msg/s in bench/campaign
 * where 1,000 held ~9,300; freed at the transaction's end, 200 need no
 * more). Settlements waiting for their batch are bounded by the batcher's
 * flushes, not by the slots. Fewer messages waiting for a connection also
 * means fewer promoted to V8's old generation (docs/benchmarks.md).
 *
 * Built when sent: the builder (Liquid, MIME, DKIM) runs when a connection
 * is ready for the message (relay-connections.ts), not at claim time. Most
 * messages in flight wait for a connection (1,000 in flight over 12
 * connections in bench/campaign, ~0.3 s each); built at claim time, each
 * held its ~2.5 KB Buffer and rendered parts all that while, long enough to
 * be promoted to V8's old generation, and dead bodies piled up outside the
 * heap (up to ~40 MB of `external` memory) until the next full collection.
 * Built when sent, a body lives for its SMTP transaction and dies young.
 *
 * Time slicing: Liquid and MIME building are synchronous CPU work on the
 * thread that also drives every SMTP socket; built when sent, each runs on
 * its own event-loop turn, one message at a time. What is left in the
 * batch loop (suppression checks, handing 500 messages to the pools) still
 * yields (setImmediate, which lets pending I/O run first) after each
 * TIME_SLICE_MS of work. A worker-thread pool would take the building off
 * the main thread altogether; it is a later step, for when rendering (or
 * DKIM) rather than the relays limits throughput.
 *
 * Graceful stop: stop claiming; messages not yet handed to a connection are
 * released (status queued, due now) in one store call; sends in progress get
 * until the deadline, after which their connections are cut (they come back
 * deferred: at least once, never lost; or released, when no byte of their
 * content had gone out, such as a message whose MAIL was pipelined behind
 * another's final reply); settlements are flushed; the relay
 * connections are closed with QUIT. Nothing this worker claimed stays
 * `sending` unless the store itself fails (then the lease hands it back).
 */
import { setMaxListeners } from 'node:events';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { SluiceConfig } from '../config/config.js';
import { domainOf } from '../core/address.js';
import type { Clock } from '../core/clock.js';
import { createReplyClassifier } from '../core/bounce.js';
import { BUILTIN_BOUNCE_RULES } from '../core/bounce-rules.js';
import { isSluiceError } from '../core/errors.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import type { ClaimedMessage } from '../core/message.js';
import type { SendResult, Settlement } from '../core/outcome.js';
import type { RateLimiter } from '../core/ports/rate-limiter.js';
import type { Store, Template } from '../core/ports/store.js';
import type { RetryPolicy } from '../core/retry.js';
import { verpAddress } from '../core/verp.js';
import { buildMime, renderContent, templateNotFound } from '../render/compose.js';
import { applyTracking } from '../render/tracking.js';
import type { TemplateEngine } from '../render/liquid.js';
import type { Campaign } from '../core/campaign.js';
import { campaignParts, loadCampaigns } from './campaign-content.js';
import { DkimSigner } from './dkim-signer.js';
import type { DeliverySnapshot } from './delivery-snapshot.js';
import type { DeliveryLogger } from './logger.js';
import { LoopSleep, type SleepKind } from './loop-sleep.js';
import { emitSettled } from './outcome-events.js';
import type { MessageBuilder } from './relay-connections.js';
import { RelayPools, type MessageDispatch } from './relay-pool.js';
import { SettleBatcher, type SettleOutcome } from './settle-batcher.js';
import { isSuppressed, loadSuppressed, settlementForSuppressed } from './suppression-gate.js';
import {
  settlementForFailure,
  settlementForPostponed,
  settlementForSend,
  settlementForThrottled,
  type SettlementContext,
} from './settlement.js';

/**
 * Synchronous work between two yields to the event loop. 5 ms keeps the
 * sockets' replies waiting at most ~5 ms (small against 100–500 ms SMTP
 * round trips to real providers) while costing a yield only every few
 * dozen messages.
 */
const TIME_SLICE_MS = 5;
/** Extra time for the final store writes (release, settle) when stop's deadline has passed. */
const BOOKKEEPING_GRACE_MS = 2_000;

export interface DeliveryWorkerOptions {
  store: Store;
  config: SluiceConfig;
  clock: Clock;
  events: EventBus<SluiceEventMap>;
  logger: DeliveryLogger;
  templates: TemplateEngine;
  /** Lease owner: unique per process. */
  nodeId: string;
  /** Random source of the retry jitter; tests pin it. */
  random?: () => number;
  /** Where rate tokens live; default: this process's memory (cluster-wide on PostgreSQL: main.ts). */
  limiter?: RateLimiter;
}

export class DeliveryWorker {
  readonly pools: RelayPools;
  private readonly batcher: SettleBatcher;
  private readonly signer: DkimSigner;
  private readonly settlementContext: SettlementContext;
  /** Messages holding a slot: claimed (or adopted) and not yet through their transaction. */
  private claimed = 0;
  /** Messages through their transaction whose settlement is not written yet. */
  private settling = 0;
  /** Free slots at which the claim loop claims again (half a batch). */
  private readonly refill: number;
  private started = false;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private loop: Promise<void> = Promise.resolve();
  private wakeRequested = false;
  private readonly sleeper: LoopSleep;
  private readonly abort = new AbortController();
  private readonly preparations = new Set<Promise<void>>();
  /** Deliveries (sends and settlements) not yet ended. */
  private deliveries = 0;
  /** Waiting for `deliveries` to reach 0 (shutdown). */
  private deliveriesDrained: (() => void)[] = [];
  private releasable: string[] = [];
  /** Messages leased at accept (adopt), prepared together at the next microtask. */
  private adopted: ClaimedMessage[] = [];

  constructor(private readonly options: DeliveryWorkerOptions) {
    const { config, events, logger, store } = options;
    this.pools = new RelayPools({
      config,
      events,
      logger,
      clock: options.clock,
      ...(options.limiter ? { limiter: options.limiter } : {}),
    });
    this.sleeper = new LoopSleep(options.clock);
    // Claim in sizeable batches: while at least half the window is still in
    // flight, wait for more slots rather than claim the few that just freed.
    // Each claim is a transaction (an fsync on SQLite); claiming the ~50
    // slots a settle batch frees, as often as settles happen, doubled the
    // store's share of the work at 2,000 messages/s.
    const { delivery } = config;
    this.refill = Math.max(1, Math.floor(Math.min(delivery.claimBatch, delivery.concurrency) / 2));
    this.signer = DkimSigner.fromConfig(config.dkim ?? [], logger);
    // One listener on this signal for each relay, the throttles and the pools
    // (abort-watch.ts), not one a waiting message: a node with more than ten
    // relays is normal, not a leak.
    setMaxListeners(0, this.abort.signal);
    const policy: RetryPolicy = { ...config.delivery.retry };
    this.settlementContext = {
      owner: options.nodeId,
      policy,
      ...(options.random ? { random: options.random } : {}),
      classify: createReplyClassifier(BUILTIN_BOUNCE_RULES, config.bounces?.rules ?? []),
    };
    this.batcher = new SettleBatcher({
      settle: (batch) => store.messages.settle(batch),
      onFlush: ({ size, durationMs }) => events.emit('worker:settle-batch', { size, durationMs }),
      onError: (error, size) =>
        logger.error({ err: error, size }, 'settling a batch failed; will retry'),
    });
  }

  /** Messages claimed and not yet settled or released (for readiness and metrics). */
  get inFlight(): number {
    return this.claimed + this.settling;
  }

  /** Relays, pools and throttles as they are now, for the dashboard and alerts. */
  snapshot(): DeliverySnapshot {
    return { inFlight: this.inFlight, ...this.pools.snapshot() };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.loop = this.run().catch((error: unknown) => {
      // The loop catches store errors itself; reaching this is a bug.
      this.options.logger.error({ err: error }, 'the delivery loop stopped on an error');
    });
  }

  /**
   * New work was accepted: claim now rather than at the next poll. Wakes
   * coalesce: however many arrive while a claim is in flight, they cause
   * one more claim (wakeRequested is a flag, not a count).
   */
  wake(source: SluiceEventMap['worker:wake']['source'] = 'local'): void {
    this.options.events.emit('worker:wake', { source });
    this.wakeRequested = true;
    this.sleeper.interrupt();
  }

  // ── hand-off: messages leased to this node as they were accepted ──────

  /**
   * Takes a slot for a message this node is about to accept already leased
   * to itself (a journey's send: AcceptOptions.leaseTo), so that it skips the
   * claim; false when the worker is not running, is stopping or is full (the
   * message is then accepted queued, and claimed as usual).
   */
  reserve(): boolean {
    if (!this.started || this.stopping) return false;
    if (this.claimed >= this.options.config.delivery.concurrency) return false;
    this.claimed += 1;
    return true;
  }

  /** A reserved slot that got no message (the accept created none, or failed). */
  unreserve(): void {
    this.slotFreed();
  }

  /** The message accepted leased to this node, in a reserved slot: prepared and sent as a claimed one. */
  adopt(message: ClaimedMessage): void {
    this.options.events.emit('message:claimed', { count: 1 });
    this.adopted.push(message);
    if (this.adopted.length > 1) return;
    // The sends of one commit of a journey's writes arrive in one microtask checkpoint: one batch.
    queueMicrotask(() => {
      const batch = this.adopted;
      this.adopted = [];
      this.track(this.preparations, this.prepareBatch(batch));
    });
  }

  /** Graceful stop; see the header comment. Idempotent. */
  stop(timeoutMs: number): Promise<void> {
    this.stopped ??= this.shutdown(Date.now() + timeoutMs);
    return this.stopped;
  }

  // ── claim loop ──────────────────────────────────────────────────────

  private async run(): Promise<void> {
    const { delivery } = this.options.config;
    while (!this.stopping) {
      const free = delivery.concurrency - this.claimed;
      if (free < this.refill) {
        await this.sleep('full', delivery.pollIntervalMs);
        continue;
      }
      this.wakeRequested = false;
      const limit = Math.min(delivery.claimBatch, free);
      let batch: ClaimedMessage[];
      try {
        batch = await this.options.store.messages.claim({
          limit,
          leaseMs: delivery.leaseMs,
          owner: this.options.nodeId,
          now: this.options.clock.now(),
        });
      } catch (error) {
        this.options.logger.error({ err: error }, 'claiming messages failed');
        await this.sleep('idle', delivery.pollIntervalMs);
        continue;
      }
      if (batch.length > 0) {
        this.claimed += batch.length;
        this.options.events.emit('message:claimed', { count: batch.length });
        this.track(this.preparations, this.prepareBatch(batch));
      }
      if (batch.length === limit || this.wakeRequested || this.stopping) continue;
      await this.sleep('idle', await this.idleDelay());
    }
  }

  /** Until the next message is due, at most pollInterval; at least 1 ms so a race cannot spin. */
  private async idleDelay(): Promise<number> {
    const poll = this.options.config.delivery.pollIntervalMs;
    try {
      const next = await this.options.store.messages.nextDueAt();
      if (next === undefined) return poll;
      return Math.max(1, Math.min(poll, next - this.options.clock.now()));
    } catch (error) {
      this.options.logger.error({ err: error }, 'reading the next due time failed');
      return poll;
    }
  }

  private sleep(kind: SleepKind, ms: number): Promise<void> {
    if (this.stopping || (kind === 'idle' && this.wakeRequested)) return Promise.resolve();
    return this.sleeper.sleep(kind, ms);
  }

  private slotFreed(count = 1): void {
    this.claimed -= count;
    // Wake a loop waiting for slots only when it would claim: not once a message.
    if (this.options.config.delivery.concurrency - this.claimed >= this.refill) {
      this.sleeper.slotsFreed();
    }
  }

  // ── preparing and sending ───────────────────────────────────────────

  private async prepareBatch(batch: ClaimedMessage[]): Promise<void> {
    const [loadedTemplates, suppressed, campaigns] = await Promise.all([
      this.loadTemplates(batch),
      loadSuppressed(this.options.store, batch, this.options.logger),
      loadCampaigns(this.options.store, batch, this.options.logger),
    ]);
    const templates = campaigns ? loadedTemplates : undefined;
    let sliceStart = performance.now();
    for (const message of batch) {
      if (this.stopping) {
        this.releasable.push(message.id);
        continue;
      }
      if (!templates || !suppressed) {
        const reason = templates ? 'the suppression list could not be read' : undefined;
        void this.settleUnsent(message, this.postponed(message, reason));
        continue;
      }
      if (isSuppressed(suppressed, message)) {
        const { clock, nodeId } = this.options;
        const settlement = settlementForSuppressed(message, clock.now(), nodeId);
        void this.settleUnsent(message, settlement);
        continue;
      }
      const known = campaigns ?? new Map<string, Campaign>();
      const campaign = message.campaignId === undefined ? undefined : known.get(message.campaignId);
      // What is known to fail fails now, without waiting for a connection.
      const missing =
        message.campaignId !== undefined && !campaign
          ? `campaign "${message.campaignId}" no longer exists`
          : message.templateId !== undefined && !templates.has(message.templateId)
            ? templateNotFound(message.templateId).message
            : undefined;
      if (missing !== undefined) {
        void this.settleUnsent(message, this.failed(message, missing));
        continue;
      }
      const build = this.builder(message, templates, known);
      void this.deliver(message, build, campaign?.pool);
      if (performance.now() - sliceStart >= TIME_SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
  }

  /** The batch's templates in one query; undefined when the store failed. */
  private async loadTemplates(batch: ClaimedMessage[]): Promise<Map<string, Template> | undefined> {
    const ids = [...new Set(batch.flatMap((m) => (m.templateId ? [m.templateId] : [])))];
    if (ids.length === 0) return new Map();
    try {
      const templates = await this.options.store.templates.getMany(ids);
      return new Map(templates.map((t) => [t.id, t]));
    } catch (error) {
      this.options.logger.error({ err: error }, 'loading templates failed; postponing the batch');
      return undefined;
    }
  }

  /**
   * Builds the message when a connection asks for it. Not kept: the rare
   * second connection attempt (the first closed before a byte went out)
   * builds it again, so that nothing holds the bytes once they are sent
   * (this dispatch waits for its settlement batch, tens of milliseconds,
   * long enough for a kept body to be promoted to V8's old generation).
   */
  private builder(
    message: ClaimedMessage,
    templates: Map<string, Template>,
    campaigns: ReadonlyMap<string, Campaign>,
  ): MessageBuilder {
    return () => this.build(message, templates, campaigns);
  }

  private async build(
    message: ClaimedMessage,
    templates: Map<string, Template>,
    campaigns: ReadonlyMap<string, Campaign>,
  ): Promise<Buffer | { failed: string }> {
    try {
      const campaign = campaignParts(campaigns, message);
      const template = message.templateId ? templates.get(message.templateId) : campaign?.source;
      const rendered = renderContent(
        this.options.templates,
        message,
        template,
        campaign?.variables,
      );
      const tracked = applyTracking(this.options.config.tracking, message, rendered);
      const date = new Date(this.options.clock.now());
      const mime = await buildMime(message, tracked.content, date, tracked.headers);
      return this.signer.sign(mime, domainOf(message.from.email), date);
    } catch (error) {
      if (isSluiceError(error)) return { failed: error.message };
      this.options.logger.error({ err: error, id: message.id }, 'building a message failed');
      return { failed: `cannot build the message: ${String(error)}` };
    }
  }

  /**
   * Sends one message and settles it; counted in `deliveries` until it
   * ends. Its own bookkeeping (try/finally) rather than `track`: the frame
   * waits with the message for a connection, and track's wrapping promises
   * and closures would wait (and be promoted) with it.
   */
  private async deliver(
    message: ClaimedMessage,
    raw: MessageBuilder,
    pool?: string,
  ): Promise<void> {
    this.deliveries += 1;
    try {
      const { clock } = this.options;
      const dispatchedAt = clock.now();
      // Also the record the relay writes `startedAt` into (relay-connections.ts).
      const dispatch: MessageDispatch = {
        lane: message.stream,
        envelope: { from: this.envelopeSender(message), to: [message.to.email] },
        raw,
        signal: this.abort.signal,
        ...(pool !== undefined ? { pool } : {}),
      };
      const result = await this.pools.send(message, dispatch);
      if (result.kind === 'released') {
        this.releasable.push(message.id);
        return;
      }
      if (result.kind === 'unbuilt') {
        await this.settle(message, this.failed(message, result.reason));
        return;
      }
      if (result.kind === 'throttled') {
        // No SMTP happened: back to the queue, no attempt, no deferral event.
        const now = clock.now();
        const held = settlementForThrottled(message, result, now, this.options.nodeId);
        await this.settle(message, held, undefined, 0, false);
        return;
      }
      const startedAt = dispatch.startedAt ?? dispatchedAt;
      const finishedAt = clock.now();
      const settlement = settlementForSend(
        message,
        result,
        { startedAt, finishedAt },
        this.settlementContext,
      );
      await this.settle(message, settlement, result, finishedAt - startedAt);
    } catch (error) {
      this.options.logger.error({ err: error }, 'delivery bookkeeping failed');
    } finally {
      this.deliveryEnded();
    }
  }

  /** Settles a message that was not sent (suppressed, failed or postponed before a send), as a delivery. */
  private async settleUnsent(message: ClaimedMessage, settlement: Settlement): Promise<void> {
    this.deliveries += 1;
    try {
      await this.settle(message, settlement);
    } catch (error) {
      this.options.logger.error({ err: error }, 'delivery bookkeeping failed');
    } finally {
      this.deliveryEnded();
    }
  }

  private deliveryEnded(): void {
    this.deliveries -= 1;
    if (this.deliveries > 0) return;
    for (const resolve of this.deliveriesDrained.splice(0)) resolve();
  }

  /** Resolves when no delivery is running. */
  private deliveriesEnded(): Promise<void> {
    if (this.deliveries === 0) return Promise.resolve();
    return new Promise((resolve) => this.deliveriesDrained.push(resolve));
  }

  /** MAIL FROM: the VERP address when a bounce domain is configured, else the From address. */
  private envelopeSender(message: ClaimedMessage): string {
    const domain = this.options.config.bounces?.returnPathDomain;
    return domain ? verpAddress(message.id, domain) : message.from.email;
  }

  private failed(message: ClaimedMessage, reason: string): Settlement {
    return settlementForFailure(message, reason, this.options.clock.now(), this.options.nodeId);
  }

  private postponed(message: ClaimedMessage, reason = 'templates could not be loaded'): Settlement {
    return settlementForPostponed(
      message,
      reason,
      this.options.clock.now(),
      this.settlementContext,
    );
  }

  private async settle(
    message: ClaimedMessage,
    settlement: Settlement,
    result?: SendResult,
    latencyMs = 0,
    emit = true,
  ): Promise<void> {
    // The message's work is done: its slot goes to the next one now (header comment).
    this.slotFreed();
    this.settling += 1;
    let outcome: SettleOutcome;
    try {
      outcome = await this.batcher.add(settlement);
    } finally {
      this.settling -= 1;
    }
    if (outcome === 'skipped') {
      this.options.logger.warn(
        { id: message.id, status: settlement.status },
        'lease lost before settling: another worker owns the message now',
      );
      return;
    }
    if (outcome === 'unsettled') {
      this.options.logger.error(
        { id: message.id, status: settlement.status },
        'outcome not recorded (store unavailable at shutdown); the lease will hand the message back',
      );
      return;
    }
    if (settlement.status === 'deferred') this.sleeper.dueAt(settlement.dueAt);
    if (emit) emitSettled(this.options.events, message, settlement, result, latencyMs);
  }

  // ── stopping ───────────────────────────────────────────────────────

  private async shutdown(deadline: number): Promise<void> {
    this.stopping = true;
    // Requests still waiting for a connection come back `released`.
    this.abort.abort();
    this.sleeper.interrupt();
    await this.loop;
    await Promise.all(this.preparations);
    await this.writeReleases(deadline);

    await untilDeadline(this.deliveriesEnded(), deadline);
    if (this.deliveries > 0) {
      this.options.logger.warn(
        { sending: this.deliveries },
        'stop timeout reached: cutting the connections of sends still in progress',
      );
      await this.pools.close();
    }
    const grace = Math.max(deadline, Date.now() + BOOKKEEPING_GRACE_MS);
    await untilDeadline(this.deliveriesEnded(), grace);
    await this.batcher.close(grace);
    await this.deliveriesEnded();
    await this.writeReleases(grace);
    await this.pools.close();
  }

  private async writeReleases(deadline: number): Promise<void> {
    const ids = this.releasable;
    if (ids.length === 0) return;
    this.releasable = [];
    const { store, nodeId, clock, logger, events } = this.options;
    try {
      const released = store.messages.release(ids, nodeId, clock.now()).then(() => true);
      if (await untilDeadline(released, deadline)) {
        events.emit('message:released', { count: ids.length });
      } else {
        logger.error({ count: ids.length }, 'releasing unsent messages timed out');
      }
    } catch (error) {
      logger.error(
        { err: error, count: ids.length },
        'releasing unsent messages failed; their leases will hand them back',
      );
    }
    this.slotFreed(ids.length);
  }

  private track(set: Set<Promise<void>>, work: Promise<void>): void {
    const tracked = work
      .catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'delivery bookkeeping failed');
      })
      .finally(() => set.delete(tracked));
    set.add(tracked);
  }
}

/** Waits for `work` or until `deadline` (epoch ms); the work's value, or undefined at the deadline. */
async function untilDeadline<T>(work: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
