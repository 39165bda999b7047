/**
 * Sluice's outgoing HTTP client (webhooks; alert notifications reuse it):
 * one POST, its outcome as a value, never an exception.
 *
 * - The address guard runs on every new connection (`lookup`), and before
 *   it for a literal IP host (Node does not call `lookup` for those).
 * - Redirects are never followed: a 3xx is a failure like a 5xx (a receiver
 *   that moved must be reconfigured; following would also let a public
 *   host bounce Sluice to a private one).
 * - One timeout covers the whole exchange, connect to last byte.
 * - The response body is read and dropped (only the status matters).
 * - Connections are kept alive per origin, so a busy endpoint does not pay
 *   a TCP and TLS handshake per event.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { checkAddress, guardedLookup, urlHost, type GuardOptions } from './address-guard.js';

export type SendOutcome =
  /** 2xx. */
  | { kind: 'ok'; status: number }
  /** Any other status, 3xx included. */
  | { kind: 'http-error'; status: number; error: string }
  /** Nothing was sent: the address guard refused the host. */
  | { kind: 'refused'; error: string }
  /** Connection refused or reset, DNS failure, TLS error … */
  | { kind: 'network'; error: string }
  | { kind: 'timeout'; error: string };

export interface HttpSenderOptions {
  guard: GuardOptions;
  /** The whole exchange; default 10 s. */
  timeoutMs?: number;
  userAgent?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Most idle keep-alive connections kept per origin. */
const MAX_FREE_SOCKETS = 8;

export class HttpSender {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly lookup: ReturnType<typeof guardedLookup>;
  private readonly timeoutMs: number;

  constructor(private readonly options: HttpSenderOptions) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxFreeSockets: MAX_FREE_SOCKETS });
    this.lookup = guardedLookup(options.guard);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  post(rawUrl: string, body: string, headers: Record<string, string>): Promise<SendOutcome> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return Promise.resolve({ kind: 'refused', error: 'the URL does not parse' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.resolve({ kind: 'refused', error: `${url.protocol} is not http(s)` });
    }
    const host = urlHost(url);
    if (isIP(host)) {
      const verdict = checkAddress(host, this.options.guard);
      if (!verdict.ok) return Promise.resolve({ kind: 'refused', error: verdict.reason });
    }
    const secure = url.protocol === 'https:';
    const payload = Buffer.from(body);
    return new Promise<SendOutcome>((resolve) => {
      let settled = false;
      const finish = (outcome: SendOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const request = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          lookup: this.lookup,
          headers: {
            'content-type': 'application/json',
            'content-length': String(payload.length),
            'user-agent': this.options.userAgent ?? 'Sluice-Webhooks/1',
            ...headers,
          },
        },
        (response) => {
          const status = response.statusCode ?? 0;
          response.on('error', () => undefined);
          // 'end' comes first when the answer is whole; a connection cut mid-answer only closes.
          response.on('close', () =>
            finish({ kind: 'network', error: 'the connection closed before the answer ended' }),
          );
          response.resume();
          response.on('end', () => {
            if (status >= 200 && status < 300) finish({ kind: 'ok', status });
            else if (status >= 300 && status < 400) {
              finish({
                kind: 'http-error',
                status,
                error: `HTTP ${status}: redirects are not followed`,
              });
            } else finish({ kind: 'http-error', status, error: `HTTP ${status}` });
          });
        },
      );
      const timer = setTimeout(() => {
        finish({ kind: 'timeout', error: `no answer within ${this.timeoutMs} ms` });
        request.destroy();
      }, this.timeoutMs);
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ERR_ADDRESS_REFUSED') finish({ kind: 'refused', error: error.message });
        else
          finish({
            kind: 'network',
            error: error.code ? `${error.code}: ${error.message}` : error.message,
          });
      });
      request.end(payload);
    });
  }

  /** Closes idle keep-alive connections (in-flight requests end by their timeout). */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
