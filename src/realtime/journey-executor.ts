/**
 * Runs one journey run forward from its current instruction until it must
 * wait (a `wait`, a `wait-for`, quiet hours), exits or ends, then saves its
 * state once. The caller holds the run's lease (claimed, or just entered).
 *
 * Exactly-once effects: the run's state is saved only after the step's
 * effects, so a crash re-executes from the last saved instruction. Each
 * effect is therefore idempotent:
 * - a `send` makes its message with an id derived from (run id, pc): the
 *   send log (store.journeys.recordSend, keyed by that id) remembers the
 *   decision (sent, or skipped by a cap), and the outbox accept carries an
 *   idempotency key, so a re-executed send neither counts twice against a
 *   cap nor queues a second message;
 * - `wait`/`wait-for` only write the run's own row (with the lease check);
 * - a `branch` is re-evaluated (it has no effect of its own; its answer may
 *   differ after a crash if the contact changed meanwhile).
 */
import { domainOf } from '../core/address.js';
import type { Clock } from '../core/clock.js';
import type { EventBus, SluiceEventMap } from '../core/events.js';
import { capsFor } from '../core/frequency-cap.js';
import {
  compileJourney,
  matchesProperties,
  type BranchCondition,
  type Instruction,
  type JourneyDefinition,
  type JourneyProgram,
} from '../core/journey.js';
import { journeyMessageId } from '../core/journey-ids.js';
import { newMessageId } from '../core/ids.js';
import type { ClaimedMessage, NewMessage } from '../core/message.js';
import type { AcceptResult, Contact, JourneyRun, RunUpdate, Store } from '../core/ports/store.js';
import { isTimeZone, quietHoursEnd } from '../core/quiet-hours.js';
import type { JourneysConfig } from '../config/config.js';

/** A run that takes this many instructions without waiting loops on itself (goto without a wait). */
const MAX_INSTRUCTIONS_PER_PASS = 1000;

export interface ExecutorDeps {
  store: Store;
  clock: Clock;
  events: EventBus<SluiceEventMap>;
  journeys: JourneysConfig;
  /** Message-ID domain and the age after which a deferred message expires. */
  delivery: { messageIdDomain?: string; maxAgeMs: number };
  /** This node, as the lease owner. */
  owner: string;
  /** A message was queued: wake the delivery worker. */
  onSent: () => void;
  /**
   * This node's delivery worker, when it runs here: a send is then accepted
   * already leased to it and handed over, without a claim (the store may
   * decline: AcceptOptions.leaseTo).
   */
  handoff?: Handoff;
}

export interface Handoff {
  /** Takes a worker slot; false when none is free. */
  reserve(): boolean;
  /** Gives back a slot reserve() took, unused. */
  unreserve(): void;
  /** Hands over a message accepted leased to this node. */
  adopt(message: ClaimedMessage): void;
  /** How long the lease taken at accept lasts (the worker's claim lease). */
  leaseMs: number;
}

/** How the run came to be executed now. */
export interface ExecutionCause {
  /** The receipt time of the event that started or woke it, for sends made in this pass. */
  eventReceivedAt?: number;
}

interface Loaded {
  definition: JourneyDefinition;
  program: JourneyProgram;
}

export class JourneyExecutor {
  /** Compiled versions; a version's definition never changes, so entries never go stale. */
  private readonly programs = new Map<string, Loaded>();

  constructor(private readonly deps: ExecutorDeps) {}

  async load(journeyId: string, version: number): Promise<Loaded | undefined> {
    const key = `${journeyId}:${version}`;
    let loaded = this.programs.get(key);
    if (!loaded) {
      const definition = await this.deps.store.journeys.definition(journeyId, version);
      if (!definition) return undefined;
      loaded = { definition, program: compileJourney(definition) };
      if (this.programs.size > 10_000) this.programs.clear();
      this.programs.set(key, loaded);
    }
    return loaded;
  }

  /** Executes the leased run; never throws for a run's own problem (it ends `failed`). */
  async execute(run: JourneyRun, cause: ExecutionCause = {}): Promise<void> {
    const { store, clock } = this.deps;
    const save = async (update: Omit<RunUpdate, 'id' | 'owner' | 'at'>): Promise<void> => {
      await store.journeys.saveRun({
        ...update,
        id: run.id,
        owner: this.deps.owner,
        at: clock.now(),
      });
      if (update.status !== 'active') {
        this.deps.events.emit('journey:run-ended', { status: update.status });
      }
    };
    const loaded = await this.load(run.journeyId, run.version);
    if (!loaded) {
      await save({
        status: 'failed',
        pc: run.pc,
        nextAt: clock.now(),
        lastError: 'the journey version is gone',
      });
      return;
    }
    const contact = await store.contacts.get(run.contactId);
    if (!contact) {
      await save({
        status: 'exited',
        pc: run.pc,
        nextAt: clock.now(),
        lastError: 'the contact is gone',
      });
      return;
    }
    const { instructions } = loaded.program;
    let pc = run.pc;
    if (run.waitEvent !== undefined) {
      // Claimed by its timer while still waiting: the wait-for timed out.
      const waiting = instructions[pc];
      if (waiting?.op === 'wait-for') pc = waiting.timeoutPc;
    }
    for (let steps = 0; ; steps += 1) {
      const now = clock.now();
      const instruction: Instruction | undefined = instructions[pc];
      if (!instruction) {
        await save({ status: 'completed', pc, nextAt: now });
        return;
      }
      if (steps >= MAX_INSTRUCTIONS_PER_PASS) {
        await save({
          status: 'failed',
          pc,
          nextAt: now,
          lastError: `more than ${MAX_INSTRUCTIONS_PER_PASS} steps without a wait (a goto loop?)`,
        });
        return;
      }
      switch (instruction.op) {
        case 'send': {
          const quietEnd = this.quietUntil(loaded.definition, contact, now);
          if (quietEnd !== undefined) {
            this.deps.events.emit('journey:send', { outcome: 'postponed' });
            await save({ status: 'active', pc, nextAt: quietEnd });
            return;
          }
          await this.send(run, pc, instruction, loaded.definition, contact, cause);
          pc += 1;
          break;
        }
        case 'wait':
          await save({ status: 'active', pc: pc + 1, nextAt: now + instruction.ms });
          return;
        case 'wait-for':
          await save({
            status: 'active',
            pc,
            nextAt: now + instruction.timeoutMs,
            waitEvent: instruction.event,
            waitingSince: now,
          });
          return;
        case 'branch':
          pc = (await this.holds(instruction.if, run, loaded.program, now))
            ? pc + 1
            : instruction.elsePc;
          break;
        case 'jump':
          pc = instruction.to;
          break;
        case 'exit':
          await save({ status: 'exited', pc, nextAt: now });
          return;
      }
    }
  }

  /** When quiet hours holding `now` end for this contact, or undefined. */
  private quietUntil(
    definition: JourneyDefinition,
    contact: Contact,
    now: number,
  ): number | undefined {
    const window = definition.quietHours ?? this.deps.journeys.quietHours;
    if (!window) return undefined;
    const zone = contact.attributes.timezone;
    const local = typeof zone === 'string' && isTimeZone(zone) ? zone : undefined;
    return quietHoursEnd(now, local ?? this.deps.journeys.defaultTimeZone, window);
  }

  private async send(
    run: JourneyRun,
    pc: number,
    instruction: Extract<Instruction, { op: 'send' }>,
    definition: JourneyDefinition,
    contact: Contact,
    cause: ExecutionCause,
  ): Promise<void> {
    const { store, clock, events } = this.deps;
    const now = clock.now();
    if (instruction.stream === 'bulk' && contact.status !== 'active') {
      events.emit('journey:send', { outcome: 'skipped' });
      return;
    }
    const id = journeyMessageId(run.id, pc);
    const verdict = await store.journeys.recordSend({
      messageId: id,
      runId: run.id,
      journeyId: run.journeyId,
      contactId: run.contactId,
      pc,
      at: now,
      caps: capsFor(this.deps.journeys.frequencyCaps, run.journeyId, definition.frequencyCap),
    });
    if (verdict === 'capped') {
      events.emit('journey:send', { outcome: 'capped' });
      return;
    }
    const message: NewMessage = {
      id,
      stream: instruction.stream,
      from: instruction.from,
      to: { email: contact.email },
      templateId: instruction.template,
      variables: {
        event: { name: run.trigger.name ?? null, properties: run.trigger.properties },
        journey: { id: run.journeyId, run: run.id },
      },
      headers: {},
      messageId: newMessageId(
        id,
        this.deps.delivery.messageIdDomain ?? domainOf(instruction.from.email),
      ),
      createdAt: now,
      expiresAt: now + this.deps.delivery.maxAgeMs,
      ...(cause.eventReceivedAt !== undefined ? { eventReceivedAt: cause.eventReceivedAt } : {}),
    };
    // Deferred: the send is made again from its durable event after a crash
    // (the send log and the idempotency key keep it to one message).
    const handoff = this.deps.handoff?.reserve() ? this.deps.handoff : undefined;
    let result: AcceptResult;
    try {
      result = await store.messages.accept(
        message,
        { scope: 'journey', key: id, requestHash: 'journey-send' },
        {
          durability: 'deferred',
          ...(handoff ? { leaseTo: { owner: this.deps.owner, until: now + handoff.leaseMs } } : {}),
        },
      );
    } catch (error) {
      handoff?.unreserve();
      throw error;
    }
    if (result.kind === 'created') {
      events.emit('message:accepted', { id, stream: message.stream });
    }
    if (result.kind === 'created' && result.claimed && handoff) {
      handoff.adopt(result.claimed);
    } else {
      handoff?.unreserve();
      if (result.kind === 'created') this.deps.onSent();
    }
    events.emit('journey:send', { outcome: verdict === 'duplicate' ? 'replayed' : 'sent' });
  }

  private async holds(
    condition: BranchCondition,
    run: JourneyRun,
    program: JourneyProgram,
    now: number,
  ): Promise<boolean> {
    if ('contact' in condition) {
      return this.deps.store.journeys.contactMatches(condition.contact, run.contactId, now);
    }
    if ('event' in condition) return matchesProperties(condition.event, run.trigger.properties);
    const stepPc = condition.step === undefined ? undefined : program.labels.get(condition.step);
    const kind = condition.engagement === 'opened' ? 'open' : 'click';
    const count = await this.deps.store.journeys.runEngagement(
      run.id,
      kind,
      stepPc === undefined ? undefined : journeyMessageId(run.id, stepPc),
    );
    return count > 0;
  }
}
