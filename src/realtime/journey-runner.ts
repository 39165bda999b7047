/**
 * The journey runner: starts runs when their trigger happens and moves
 * them along when their time comes. Three inputs, one executor
 * (journey-executor.ts):
 *
 *   'event:ingested' (in process, right after the commit: the fast path)
 *     ├─ runs of the contact waiting for this event: claimed and moved on
 *     ├─ journeys whose entry is this event (and its `where`): enter + run
 *     └─ tracked segments: membership re-evaluated for this contact only;
 *        entering one starts the journeys whose entry is that segment
 *
 *   timers (a loop): claims due runs in batches, with a lease (waits,
 *     wait-for timeouts, quiet-hours postponements, runs of a dead node);
 *     sleeps pollInterval between empty claims, or until wake()
 *
 *   backstop (a loop, one node at a time by the cursor's lease): reads the
 *     stored events after a durable cursor, once they are backstopDelay
 *     old, and hands each to the same path as the hook. It catches events
 *     committed while this node was down or whose hook was dropped or
 *     failed. Events this node's hook handled to the end are skipped (a
 *     bounded memory of their ids): at a sustained 1,000 events/s, handling
 *     each event a second time ten seconds later doubled the journey work
 *     and held the event loop for a page at a time. Events another node's
 *     hook handled are handled again and do nothing (the trigger key makes
 *     a second entry a duplicate; a run no longer waits for them).
 *
 * Events of one contact are handled in order, one at a time (a chain per
 * contact); at most MAX_QUEUED events wait for the hook, beyond which the
 * hook drops them and leaves them to the backstop scan.
 */
import type { Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import {
  matchesProperties,
  reentryCooldownMs,
  waitedEvents,
  type JourneyEntry,
} from '../core/journey.js';
import { journeyRunId } from '../core/journey-ids.js';
import type { Journey, JourneyRun, RunTrigger, Segment, Store } from '../core/ports/store.js';
import type { SegmentCondition } from '../core/segment.js';
import type { JourneysConfig } from '../config/config.js';
import { JourneyExecutor, type ExecutorDeps } from './journey-executor.js';

/** Events waiting for the in-process hook before it drops new ones (the backstop takes them). */
const MAX_QUEUED = 20_000;
/** Events read per backstop page; the scan yields to the event loop between pages. */
const BACKSTOP_PAGE = 200;
/** Most event ids remembered as handled by the hook (beyond, the oldest are forgotten and the backstop handles them again: harmless). */
const MAX_REMEMBERED = 200_000;
const CURSOR = 'journeys';

export interface RunnerDeps extends Omit<ExecutorDeps, 'owner'> {
  nodeId: string;
  logger: { warn(o: object, m: string): void; error(o: object, m: string): void };
}

/** An event as the runner needs it (from the hook or from the store). */
export interface TriggerEvent {
  id: string;
  contactId: string;
  name: string;
  properties: Record<string, unknown>;
  receivedAt: number;
}

interface Index {
  byEvent: Map<string, Journey[]>;
  bySegment: Map<string, Journey[]>;
  /** Segments whose membership is kept per event. */
  segments: Segment[];
  /**
   * Events some journey's wait-for waits for, in any version of any journey
   * (a run stays on the version it started on): the hook looks for waiting
   * runs only for these, and the backstop skips what the hook handled.
   */
  waited: Set<string>;
}

const EMPTY_INDEX: Index = {
  byEvent: new Map(),
  bySegment: new Map(),
  segments: [],
  waited: new Set(),
};

function hasEventCondition(condition: SegmentCondition): boolean {
  if ('and' in condition) return condition.and.some(hasEventCondition);
  if ('or' in condition) return condition.or.some(hasEventCondition);
  if ('not' in condition) return hasEventCondition(condition.not);
  return 'event' in condition;
}

/** A sleep that stop() and wake() end early. */
class Nap {
  private end: (() => void) | undefined;
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.interrupt(), ms);
      this.end = () => {
        clearTimeout(timer);
        this.end = undefined;
        resolve();
      };
    });
  }
  interrupt(): void {
    this.end?.();
  }
}

export class JourneyRunner {
  private readonly executor: JourneyExecutor;
  private readonly config: JourneysConfig;
  private index: Index = EMPTY_INDEX;
  private stopped = false;
  private readonly chains = new Map<string, Promise<void>>();
  private queued = 0;
  private readonly timerNap = new Nap();
  private readonly backstopNap = new Nap();
  private readonly refreshNap = new Nap();
  private loops: Promise<void>[] = [];
  private unsubscribe: (() => void) | undefined;
  private wakeRequested = false;
  /** Events the hook handled to the end, with their receipt time, oldest first: the backstop skips them. */
  private readonly handledByHook = new Map<string, number>();

  constructor(private readonly deps: RunnerDeps) {
    this.config = deps.journeys;
    this.executor = new JourneyExecutor({ ...deps, owner: deps.nodeId });
  }

  private get store(): Store {
    return this.deps.store;
  }

  private get clock(): Clock {
    return this.deps.clock;
  }

  private get events(): EventBus<SluiceEventMap> {
    return this.deps.events;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.unsubscribe = this.events.on('event:ingested', (e) => {
      this.enqueue({
        id: e.id,
        contactId: e.contactId,
        name: e.name,
        properties: e.properties ?? {},
        receivedAt: e.receivedAt ?? this.clock.now(),
      });
    });
    this.loops = [
      this.loop(() => this.runDue(), this.timerNap, this.config.pollIntervalMs, true),
      this.loop(() => this.scanBackstop(), this.backstopNap, this.config.backstopIntervalMs, false),
      this.loop(
        () => this.refresh().then(() => 0),
        this.refreshNap,
        this.config.refreshIntervalMs,
        false,
      ),
    ];
  }

  /** Stops the loops and the hook; waits for work in progress. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    for (const nap of [this.timerNap, this.backstopNap, this.refreshNap]) nap.interrupt();
    await Promise.all(this.loops);
    await Promise.all([...this.chains.values()]);
  }

  /** Look for due timers now (the clock moved, or a run was postponed). */
  wake(): void {
    this.wakeRequested = true;
    this.timerNap.interrupt();
  }

  /** Journeys changed through this node's API: re-read them now. */
  async journeysChanged(): Promise<void> {
    await this.refresh();
  }

  /** Waits until every event handed to the hook so far has been handled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  private async loop(
    pass: () => Promise<number>,
    nap: Nap,
    intervalMs: number,
    again: boolean,
  ): Promise<void> {
    while (!this.stopped) {
      let full = false;
      try {
        const count = await pass();
        full = again && count >= this.config.claimBatch;
      } catch (error) {
        this.deps.logger.error({ err: error }, 'a journey pass failed; trying again later');
      }
      if (this.stopped) return;
      if (full || this.consumeWake(nap)) continue;
      await nap.sleep(intervalMs);
    }
  }

  private consumeWake(nap: Nap): boolean {
    if (nap !== this.timerNap || !this.wakeRequested) return false;
    this.wakeRequested = false;
    return true;
  }

  private async refresh(): Promise<void> {
    const journeys = await this.store.journeys.listActive();
    const byEvent = new Map<string, Journey[]>();
    const bySegment = new Map<string, Journey[]>();
    for (const journey of journeys) {
      const entry: JourneyEntry = journey.definition.entry;
      const key = 'event' in entry ? entry.event : entry.segment;
      const map = 'event' in entry ? byEvent : bySegment;
      map.set(key, [...(map.get(key) ?? []), journey]);
    }
    const waited = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await this.store.journeys.list({
        limit: 200,
        ...(cursor ? { after: cursor } : {}),
      });
      for (const journey of page.items) {
        for (const name of await this.waitedInAnyVersion(journey)) waited.add(name);
      }
      cursor = page.next;
    } while (cursor !== undefined);
    const segments: Segment[] = [];
    let after: string | undefined;
    do {
      const page = await this.store.segments.list({ limit: 200, ...(after ? { after } : {}) });
      for (const segment of page.items) {
        if (bySegment.has(segment.id) || hasEventCondition(segment.conditions)) {
          segments.push(segment);
        }
      }
      after = page.next;
    } while (after !== undefined && segments.length < 1000);
    this.index = { byEvent, bySegment, segments, waited };
  }

  /** The events a journey's versions wait for (definitions are immutable per version: the executor caches them). */
  private async waitedInAnyVersion(journey: Journey): Promise<string[]> {
    const names = new Set(waitedEvents(journey.definition));
    for (let version = 1; version < journey.version; version += 1) {
      const loaded = await this.executor.load(journey.id, version);
      for (const name of loaded ? waitedEvents(loaded.definition) : []) names.add(name);
    }
    return [...names];
  }

  // ── the in-process hook ──────────────────────────────────────────────

  private enqueue(event: TriggerEvent): void {
    if (this.stopped) return;
    if (this.queued >= MAX_QUEUED) {
      this.events.emit('journey:hook-dropped', { count: 1 });
      return;
    }
    this.queued += 1;
    void this.chain(event.contactId, async () => {
      await this.handle(event, 'hook');
      this.rememberHandled(event);
    }).finally(() => (this.queued -= 1));
  }

  /**
   * Remembers an event the hook handled to the end, for the backstop to skip,
   * for as long as the backstop may take to reach it; forgetting one early
   * only costs handling it again (every effect is idempotent).
   */
  private rememberHandled(event: TriggerEvent): void {
    const remembered = this.handledByHook;
    remembered.set(event.id, event.receivedAt);
    const { backstopDelayMs, backstopIntervalMs } = this.config;
    const forgetBefore = this.clock.now() - (backstopDelayMs + 3 * backstopIntervalMs);
    for (const [id, receivedAt] of remembered) {
      if (receivedAt >= forgetBefore && remembered.size <= MAX_REMEMBERED) break;
      remembered.delete(id);
    }
  }

  /** Runs `work` after the contact's earlier work; never rejects. */
  private chain(contactId: string, work: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(contactId) ?? Promise.resolve();
    const next = previous.then(work).catch((error: unknown) => {
      this.deps.logger.error({ err: error, contactId }, 'a journey trigger failed');
    });
    this.chains.set(contactId, next);
    void next.finally(() => {
      if (this.chains.get(contactId) === next) this.chains.delete(contactId);
    });
    return next;
  }

  /** Everything one event does to journeys. Idempotent: the backstop may hand the same event again. */
  async handle(event: TriggerEvent, source: 'hook' | 'backstop'): Promise<void> {
    const { store, clock } = this;
    const leaseMs = this.config.leaseMs;
    const mayWait = source === 'backstop' || this.index.waited.has(event.name);
    const woken = !mayWait
      ? []
      : await store.journeys.claimWaiting({
          contactId: event.contactId,
          event: event.name,
          receivedAt: event.receivedAt,
          owner: this.deps.nodeId,
          now: clock.now(),
          leaseMs,
        });
    for (const run of woken) {
      await this.executor.execute(run, { eventReceivedAt: event.receivedAt });
    }
    const trigger: RunTrigger = {
      eventId: event.id,
      name: event.name,
      properties: event.properties,
      receivedAt: event.receivedAt,
    };
    for (const journey of this.index.byEvent.get(event.name) ?? []) {
      const entry = journey.definition.entry;
      if ('event' in entry && entry.where && !matchesProperties(entry.where, event.properties)) {
        continue;
      }
      if (journey.activatedAt !== undefined && event.receivedAt < journey.activatedAt) continue;
      await this.enter(journey, event.contactId, `evt:${event.id}`, trigger);
    }
    for (const segment of this.index.segments) {
      const member = await store.journeys.contactMatches(
        segment.conditions,
        event.contactId,
        clock.now(),
      );
      const change = await store.journeys.setMembership(
        segment.id,
        event.contactId,
        member,
        event.receivedAt,
      );
      if (change !== 'entered') continue;
      for (const journey of this.index.bySegment.get(segment.id) ?? []) {
        await this.enter(journey, event.contactId, `seg:${segment.id}:${event.id}`, trigger);
      }
    }
  }

  private async enter(
    journey: Journey,
    contactId: string,
    triggerKey: string,
    trigger: RunTrigger,
  ): Promise<void> {
    const now = this.clock.now();
    const result = await this.store.journeys.enter({
      id: journeyRunId(journey.id, triggerKey, trigger.receivedAt),
      journeyId: journey.id,
      version: journey.version,
      contactId,
      triggerKey,
      trigger,
      at: trigger.receivedAt,
      cooldownMs: reentryCooldownMs(journey.definition.reentry),
      owner: this.deps.nodeId,
      leaseUntil: now + this.config.leaseMs,
    });
    this.events.emit('journey:entry', { outcome: result.kind });
    if (result.kind === 'entered') {
      await this.executor.execute(result.run, { eventReceivedAt: trigger.receivedAt });
    }
  }

  // ── timers ───────────────────────────────────────────────────────────

  /** One claim of due runs, executed; returns how many were claimed. */
  async runDue(): Promise<number> {
    const runs: JourneyRun[] = await this.store.journeys.claimDue({
      limit: this.config.claimBatch,
      leaseMs: this.config.leaseMs,
      owner: this.deps.nodeId,
      now: this.clock.now(),
    });
    await Promise.all(
      runs.map((run) => this.chain(run.contactId, () => this.executor.execute(run))),
    );
    return runs.length;
  }

  // ── backstop ─────────────────────────────────────────────────────────

  /** Hands stored events the hook may have missed to handle(); returns how many were read. */
  async scanBackstop(): Promise<number> {
    const leaseMs = Math.max(this.config.backstopIntervalMs * 3, this.config.leaseMs);
    let cursor = await this.store.journeys.claimCursor(
      CURSOR,
      this.deps.nodeId,
      this.clock.now(),
      leaseMs,
    );
    let read = 0;
    while (cursor && !this.stopped) {
      const until = this.clock.now() - this.config.backstopDelayMs;
      const events = await this.store.journeys.eventsAfter(cursor, until, BACKSTOP_PAGE);
      for (const event of events) {
        // Handled by this node's hook already: nothing left to do.
        if (this.handledByHook.delete(event.id)) continue;
        await this.chain(event.contactId, () =>
          this.handle(
            {
              id: event.id,
              contactId: event.contactId,
              name: event.name,
              properties: event.properties,
              receivedAt: event.receivedAt,
            },
            'backstop',
          ),
        );
      }
      const last = events[events.length - 1];
      if (!last) break;
      read += events.length;
      cursor = { receivedAt: last.receivedAt, eventId: last.id };
      if (!(await this.store.journeys.moveCursor(CURSOR, this.deps.nodeId, cursor))) break;
      if (events.length < BACKSTOP_PAGE) break;
      // On SQLite every store call above resolves at once: without this a long
      // catch-up would hold the event loop (and every event behind it) for all its pages.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return read;
  }
}
