/** Dashboard pages: message search and one message's attempts; the suppression list. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseEmail } from '../../core/address.js';
import { SluiceError } from '../../core/errors.js';
import { html } from './html.js';
import { isoTime, queryText } from './ui-format.js';
import { layout } from './ui-layout.js';
import type { UiDeps } from './ui-routes.js';
import { sessionOf } from './ui-security.js';

const PAGE_SIZE = 50;
const CAMPAIGN_CHOICES = 100;
const MANUAL_REASON = 'added in the dashboard';
const hide = { schema: { hide: true } };

type Render = (reply: FastifyReply, body: string) => FastifyReply;
type Query = Record<string, unknown>;

export function messagePages(ui: FastifyInstance, deps: UiDeps, page: Render): void {
  const sink = Boolean(deps.sink);

  ui.get<{ Querystring: Query }>('/ui/messages', hide, async (request, reply) => {
    const q = queryText(request.query.q);
    const after = queryText(request.query.after, 200);
    const session = sessionOf(request);
    let notice: string | undefined;
    let heading = 'Waiting to be sent (oldest first)';
    let result;
    const campaignId = queryText(request.query.campaign, 200);
    const campaign = campaignId ? await deps.store.campaigns.get(campaignId) : undefined;
    // The choices of the campaign filter: the first page of campaigns (ordered by id; the link
    // on a campaign's page reaches any campaign).
    const campaigns = await deps.store.campaigns.list({ limit: CAMPAIGN_CHOICES });
    // The one searched stays a choice (and selected) even when beyond the first page.
    const choices =
      campaign && !campaigns.items.some((c) => c.id === campaign.id)
        ? [campaign, ...campaigns.items]
        : campaigns.items;
    if (campaignId && !campaign) {
      notice = `No campaign has the id ${campaignId}.`;
    } else if (campaign) {
      const to = q?.includes('@') ? q : undefined;
      heading = to
        ? `Campaign ${campaign.name}: the message to ${to}`
        : `Messages of campaign ${campaign.name} (by recipient address)`;
      if (q && !to) notice = 'Within a campaign, search by a recipient address (name@domain).';
      result = await deps.store.dashboard.searchMessages({
        campaignId: campaign.id,
        limit: PAGE_SIZE,
        ...(to ? { recipient: to } : {}),
        ...(after ? { after } : {}),
      });
    } else if (q?.startsWith('msg_')) {
      if (await deps.store.messages.get(q)) {
        return reply.redirect(`/ui/messages/${encodeURIComponent(q)}`, 303);
      }
      notice = `No message has the id ${q}.`;
    } else if (q && q.includes('@')) {
      heading = `Messages to ${q} (newest first)`;
      result = await deps.store.dashboard.searchMessages({
        recipient: q,
        limit: PAGE_SIZE,
        ...(after ? { after } : {}),
      });
    } else if (q) {
      notice = 'Search by a recipient address (name@domain) or a message id (msg_…).';
    } else {
      result = await deps.store.dashboard.searchMessages({
        limit: PAGE_SIZE,
        ...(after ? { after } : {}),
      });
    }
    const next = result?.next
      ? `/ui/messages?${new URLSearchParams({ ...(q ? { q } : {}), ...(campaign ? { campaign: campaign.id } : {}), after: result.next }).toString()}`
      : undefined;
    return page(
      reply,
      layout(
        { page: 'messages', title: 'Messages', sink, ...(session ? { session } : {}) },
        html`<h1>Messages</h1>
          <form class="bar" method="get" action="/ui/messages" role="search">
            <input
              type="search"
              name="q"
              value="${q ?? ''}"
              placeholder="recipient@example.com or msg_…"
              aria-label="recipient or message id"
            />
            <select name="campaign" aria-label="campaign">
              <option value="">any campaign or none</option>
              ${choices.map(
                (c) =>
                  html`<option value="${c.id}" ${c.id === campaign?.id ? html`selected` : ''}>
                    ${c.name}
                  </option>`,
              )}
            </select>
            <button type="submit">Search</button>
            ${campaign ? html`<a class="button secondary" href="/ui/messages">All messages</a>` : ''}
          </form>
          ${notice ? html`<p class="notice">${notice}</p>` : ''}
          ${
            result
              ? html`<h2>${heading}</h2>
                  <table id="messages">
                    <thead>
                      <tr>
                        <th>accepted</th>
                        <th>id</th>
                        <th>to</th>
                        <th>subject / template</th>
                        <th>status</th>
                        <th>attempts</th>
                        <th>last error</th>
                      </tr>
                    </thead>
                    <tbody>
                      ${result.items.map(
                        (m) =>
                          html`<tr>
                            <td>${isoTime(m.createdAt)}</td>
                            <td><a href="/ui/messages/${encodeURIComponent(m.id)}">${m.id}</a></td>
                            <td>${m.to}</td>
                            <td class="wrap">
                              ${m.subject ?? (m.templateId ? `template ${m.templateId}` : '')}
                            </td>
                            <td class="status-${m.status}">${m.status}</td>
                            <td>${m.attempts}</td>
                            <td class="wrap">${m.lastError ?? ''}</td>
                          </tr>`,
                      )}
                    </tbody>
                  </table>
                  ${result.items.length === 0 ? html`<p class="muted">None.</p>` : ''}
                  ${next ? html`<p><a href="${next}">Next page</a></p>` : ''}`
              : ''
          }`,
      ),
    );
  });

  ui.get<{ Params: { id: string } }>('/ui/messages/:id', hide, async (request, reply) => {
    const message = await deps.store.messages.get(request.params.id);
    if (!message)
      throw new SluiceError('ERR_NOT_FOUND', `No message has the id ${request.params.id}.`);
    const attempts = await deps.store.messages.attempts(message.id);
    const session = sessionOf(request);
    const field = (label: string, value: string | number | undefined) =>
      value === undefined || value === ''
        ? ''
        : html`<dt>${label}</dt>
            <dd>${value}</dd>`;
    return page(
      reply,
      layout(
        { page: 'messages', title: message.id, sink, ...(session ? { session } : {}) },
        html`<h1>Message <code>${message.id}</code></h1>
          <dl class="fields" id="message">
            ${field('status', message.status)} ${field('stream', message.stream)}
            ${field('from', message.from.email)} ${field('to', message.to.email)}
            ${field('subject (source)', message.subject)} ${field('template', message.templateId)}
            ${field('Message-ID', message.messageId)}
            ${field('accepted', isoTime(message.createdAt))}
            ${field('updated', isoTime(message.updatedAt))} ${field('attempts', message.attempts)}
            ${field('next try / lease', message.status === 'queued' || message.status === 'deferred' || message.status === 'sending' ? isoTime(message.dueAt) : undefined)}
            ${field('expires', isoTime(message.expiresAt))}
            ${field('bounce category', message.bounceCategory)}
            ${field('last error', message.lastError)}
          </dl>
          <h2>Attempts</h2>
          <table id="attempts">
            <thead>
              <tr>
                <th>#</th>
                <th>relay</th>
                <th>started</th>
                <th>finished</th>
                <th>outcome</th>
                <th>code</th>
                <th>reply</th>
                <th>classification</th>
              </tr>
            </thead>
            <tbody>
              ${attempts.map(
                (a) =>
                  html`<tr>
                    <td>${a.attempt}</td>
                    <td>${a.relay ?? ''}</td>
                    <td>${isoTime(a.startedAt)}</td>
                    <td>${isoTime(a.finishedAt)}</td>
                    <td class="status-${a.outcome}">${a.outcome}</td>
                    <td>${a.code ?? ''} ${a.enhancedCode ?? ''}</td>
                    <td class="wrap">${a.response}</td>
                    <td>${a.category ?? ''}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${attempts.length === 0 ? html`<p class="muted">No attempt yet.</p>` : ''}`,
      ),
    );
  });

  ui.get<{ Querystring: Query }>('/ui/suppressions', hide, async (request, reply) => {
    const q = queryText(request.query.q);
    const after = queryText(request.query.after);
    const done = queryText(request.query.done);
    const list = await deps.store.suppressions.list({
      limit: PAGE_SIZE,
      ...(after ? { after } : {}),
      ...(q ? { prefix: q } : {}),
    });
    const session = sessionOf(request);
    const csrf = session?.csrf ?? '';
    const next = list.next
      ? `/ui/suppressions?${new URLSearchParams({ ...(q ? { q } : {}), after: list.next }).toString()}`
      : undefined;
    return page(
      reply,
      layout(
        { page: 'suppressions', title: 'Suppressions', sink, ...(session ? { session } : {}) },
        html`<h1>Suppressions</h1>
          ${done ? html`<p class="notice" role="status">${done}</p>` : ''}
          <form class="bar" method="get" action="/ui/suppressions" role="search">
            <input
              type="search"
              name="q"
              value="${q ?? ''}"
              placeholder="address or its beginning"
              aria-label="address prefix"
            />
            <button type="submit">Search</button>
          </form>
          <form class="bar" method="post" action="/ui/suppressions" id="add-suppression">
            <input type="hidden" name="_csrf" value="${csrf}" />
            <input
              type="email"
              name="email"
              placeholder="address to suppress"
              required
              aria-label="address to suppress"
            />
            <input
              type="text"
              name="reason"
              placeholder="reason"
              maxlength="500"
              aria-label="reason"
            />
            <button type="submit">Suppress</button>
          </form>
          <table id="suppressions">
            <thead>
              <tr>
                <th>address</th>
                <th>reason</th>
                <th>category</th>
                <th>from message</th>
                <th>added</th>
                <th>renewed</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              ${list.items.map(
                (s) =>
                  html`<tr data-email="${s.email}">
                    <td>${s.email}</td>
                    <td class="wrap">${s.reason}</td>
                    <td>${s.category ?? ''}</td>
                    <td>
                      ${s.sourceMessageId ? html`<a href="/ui/messages/${encodeURIComponent(s.sourceMessageId)}">${s.sourceMessageId}</a>` : ''}
                    </td>
                    <td>${isoTime(s.createdAt)}</td>
                    <td>${isoTime(s.updatedAt)}</td>
                    <td>
                      <form class="inline" method="post" action="/ui/suppressions/remove">
                        <input type="hidden" name="_csrf" value="${csrf}" /><input
                          type="hidden"
                          name="email"
                          value="${s.email}"
                        /><button class="danger" type="submit">Remove</button>
                      </form>
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${list.items.length === 0 ? html`<p class="muted">No suppressed address${q ? ' starts with this' : ''}.</p>` : ''}
          ${next ? html`<p><a href="${next}">Next page</a></p>` : ''}`,
      ),
    );
  });

  ui.post<{ Body: Record<string, string> | undefined }>(
    '/ui/suppressions',
    hide,
    async (request, reply) => {
      const email = parseEmail(request.body?.email ?? '', 'email');
      const reason = (request.body?.reason ?? '').trim().slice(0, 500) || MANUAL_REASON;
      const { created } = await deps.store.suppressions.add({
        email,
        reason,
        at: deps.clock.now(),
      });
      const done = `${email} ${created ? 'suppressed' : 'was suppressed already; reason updated'}.`;
      return reply.redirect(
        `/ui/suppressions?${new URLSearchParams({ q: email, done }).toString()}`,
        303,
      );
    },
  );

  ui.post<{ Body: Record<string, string> | undefined }>(
    '/ui/suppressions/remove',
    hide,
    async (request, reply) => {
      const email = (request.body?.email ?? '').trim();
      if (!email) throw new SluiceError('ERR_VALIDATION', 'email: required', { field: 'email' });
      const removed = await deps.store.suppressions.remove(email);
      const done = removed ? `${email} removed from the list.` : `${email} was not on the list.`;
      return reply.redirect(`/ui/suppressions?${new URLSearchParams({ done }).toString()}`, 303);
    },
  );
}
