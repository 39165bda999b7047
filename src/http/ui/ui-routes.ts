/**
 * The operator's dashboard under /ui (docs/dashboard.md): server-rendered
 * pages, one script and one stylesheet, and two JSON endpoints the pages
 * poll. Registered by buildApp as its own Fastify scope, with its own
 * body parser (HTML forms), error pages and hooks:
 *
 *   onRequest   security headers; the session cookie (except sign-in and
 *               assets): none → 303 to /ui/login (401 for /ui/api/*)
 *   preHandler  POST: same origin always; the CSRF token except at sign-in
 *
 * None of these routes is in the OpenAPI document: they are not the API.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hashApiKey } from '../../core/api-keys.js';
import { SluiceError } from '../../core/errors.js';
import type { AlertManager } from '../../alerts/alert-manager.js';
import type { DeliveryView } from '../../delivery/delivery-snapshot.js';
import type { LiveSample, LiveStats } from '../../observability/live-stats.js';
import type { AppDeps } from '../app.js';
import { sendError, statusOf, toSluiceError } from '../errors.js';
import { APP_SCRIPT } from './assets/app-script.js';
import { APP_STYLE } from './assets/app-style.js';
import { html } from './html.js';
import { SessionCodec, sessionCookie, SESSION_COOKIE } from './session.js';
import { duration, isoTime } from './ui-format.js';
import { errorPage, layout, loginPage } from './ui-layout.js';
import { campaignPages } from './ui-campaigns.js';
import { messagePages } from './ui-messages.js';
import { mailPages } from './ui-mail.js';
import {
  authenticate,
  checkCsrf,
  checkSameOrigin,
  securityHeaders,
  sessionOf,
} from './ui-security.js';

export interface DashboardDeps {
  sessionSecret: string;
  sessionTtlMs: number;
  stats: LiveStats;
  /** The delivery worker of this node, when it runs one. */
  delivery?: DeliveryView;
  alerts?: AlertManager;
}

export type UiDeps = AppDeps & { dashboard: DashboardDeps };

/** Largest form body: a suppression reason, an API key. */
const FORM_LIMIT = 16 * 1024;

export function dashboardRoutes(ui: FastifyInstance, deps: UiDeps): void {
  const codec = new SessionCodec(deps.dashboard.sessionSecret);
  const sink = Boolean(deps.sink);
  const isPublic = (url: string) =>
    url === '/ui/login' || url.startsWith('/ui/login?') || url.startsWith('/ui/assets/');

  ui.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT },
    (_request, body, done) => {
      const fields: Record<string, string> = {};
      for (const [k, v] of new URLSearchParams(body as string)) fields[k] ??= v;
      done(null, fields);
    },
  );

  ui.addHook('onRequest', async (request, reply) => {
    securityHeaders(reply);
    if (isPublic(request.url)) return;
    if (authenticate(request, codec, deps.clock.now())) return;
    if (request.url.startsWith('/ui/api/')) {
      throw new SluiceError('ERR_AUTH_REQUIRED', 'Sign in to the dashboard first.');
    }
    await reply.redirect('/ui/login', 303);
  });

  ui.addHook('preHandler', (request, _reply, done) => {
    if (request.method === 'POST') {
      checkSameOrigin(request, deps.config.http.publicUrl);
      const session = sessionOf(request);
      if (request.url !== '/ui/login' && session) checkCsrf(request, session);
    }
    done();
  });

  ui.setErrorHandler(async (error: unknown, request, reply) => {
    const mapped = toSluiceError(error);
    if (request.url.startsWith('/ui/api/')) {
      if (mapped) return sendError(request, reply, mapped);
    }
    if (!mapped) request.log.error({ err: error }, 'unexpected error on a dashboard page');
    const status = mapped ? statusOf(mapped.code) : 500;
    const message = mapped
      ? mapped.message
      : `Internal error; the server log holds the details under request id ${request.id}.`;
    const session = sessionOf(request);
    return reply
      .status(status)
      .type('text/html; charset=utf-8')
      .send(errorPage({ status, message, sink, ...(session ? { session } : {}) }));
  });

  const page = (reply: FastifyReply, body: string) =>
    reply.type('text/html; charset=utf-8').send(body);
  const hide = { schema: { hide: true } };

  ui.get('/ui/assets/app.js', hide, (_request, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('Cache-Control', 'no-cache')
      .send(APP_SCRIPT),
  );
  ui.get('/ui/assets/app.css', hide, (_request, reply) =>
    reply.type('text/css; charset=utf-8').header('Cache-Control', 'no-cache').send(APP_STYLE),
  );

  ui.get('/ui/login', hide, (request, reply) => {
    if (authenticate(request, codec, deps.clock.now())) return reply.redirect('/ui', 303);
    return page(reply, loginPage({ sink }));
  });

  ui.post<{ Body: Record<string, string> | undefined }>(
    '/ui/login',
    hide,
    async (request, reply) => {
      const key = typeof request.body?.key === 'string' ? request.body.key.trim() : '';
      const record = key ? await deps.store.apiKeys.findByHash(hashApiKey(key)) : undefined;
      if (!record || record.revokedAt !== undefined) {
        request.log.info('dashboard sign-in refused: unknown or revoked key');
        return page(
          reply.status(401),
          loginPage({ sink, error: 'This API key is unknown or revoked.' }),
        );
      }
      const ttl = deps.dashboard.sessionTtlMs;
      const { token } = codec.issue(record.id, deps.clock.now(), ttl);
      request.log.info({ apiKeyId: record.id }, 'dashboard sign-in');
      void reply.header(
        'Set-Cookie',
        sessionCookie(token, {
          maxAgeSeconds: Math.floor(ttl / 1000),
          secure: isHttps(request, deps),
        }),
      );
      return reply.redirect('/ui', 303);
    },
  );

  ui.post('/ui/logout', hide, (request, reply) => {
    void reply.header(
      'Set-Cookie',
      `${SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0${isHttps(request, deps) ? '; Secure' : ''}`,
    );
    return reply.redirect('/ui/login', 303);
  });

  ui.get('/ui', hide, (request, reply) =>
    page(reply, overviewPage(deps, sessionOf(request), sink)),
  );

  ui.get<{ Querystring: { since?: string } }>('/ui/api/overview', hide, (request) => {
    const { stats, alerts } = deps.dashboard;
    stats.viewed();
    const since = Number(request.query.since ?? 0);
    return {
      points: stats.since(Number.isFinite(since) ? since : 0).map(toPoint),
      totals: stats.totals(),
      firing: alerts?.firing().length ?? 0,
    };
  });

  ui.get('/ui/relays', hide, (request, reply) =>
    page(reply, relaysPage(deps, sessionOf(request), sink)),
  );
  ui.get('/ui/api/relays', hide, () => relaysView(deps.dashboard, deps.clock.now()));

  ui.get('/ui/alerts', hide, (request, reply) =>
    page(reply, alertsPage(deps, sessionOf(request), sink)),
  );

  messagePages(ui, deps, page);
  mailPages(ui, deps, page);
  campaignPages(ui, deps, page);

  // Any other /ui path: a page, not the API's JSON 404 (static routes win over the wildcard).
  ui.get('/ui/*', hide, (request, reply) => {
    const session = sessionOf(request);
    return reply
      .status(404)
      .type('text/html; charset=utf-8')
      .send(
        errorPage({
          status: 404,
          message: 'No such dashboard page.',
          sink,
          ...(session ? { session } : {}),
        }),
      );
  });
}

function isHttps(request: FastifyRequest, deps: AppDeps): boolean {
  return request.protocol === 'https' || Boolean(deps.config.http.publicUrl?.startsWith('https:'));
}

/** One chart point: rates per second and percentages from a sample's counts. */
export function toPoint(s: LiveSample) {
  const perSecond = (n: number) => Math.round((n / s.intervalMs) * 1000 * 100) / 100;
  const c = s.counts;
  const attempts = c.delivered + c.deferred + c.bounced;
  const finals = c.delivered + c.bounced + c.failed + c.expired;
  const pct = (n: number, d: number) => (d === 0 ? null : Math.round((n / d) * 10_000) / 100);
  const q = s.queue;
  return {
    at: s.at,
    accepted: perSecond(c.accepted),
    delivered: perSecond(c.delivered),
    deferred: perSecond(c.deferred),
    bounced: perSecond(c.bounced),
    p50: s.latencyP50Ms ?? null,
    p99: s.latencyP99Ms ?? null,
    errorRate: pct(c.deferred + c.bounced, attempts),
    deliveryRate: pct(c.delivered, finals),
    queueDepth: q ? q.queued + q.deferred + q.sending : null,
    oldestAgeS: Math.round((s.oldestPendingAgeMs ?? 0) / 100) / 10,
    cpu: s.cpuPercent,
    rssMb: Math.round(s.rssBytes / 1024 / 102.4) / 10,
    heapMb: Math.round(s.heapUsedBytes / 1024 / 102.4) / 10,
  };
}

/** Relays, pools and domain groups with this node's recent rates (the last minute). */
export function relaysView(dashboard: DashboardDeps, now: number) {
  const snapshot = dashboard.delivery?.snapshot();
  const recent = dashboard.stats.since(now - 60_000);
  const latest = recent[recent.length - 1];
  return {
    delivery: Boolean(snapshot),
    relays: (snapshot?.relays ?? []).map((r) => {
      let errors = 0;
      for (const s of recent) {
        const c = s.relays[r.name];
        if (c) errors += c.deferred + c.bounced + c.connectionErrors;
      }
      const last = latest?.relays[r.name];
      return {
        ...r,
        deliveredPerSecond: last && latest ? (last.delivered / latest.intervalMs) * 1000 : 0,
        errors,
      };
    }),
    pools: snapshot?.pools ?? [],
    domainGroups: snapshot?.domainGroups ?? [],
  };
}

function overviewPage(deps: UiDeps, session: UiSession, sink: boolean): string {
  const tile = (label: string, stat: string, unit = '') =>
    html`<div class="tile">
      <div class="label">${label}</div>
      <div class="value"><span data-stat="${stat}">–</span> <span class="muted">${unit}</span></div>
    </div>`;
  const chart = (name: string, title: string) =>
    html`<div class="chart">
      <h3>${title}</h3>
      <canvas data-chart="${name}"></canvas>
      <div class="legend"></div>
    </div>`;
  return layout(
    { page: 'overview', title: 'Overview', sink, ...(session ? { session } : {}) },
    html`<h1>
        Overview <span class="muted">· updated <span data-stat="updated">–</span></span>
      </h1>
      <div class="tiles">
        ${tile('Accepted', 'accepted', '/s')} ${tile('Delivered', 'delivered', '/s')}
        ${tile('Deferred', 'deferred', '/s')} ${tile('Bounced', 'bounced', '/s')}
        ${tile('Latency p50', 'p50', 'ms')} ${tile('Latency p99', 'p99', 'ms')}
        ${tile('Waiting', 'queueDepth')} ${tile('Oldest waiting', 'oldestAgeS', 's')}
        ${tile('Delivered (this run)', 'totalDelivered')}
        ${tile('Accepted (this run)', 'totalAccepted')} ${tile('Alerts firing', 'firing')}
      </div>
      <div class="charts">
        ${chart('throughput', 'Messages per second')} ${chart('latency', 'Accept to delivery')}
        ${chart('rates', 'Delivery and error rate')} ${chart('queue', 'Queue depth')}
        ${chart('age', 'Oldest waiting message')} ${chart('cpu', 'CPU of this node')}
        ${chart('memory', 'Memory of this node')}
      </div>
      <p class="muted">
        Figures of the node serving this page, sampled every
        ${duration(deps.dashboard.stats.intervalMs)}; Prometheus (<code>/metrics</code>) has every
        node.
      </p>`,
  );
}

type UiSession = ReturnType<typeof sessionOf>;

function relaysPage(deps: UiDeps, session: UiSession, sink: boolean): string {
  const view = relaysView(deps.dashboard, deps.clock.now());
  return layout(
    { page: 'relays', title: 'Relays', sink, ...(session ? { session } : {}) },
    html`<h1>
        Relays <span class="muted">· updated <span data-stat="updated">–</span></span>
      </h1>
      ${view.delivery ? '' : html`<p class="notice">This node runs no delivery worker (node.role api, or delivery disabled): it has no relays to show.</p>`}
      <table id="relays">
        <thead>
          <tr>
            <th>relay</th>
            <th>address</th>
            <th>circuit</th>
            <th>takes traffic</th>
            <th>in flight</th>
            <th>connections</th>
            <th>delivered/s</th>
            <th>errors (1 min)</th>
            <th>retry at</th>
          </tr>
        </thead>
        <tbody>
          ${view.relays.map(
            (r) =>
              html`<tr data-relay="${r.name}" data-state="${r.state}">
                <td>${r.name}</td>
                <td>${r.host}:${r.port}</td>
                <td class="state state-${r.state}">${r.state}</td>
                <td>${r.accepting ? 'yes' : 'no'}</td>
                <td>${r.inFlight}</td>
                <td>${r.connections} / ${r.maxConnections}</td>
                <td>${r.deliveredPerSecond.toFixed(1)}</td>
                <td>${r.errors}</td>
                <td>${r.retryAt ? isoTime(r.retryAt) : ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Pools</h2>
      <table id="pools">
        <thead>
          <tr>
            <th>pool</th>
            <th>strategy</th>
            <th>relays</th>
            <th>available</th>
          </tr>
        </thead>
        <tbody>
          ${view.pools.map(
            (p) =>
              html`<tr>
                <td>${p.name}</td>
                <td>${p.strategy}</td>
                <td>${p.relays.join(', ')}</td>
                <td>${p.available} / ${p.relays.length}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Destination domain groups</h2>
      <table id="groups">
        <thead>
          <tr>
            <th>group</th>
            <th>throttle</th>
            <th>rate now</th>
            <th>connections</th>
            <th>waiting</th>
          </tr>
        </thead>
        <tbody>
          ${view.domainGroups.map(
            (g) =>
              html`<tr>
                <td>${g.name}</td>
                <td>${g.factor < 1 ? `slowed (x${g.factor.toFixed(2)})` : 'normal'}</td>
                <td>
                  ${g.perSecond !== undefined ? `${(g.perSecond * g.factor).toFixed(2)} /s` : '–'}
                </td>
                <td>
                  ${g.maxConnections !== undefined ? `${g.active} / ${g.maxConnections}` : g.active}
                </td>
                <td>${g.waiting}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${view.domainGroups.length === 0 ? html`<p class="muted">No domain group limits are configured (throttles.domainGroups, throttles.domainDefaults).</p>` : ''}`,
  );
}

function alertsPage(deps: UiDeps, session: UiSession, sink: boolean): string {
  const alerts = deps.dashboard.alerts;
  const firing = alerts?.firing() ?? [];
  const history = alerts?.history() ?? [];
  const rules = alerts?.rules ?? [];
  return layout(
    { page: 'alerts', title: 'Alerts', sink, ...(session ? { session } : {}) },
    html`<h1>Alerts</h1>
      ${rules.length === 0 ? html`<p class="notice">No alert rules are configured (alerts.rules; docs/alerts.md).</p>` : ''}
      <h2>Firing</h2>
      <table id="firing">
        <thead>
          <tr>
            <th>rule</th>
            <th>subject</th>
            <th>since</th>
            <th>summary</th>
          </tr>
        </thead>
        <tbody>
          ${firing.map(
            (a) =>
              html`<tr class="alert-firing">
                <td>${a.rule}</td>
                <td>${a.subject ?? ''}</td>
                <td>${isoTime(a.since)}</td>
                <td class="wrap">${a.summary}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${firing.length === 0 ? html`<p class="muted">Nothing is firing.</p>` : ''}
      <h2>Recent notifications</h2>
      <table id="history">
        <thead>
          <tr>
            <th>at</th>
            <th>status</th>
            <th>rule</th>
            <th>subject</th>
            <th>summary</th>
          </tr>
        </thead>
        <tbody>
          ${history.map(
            (t) =>
              html`<tr>
                <td>${isoTime(t.at)}</td>
                <td class="alert-${t.status}">${t.status}</td>
                <td>${t.alert.rule}</td>
                <td>${t.alert.subject ?? ''}</td>
                <td class="wrap">${t.alert.summary}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      <h2>Rules</h2>
      <table>
        <thead>
          <tr>
            <th>name</th>
            <th>kind</th>
            <th>for</th>
            <th>condition</th>
          </tr>
        </thead>
        <tbody>
          ${rules.map(
            (r) =>
              html`<tr>
                <td>${r.name}</td>
                <td>${r.kind}</td>
                <td>${duration(r.forMs)}</td>
                <td>${ruleCondition(r)}</td>
              </tr>`,
          )}
        </tbody>
      </table>`,
  );
}

function ruleCondition(r: AlertManager['rules'][number]): string {
  switch (r.kind) {
    case 'relay-down':
      return r.relay ? `relay ${r.relay} not closed` : 'any relay not closed';
    case 'pool-down':
      return r.pool ? `pool ${r.pool} has no relay` : 'any pool has no relay';
    case 'queue-age':
      return `oldest waiting > ${duration(r.maxAgeMs ?? 0)}`;
    default:
      return `> ${r.threshold ?? 0} % over ${duration(r.windowMs)} (at least ${r.minEvents} events)`;
  }
}
