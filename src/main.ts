/**
 * The composition root: the only place that picks concrete adapters and
 * wires them together. `startSluice` runs one Sluice node (API, delivery
 * worker, optional capture relay; which of them by `node.role`) and returns a handle whose `stop()` shuts
 * it down in the safe order:
 *
 *   1. readiness turns false, the HTTP server stops taking requests and
 *      finishes the ones it has (nothing half-accepted);
 *   2. the worker stops listening for wake-ups and claiming, lets in-flight sends finish within
 *      `shutdownTimeout`, hands unsent claims back and flushes settlements;
 *   3. the capture relay closes (after the worker: it may be delivering to it);
 *   4. the store closes.
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { ensureAdminKey, type AdminKeyOutcome } from './admin-key.js';
import { AlertManager } from './alerts/alert-manager.js';
import { dashboardSessionSecret } from './dashboard-secret.js';
import { applyHeapGrowth, stopPretenuring } from './heap-growth.js';
import { systemClock, type Clock } from './core/clock.js';
import { EventBus } from './core/events.js';
import type { Store } from './core/ports/store.js';
import type { SluiceConfig } from './config/config.js';
import { withSinkPort } from './config/load.js';
import { CampaignScheduler } from './campaigns/scheduler.js';
import { LeaderDuties } from './cluster/leader-duties.js';
import { retentionDuty } from './cluster/retention.js';
import { ClusterRateLimiter } from './delivery/cluster-rate-limiter.js';
import { DeliveryWorker } from './delivery/worker.js';
import { buildApp } from './http/app.js';
import { JourneyRunner } from './realtime/journey-runner.js';
import { createLogger, type Logger } from './observability/logger.js';
import { LiveStats } from './observability/live-stats.js';
import { createMetrics } from './observability/metrics.js';
import { TemplateEngine } from './render/liquid.js';
import { openStore, redactDatabaseUrl } from './store/open-store.js';
import { DEFAULT_WEBHOOKS } from './config/config.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { HttpSender } from './webhooks/http-sender.js';

export interface StartOptions {
  logger?: Logger;
  clock?: Clock;
  /** Identifies this process in leases; default host name + pid. */
  nodeId?: string;
}

export interface RunningSluice {
  /** The configuration in effect (with the capture relay's real port). */
  readonly config: Readonly<SluiceConfig>;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8025 */
  readonly url: string;
  readonly store: Store;
  readonly adminKey: AdminKeyOutcome;
  readonly logger: Logger;
  /** The journey runner, when journeys run on this node. */
  readonly journeys?: JourneyRunner;
  stop(): Promise<void>;
}

/** How often a server on SQLite checkpoints its WAL, off the event loop (store/sqlite/checkpointer.ts). */
const SQLITE_CHECKPOINT_INTERVAL_MS = 200;

export async function startSluice(
  initialConfig: Readonly<SluiceConfig>,
  options: StartOptions = {},
): Promise<RunningSluice> {
  let config = initialConfig;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.log.level);
  const nodeId = options.nodeId ?? `${hostname()}:${process.pid}`;
  // Process-wide; hand-built configurations (tests) leave V8's choice alone.
  if (config.node) {
    applyHeapGrowth(config.node.heapGrowthPercent);
    stopPretenuring();
  }

  const store = await openStore(config.database.url, {
    poolSize: config.database.poolSize,
    ...(config.cluster ? { leaderCheckIntervalMs: config.cluster.leaderCheckIntervalMs } : {}),
    sqliteCheckpoint: {
      intervalMs: SQLITE_CHECKPOINT_INTERVAL_MS,
      onError: (message) => logger.error({ database: 'sqlite' }, message),
    },
  });
  const cleanups: (() => Promise<void>)[] = [() => store.close()];
  const cleanUp = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };
  try {
    const applied = await store.migrate();
    logger.info(
      { database: redactDatabaseUrl(config.database.url), migrations: applied },
      'database ready',
    );
    const adminKey = await ensureAdminKey(
      store,
      { dataDir: config.dataDir, ...config.auth },
      clock,
    );

    // Loaded only when it runs: its MIME parser (mailparser and its character
    // set tables) is ~8 MiB of a node’s resident memory, which a node with
    // relays of its own never uses (docs/operations.md, "Memory").
    const sink = config.sink.enabled
      ? await (
          await import('./sink/capture-relay.js')
        ).startCaptureRelay({
          host: config.sink.host,
          port: config.sink.port,
          keep: config.sink.keep,
          logger,
        })
      : undefined;
    if (sink) {
      cleanups.push(() => sink.close());
      config = withSinkPort(config, sink.port);
    }

    const templates = new TemplateEngine({
      strict: config.templates.strict,
      renderTimeoutMs: config.templates.renderTimeoutMs,
    });
    const events = new EventBus();
    const metrics = createMetrics(events, store, clock);
    cleanups.push(() => Promise.resolve(metrics.close()));

    // `api` nodes accept and leave delivery to `worker` nodes (PostgreSQL only:
    // the loader refuses split roles on SQLite).
    const role = config.node?.role ?? 'all';
    const worker =
      config.delivery.enabled && role !== 'api'
        ? new DeliveryWorker({
            store,
            config,
            clock,
            events,
            logger,
            templates,
            nodeId,
            ...clusterLimiter(store, config, clock, logger),
          })
        : undefined;
    if (worker) {
      if (store.capabilities.singleWriter) {
        // One process per SQLite file: claims still held are from a previous
        // run that was killed, so they can be taken back now.
        const reclaimed = await store.messages.reclaimAbandoned(clock.now());
        if (reclaimed > 0) {
          logger.warn(
            { count: reclaimed },
            'took back messages claimed by a previous run that did not stop cleanly',
          );
        }
      }
      worker.start();
      cleanups.push(() => worker.stop(config.shutdownTimeoutMs));
      if (store.wakeups.crossProcess) {
        // Accepts on other nodes NOTIFY; polling stays the backstop when the
        // listening connection is down. Registered after stop(), so it is
        // undone before the worker stops.
        const unlisten = store.wakeups.listen('outbox', {
          onWake: () => worker.wake('notify'),
          onState: (change) => {
            if (change.state === 'listening')
              logger.info('listening for wake-ups from other nodes');
            else
              logger.warn(
                { err: change.error, retryInMs: change.retryInMs },
                'the wake-up connection is down; polling until it is back',
              );
          },
        });
        cleanups.push(unlisten);
      }
    }

    // Journeys run on every node that has them enabled: the hook reacts to
    // the events this node accepts; timers and the backstop are shared
    // through leases. Stopped before the worker (registered after it), so
    // the messages it queues on the way out are still delivered.
    const journeysConfig = config.journeys;
    const journeys =
      journeysConfig?.enabled === true
        ? new JourneyRunner({
            store,
            clock,
            events,
            journeys: journeysConfig,
            delivery: {
              maxAgeMs: config.delivery.retry.maxAgeMs,
              ...(config.delivery.messageIdDomain
                ? { messageIdDomain: config.delivery.messageIdDomain }
                : {}),
            },
            nodeId,
            logger,
            onSent: () => worker?.wake('local'),
            ...(worker
              ? {
                  handoff: {
                    reserve: () => worker.reserve(),
                    unreserve: () => worker.unreserve(),
                    adopt: (message) => worker.adopt(message),
                    leaseMs: config.delivery.leaseMs,
                  },
                }
              : {}),
          })
        : undefined;
    if (journeys) {
      await journeys.start();
      cleanups.push(() => journeys.stop());
    }

    // Outgoing webhooks go out from the nodes that deliver (docs/webhooks.md).
    const webhooks = config.webhooks ?? DEFAULT_WEBHOOKS;
    const dispatcher =
      config.delivery.enabled && role !== 'api'
        ? new WebhookDispatcher({
            store,
            clock,
            events,
            logger,
            nodeId,
            sender: new HttpSender({
              guard: { allowPrivateNetworks: webhooks.allowPrivateNetworks },
              timeoutMs: webhooks.timeoutMs,
            }),
            config: {
              concurrency: webhooks.concurrency,
              perEndpointConcurrency: webhooks.perEndpointConcurrency,
              timeoutMs: webhooks.timeoutMs,
              pollIntervalMs: webhooks.pollIntervalMs,
              retentionMs: webhooks.retentionMs,
              retry: {
                initialDelayMs: webhooks.retry.initialDelayMs,
                multiplier: webhooks.retry.multiplier,
                maxDelayMs: webhooks.retry.maxDelayMs,
                jitter: webhooks.retry.jitter,
                maxAgeMs: webhooks.retry.windowMs,
              },
            },
          })
        : undefined;
    if (dispatcher) {
      dispatcher.start();
      // A settle batch may have queued events: look soon rather than at the next poll.
      const offSettle = events.on('worker:settle-batch', () => dispatcher.wakeSoon());
      cleanups.push(() => {
        offSettle();
        return dispatcher.stop();
      });
    }
    // Campaign scheduling and fan-out run where delivery may run (all and
    // worker nodes); several nodes share the work through the store's leases.
    const scheduler =
      role !== 'api'
        ? new CampaignScheduler({
            store,
            clock,
            config,
            events,
            logger,
            nodeId,
            onBatch: () => worker?.wake('local'),
          })
        : undefined;
    if (scheduler) {
      scheduler.start();
      cleanups.push(() => scheduler.stop());
    }
    // Singleton duties: one node of the cluster runs each (src/cluster/).
    const duties = new LeaderDuties({ leadership: store.leadership, events, logger, clock });
    cleanups.push(() => duties.stop());
    if (store.rateTokens) {
      const rateTokens = store.rateTokens;
      duties.add({
        name: 'throttle-buckets',
        intervalMs: BUCKET_PRUNE_INTERVAL_MS,
        run: async () => void (await rateTokens.prune(BUCKET_PRUNE_INTERVAL_MS)),
      });
    }
    if (config.retention?.messagesMs !== undefined) {
      duties.add(
        retentionDuty({
          maintenance: store.maintenance,
          clock,
          logger,
          maxAgeMs: config.retention.messagesMs,
          intervalMs: config.retention.intervalMs,
        }),
      );
    }

    // Live figures for the dashboard and the alert rates; alert rules (src/alerts/).
    // Hand-built configurations (tests) have no dashboard section: not served.
    const dashboardConfig = config.dashboard ?? {
      enabled: false,
      sessionTtlMs: 0,
      sampleIntervalMs: 2_000,
    };
    const alertsConfig = config.alerts;
    const longestWindow = Math.max(0, ...(alertsConfig?.rules ?? []).map((r) => r.windowMs));
    const stats = new LiveStats({
      events,
      store,
      clock,
      intervalMs: dashboardConfig.sampleIntervalMs,
      // Six minutes of chart, or the longest alert window.
      capacity: Math.max(
        Math.ceil(360_000 / dashboardConfig.sampleIntervalMs),
        Math.ceil(longestWindow / dashboardConfig.sampleIntervalMs) + 2,
      ),
      onError: (error) =>
        logger.warn({ err: error }, 'reading the queue for the live figures failed'),
    });
    stats.start();
    cleanups.push(() => stats.stop());
    const alerts =
      alertsConfig && alertsConfig.rules.length > 0
        ? new AlertManager({
            config: alertsConfig,
            clock,
            events,
            store,
            stats,
            ...(worker ? { delivery: worker } : {}),
            logger,
            nodeId,
          })
        : undefined;
    if (alerts) {
      alerts.start();
      cleanups.push(() => alerts.stop());
    }

    let stopping = false;
    const app: FastifyInstance = await buildApp({
      store,
      config,
      clock,
      events,
      logger,
      templates,
      metrics,
      ...(sink ? { sink } : {}),
      onAccepted: () => worker?.wake('local'),
      ...(journeys ? { onJourneysChanged: () => journeys.journeysChanged() } : {}),
      onWebhookEnqueued: () => dispatcher?.wake(),
      onCampaignChange: () => scheduler?.wake(),
      routes: role === 'worker' ? 'system' : 'all',
      ...(dashboardConfig.enabled
        ? {
            dashboard: {
              sessionSecret: dashboardSessionSecret({
                ...(dashboardConfig.sessionSecret
                  ? { sessionSecret: dashboardConfig.sessionSecret }
                  : {}),
                dataDir: config.dataDir,
              }),
              sessionTtlMs: dashboardConfig.sessionTtlMs,
              stats,
              ...(worker ? { delivery: worker } : {}),
              ...(alerts ? { alerts } : {}),
            },
          }
        : {}),
      readiness: async () => {
        const checks: Record<string, string> = {};
        checks.shutdown = stopping ? 'stopping' : 'ok';
        try {
          await withTimeout(store.ping(), READINESS_TIMEOUT_MS);
          checks.database = 'ok';
        } catch (error) {
          logger.warn({ err: error }, 'readiness: the database does not answer');
          checks.database = 'unreachable';
        }
        return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
      },
    });
    cleanups.push(() => app.close());
    await app.listen({ host: config.http.host, port: config.http.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.http.port;
    const host =
      config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.info(
      { url, nodeId, role, delivery: Boolean(worker), sink: sink?.port },
      'sluice started',
    );

    let stopped: Promise<void> | undefined;
    return {
      config,
      url,
      store,
      adminKey,
      logger,
      ...(journeys ? { journeys } : {}),
      stop() {
        stopping = true;
        stopped ??= cleanUp().then(() => logger.info('sluice stopped'));
        return stopped;
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

/**
 * Shared throttle buckets untouched this long are full again (no bucket
 * holds more than a minute of refill), so deleting them changes nothing;
 * pruned hourly by the leader of `throttle-buckets`.
 */
const BUCKET_PRUNE_INTERVAL_MS = 3_600_000;

/** On a store shared by several processes, throttles hold cluster-wide (docs/scale-out.md). */
function clusterLimiter(
  store: Store,
  config: Readonly<SluiceConfig>,
  clock: Clock,
  logger: Logger,
): { limiter?: ClusterRateLimiter } {
  if (!store.rateTokens) return {};
  let lastLogged = 0;
  return {
    limiter: new ClusterRateLimiter({
      tokens: store.rateTokens,
      clock,
      chunkMs: config.cluster?.throttleChunkMs ?? 200,
      aheadMs: config.throttles.maxWaitMs,
      onStoreError: (error) => {
        // Once a minute at most: every throttled message would log it otherwise.
        if (clock.now() - lastLogged < 60_000) return;
        lastLogged = clock.now();
        logger.warn(
          { err: error },
          'cannot lease throttle tokens from the database; holding mail back',
        );
      },
    }),
  };
}

/**
 * Longest a readiness probe waits for the database: a server that does not
 * answer (a dead network drops packets rather than refusing) must turn the
 * node unready before the load balancer's probe gives up on its own.
 */
const READINESS_TIMEOUT_MS = 2_000;

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
