/** The frame of every dashboard page: head, navigation, sign-out form. */
import { html, type SafeHtml } from './html.js';
import type { Session } from './session.js';

export const NAV = [
  ['overview', '/ui', 'Overview'],
  ['relays', '/ui/relays', 'Relays'],
  ['campaigns', '/ui/campaigns', 'Campaigns'],
  ['messages', '/ui/messages', 'Messages'],
  ['suppressions', '/ui/suppressions', 'Suppressions'],
  ['captured', '/ui/captured', 'Captured mail'],
  ['alerts', '/ui/alerts', 'Alerts'],
] as const;
export type PageName = (typeof NAV)[number][0] | 'login' | 'error';

export interface LayoutOptions {
  page: PageName;
  title: string;
  session?: Session;
  /** Hide the captured-mail link when the capture relay is not running. */
  sink: boolean;
}

export function layout(options: LayoutOptions, body: SafeHtml): string {
  const { page, title, session } = options;
  const nav = NAV.filter(([name]) => name !== 'captured' || options.sink).map(
    ([name, href, label]) =>
      html`<a href="${href}" ${name === page ? html`aria-current="page"` : ''}>${label}</a>`,
  );
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Sluice</title>
        <link rel="stylesheet" href="/ui/assets/app.css" />
        ${session ? html`<meta name="csrf-token" content="${session.csrf}" />` : ''}
        <script src="/ui/assets/app.js" defer></script>
      </head>
      <body data-page="${page}">
        ${
          session
            ? html`<header>
                <span class="brand">Sluice</span>
                <nav>${nav}</nav>
                <form method="post" action="/ui/logout">
                  <input type="hidden" name="_csrf" value="${session.csrf}" />
                  <button type="submit">Sign out</button>
                </form>
              </header>`
            : ''
        }
        <main>${body}</main>
      </body>
    </html> `.toString();
}

export function loginPage(options: { error?: string; sink: boolean }): string {
  return layout(
    { page: 'login', title: 'Sign in', sink: options.sink },
    html`<form class="login" method="post" action="/ui/login">
      <h1>Sluice</h1>
      ${options.error ? html`<p class="notice error" role="alert">${options.error}</p>` : ''}
      <label for="key">API key</label>
      <input
        id="key"
        name="key"
        type="password"
        autocomplete="current-password"
        required
        autofocus
      />
      <button type="submit">Sign in</button>
      <p class="muted">
        The admin key is printed on the first start and kept in
        <code>sluice-data/admin-api-key</code>.
      </p>
    </form>`,
  );
}

export function errorPage(options: {
  status: number;
  message: string;
  session?: Session;
  sink: boolean;
}): string {
  return layout(
    {
      page: 'error',
      title: `Error ${options.status}`,
      sink: options.sink,
      ...(options.session ? { session: options.session } : {}),
    },
    html`<h1>Error ${options.status}</h1>
      <p class="notice error">${options.message}</p>`,
  );
}
