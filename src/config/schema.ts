/**
 * The one configuration schema: for the JSON file and the SLUICE_*
 * environment overrides alike. Each key's `description` is its
 * documentation; docs/configuration.md is generated from this file
 * (`sluice config-docs`) and a test fails when the two drift apart.
 *
 * Durations are written as strings with a unit ("250ms", "30s", "5m", "2h",
 * "3d") or as a number of milliseconds; sizes as bytes or "512kb", "10mb".
 * They are parsed once, by the loader, into milliseconds and bytes.
 */
import { Type, type Static } from '@sinclair/typebox';

const Duration = (defaultValue: string, description: string) =>
  Type.Union(
    [Type.String({ pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)$' }), Type.Integer({ minimum: 0 })],
    {
      default: defaultValue,
      description: `${description} A duration: "250ms", "30s", "5m", "2h", "3d", or milliseconds.`,
    },
  );

/** A duration with no default, for optional keys. */
const OptionalDuration = (description: string) =>
  Type.Optional(
    Type.Union(
      [Type.String({ pattern: '^\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)$' }), Type.Integer({ minimum: 1 })],
      {
        description: `${description} A duration: "250ms", "30s", "5m", "2h", "3d", or milliseconds.`,
      },
    ),
  );

const Size = (defaultValue: string, description: string) =>
  Type.Union([Type.String({ pattern: '^\\d+\\s*(b|kb|mb|gb)$' }), Type.Integer({ minimum: 1 })], {
    default: defaultValue,
    description: `${description} A size: bytes, or "512kb", "10mb", "1gb".`,
  });

const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });

const Rate = (description: string) =>
  Type.Optional(
    Type.Object(
      {
        perSecond: Type.Optional(
          Type.Number({ exclusiveMinimum: 0, description: 'Most messages per second.' }),
        ),
        perHour: Type.Optional(
          Type.Number({ exclusiveMinimum: 0, description: 'Most messages per hour.' }),
        ),
      },
      { additionalProperties: false, description },
    ),
  );

const DomainLimits = {
  maxConnections: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 10000,
      description:
        'Most SMTP transactions in flight at once towards these domains, over all relays.',
    }),
  ),
  perSecond: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, description: 'Most messages per second to these domains.' }),
  ),
  perHour: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, description: 'Most messages per hour to these domains.' }),
  ),
};

export const RelaySchema = Type.Object(
  {
    name: Type.String({
      ...Name,
      description: 'Unique name of the relay, used in pools, logs and metrics.',
    }),
    host: Type.String({ minLength: 1, description: 'Host name or IP address of the SMTP relay.' }),
    port: Type.Integer({
      minimum: 1,
      maximum: 65535,
      default: 25,
      description: 'TCP port of the relay.',
    }),
    weight: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 1,
      description:
        'Share of traffic under the `weighted` strategy, relative to the other relays of the pool.',
    }),
    maxConnections: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 10,
      description: 'Most SMTP connections Sluice keeps open to this relay at once.',
    }),
    tls: Type.Object(
      {
        mode: Type.Union(
          [Type.Literal('none'), Type.Literal('starttls'), Type.Literal('implicit')],
          {
            default: 'none',
            description:
              '`none`: plain SMTP; `starttls`: upgrade with STARTTLS and refuse to send if the relay does not offer it; `implicit`: TLS from the first byte (port 465).',
          },
        ),
        rejectUnauthorized: Type.Boolean({
          default: true,
          description:
            'Refuse relays whose certificate does not verify. Turn off only for a relay with a self-signed certificate on a trusted network.',
        }),
        servername: Type.Optional(
          Type.String({
            description: 'Name to verify the certificate against, when it differs from `host`.',
          }),
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Transport security towards the relay.',
      },
    ),
    auth: Type.Optional(
      Type.Object(
        {
          user: Type.String({
            minLength: 1,
            description: 'User name for SMTP AUTH (PLAIN or LOGIN, as the relay offers).',
          }),
          pass: Type.String({ minLength: 1, description: 'Password for SMTP AUTH. Never logged.' }),
        },
        { additionalProperties: false, description: 'Credentials, when the relay requires AUTH.' },
      ),
    ),
    rate: Rate('Most messages this relay is given, over all pools.'),
    pipelining: Type.Union([Type.Literal('full'), Type.Literal('envelope'), Type.Literal('off')], {
      default: 'full',
      description:
        "When the relay offers PIPELINING (RFC 2920): `full` writes MAIL, RCPT and DATA at once and the next message's with a body (one round trip a message on a busy connection); `envelope` only the first part (two round trips); `off` one command at a time, for a relay or a middlebox that announces PIPELINING but mishandles it.",
    }),
    health: Type.Optional(
      Type.Object(
        {
          failureThreshold: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 1000,
              description: 'Overrides `health.failureThreshold`.',
            }),
          ),
          cooldown: OptionalDuration('Overrides `health.cooldown`.'),
        },
        { additionalProperties: false, description: 'Circuit breaker settings of this relay.' },
      ),
    ),
    warmup: Type.Optional(
      Type.Object(
        {
          start: Type.String({
            pattern: '^\\d{4}-\\d{2}-\\d{2}$',
            description: 'Day 0 of the schedule, `YYYY-MM-DD` (UTC).',
          }),
          dailyCaps: Type.Array(Type.Integer({ minimum: 1 }), {
            minItems: 1,
            description:
              'Most messages on day 0, 1, 2 … of the schedule; after the last day, no cap.',
          }),
        },
        {
          additionalProperties: false,
          description: 'Warm-up schedule of a new relay (a new IP): a daily cap by day index.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export const STRATEGIES = ['round-robin', 'least-connections', 'weighted', 'hash'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** What one Sluice process does; `api` and `worker` split a cluster on PostgreSQL. */
export const NODE_ROLES = ['all', 'api', 'worker'] as const;
export type NodeRole = (typeof NODE_ROLES)[number];

export const PoolSchema = Type.Object(
  {
    name: Type.String({ ...Name, description: 'Unique name of the pool.' }),
    relays: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'Names of the relays (from `relays[]`) that make up this pool.',
    }),
    strategy: Type.Union(
      STRATEGIES.map((s) => Type.Literal(s)),
      {
        default: 'round-robin',
        description:
          'How the pool picks a relay for a message: `round-robin`; `least-connections` (fewest messages in flight); `weighted` (smooth weighted round-robin by `weight`); `hash` (consistent hashing of the recipient domain, so a domain sticks to one relay).',
      },
    ),
    rate: Rate('Most messages through this pool.'),
  },
  { additionalProperties: false },
);

export const DKIM_ALGORITHMS = ['rsa-sha256', 'ed25519-sha256'] as const;
export type DkimAlgorithm = (typeof DKIM_ALGORITHMS)[number];

/** Header fields signed by default, when the message has them (RFC 6376 §5.4.1). */
export const DKIM_DEFAULT_HEADERS = [
  'From',
  'Reply-To',
  'To',
  'Subject',
  'Date',
  'Message-ID',
  'MIME-Version',
  'Content-Type',
  'In-Reply-To',
  'References',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
] as const;

/** A domain name of two labels or more (checked loosely: DNS will say the rest). */
const DomainName = Type.String({ pattern: '^[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$', maxLength: 253 });

export const DkimKeySchema = Type.Object(
  {
    domain: Type.String({
      ...DomainName,
      description:
        'Signing domain (`d=`): signs mail whose From address is at this domain, or at a subdomain that has no key of its own.',
    }),
    selector: Type.String({
      pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$',
      description:
        'Selector (`s=`): receivers look the public key up at `<selector>._domainkey.<domain>` (DNS TXT).',
    }),
    privateKeyFile: Type.String({
      minLength: 1,
      description:
        'PEM file of the private key (unencrypted PKCS#8, or PKCS#1 for RSA), relative to the working directory: RSA of at least 2048 bits, or Ed25519. Read and checked at start; never logged or printed.',
    }),
    algorithm: Type.Optional(
      Type.Union(
        DKIM_ALGORITHMS.map((a) => Type.Literal(a)),
        { description: 'Signature algorithm (`a=`); default: the one the key is for.' },
      ),
    ),
    headers: Type.Optional(
      Type.Array(Type.String({ pattern: '^[\\x21-\\x39\\x3b-\\x7e]+$' }), {
        minItems: 1,
        description: `Header fields to sign when the message has them; must include From. Default: ${DKIM_DEFAULT_HEADERS.join(', ')}.`,
      }),
    ),
  },
  { additionalProperties: false },
);

export const ALERT_KINDS = [
  'relay-down',
  'pool-down',
  'error-rate',
  'bounce-rate',
  'complaint-rate',
  'queue-age',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const AlertRuleSchema = Type.Object(
  {
    name: Type.String({
      ...Name,
      description: 'Names the alert in notifications, the dashboard and `sluice_alerts_firing`.',
    }),
    kind: Type.Union(
      ALERT_KINDS.map((k) => Type.Literal(k)),
      {
        description:
          "`relay-down`: a relay's circuit is not closed; `pool-down`: no relay of a pool has a closed circuit; `error-rate`: deferred + bounced over all attempts; `bounce-rate`: bounced over delivered + bounced; `complaint-rate`: complaints over delivered; `queue-age`: the oldest message not yet final is older than `maxAge` (docs/alerts.md).",
      },
    ),
    relay: Type.Optional(
      Type.String({
        ...Name,
        description: '`relay-down`: only this relay (default: each relay is its own alert).',
      }),
    ),
    pool: Type.Optional(
      Type.String({
        ...Name,
        description: '`pool-down`: only this pool (default: each pool is its own alert).',
      }),
    ),
    for: Duration('0s', 'How long the condition must hold before the alert fires.'),
    threshold: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 100,
        description: 'Rate rules: fire above this percentage. Required for them.',
      }),
    ),
    window: Duration('5m', 'Rate rules: the sliding window the rate is computed over.'),
    minEvents: Type.Integer({
      minimum: 1,
      default: 20,
      description:
        'Rate rules: fewer events than this in the window (the denominator) never fire: 1 bounce out of 2 is not 50 %.',
    }),
    maxAge: OptionalDuration(
      '`queue-age`: fire when the oldest waiting message is older. Required for it.',
    ),
  },
  { additionalProperties: false },
);

export const AlertWebhookSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://[^\\s/?#]+([/?#]\\S*)?$',
      description: 'Where firing and resolved notifications are POSTed (JSON).',
    }),
    secret: Type.String({
      minLength: 16,
      description:
        'Key of the `Sluice-Signature` HMAC-SHA256 on each notification (docs/alerts.md). Never logged; masked by `config-check`.',
    }),
    allowPrivate: Type.Boolean({
      default: false,
      description:
        'Allow a URL whose host is (or resolves to) a loopback, private or link-local address; refused otherwise.',
    }),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    http: Type.Object(
      {
        host: Type.String({
          default: '127.0.0.1',
          description: 'Address the HTTP API listens on. Use 0.0.0.0 to listen on every interface.',
        }),
        port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 8025,
          description: 'Port of the HTTP API, the API docs and /metrics. 0 picks a free port.',
        }),
        bodyLimit: Size('1mb', 'Largest request body accepted; a larger one gets 413.'),
        importLimit: Size(
          '1gb',
          'Largest body of a contacts import (POST /v1/contacts/import), which is streamed, not held in memory; a larger one gets 413.',
        ),
        publicUrl: Type.Optional(
          Type.String({
            format: 'uri',
            description:
              'The URL at which users reach Sluice, when it is behind a proxy; printed at start.',
          }),
        ),
      },
      { additionalProperties: false, default: {}, description: 'The HTTP API.' },
    ),
    node: Type.Object(
      {
        role: Type.Union(
          NODE_ROLES.map((r) => Type.Literal(r)),
          {
            default: 'all',
            description:
              'What this process does: `all` (the API and the delivery worker), `api` (the API and accepts, no delivery worker) or `worker` (the delivery worker; HTTP serves only `/healthz`, `/readyz` and `/metrics`). `api` and `worker` need PostgreSQL: SQLite is single-process.',
          },
        ),
        heapGrowthPercent: Type.Integer({
          minimum: 0,
          maximum: 1000,
          default: 30,
          description:
            'How far the JavaScript heap may grow past what survived the last full garbage collection before the next one, in percent (V8\'s `--heap-growing-percent`, set for the whole process when Sluice starts). A sending node makes garbage fast; with 30 it peaks under 200 MiB RSS for a campaign of 100,000 or 1,000,000 recipients (191 – 199 MiB measured), for 5 – 10× as many full collections and 0 – 20 % more CPU a message (docs/benchmarks.md). `0` leaves it to V8, which with a large heap limit (a machine with 8 GB of memory or more) lets the heap grow to up to 4× what survived: ~300 MiB for the same campaign on a 24 GB machine (docs/operations.md, "Memory").',
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'This process: its part in a cluster of Sluice processes on one PostgreSQL (docs/operations.md), and how it spends memory.',
      },
    ),
    database: Type.Object(
      {
        url: Type.String({
          pattern: '^(sqlite:.+|postgres(ql)?://.+)$',
          default: 'sqlite:./sluice-data/sluice.db',
          description:
            '`sqlite:<path>` for the embedded database (a file, created with its folder), or `postgres://user:pass@host:port/db` for PostgreSQL. The password is never logged.',
        }),
        poolSize: Type.Integer({
          minimum: 1,
          maximum: 200,
          default: 10,
          description: 'PostgreSQL only: most connections per process.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Where Sluice keeps its state.' },
    ),
    dataDir: Type.String({
      default: './sluice-data',
      description:
        'Folder for files Sluice writes besides the database: the first admin API key (`admin-api-key`, mode 0600).',
    }),
    auth: Type.Object(
      {
        adminApiKey: Type.Optional(
          Type.String({
            minLength: 24,
            description:
              'Seeds this admin API key at start (stored hashed) instead of generating one; for scripts and tests. Also `SLUICE_ADMIN_API_KEY`. At least 24 characters.',
          }),
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'API keys. Every /v1 request needs `Authorization: Bearer <key>`.',
      },
    ),
    relays: Type.Array(RelaySchema, {
      default: [],
      description:
        'The SMTP relays Sluice delivers through. When empty, Sluice delivers to its built-in capture relay (`sink`).',
    }),
    pools: Type.Array(PoolSchema, {
      default: [],
      description:
        'Groups of relays with a balancing strategy. When empty, all relays form one pool named `default`.',
    }),
    routing: Type.Object(
      {
        transactional: Type.Optional(
          Type.String({
            description: 'Pool for the `transactional` stream; default: the first pool.',
          }),
        ),
        bulk: Type.Optional(
          Type.String({ description: 'Pool for the `bulk` stream; default: the first pool.' }),
        ),
        rules: Type.Array(
          Type.Object(
            {
              match: Type.Object(
                {
                  senderDomain: Type.Optional(
                    Type.String({ minLength: 1, description: 'Domain of the From address.' }),
                  ),
                  recipientDomain: Type.Optional(
                    Type.String({ minLength: 1, description: 'Domain of the recipient.' }),
                  ),
                  campaign: Type.Optional(
                    Type.String({
                      minLength: 1,
                      description: 'Value of the `X-Sluice-Campaign` header of the message.',
                    }),
                  ),
                },
                {
                  additionalProperties: false,
                  description: 'Every field given must equal (case-insensitively).',
                },
              ),
              pool: Type.String({ minLength: 1, description: 'Pool for matching messages.' }),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            description:
              'Ordered rules; the first that matches a message picks its pool, before the stream routes.',
          },
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Which pool each stream of mail goes through.',
      },
    ),
    sink: Type.Object(
      {
        enabled: Type.Union([Type.Boolean(), Type.Literal('auto')], {
          default: 'auto',
          description:
            'Run the built-in capture relay in process. `auto`: only when no relay is configured, and then Sluice delivers to it.',
        }),
        host: Type.String({
          default: '127.0.0.1',
          description: 'Address the capture relay listens on.',
        }),
        port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 2525,
          description: 'SMTP port of the capture relay. 0 picks a free port.',
        }),
        keep: Type.Integer({
          minimum: 1,
          maximum: 100000,
          default: 1000,
          description: 'How many of the latest captured messages it keeps in memory.',
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'The built-in capture relay: accepts every message and shows it at `GET /v1/sink/messages`.',
      },
    ),
    delivery: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Run the delivery worker in this process.',
        }),
        concurrency: Type.Integer({
          minimum: 1,
          maximum: 100000,
          default: 200,
          description:
            'Most messages this process works on at once: claimed and not yet through their SMTP transaction (waiting for a connection or sending). A message whose outcome is waiting to be written (at most ~20 ms) no longer holds a slot.',
        }),
        claimBatch: Type.Integer({
          minimum: 1,
          maximum: 5000,
          default: 200,
          description: 'Most messages claimed from the outbox in one query.',
        }),
        lease: Duration(
          '5m',
          'How long a claim is held; a node that dies holds its messages this long before another takes them.',
        ),
        pollInterval: Duration(
          '1s',
          'Backstop poll of the outbox when nothing wakes the worker (new messages wake it at once).',
        ),
        heloName: Type.Optional(
          Type.String({ description: 'Name sent in EHLO/HELO; default: the machine host name.' }),
        ),
        messageIdDomain: Type.Optional(
          Type.String({
            description:
              'Domain of the Message-IDs Sluice makes; default: the domain of each message sender.',
          }),
        ),
        connectionTimeout: Duration('10s', 'Time to open a TCP connection to a relay.'),
        greetingTimeout: Duration('30s', 'Time for the relay greeting after connecting.'),
        socketTimeout: Duration('60s', 'Longest silence from a relay during a transaction.'),
        idleTimeout: Duration('30s', 'An idle pooled connection is closed (with QUIT) after this.'),
        retry: Type.Object(
          {
            initialDelay: Duration(
              '1m',
              'Wait before the second attempt after a temporary failure.',
            ),
            multiplier: Type.Number({
              minimum: 1,
              maximum: 10,
              default: 2,
              description: 'Each further wait is the previous one times this.',
            }),
            maxDelay: Duration('1h', 'Longest wait between attempts.'),
            jitter: Type.Number({
              minimum: 0,
              maximum: 1,
              default: 0.2,
              description: 'Random spread of each wait, as a fraction (0.2 = ±20 %).',
            }),
            maxAge: Duration(
              '3d',
              'A message not delivered this long after it was accepted ends as `expired`.',
            ),
          },
          {
            additionalProperties: false,
            default: {},
            description: 'Retries after temporary failures (4xx replies, connection failures).',
          },
        ),
      },
      { additionalProperties: false, default: {}, description: 'The delivery worker.' },
    ),
    health: Type.Object(
      {
        failureThreshold: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 3,
          description:
            "Consecutive connection failures (refused, timed out, 421 at the greeting, broken mid-transaction) that open a relay's circuit: it takes no traffic until a probe succeeds.",
        }),
        cooldown: Duration('10s', 'How long an open circuit waits before one probe connection.'),
        maxCooldown: Duration('5m', 'Each failed probe doubles the cool-down, up to this.'),
        probeInterval: OptionalDuration(
          'Active health check: every this often, open a connection to each relay (EHLO), then QUIT; off when absent.',
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Relay health: circuit breakers and failover.',
      },
    ),
    throttles: Type.Object(
      {
        global: Rate('Most messages this process sends, over all pools.'),
        maxWait: Duration(
          '1s',
          'Longest a throttled message waits in memory; beyond it, it goes back to the queue until a token frees (no attempt counted).',
        ),
        domainGroups: Type.Array(
          Type.Object(
            {
              name: Type.String({
                ...Name,
                description: 'Name of the group, in metrics and logs.',
              }),
              domains: Type.Array(Type.String({ minLength: 1 }), {
                minItems: 1,
                description:
                  'Recipient domains served by one receiver, e.g. gmail.com, googlemail.com.',
              }),
              ...DomainLimits,
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            description:
              'Destination domain groups and their limits. An unmapped domain is a group of its own, with `domainDefaults`.',
          },
        ),
        domainDefaults: Type.Object(DomainLimits, {
          additionalProperties: false,
          default: {},
          description: 'Limits of each domain not in a group (none by default).',
        }),
        adaptive: Type.Object(
          {
            enabled: Type.Boolean({
              default: true,
              description:
                "Halve a domain group's rate and connection limit when it answers 421 or a 4.7.x rate-limit reply.",
            }),
            cooldown: Duration('5m', 'How long a cut holds before the limit is restored.'),
            restoreInterval: Duration('1m', 'Time between restore steps after the cool-down.'),
            restoreStep: Type.Number({
              exclusiveMinimum: 0,
              maximum: 1,
              default: 0.25,
              description: 'Share of the configured limit given back at each step.',
            }),
            minFactor: Type.Number({
              exclusiveMinimum: 0,
              maximum: 1,
              default: 0.125,
              description: 'Repeated cuts never go below this share of the configured limit.',
            }),
          },
          {
            additionalProperties: false,
            default: {},
            description: 'Adaptive backoff of domain groups that have limits.',
          },
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Throttles: per destination domain group, per relay and pool (`rate`), global.',
      },
    ),
    templates: Type.Object(
      {
        strict: Type.Boolean({
          default: true,
          description:
            'Reject a message (422) whose template uses a variable that neither the message variables nor the contact provide.',
        }),
        renderTimeout: Duration(
          '1s',
          'Longest time one template may take to render (wall clock: a runaway template is stopped; memory and size have their own limits). Normal templates take well under a millisecond; the margin keeps a loaded machine (GC pauses, a busy CPU) from failing good mail.',
        ),
      },
      { additionalProperties: false, default: {}, description: 'Liquid templates.' },
    ),
    events: Type.Object(
      {
        maxPending: Type.Integer({
          minimum: 1000,
          maximum: 1_000_000,
          default: 10_000,
          description:
            'Most events waiting for their database commit, over all requests; a request that would exceed it gets 429 ERR_OVERLOADED with Retry-After, and nothing of it is stored. At least 1,000 (the largest batch), so that any valid batch fits while nothing waits.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'The events API (docs/events.md).' },
    ),
    journeys: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description:
            'Run journeys on this node: start runs on events, fire timers, scan for missed events (docs/journeys.md).',
        }),
        pollInterval: Duration(
          '1s',
          'Longest time between two looks for due journey timers (waits, timeouts, postponed sends) when no timer is known to be due sooner.',
        ),
        lease: Duration(
          '1m',
          'How long a node holds a journey run it works on; a run of a node that died is taken over after it.',
        ),
        claimBatch: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 200,
          description: 'Most due journey runs claimed at once.',
        }),
        backstopDelay: Duration(
          '10s',
          'Age at which the backstop scan looks at a stored event, to start the runs the in-process hook missed (the node was down, or busy). Longer than any commit takes, so that no event commits behind the scan.',
        ),
        backstopInterval: Duration('5s', 'Time between two backstop scans.'),
        refreshInterval: Duration(
          '5s',
          'How often a node re-reads the active journeys (changes made through another node).',
        ),
        frequencyCaps: Type.Array(
          Type.Object(
            {
              messages: Type.Integer({
                minimum: 1,
                maximum: 10_000,
                description: 'At most this many journey messages …',
              }),
              per: Duration('1d', '… to one contact in any window of this length.'),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            description:
              'Caps over the messages of all journeys together, per contact; a send that would break one is skipped. Each journey may add its own cap.',
          },
        ),
        quietHours: Type.Optional(
          Type.Object(
            {
              start: Type.String({
                pattern: '^([01]\\d|2[0-3]):[0-5]\\d$',
                description: 'Local time "HH:MM".',
              }),
              end: Type.String({
                pattern: '^([01]\\d|2[0-3]):[0-5]\\d$',
                description: 'Local time "HH:MM".',
              }),
            },
            {
              additionalProperties: false,
              description:
                "Quiet hours for journeys that set none: a send that falls between start and end, in the contact's time zone, waits for the end.",
            },
          ),
        ),
        defaultTimeZone: Type.String({
          default: 'UTC',
          description:
            'IANA time zone of contacts without a valid `timezone` attribute, for quiet hours.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Journeys (docs/journeys.md).' },
    ),
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) =>
            Type.Literal(l),
          ),
          {
            default: 'info',
            description: 'Least severe level written to the log (JSON lines on stdout).',
          },
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Logging. Secrets (API keys, passwords, database passwords) are redacted.',
      },
    ),
    dkim: Type.Array(DkimKeySchema, {
      default: [],
      description:
        'DKIM keys, per sending domain (docs/dkim.md). Several keys of one domain (RSA and Ed25519) each add a signature. Mail from a domain without a key goes unsigned.',
    }),
    bounces: Type.Object(
      {
        returnPathDomain: Type.Optional(
          Type.String({
            ...DomainName,
            description:
              'When set, each message is sent with the envelope sender (Return-Path) `bounces+<message id>@<this domain>` (VERP), so that a bounce arriving later names its message; its MX must deliver to Sluice. When absent, the envelope sender is the From address.',
          }),
        ),
        rulesFile: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'A JSON file of bounce rules tried before the built-in ones (docs/bounces.md); relative to the working folder. Checked at start: a bad rule stops it with an error naming the rule index and field.',
          }),
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Bounce handling.',
      },
    ),
    tracking: Type.Object(
      {
        publicUrl: Type.Optional(
          Type.String({
            pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
            description:
              'Base URL at which recipients reach the tracking endpoints (`/t/…`), e.g. `https://mail.example.com`. Required for open and click tracking and for the List-Unsubscribe links; without it, messages carry none of them.',
          }),
        ),
        secret: Type.Optional(
          Type.String({
            minLength: 32,
            description:
              'Key of the HMAC-SHA256 that signs tracking and unsubscribe tokens; at least 32 characters, required with `publicUrl`. Changing it invalidates every link already sent. Never logged; masked by `config-check`.',
          }),
        ),
        opens: Type.Boolean({
          default: false,
          description: 'Add a 1×1 open-tracking pixel at the end of the HTML of bulk messages.',
        }),
        clicks: Type.Boolean({
          default: false,
          description:
            'Rewrite the http(s) links of the HTML of bulk messages to signed click redirects.',
        }),
        transactional: Type.Boolean({
          default: false,
          description:
            'Also track and add List-Unsubscribe to `transactional` messages (receipts and password resets normally carry neither).',
        }),
        unsubscribeMailto: Type.Optional(
          Type.String({
            pattern: '^[^@\\s<>,]+@[^@\\s<>,]+$',
            description:
              'An address added to List-Unsubscribe as `mailto:` besides the https link (RFC 2369); Sluice does not read that mailbox.',
          }),
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Open and click tracking and one-click unsubscribe for bulk messages (docs/tracking.md).',
      },
    ),
    webhooks: Type.Object(
      {
        allowPrivateNetworks: Type.Boolean({
          default: false,
          description:
            'Let webhook URLs reach private, loopback, link-local, unique-local, CGNAT and other non-public addresses. Off, such URLs are refused when saved (400) and again at every connection (so DNS rebinding cannot slip past). Turn on only for receivers on your own network, or in tests.',
        }),
        timeout: Duration(
          '10s',
          'Longest time one webhook request may take, connect to last byte.',
        ),
        concurrency: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 16,
          description: 'Most webhook requests in flight at once from this node.',
        }),
        perEndpointConcurrency: Type.Integer({
          minimum: 1,
          maximum: 100,
          default: 4,
          description: 'Most webhook requests in flight at once to one endpoint from this node.',
        }),
        pollInterval: Duration(
          '1s',
          'How often the dispatcher looks for due webhook deliveries when nothing woke it.',
        ),
        retry: Type.Object(
          {
            initialDelay: Duration('30s', 'Delay before the second attempt.'),
            multiplier: Type.Number({
              minimum: 1,
              maximum: 10,
              default: 2,
              description: 'Each further delay is the previous one times this.',
            }),
            maxDelay: Duration('1h', 'Longest delay between two attempts.'),
            jitter: Type.Number({
              minimum: 0,
              maximum: 1,
              default: 0.2,
              description: 'Random spread of each delay, 0–1 (0.2: ±20%).',
            }),
            window: Duration(
              '24h',
              'How long after the event Sluice keeps trying; the last try is at the end of the window, then the delivery is given up (`failed`).',
            ),
          },
          {
            additionalProperties: false,
            default: {},
            description: 'Retries of failed webhook requests (any non-2xx, 3xx included).',
          },
        ),
        retention: Duration(
          '7d',
          'How long delivered and given-up webhook deliveries stay in the delivery log.',
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Outgoing webhooks (docs/webhooks.md).',
      },
    ),
    campaigns: Type.Object(
      {
        batchSize: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 1000,
          description:
            'Messages a campaign fan-out writes per transaction; its cursor is saved after each batch, so a restarted fan-out repeats at most one batch (and the repeat creates nothing).',
        }),
        pollInterval: Duration(
          '1s',
          'How often the campaign scheduler looks for work when nothing woke it (a campaign due, a fan-out another node left, a test window over, guard rails).',
        ),
        lease: Duration(
          '30s',
          "How long a node owns a campaign's fan-out without renewing it; another node takes the fan-out over from its saved cursor after that.",
        ),
        guard: Type.Object(
          {
            maxBounceRate: Type.Number({
              minimum: 0,
              maximum: 1,
              default: 0.1,
              description:
                'A campaign pauses itself when more than this share of its finished messages bounced (after `minSample` of them).',
            }),
            maxComplaintRate: Type.Number({
              minimum: 0,
              maximum: 1,
              default: 0.005,
              description:
                'A campaign pauses itself when more than this share of its finished messages went to contacts whose status is `complained`.',
            }),
            minSample: Type.Integer({
              minimum: 1,
              default: 200,
              description:
                'Finished messages (delivered or bounced) a campaign needs before the guard rails judge it.',
            }),
          },
          { additionalProperties: false, default: {}, description: 'Guard rails.' },
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Campaigns: scheduling, fan-out and guard rails (docs/campaigns.md).',
      },
    ),
    dashboard: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: "Serve the operator's dashboard under `/ui` (docs/dashboard.md).",
        }),
        sessionSecret: Type.Optional(
          Type.String({
            minLength: 32,
            description:
              'Key of the HMAC that signs dashboard session cookies; at least 32 characters. Set the same value on every node so a session is valid on all of them. When absent, one is generated and kept in `<dataDir>/dashboard-session-secret`. Changing it signs everyone out. Never logged; masked by `config-check`.',
          }),
        ),
        sessionTtl: Duration('12h', 'How long a dashboard session lasts after sign-in.'),
        sampleInterval: Duration(
          '2s',
          'How often the live figures (charts, alert rates) are sampled. Between 500ms and 1m.',
        ),
      },
      { additionalProperties: false, default: {}, description: "The operator's dashboard." },
    ),
    alerts: Type.Object(
      {
        rules: Type.Array(AlertRuleSchema, {
          default: [],
          description: 'Alert rules, evaluated continuously on every node (docs/alerts.md).',
        }),
        webhooks: Type.Array(AlertWebhookSchema, {
          default: [],
          description: 'Endpoints notified when an alert fires and when it resolves.',
        }),
        evaluateInterval: Duration('10s', 'How often the rules are evaluated.'),
        retries: Type.Integer({
          minimum: 0,
          maximum: 10,
          default: 3,
          description:
            'Further attempts of a notification that failed (network error, timeout, non-2xx), 1 s, 2 s, 4 s … apart.',
        }),
        timeout: Duration('5s', 'Longest wait for a webhook endpoint to answer one attempt.'),
      },
      { additionalProperties: false, default: {}, description: 'Alerting (docs/alerts.md).' },
    ),
    shutdownTimeout: Duration(
      '30s',
      'On SIGTERM/SIGINT, how long to let in-flight sends finish before handing the rest back.',
    ),
    cluster: Type.Object(
      {
        leaderCheckInterval: Duration(
          '2s',
          'PostgreSQL: how often a node checks that it still leads its singleton duties, and tries for the ones it does not. A dead leader is replaced within about this long after its session ends.',
        ),
        throttleChunk: Duration(
          '200ms',
          'PostgreSQL: how much of a rate a node leases from the database at once (tokens = the rate × this, at least 1). Larger: fewer database round trips, more tokens a node may hold unused; a leased token not used within this long (at least 100 ms) after it is due is dropped, which bounds the overshoot at the rate × this.',
        ),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'Several nodes on one PostgreSQL: leadership and cluster-wide throttles (docs/scale-out.md).',
      },
    ),
    retention: Type.Object(
      {
        messages: OptionalDuration(
          'Delete messages in a final state (delivered, bounced, expired, failed, suppressed), with their attempts and idempotency keys, this long after their last change. Absent: keep them.',
        ),
        interval: Duration('10m', 'How often the retention duty runs (on the leader only).'),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Housekeeping, run by one node of the cluster (docs/scale-out.md).',
      },
    ),
  },
  { additionalProperties: false },
);

/** The configuration as written (durations and sizes still as given). */
export type ConfigInput = Static<typeof ConfigSchema>;
export type RelayInput = Static<typeof RelaySchema>;
export type PoolInput = Static<typeof PoolSchema>;
