/**
 * The Store port: everything Sluice needs from its database, as high-level
 * operations. Implemented by src/store/sqlite and src/store/postgres and
 * checked by one contract suite (src/store/contract/store-contract.ts) run
 * against both.
 *
 * All timestamps are epoch milliseconds. All ids are strings made by the
 * caller (see core/ids.ts), so both dialects store them the same way.
 * Unique-constraint violations surface as SluiceError('ERR_CONFLICT').
 */
import type { Leadership } from './leadership.js';
import type { Wakeups } from './wakeups.js';
import type {
  Campaign,
  CampaignDefinition,
  CampaignPause,
  CampaignStatus,
  FanOutProgress,
} from '../campaign.js';
import type { BounceCategory } from '../bounce.js';
import type {
  AttemptRecord,
  ClaimedMessage,
  MessageStatus,
  NewMessage,
  StoredMessage,
  Stream,
} from '../message.js';
import type { Settlement } from '../outcome.js';
import type { SegmentCondition } from '../segment.js';
import type { JourneyDefinition, JourneyStatus } from '../journey.js';
import type { CapRule } from '../frequency-cap.js';
import type { Suppression, SuppressionUpsert } from '../suppression.js';
import type { ComplaintStore, WebhookStore } from './webhook-store.js';

/**
 * Dialect differences, declared once. Callers branch on these, never on the
 * dialect's name.
 */
export interface StoreCapabilities {
  /** Only one process may write (SQLite): no cluster duties, no leases across nodes. */
  singleWriter: boolean;
  /** Claims skip rows locked by other nodes (PostgreSQL FOR UPDATE SKIP LOCKED). */
  skipLocked: boolean;
  /** The store can wake idle workers of other processes (LISTEN/NOTIFY). */
  listenNotify: boolean;
  /**
   * Bulk upserts are much cheaper sorted by email (SQLite: the writer copies
   * each index page it touches into the WAL at every commit, on the caller's
   * thread), so an import sorts a window of rows before writing them
   * (src/import/contact-import.ts). PostgreSQL showed no gain from it, and
   * the window costs the importer CPU and memory (docs/benchmarks.md).
   */
  sortedImports: boolean;
}

/** Whether a commit waits for the disk (`durable`, the default) or not (`deferred`). */
export type Durability = 'durable' | 'deferred';

export interface Page<T> {
  items: T[];
  /** Pass as `after` to get the next page; absent on the last page. */
  next?: string;
}

export interface PageQuery {
  limit: number;
  /** An opaque cursor from a previous page. */
  after?: string;
}

// ── API keys ────────────────────────────────────────────────────────────

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** SHA-256 of the key, hex. The key itself is never stored. */
  hash: string;
  /** The first characters of the key, to tell keys apart in listings. */
  prefix: string;
  createdAt: number;
  revokedAt?: number;
}

export interface ApiKeyStore {
  create(key: ApiKeyRecord): Promise<void>;
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Keys that are not revoked. */
  countActive(): Promise<number>;
}

// ── Contacts and lists ─────────────────────────────────────────────────

export const CONTACT_STATUSES = ['active', 'unsubscribed', 'bounced', 'complained'] as const;
export type ContactStatus = (typeof CONTACT_STATUSES)[number];

export interface Contact {
  id: string;
  /** Lower-cased domain; unique. */
  email: string;
  attributes: Record<string, unknown>;
  status: ContactStatus;
  createdAt: number;
  updatedAt: number;
}

export interface ContactUpsert {
  /** Used only when the email is new. */
  id: string;
  email: string;
  /** Merged key by key into the stored attributes; a `null` value removes the key. */
  attributes?: Record<string, unknown>;
  status?: ContactStatus;
  at: number;
}

export interface ContactStore {
  /** Insert, or merge into the contact with the same email. Returns the stored contact and whether it was new. */
  upsert(input: ContactUpsert): Promise<{ contact: Contact; created: boolean }>;
  /**
   * Upserts a batch in one transaction, each row merged exactly as `upsert`
   * merges it; rows with the same email are combined in order first. With
   * `listId`, every contact of the batch is also made a member (already
   * members are left alone); an unknown list is ERR_NOT_FOUND, nothing written.
   * Counts are per distinct email of the batch.
   *
   * `durability: 'deferred'` (bulk writers: imports) commits without
   * waiting for the disk: the batch is visible at once but may be lost to a
   * power cut until the next durable commit of the store, which makes it and
   * every deferred one before it durable (SQLite: WAL without fsync until the
   * next fsynced commit; PostgreSQL: synchronous_commit off for the
   * transaction). A bulk writer defers every batch but its last.
   */
  upsertMany(
    rows: ContactUpsert[],
    options?: { listId?: string; durability?: Durability },
  ): Promise<{ created: number; updated: number }>;
  get(id: string): Promise<Contact | undefined>;
  getByEmail(email: string): Promise<Contact | undefined>;
  /** Ordered by id. */
  list(query: PageQuery): Promise<Page<Contact>>;
  /** Also removes its list memberships. Returns false when there was none. */
  delete(id: string): Promise<boolean>;
}

export interface MailingList {
  id: string;
  /** Unique. */
  name: string;
  description: string;
  createdAt: number;
  /** Number of members. */
  memberCount: number;
}

export interface ListStore {
  create(list: { id: string; name: string; description: string; at: number }): Promise<MailingList>;
  get(id: string): Promise<MailingList | undefined>;
  getByName(name: string): Promise<MailingList | undefined>;
  list(query: PageQuery): Promise<Page<MailingList>>;
  update(
    id: string,
    patch: { name?: string; description?: string },
  ): Promise<MailingList | undefined>;
  /** Also removes its memberships (not the contacts). */
  delete(id: string): Promise<boolean>;
  /** Adds existing contacts; already-members are left alone. Returns how many were added. Unknown contact ids: ERR_NOT_FOUND, nothing added. */
  addMembers(listId: string, contactIds: string[], at: number): Promise<number>;
  removeMember(listId: string, contactId: string): Promise<boolean>;
  /** Ordered by contact id. */
  members(listId: string, query: PageQuery): Promise<Page<Contact>>;
}

// ── Templates ──────────────────────────────────────────────────────────

export interface Template {
  id: string;
  /** Unique. */
  name: string;
  subject: string;
  html?: string;
  text?: string;
  createdAt: number;
  updatedAt: number;
}

export interface TemplateStore {
  create(template: Template): Promise<Template>;
  get(id: string): Promise<Template | undefined>;
  getMany(ids: string[]): Promise<Template[]>;
  list(query: PageQuery): Promise<Page<Template>>;
  update(
    id: string,
    patch: {
      name?: string;
      subject?: string;
      html?: string | null;
      text?: string | null;
      at: number;
    },
  ): Promise<Template | undefined>;
  delete(id: string): Promise<boolean>;
}

// ── Messages and the outbox ────────────────────────────────────────────

export interface IdempotencyClaim {
  /** The API key the request came with: keys are scoped per API key. */
  scope: string;
  key: string;
  /** SHA-256 of the canonical request body. */
  requestHash: string;
}

export type AcceptResult =
  /** `claimed`: the row was leased to the caller as it was stored (AcceptOptions.leaseTo). */
  | { kind: 'created'; id: string; claimed?: ClaimedMessage }
  /** Same key, same body: the message accepted the first time. */
  | { kind: 'replayed'; id: string }
  /** Same key, another body. Nothing stored. */
  | { kind: 'conflict' };

export interface ClaimRequest {
  limit: number;
  /** Lease length; a claimed row becomes claimable again after it. */
  leaseMs: number;
  owner: string;
  now: number;
}

export type StatusCounts = Record<MessageStatus, number>;

export interface AcceptOptions {
  durability?: Durability;
  /** Store the message already leased to this owner until this time (see MessageStore.accept). */
  leaseTo?: { owner: string; until: number };
}

export interface MessageStore {
  /**
   * Stores one message durably (committed before the promise resolves),
   * together with its idempotency key when given, in one transaction.
   *
   * `durability: 'deferred'` is for messages derived from something already
   * durable that makes them again after a crash (a journey's send, made
   * again from its durable event: docs/storage.md): SQLite commits it
   * without an fsync of its own, to be made durable by the next fsynced
   * commit; PostgreSQL commits it as any other (one statement; the wait is
   * in the server, not on this process's event loop).
   *
   * `leaseTo`: store the row already claimed by `owner` (status sending,
   * dueAt = `until`) and return it as `claimed`, for a node whose delivery
   * worker has a slot for it: no claim query, no turn of the event loop
   * between the accept and the send. A store may ignore it (PostgreSQL
   * does: its workers claim across nodes); the caller then wakes its worker.
   */
  accept(
    message: NewMessage,
    idempotency?: IdempotencyClaim,
    options?: AcceptOptions,
  ): Promise<AcceptResult>;
  get(id: string): Promise<StoredMessage | undefined>;
  /** Oldest first. */
  attempts(id: string): Promise<AttemptRecord[]>;

  /**
   * Claims up to `limit` due messages (status queued/deferred with dueAt <= now,
   * or sending with an expired lease), transactional stream first, then by dueAt.
   * Claimed rows become `sending` with dueAt = now + leaseMs and the given owner.
   */
  claim(request: ClaimRequest): Promise<ClaimedMessage[]>;
  /**
   * Applies settlements in one transaction. A settlement whose row is no
   * longer leased by its owner is skipped (and its attempt not recorded).
   * Returns the ids applied. A settlement that carries an `attempt` adds one
   * to the row's `attempts` and records the attempt under that new count
   * (the store numbers attempts; the record's own `attempt` is not used);
   * one without (a render failure, a suppression) leaves the count alone.
   * `bounceCategory` is stored on the message (NULL when absent); `suppress`
   * adds its address to the suppression list in the same transaction, only
   * when the settlement applies.
   */
  settle(settlements: Settlement[]): Promise<string[]>;
  /** Hands unsent claims back (status queued, due now) on graceful shutdown. */
  release(ids: string[], owner: string, now: number): Promise<void>;
  /**
   * Hands back every claim, whoever holds it (status queued, due now), and
   * returns how many. Only for a `singleWriter` store at start: there, any
   * claim left is from a run of the one process that did not stop cleanly,
   * so waiting for its lease to run out would only delay the mail.
   */
  reclaimAbandoned(now: number): Promise<number>;
  /** Per-status counts, for metrics and health. */
  countByStatus(): Promise<StatusCounts>;
  /** The earliest dueAt among claimable rows, to sleep until then. */
  nextDueAt(): Promise<number | undefined>;
  /**
   * Campaign fan-out: stores a batch of messages in ONE transaction
   * (committed before the promise resolves) and returns how many were
   * created. A message whose (campaignId, to.email) is stored already is
   * skipped, so writing a batch twice (a fan-out resumed after a crash)
   * creates each message once. With `campaignId`, the batch is written only
   * while that campaign is `sending`; a pause or cancel that commits first
   * makes it write nothing (0). Wakes other nodes' workers on commit.
   */
  acceptBatch(messages: NewMessage[], options?: { campaignId?: string }): Promise<number>;
}

// ── Suppressions ───────────────────────────────────────────────────────

export interface SuppressionQuery extends PageQuery {
  /** Only addresses starting with this (compared lower-cased). */
  prefix?: string;
}

export interface SuppressionStore {
  /** Adds an address, or renews it (reason, category, source, updatedAt; createdAt is kept). */
  add(input: SuppressionUpsert): Promise<{ suppression: Suppression; created: boolean }>;
  /** Returns false when the address was not on the list. */
  remove(email: string): Promise<boolean>;
  get(email: string): Promise<Suppression | undefined>;
  /** Ordered by address; the cursor is the last address of the page. */
  list(query: SuppressionQuery): Promise<Page<Suppression>>;
  /** Which of `emails` are suppressed (one query, for a claimed batch), as lower-cased keys. */
  suppressedAmong(emails: string[]): Promise<Set<string>>;
}

// ── Events ─────────────────────────────────────────────────────────────

/** Who did it: a known contact by id, or an email (a new email makes a contact). */
export type EventContactRef = { id: string } | { email: string };

export interface NewEvent {
  /** Made by the application (`evt_…`); used only when the event is new. */
  id: string;
  /** The client's event id: events with the same key are stored once. */
  key?: string;
  contact: EventContactRef;
  /** Used only when `contact.email` is new. */
  newContactId: string;
  name: string;
  properties: Record<string, unknown>;
  /** Identify: merged into the contact's attributes like ContactUpsert (`null` removes a key). */
  attributes?: Record<string, unknown>;
  occurredAt: number;
  receivedAt: number;
}

export interface StoredEvent {
  id: string;
  key?: string;
  contactId: string;
  name: string;
  properties: Record<string, unknown>;
  occurredAt: number;
  receivedAt: number;
}

/** Per event of an append, in order: `duplicate` carries the event stored before under its key. */
export interface AppendResult {
  kind: 'stored' | 'duplicate';
  id: string;
  contactId: string;
  name: string;
  occurredAt: number;
}

export interface AppendOptions {
  /**
   * Called once with the results as soon as the transaction has committed:
   * on SQLite that is before it is durable (the fdatasync of the WAL runs
   * off the event loop, a window of a millisecond or two), on PostgreSQL
   * the same moment. The promise still resolves only once durable. What it
   * starts must be safe to repeat: a power cut in that window undoes the
   * events, and their sender, unanswered, sends them again. Not called when
   * the append fails before its commit.
   */
  onCommitted?: (results: AppendResult[]) => void;
}

export interface EventStore {
  /**
   * Stores the events durably (committed before the promise resolves), all
   * or none: concurrent calls share one transaction (group commit), and one
   * call's failure leaves the others alone. An event whose key is stored
   * already (or repeats an earlier key of the same call) is a duplicate:
   * nothing of it is written, its `attributes` included. Contacts are
   * created (new email) or merged (attributes) in the same transaction. A
   * `{id}` naming no contact rejects the whole call with
   * ERR_CONTACT_NOT_FOUND, `details.index` the event's position.
   */
  append(events: NewEvent[], options?: AppendOptions): Promise<AppendResult[]>;
  /** Newest first (occurredAt, then id); the cursor is opaque. */
  listForContact(contactId: string, query: PageQuery): Promise<Page<StoredEvent>>;
  /** Events of `name` of the contact with occurredAt >= since. */
  countForContact(contactId: string, name: string, since: number): Promise<number>;
}

// ── Segments ───────────────────────────────────────────────────────────

export interface Segment {
  id: string;
  /** Unique. */
  name: string;
  conditions: SegmentCondition;
  createdAt: number;
  updatedAt: number;
}

/**
 * Stored segments, and the contacts a condition selects. `now` anchors
 * `withinDays` of event conditions. The selection includes every contact
 * whatever its status; callers that send (campaign fan-out) exclude
 * unsubscribed, bounced, complained and suppressed contacts themselves.
 */
export interface SegmentStore {
  create(segment: Segment): Promise<Segment>;
  get(id: string): Promise<Segment | undefined>;
  /** Ordered by id. */
  list(query: PageQuery): Promise<Page<Segment>>;
  update(
    id: string,
    patch: { name?: string; conditions?: SegmentCondition; at: number },
  ): Promise<Segment | undefined>;
  delete(id: string): Promise<boolean>;
  /** How many contacts match. */
  count(conditions: SegmentCondition, now: number): Promise<number>;
  /** The first `limit` matching contacts by id. */
  preview(conditions: SegmentCondition, now: number, limit: number): Promise<Contact[]>;
  /** Matching contacts a page at a time, ordered by id (the cursor is the last id). */
  select(conditions: SegmentCondition, now: number, query: PageQuery): Promise<Page<Contact>>;
}

// ── Engagement ─────────────────────────────────────────────────────────

export const ENGAGEMENT_KINDS = ['open', 'click', 'unsubscribe'] as const;
export type EngagementKind = (typeof ENGAGEMENT_KINDS)[number];

/**
 * What a recipient did with a message (docs/tracking.md): every open of the
 * pixel, every click and every one-click unsubscribe is one row (repeats
 * included: counting unique ones is the reader's choice).
 */
export interface EngagementEvent {
  /** `eng_…`, made by the application. */
  id: string;
  kind: EngagementKind;
  messageId: string;
  /** The recipient, lower-cased. */
  email: string;
  /** The contact with that address when the event happened, if any. */
  contactId?: string;
  /** The link's target, for clicks. */
  url?: string;
  at: number;
}

export interface EngagementStore {
  record(event: EngagementEvent): Promise<void>;
  /** Oldest first (at, then id). */
  forMessage(messageId: string): Promise<EngagementEvent[]>;
  /** Events of `kind` of the contact with at >= since. */
  countForContact(contactId: string, kind: EngagementKind, since: number): Promise<number>;
}

// ── Campaigns ──────────────────────────────────────────────────────────

/**
 * A conditional status change: applied only when the row's status is one of
 * `from`, in one transaction with what it does to the campaign's messages:
 * - hold: queued and deferred messages get dueAt = CAMPAIGN_HOLD (the
 *   worker's claims never reach them);
 * - release: held messages are due at `at`;
 * - cancel: queued, deferred and held messages (and sending ones whose lease
 *   ran out) become `failed` with lastError "campaign cancelled".
 */
export interface CampaignTransition {
  from: readonly CampaignStatus[];
  to: CampaignStatus;
  at: number;
  sendAt?: number;
  /** Set, or cleared with null. */
  pause?: CampaignPause | null;
  startedAt?: number;
  messages?: 'hold' | 'release' | 'cancel';
}

/** The fan-out's save point after a batch; applied only while `owner` holds the lease. */
export interface FanOutSave {
  owner: string;
  progress: FanOutProgress;
  at: number;
  winner?: number;
  testEndsAt?: number;
  /** The lease is extended to this instant. */
  leaseUntil: number;
}

/** Counts of a campaign's messages, grouped as the statistics need them. */
export interface CampaignMessageCount {
  variant: number;
  status: MessageStatus;
  bounceCategory?: BounceCategory;
  count: number;
}

export interface CampaignEngagementCount {
  variant: number;
  kind: EngagementKind;
  /** Distinct messages with at least one event of the kind. */
  messages: number;
}

export interface CampaignStore {
  create(campaign: Campaign): Promise<Campaign>;
  get(id: string): Promise<Campaign | undefined>;
  getMany(ids: string[]): Promise<Campaign[]>;
  /** Ordered by id. */
  list(query: PageQuery & { status?: CampaignStatus }): Promise<Page<Campaign>>;
  /** Replaces name and definition while the status is one of `statuses`; undefined otherwise. */
  update(
    id: string,
    patch: { name: string; definition: CampaignDefinition; sendAt?: number | null; at: number },
    statuses: readonly CampaignStatus[],
  ): Promise<Campaign | undefined>;
  /** See CampaignTransition; undefined when the campaign is missing or not in a `from` state. */
  transition(id: string, change: CampaignTransition): Promise<Campaign | undefined>;
  /** Deletes the campaign while it is a draft. */
  deleteDraft(id: string): Promise<boolean>;
  /** Ids of scheduled campaigns with sendAt <= now. */
  due(now: number, limit: number): Promise<string[]>;
  /** The earliest sendAt of a scheduled campaign. */
  nextSendAt(): Promise<number | undefined>;
  /**
   * Takes the fan-out lease of one campaign that is `sending` with fan-out
   * work ready (phase pending, all, test or rest; or waiting with its test
   * window over) whose lease is free or ran out (or is `owner`'s already).
   * Two nodes never hold one campaign (SKIP LOCKED / conditional update).
   */
  claimFanOut(owner: string, now: number, leaseMs: number): Promise<Campaign | undefined>;
  /** Saves the cursor (and phase, winner …); false when the lease was lost or the campaign left `sending`. */
  saveFanOut(id: string, save: FanOutSave): Promise<boolean>;
  /** Ends the fan-out: phase done, status `sent` (only from `sending`, under the lease). */
  finishFanOut(id: string, owner: string, progress: FanOutProgress, at: number): Promise<boolean>;
  releaseFanOut(id: string, owner: string): Promise<void>;
  /** Campaigns whose messages may still change: sending, sent, paused, or cancelled, without completedAt. */
  active(limit: number): Promise<Campaign[]>;
  /** Sets completedAt when no message of the campaign is queued, deferred or sending; true then. */
  completeIfSettled(id: string, at: number): Promise<boolean>;
  /** Re-applies a cancel to messages that were in flight at the time (see CampaignTransition). */
  sweepCancelled(id: string, now: number): Promise<number>;
  /** Re-holds messages of a paused campaign that became due again (a retry scheduled in flight). */
  sweepPaused(id: string, at: number): Promise<number>;
  messageCounts(id: string): Promise<CampaignMessageCount[]>;
  engagementCounts(id: string): Promise<CampaignEngagementCount[]>;
  /** Messages of the campaign whose recipient's contact status is `complained`. */
  complaints(id: string): Promise<number>;
}

/** dueAt of a held message: later than any real schedule, so no claim reaches it. */
export const CAMPAIGN_HOLD = 8_000_000_000_000_000;
// ── Dashboard queries ──────────────────────────────────────────────────

/** A message as the dashboard lists it: no bodies, no variables. */
export interface MessageSummary {
  id: string;
  stream: Stream;
  from: string;
  to: string;
  /** The inline subject source; absent for a message sent with a template. */
  subject?: string;
  templateId?: string;
  status: MessageStatus;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  lastError?: string;
  bounceCategory?: BounceCategory;
}

export interface MessageSearchQuery extends PageQuery {
  /**
   * Messages to this address (exact; the domain compared lower-cased),
   * newest first. Without it: the messages not yet final (queued, deferred,
   * sending), oldest first.
   */
  recipient?: string;
  /**
   * Messages of this campaign, ordered by recipient address (the order of
   * the UNIQUE (campaign_id, to_email) index, so a page costs an index range
   * read); with `recipient` too, the campaign's one message to that address.
   * The cursor is then the last address (campaignCursor in store/dashboard-rows.ts).
   */
  campaignId?: string;
}

/** Read-only queries of the operator's dashboard and the alerts (docs/dashboard.md). */
export interface DashboardQueries {
  searchMessages(query: MessageSearchQuery): Promise<Page<MessageSummary>>;
  /** createdAt of the oldest message not yet final (queued, deferred, sending); undefined when none. */
  oldestPendingAt(): Promise<number | undefined>;
}

// ── Journeys ───────────────────────────────────────────────────────────

export interface Journey {
  id: string;
  /** Unique. */
  name: string;
  status: JourneyStatus;
  /** Goes up by one with each change of the definition; runs keep theirs. */
  version: number;
  definition: JourneyDefinition;
  /** When it last became active: the backstop scan starts no run for an older event. */
  activatedAt?: number;
  createdAt: number;
  updatedAt: number;
}

export const JOURNEY_RUN_STATUSES = ['active', 'completed', 'exited', 'failed'] as const;
export type JourneyRunStatus = (typeof JOURNEY_RUN_STATUSES)[number];

/** The event that started a run (its properties feed branches and templates). */
export interface RunTrigger {
  eventId?: string;
  name?: string;
  properties: Record<string, unknown>;
  receivedAt: number;
}

/**
 * One contact in one journey version. `pc` is the next instruction
 * (core/journey.ts). An `active` run is due at `nextAt`; while a node works
 * on it, `leaseOwner` is set and `nextAt` is the lease's end (as the outbox
 * does), so a dead node's runs are taken over. `waitEvent` is set while the
 * run waits for that event (from `waitingSince`; `nextAt` is then the timeout).
 */
export interface JourneyRun {
  id: string;
  journeyId: string;
  version: number;
  contactId: string;
  triggerKey: string;
  trigger: RunTrigger;
  status: JourneyRunStatus;
  pc: number;
  nextAt: number;
  waitEvent?: string;
  waitingSince?: number;
  leaseOwner?: string;
  lastError?: string;
  createdAt: number;
  updatedAt: number;
}

export interface RunEntry {
  id: string;
  journeyId: string;
  version: number;
  contactId: string;
  /** Unique per journey: `evt:<event id>` or `seg:<segment>:<entered at>`. A second entry with it is a duplicate. */
  triggerKey: string;
  trigger: RunTrigger;
  /** The entry's time (the event's receivedAt), which re-entry cool-downs compare. */
  at: number;
  /** Since the contact's last entry into this journey: Infinity = once, 0 = always. */
  cooldownMs: number;
  /** The new run is leased to this owner until `leaseUntil`, so its entrant runs it at once. */
  owner: string;
  leaseUntil: number;
}

export type EntryResult = { kind: 'entered'; run: JourneyRun } | { kind: 'duplicate' | 'refused' };

/** A run's state after a node worked on it; applied only while the node still holds the lease. */
export interface RunUpdate {
  id: string;
  owner: string;
  status: JourneyRunStatus;
  pc: number;
  nextAt: number;
  waitEvent?: string;
  waitingSince?: number;
  lastError?: string;
  at: number;
}

export interface SendRecord {
  /** The message's id, derived from (run id, pc): the log's key. */
  messageId: string;
  runId: string;
  journeyId: string;
  contactId: string;
  pc: number;
  at: number;
  caps: CapRule[];
}

export interface EventCursor {
  receivedAt: number;
  eventId: string;
}

export interface JourneyStore {
  /** Stores the journey and its first version. A taken name is ERR_CONFLICT. */
  create(journey: Journey): Promise<Journey>;
  get(id: string): Promise<Journey | undefined>;
  /** Ordered by id. */
  list(query: PageQuery): Promise<Page<Journey>>;
  /** Journeys with status `active`. */
  listActive(): Promise<Journey[]>;
  /** A new definition stores a new version. */
  update(
    id: string,
    patch: { name?: string; status?: JourneyStatus; definition?: JourneyDefinition; at: number },
  ): Promise<Journey | undefined>;
  /** Also deletes its runs and versions. */
  delete(id: string): Promise<boolean>;
  /** The definition of one version. */
  definition(journeyId: string, version: number): Promise<JourneyDefinition | undefined>;

  /**
   * Starts a run unless one exists with the same trigger key (duplicate) or
   * the re-entry policy refuses (the contact entered less than `cooldownMs`
   * before `at`): one transaction, so a trigger seen twice, by two nodes or
   * by the in-process hook and the backstop scan, starts one run.
   */
  enter(entry: RunEntry): Promise<EntryResult>;
  /**
   * Leases up to `limit` active runs due at `now` (timers, timeouts, expired
   * leases), earliest first; PostgreSQL skips rows other nodes hold.
   */
  claimDue(request: ClaimRequest): Promise<JourneyRun[]>;
  /**
   * Leases the contact's runs waiting for `event` (since at most
   * `receivedAt`) and moves each past its wait-for (pc + 1) in the same
   * statement, so that a crash after the claim still counts the event.
   */
  claimWaiting(request: {
    contactId: string;
    event: string;
    receivedAt: number;
    owner: string;
    now: number;
    leaseMs: number;
  }): Promise<JourneyRun[]>;
  /** Applies the update if `owner` still holds the run; returns whether it did. */
  saveRun(update: RunUpdate): Promise<boolean>;
  getRun(id: string): Promise<JourneyRun | undefined>;
  /** A journey's runs, ordered by id. */
  listRuns(journeyId: string, query: PageQuery & { contactId?: string }): Promise<Page<JourneyRun>>;
  /** Runs per status of a journey. */
  countRuns(journeyId: string): Promise<Record<JourneyRunStatus, number>>;

  /**
   * Records a send in the send log unless it is there already (`duplicate`:
   * the message was decided before a crash) or one of `caps` would be
   * broken (`capped`: nothing recorded). Checked and written in one
   * transaction, the contact locked on PostgreSQL.
   */
  recordSend(send: SendRecord): Promise<'recorded' | 'duplicate' | 'capped'>;
  /** Opens (clicks) of the run's messages, or of the message `messageId` only. */
  runEngagement(runId: string, kind: 'open' | 'click', messageId?: string): Promise<number>;

  /**
   * Takes (or renews) the lease of the named backstop cursor for `owner`
   * and returns its position, or undefined when another node holds it.
   */
  claimCursor(
    name: string,
    owner: string,
    now: number,
    leaseMs: number,
  ): Promise<EventCursor | undefined>;
  /** Moves the cursor, if `owner` still holds it. */
  moveCursor(name: string, owner: string, to: EventCursor): Promise<boolean>;
  /** Stored events after `after` (by receivedAt, then id) received at or before `until`, oldest first. */
  eventsAfter(after: EventCursor, until: number, limit: number): Promise<StoredEvent[]>;

  /** Whether the contact matches the condition now (a segment evaluated for one contact). */
  contactMatches(conditions: SegmentCondition, contactId: string, now: number): Promise<boolean>;
  /**
   * Records whether the contact is a member of the segment: `entered` when
   * it was not and is now (with the time it entered), `left`, or `unchanged`.
   */
  setMembership(
    segmentId: string,
    contactId: string,
    member: boolean,
    at: number,
  ): Promise<'entered' | 'left' | 'unchanged'>;
}

// ── Maintenance (singleton duties) ───────────────────────────────────

/** Housekeeping run by the leader of the `maintenance` duty (src/cluster/). */
export interface MaintenanceStore {
  /**
   * Deletes up to `limit` messages in a final state whose last change is
   * older than `before`, with their attempts and idempotency keys, in one
   * transaction; returns how many. Engagement rows are kept (statistics).
   */
  purgeFinished(before: number, limit: number): Promise<number>;
}

// ── Cluster-wide rate tokens ─────────────────────────────────────────

/** A lease of up to `want` tokens from one shared token bucket. */
export interface RateTokenLease {
  /** Bucket id (`domain:google#second`). */
  id: string;
  capacity: number;
  ratePerMs: number;
  want: number;
  /** The bucket may be reserved this far ahead (ms of refill), so tokens may be due later. */
  aheadMs: number;
}

export interface RateTokenGrant {
  id: string;
  /** Tokens granted: token j (1-based) is usable (j − before) / ratePerMs ms after the grant (now if ≤ 0). */
  granted: number;
  /** Tokens in the bucket before the grant (below zero: already reserved ahead). */
  before: number;
}

/**
 * Token buckets shared by every node (PostgreSQL), behind the cluster rate
 * limiter (src/delivery/cluster-rate-limiter.ts). Buckets refill by the
 * database's clock.
 */
export interface RateTokenStore {
  /** All the leases in one round trip (in id order, so that two nodes never deadlock). */
  lease(requests: RateTokenLease[]): Promise<RateTokenGrant[]>;
  /** Deletes buckets untouched for `idleMs` (they would be full again); returns how many. */
  prune(idleMs: number): Promise<number>;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  /** Applies pending numbered migrations; returns the ones applied. */
  migrate(): Promise<string[]>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;

  readonly apiKeys: ApiKeyStore;
  readonly contacts: ContactStore;
  readonly lists: ListStore;
  readonly templates: TemplateStore;
  readonly messages: MessageStore;
  readonly suppressions: SuppressionStore;
  readonly events: EventStore;
  readonly segments: SegmentStore;
  readonly engagement: EngagementStore;
  readonly campaigns: CampaignStore;
  readonly journeys: JourneyStore;
  /** Cross-process wake-ups (a no-op where `listenNotify` is false). */
  readonly wakeups: Wakeups;
  /** Outgoing webhooks: endpoints and the delivery outbox (ports/webhook-store.ts). */
  readonly webhooks: WebhookStore;
  /** Spam complaints: suppression, contact status and the `complained` event in one transaction. */
  readonly complaints: ComplaintStore;
  /** Leadership for singleton duties (a `singleWriter` store's one process always leads). */
  readonly leadership: Leadership;
  readonly maintenance: MaintenanceStore;
  /** Shared rate tokens, where several processes share the store (PostgreSQL); absent on SQLite. */
  readonly rateTokens?: RateTokenStore;
  /** The dashboard's message search and queue age. */
  readonly dashboard: DashboardQueries;
}
