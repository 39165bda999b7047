/**
 * Dashboard pages of the built-in capture relay: what it received, and one
 * message with its text, headers and HTML. The HTML is hostile until proven
 * otherwise (a template or a bounce can hold anything): it is served by its
 * own route with MAIL_CSP (no script, no network, `sandbox`) and shown in an
 * <iframe sandbox> without allow-scripts or allow-same-origin, so it can
 * neither run nor reach the operator's session.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import { html } from './html.js';
import { isoTime } from './ui-format.js';
import { layout } from './ui-layout.js';
import type { UiDeps } from './ui-routes.js';
import { MAIL_CSP, securityHeaders, sessionOf } from './ui-security.js';

const hide = { schema: { hide: true } };
const SHOWN = 200;

type Render = (reply: FastifyReply, body: string) => FastifyReply;

export function mailPages(ui: FastifyInstance, deps: UiDeps, page: Render): void {
  const sink = Boolean(deps.sink);
  const mailbox = () => {
    if (!deps.sink)
      throw new SluiceError(
        'ERR_SINK_DISABLED',
        'The capture relay is not running (sink.enabled, or relays are configured).',
      );
    return deps.sink;
  };
  const captured = (id: string) => {
    const message = mailbox().get(id);
    if (!message) throw new SluiceError('ERR_NOT_FOUND', `No captured message has the id ${id}.`);
    return message;
  };

  ui.get('/ui/captured', hide, (request, reply) => {
    const messages = mailbox().messages();
    const session = sessionOf(request);
    return page(
      reply,
      layout(
        { page: 'captured', title: 'Captured mail', sink, ...(session ? { session } : {}) },
        html`<h1>Captured mail</h1>
          <p class="muted">
            What the built-in capture relay received (the latest ${deps.config.sink.keep}, newest
            first; ${messages.length} held). Nothing here left this machine.
          </p>
          <table id="captured">
            <thead>
              <tr>
                <th>received</th>
                <th>from</th>
                <th>to</th>
                <th>subject</th>
                <th>size</th>
              </tr>
            </thead>
            <tbody>
              ${messages.slice(0, SHOWN).map(
                (m) =>
                  html`<tr>
                    <td>${isoTime(m.receivedAt.getTime())}</td>
                    <td>${m.from ?? m.envelope.from}</td>
                    <td>${m.to ?? m.envelope.to.join(', ')}</td>
                    <td class="wrap">
                      <a href="/ui/captured/${encodeURIComponent(m.id)}"
                        >${m.subject || '(no subject)'}</a
                      >
                    </td>
                    <td>${m.size}</td>
                  </tr>`,
              )}
            </tbody>
          </table>
          ${messages.length === 0 ? html`<p class="muted">Nothing captured yet.</p>` : ''}`,
      ),
    );
  });

  ui.get<{ Params: { id: string } }>('/ui/captured/:id', hide, (request, reply) => {
    const m = captured(request.params.id);
    const session = sessionOf(request);
    return page(
      reply,
      layout(
        {
          page: 'captured',
          title: m.subject ?? 'Captured message',
          sink,
          ...(session ? { session } : {}),
        },
        html`<h1>${m.subject || '(no subject)'}</h1>
          <dl class="fields">
            <dt>received</dt>
            <dd>${isoTime(m.receivedAt.getTime())}</dd>
            <dt>envelope</dt>
            <dd>${m.envelope.from} → ${m.envelope.to.join(', ')}</dd>
            <dt>From</dt>
            <dd>${m.from ?? ''}</dd>
            <dt>To</dt>
            <dd>${m.to ?? ''}</dd>
            <dt>Message-ID</dt>
            <dd>${m.messageId ?? ''}</dd>
            <dt>size</dt>
            <dd>${m.size} octets</dd>
          </dl>
          ${
            m.html !== undefined
              ? html`<h2>HTML</h2>
                  <iframe
                    class="mail"
                    sandbox=""
                    referrerpolicy="no-referrer"
                    title="the message's HTML, without scripts"
                    src="/ui/captured/${encodeURIComponent(m.id)}/html"
                  ></iframe>`
              : ''
          }
          ${
            m.text !== undefined
              ? html`<h2>Text</h2>
                  <pre id="text">${m.text}</pre>`
              : ''
          }
          <details>
            <summary>The message as received</summary>
            <pre>${m.raw}</pre>
          </details>`,
      ),
    );
  });

  ui.get<{ Params: { id: string } }>('/ui/captured/:id/html', hide, (request, reply) => {
    const m = captured(request.params.id);
    securityHeaders(reply, MAIL_CSP);
    return reply.type('text/html; charset=utf-8').send(m.html ?? '');
  });
}
