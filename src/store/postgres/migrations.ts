import type { Migration } from '../migration.js';

/**
 * PostgreSQL schema, forward-only: the SQLite schema in this dialect.
 * Timestamps are BIGINT epoch milliseconds (parsed back to numbers, see
 * postgres-store.ts); ids are text made by the application.
 *
 * - Ids are `COLLATE "C"`: pages are keyed by id (`id > $after ORDER BY id`),
 *   and byte order keeps them in the same order as on SQLite whatever the
 *   database's locale.
 * - Contact attributes are JSONB: upserts merge them with `||` and `-`, and
 *   segments will query them. A message's variables and headers are JSON
 *   (text kept as written): they are written once and read whole, and JSON
 *   keeps their key order (JSONB sorts keys), which Liquid loops and the
 *   order of extra headers in the MIME output can see.
 * - The claim index is partial (claimable rows only) and keyed by
 *   (stream, due_at): the claimer asks one stream at a time, due first.
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_init',
    sql: `
CREATE TABLE api_keys (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  hash text NOT NULL UNIQUE,
  prefix text NOT NULL,
  created_at bigint NOT NULL,
  revoked_at bigint
);

CREATE TABLE contacts (
  id text COLLATE "C" PRIMARY KEY,
  email text NOT NULL UNIQUE,
  attributes jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'active'
    CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE lists (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL UNIQUE,
  description text NOT NULL DEFAULT '',
  created_at bigint NOT NULL
);

CREATE TABLE list_members (
  list_id text COLLATE "C" NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
  contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  added_at bigint NOT NULL,
  PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX list_members_contact ON list_members (contact_id);

CREATE TABLE templates (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL UNIQUE,
  subject text NOT NULL,
  html text,
  text text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE messages (
  id text COLLATE "C" PRIMARY KEY,
  stream text NOT NULL CHECK (stream IN ('transactional', 'bulk')),
  from_email text NOT NULL,
  from_name text,
  to_email text NOT NULL,
  to_name text,
  reply_to_email text,
  reply_to_name text,
  template_id text,
  subject text,
  html text,
  text text,
  variables json NOT NULL,
  headers json NOT NULL,
  message_id text NOT NULL,
  status text NOT NULL CHECK (status IN
    ('queued', 'sending', 'deferred', 'delivered', 'bounced', 'expired', 'failed', 'suppressed')),
  attempts integer NOT NULL DEFAULT 0,
  due_at bigint NOT NULL,
  lease_owner text,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX messages_claim ON messages (stream, due_at)
  WHERE status IN ('queued', 'deferred', 'sending');
CREATE INDEX messages_status ON messages (status);

CREATE TABLE message_attempts (
  message_id text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  relay text,
  started_at bigint NOT NULL,
  finished_at bigint NOT NULL,
  outcome text NOT NULL,
  code integer,
  enhanced_code text,
  response text NOT NULL,
  PRIMARY KEY (message_id, attempt)
);

CREATE TABLE idempotency_keys (
  scope text NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  message_id text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (scope, key)
);
`,
  },
  {
    // Bounce classification (core/bounce.ts) and the suppression list
    // (core/suppression.ts). Emails in suppressions are lower-cased keys,
    // COLLATE "C" so pages by email sort as on SQLite.
    id: '0002_bounces_suppressions',
    sql: `
ALTER TABLE messages ADD COLUMN bounce_category text;
ALTER TABLE message_attempts ADD COLUMN category text;

CREATE TABLE suppressions (
  email text COLLATE "C" PRIMARY KEY,
  reason text NOT NULL,
  category text,
  source_message_id text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
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
  id text COLLATE "C" PRIMARY KEY,
  idempotency_key text UNIQUE,
  contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  name text NOT NULL,
  properties jsonb NOT NULL,
  occurred_at bigint NOT NULL,
  received_at bigint NOT NULL
);
CREATE INDEX events_contact_time ON events (contact_id, occurred_at, id);
CREATE INDEX events_contact_name ON events (contact_id, name, occurred_at);
`,
  },
  {
    // Segments (docs/segments.md): a name and the condition as jsonb.
    // sluice_iso_ms reads an ISO date attribute for before/after: the shapes
    // core/segment.ts allows, no offset meaning UTC, NULL for anything else
    // (a cast would fail the whole query on one bad attribute). STABLE, not
    // IMMUTABLE: timestamptz input depends on session settings in general.
    id: '0004_segments',
    sql: `
CREATE TABLE segments (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL UNIQUE,
  conditions jsonb NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE FUNCTION sluice_iso_ms(v text) RETURNS double precision
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  IF v IS NULL OR v !~ '^\\d{4}-\\d{2}-\\d{2}([T ]\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})?)?$' THEN
    RETURN NULL;
  END IF;
  IF length(v) > 10 AND v ~ '(Z|[+-]\\d{2}:\\d{2})$' THEN
    RETURN extract(epoch FROM v::timestamptz) * 1000;
  END IF;
  RETURN extract(epoch FROM (v::timestamp AT TIME ZONE 'UTC')) * 1000;
EXCEPTION WHEN others THEN
  RETURN NULL;
END
$fn$;
`,
  },
  {
    // Engagement (docs/tracking.md): opens, clicks and unsubscribes per
    // message. contact_id is set NULL when the contact is deleted: the
    // message's statistics keep counting the event.
    id: '0005_engagement',
    sql: `
CREATE TABLE engagement (
  id text COLLATE "C" PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('open', 'click', 'unsubscribe')),
  message_id text COLLATE "C" NOT NULL,
  email text NOT NULL,
  contact_id text COLLATE "C" REFERENCES contacts (id) ON DELETE SET NULL,
  url text,
  at bigint NOT NULL
);
CREATE INDEX engagement_message ON engagement (message_id, at, id);
CREATE INDEX engagement_contact ON engagement (contact_id, kind, at);
`,
  },
  {
    // Campaigns (docs/campaigns.md): as on SQLite (see its comment). The
    // definition and the cursor are jsonb (read whole, never queried inside).
    id: '0006_campaigns',
    sql: `
CREATE TABLE campaigns (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  status text NOT NULL
    CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'paused', 'cancelled')),
  definition jsonb NOT NULL,
  send_at bigint,
  phase text NOT NULL DEFAULT 'pending',
  progress jsonb NOT NULL,
  winner integer,
  pause jsonb,
  lease_owner text,
  lease_until bigint,
  started_at bigint,
  test_ends_at bigint,
  fanned_out_at bigint,
  completed_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX campaigns_status ON campaigns (status, send_at);

ALTER TABLE messages ADD COLUMN campaign_id text COLLATE "C";
ALTER TABLE messages ADD COLUMN variant integer;
CREATE UNIQUE INDEX messages_campaign ON messages (campaign_id, to_email)
  WHERE campaign_id IS NOT NULL;
`,
  },
  {
    // Outgoing webhooks (docs/webhooks.md); see the SQLite migration of the
    // same id for the reasons (secret in clear, no foreign key, partial
    // indexes). events is a jsonb array of type names (`events ? $type`).
    id: '0007_webhooks',
    sql: `
CREATE TABLE webhook_endpoints (
  id text COLLATE "C" PRIMARY KEY,
  url text NOT NULL,
  events jsonb NOT NULL,
  description text NOT NULL DEFAULT '',
  enabled boolean NOT NULL DEFAULT true,
  secret text NOT NULL,
  previous_secret text,
  previous_secret_expires_at bigint,
  secret_rotated_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE webhook_deliveries (
  endpoint_id text COLLATE "C" NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  created_at bigint NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint,
  lease_owner text,
  last_status integer,
  last_error text,
  last_attempt_at bigint,
  finished_at bigint,
  PRIMARY KEY (endpoint_id, event_id)
);
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
ALTER TABLE messages ADD COLUMN event_received_at bigint;

CREATE TABLE journeys (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL UNIQUE,
  status text NOT NULL CHECK (status IN ('draft', 'active', 'paused')),
  version integer NOT NULL,
  definition jsonb NOT NULL,
  activated_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE journey_versions (
  journey_id text COLLATE "C" NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
  version integer NOT NULL,
  definition jsonb NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (journey_id, version)
);

CREATE TABLE journey_runs (
  id text COLLATE "C" PRIMARY KEY,
  journey_id text COLLATE "C" NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
  version integer NOT NULL,
  contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  trigger_key text NOT NULL,
  trigger jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'completed', 'exited', 'failed')),
  pc integer NOT NULL,
  next_at bigint NOT NULL,
  wait_event text,
  waiting_since bigint,
  lease_owner text,
  last_error text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  UNIQUE (journey_id, trigger_key)
);
CREATE INDEX journey_runs_due ON journey_runs (next_at) WHERE status = 'active';
CREATE INDEX journey_runs_waiting ON journey_runs (contact_id, wait_event)
  WHERE wait_event IS NOT NULL;
CREATE INDEX journey_runs_journey ON journey_runs (journey_id, id);

CREATE TABLE journey_entries (
  journey_id text COLLATE "C" NOT NULL REFERENCES journeys (id) ON DELETE CASCADE,
  contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  entered_at bigint NOT NULL,
  PRIMARY KEY (journey_id, contact_id)
);

CREATE TABLE journey_sends (
  message_id text COLLATE "C" PRIMARY KEY,
  run_id text COLLATE "C" NOT NULL,
  journey_id text COLLATE "C" NOT NULL,
  contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  pc integer NOT NULL,
  sent_at bigint NOT NULL
);
CREATE INDEX journey_sends_contact ON journey_sends (contact_id, sent_at);
CREATE INDEX journey_sends_run ON journey_sends (run_id);

CREATE TABLE event_cursors (
  name text COLLATE "C" PRIMARY KEY,
  received_at bigint NOT NULL,
  event_id text NOT NULL,
  owner text,
  lease_until bigint
);
CREATE INDEX events_received ON events (received_at, id);

CREATE TABLE segment_members (
  segment_id text COLLATE "C" NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  contact_id text COLLATE "C" NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
  entered_at bigint NOT NULL,
  PRIMARY KEY (segment_id, contact_id)
);
`,
  },
  {
    // Cluster-wide throttles (docs/scale-out.md): one token bucket per rate
    // key and unit, shared by every node. Nodes lease tokens in chunks
    // through sluice_lease_tokens, which refills the bucket by the database's
    // clock (node clocks may disagree) and lets it go below zero by at most
    // `ahead` ms of tokens: a reservation ahead, so that waiting nodes queue
    // in time instead of polling. PostgreSQL only: SQLite runs one process,
    // whose throttles stay in memory.
    id: '0009_cluster',
    sql: `
CREATE TABLE throttle_buckets (
  id text COLLATE "C" PRIMARY KEY,
  tokens double precision NOT NULL,
  updated_at bigint NOT NULL
);
CREATE FUNCTION sluice_lease_tokens(
  p_id text, p_capacity double precision, p_rate_per_ms double precision,
  p_want integer, p_ahead_ms double precision,
  OUT before double precision, OUT granted integer)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
  held double precision;
  at_ms bigint;
BEGIN
  INSERT INTO throttle_buckets (id, tokens, updated_at) VALUES (p_id, p_capacity, now_ms)
    ON CONFLICT (id) DO NOTHING;
  SELECT tokens, updated_at INTO held, at_ms FROM throttle_buckets WHERE id = p_id FOR UPDATE;
  before := LEAST(p_capacity, held + GREATEST(0, now_ms - at_ms) * p_rate_per_ms);
  granted := GREATEST(0, LEAST(p_want, floor(before + p_rate_per_ms * p_ahead_ms)))::integer;
  UPDATE throttle_buckets SET tokens = before - granted, updated_at = GREATEST(at_ms, now_ms)
    WHERE id = p_id;
END
$fn$;
`,
  },
  {
    // The operator's dashboard: messages by recipient; the live queue by age (partial).
    id: '0010_dashboard',
    sql: `
CREATE INDEX messages_recipient ON messages (to_email, created_at);
CREATE INDEX messages_pending_age ON messages (created_at)
  WHERE status IN ('queued', 'deferred', 'sending');
`,
  },
  {
    // Segment engagement conditions: as on SQLite (see its comment), the
    // rows with no contact, by address, for the per-contact count.
    id: '0011_segment_engagement',
    sql: `
CREATE INDEX engagement_email ON engagement (email, kind, at) WHERE contact_id IS NULL;
`,
  },
  {
    // A campaign's complaint count, from the few complained contacts: as on SQLite.
    id: '0012_complained_contacts',
    sql: `
CREATE INDEX contacts_complained ON contacts (email) WHERE status = 'complained';
`,
  },
];
