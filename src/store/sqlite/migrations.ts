import type { Migration } from '../migration.js';

/**
 * SQLite schema, forward-only. Timestamps are INTEGER epoch milliseconds,
 * JSON is TEXT, ids are TEXT made by the application.
 *
 * The claim index is partial: only rows a claimer can still pick
 * (queued, deferred, sending) are in it, so it stays as small as the live
 * queue while the table grows with delivered history. It is keyed by
 * (stream, due_at) because the claimer asks one stream at a time, in
 * priority order, for the rows due first.
 */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_init',
    sql: `
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);

CREATE TABLE contacts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  attributes TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE lists (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL
);

CREATE TABLE list_members (
  list_id TEXT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
  contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  added_at INTEGER NOT NULL,
  PRIMARY KEY (list_id, contact_id)
) WITHOUT ROWID;
CREATE INDEX list_members_contact ON list_members (contact_id);

CREATE TABLE templates (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  subject TEXT NOT NULL,
  html TEXT,
  text TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  stream TEXT NOT NULL CHECK (stream IN ('transactional', 'bulk')),
  from_email TEXT NOT NULL,
  from_name TEXT,
  to_email TEXT NOT NULL,
  to_name TEXT,
  reply_to_email TEXT,
  reply_to_name TEXT,
  template_id TEXT,
  subject TEXT,
  html TEXT,
  text TEXT,
  variables TEXT NOT NULL,
  headers TEXT NOT NULL,
  message_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN
    ('queued', 'sending', 'deferred', 'delivered', 'bounced', 'expired', 'failed', 'suppressed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  due_at INTEGER NOT NULL,
  lease_owner TEXT,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX messages_claim ON messages (stream, due_at)
  WHERE status IN ('queued', 'deferred', 'sending');
CREATE INDEX messages_status ON messages (status);

CREATE TABLE message_attempts (
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL,
  relay TEXT,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  code INTEGER,
  enhanced_code TEXT,
  response TEXT NOT NULL,
  PRIMARY KEY (message_id, attempt)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  message_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
`,
  },
  {
    // Bounce classification (core/bounce.ts) and the suppression list
    // (core/suppression.ts). Emails in suppressions are lower-cased keys;
    // WITHOUT ROWID since the key is the lookup.
    id: '0002_bounces_suppressions',
    sql: `
ALTER TABLE messages ADD COLUMN bounce_category TEXT;
ALTER TABLE message_attempts ADD COLUMN category TEXT;

CREATE TABLE suppressions (
  email TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  category TEXT,
  source_message_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
  },
  {
    // Events (docs/events.md). The client's event id is the idempotency key:
    // unique, so a retried event is stored once (NULL keys never collide).
    // events_contact_time serves a contact's timeline, newest first;
    // events_contact_name serves "did X at least N times since T" (segments).
    // A contact's events go with it (ON DELETE CASCADE).
    id: '0003_events',
    sql: `
CREATE TABLE events (
  id TEXT PRIMARY KEY,
  idempotency_key TEXT UNIQUE,
  contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  properties TEXT NOT NULL,
  occurred_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX events_contact_time ON events (contact_id, occurred_at, id);
CREATE INDEX events_contact_name ON events (contact_id, name, occurred_at);
`,
  },
  {
    // Segments (docs/segments.md): a name and the condition as JSON text.
    id: '0004_segments',
    sql: `
CREATE TABLE segments (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  conditions TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  },
  {
    // Engagement (docs/tracking.md): opens, clicks and unsubscribes per
    // message. contact_id is set NULL when the contact is deleted: the
    // message's statistics keep counting the event.
    id: '0005_engagement',
    sql: `
CREATE TABLE engagement (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('open', 'click', 'unsubscribe')),
  message_id TEXT NOT NULL,
  email TEXT NOT NULL,
  contact_id TEXT REFERENCES contacts (id) ON DELETE SET NULL,
  url TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX engagement_message ON engagement (message_id, at, id);
CREATE INDEX engagement_contact ON engagement (contact_id, kind, at);
`,
  },
  {
    // Campaigns (docs/campaigns.md). The definition (sender, content,
    // audience, variants, test) is one JSON document, read whole; the columns
    // are what queries filter on: status and send_at (the scheduler),
    // phase and the lease (the fan-out), the fan-out cursor (progress).
    // Messages of a campaign carry its id and their variant; the UNIQUE
    // (campaign_id, to_email) makes fan-out idempotent: a batch written again
    // after a restart, or a contact reached through two lists, adds nothing
    // (partial: other messages neither collide nor pay for the index on
    // accept). The per-campaign statistics have their own index (0013).
    id: '0006_campaigns',
    sql: `
CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'paused', 'cancelled')),
  definition TEXT NOT NULL,
  send_at INTEGER,
  phase TEXT NOT NULL DEFAULT 'pending',
  progress TEXT NOT NULL,
  winner INTEGER,
  pause TEXT,
  lease_owner TEXT,
  lease_until INTEGER,
  started_at INTEGER,
  test_ends_at INTEGER,
  fanned_out_at INTEGER,
  completed_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX campaigns_status ON campaigns (status, send_at);

ALTER TABLE messages ADD COLUMN campaign_id TEXT;
ALTER TABLE messages ADD COLUMN variant INTEGER;
CREATE UNIQUE INDEX messages_campaign ON messages (campaign_id, to_email)
  WHERE campaign_id IS NOT NULL;
`,
  },
  {
    // Outgoing webhooks (docs/webhooks.md). Endpoints hold their signing
    // secret in clear: Sluice needs it to sign (an HMAC key cannot be
    // hashed like an API key); the API shows it once. Deliveries are the
    // webhook outbox, written in the same transaction as their source; no
    // foreign key to the endpoint, so that deleting an endpoint can never
    // fail a settle batch (its rows are deleted with it, and purge drops
    // any a concurrent settle added). webhook_deliveries_due is partial,
    // like messages_claim: only rows the dispatcher can still pick.
    id: '0007_webhooks',
    sql: `
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 1,
  secret TEXT NOT NULL,
  previous_secret TEXT,
  previous_secret_expires_at INTEGER,
  secret_rotated_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
  endpoint_id TEXT NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  lease_owner TEXT,
  last_status INTEGER,
  last_error TEXT,
  last_attempt_at INTEGER,
  finished_at INTEGER,
  PRIMARY KEY (endpoint_id, event_id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at)
  WHERE status IN ('pending', 'sending');
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at)
  WHERE status IN ('delivered', 'failed');
`,
  },
  {
    // Journeys (docs/journeys.md): definitions and their versions, per-contact
    // runs (the current instruction, a timer, the event waited for, a lease),
    // the last entry per journey and contact (re-entry policy), the send log
    // (frequency caps, and the guard that makes each send happen once),
    // the backstop cursor over stored events, and segment memberships kept
    // per event. messages.event_received_at carries the triggering event's
    // receipt time to the delivery metrics.
    id: '0008_journeys',
    sql: `
ALTER TABLE messages ADD COLUMN event_received_at INTEGER;

CREATE TABLE journeys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'paused')),
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  activated_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE journey_versions (
  journey_id TEXT NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  definition TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (journey_id, version)
) WITHOUT ROWID;

CREATE TABLE journey_runs (
  id TEXT PRIMARY KEY,
  journey_id TEXT NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  trigger_key TEXT NOT NULL,
  trigger TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'exited', 'failed')),
  pc INTEGER NOT NULL,
  next_at INTEGER NOT NULL,
  wait_event TEXT,
  waiting_since INTEGER,
  lease_owner TEXT,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (journey_id, trigger_key)
);
CREATE INDEX journey_runs_due ON journey_runs (next_at) WHERE status = 'active';
CREATE INDEX journey_runs_waiting ON journey_runs (contact_id, wait_event)
  WHERE wait_event IS NOT NULL;
CREATE INDEX journey_runs_journey ON journey_runs (journey_id, id);

CREATE TABLE journey_entries (
  journey_id TEXT NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
  contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  entered_at INTEGER NOT NULL,
  PRIMARY KEY (journey_id, contact_id)
) WITHOUT ROWID;

CREATE TABLE journey_sends (
  message_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  journey_id TEXT NOT NULL,
  contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  pc INTEGER NOT NULL,
  sent_at INTEGER NOT NULL
);
CREATE INDEX journey_sends_contact ON journey_sends (contact_id, sent_at);
CREATE INDEX journey_sends_run ON journey_sends (run_id);

CREATE TABLE event_cursors (
  name TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  owner TEXT,
  lease_until INTEGER
);
CREATE INDEX events_received ON events (received_at, id);

CREATE TABLE segment_members (
  segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  contact_id TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  entered_at INTEGER NOT NULL,
  PRIMARY KEY (segment_id, contact_id)
) WITHOUT ROWID;
`,
  },
  {
    // The operator's dashboard (docs/dashboard.md): messages by recipient,
    // newest first; and the messages not yet final by age, for the waiting
    // list and the "oldest queued message" figure and alert. Partial, like
    // the claim index: it holds the live queue only, not delivered history.
    id: '0010_dashboard',
    sql: `
CREATE INDEX messages_recipient ON messages (to_email, created_at);
CREATE INDEX messages_pending_age ON messages (created_at)
  WHERE status IN ('queued', 'deferred', 'sending');
`,
  },
  {
    // Segment engagement conditions (docs/segments.md) count, per contact,
    // its engagement rows by contact_id (engagement_contact, 0005) and the
    // rows recorded with no contact for its address: an open of a message
    // sent before the contact existed, or an address whose local part has
    // capitals (contacts keep them, engagement rows are lower-cased, so the
    // tracking lookup by address misses). Without an index on email, that
    // second count walks every contact-less row of the kind for EVERY
    // contact of the segment. Partial: rows that have a contact never need
    // it, so the index costs nothing for them.
    id: '0011_segment_engagement',
    sql: `
CREATE INDEX engagement_email ON engagement (email, kind, at) WHERE contact_id IS NULL;
`,
  },
  {
    // A campaign's complaint count (its guard rail), read at every upkeep:
    // from the few complained contacts to the campaign's messages, instead of
    // looking up every message's recipient (0.7 s of the one thread at 1M
    // recipients, every upkeep). Partial: only complained contacts are in it.
    id: '0012_complained_contacts',
    sql: `
CREATE INDEX contacts_complained ON contacts (email) WHERE status = 'complained';
`,
  },
  {
    // A campaign's statistics (messages by variant, status and bounce
    // category; its engagement; whether any message is still unsettled),
    // read at every upkeep and by the API and dashboard: from this index
    // alone, never from the rows. Through messages_campaign (ordered by
    // address) each message's row was a random read: 1M messages held the
    // one thread for 1 – 8 s a statement. Keyed by id after the campaign so
    // that the store counts a campaign in ranges of ids, one short statement
    // each, letting the event loop run between them (./campaigns.ts). Partial:
    // other messages pay nothing; a campaign message's lease and settlement
    // move one more entry, within its leaf page (the key's start is fixed).
    // SQLite only: on PostgreSQL the statistics do not hold the event loop
    // (the driver is asynchronous), and a campaign that is most of the table
    // is counted by a parallel scan with or without it (docs/benchmarks.md).
    id: '0013_campaign_stats',
    sql: `
CREATE INDEX messages_campaign_stats ON messages (campaign_id, id, variant, status, bounce_category)
  WHERE campaign_id IS NOT NULL;
`,
  },
  {
    // The waiting list and the oldest waiting message (0010) from the status
    // index, now (status, created_at): one range per live status, merged
    // (./dashboard-queries.ts). The partial messages_pending_age cost every
    // message two more index writes for nothing else: a claim moved its entry
    // (its WHERE reads status, so SQLite rewrites it even when queued becomes
    // sending under the same key) and a settlement deleted it, while the
    // status index's entry moves at both anyway, created_at or not. The store
    // microbenchmark (bench/store-campaign.ts, 100k campaign messages): 27.2
    // → 23.8 µs of CPU a message for acceptBatch, claim and settle
    // (30 Nov 2026, docs/benchmarks.md). SQLite only: PostgreSQL keeps its
    // indexes (its writes are not on the node's one thread). On an existing
    // database the new index is built once, at the upgrade (a pass over the table).
    id: '0014_status_age',
    sql: `
DROP INDEX messages_pending_age;
DROP INDEX messages_status;
CREATE INDEX messages_status ON messages (status, created_at);
`,
  },
];
