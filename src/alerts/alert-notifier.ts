/**
 * Sends alert notifications: one JSON POST per webhook per transition,
 * signed with `Sluice-Signature` (core/webhook-signature.ts), to the address
 * the guard checked (address-guard.ts), redirects not followed. A failed
 * attempt (network error, timeout, non-2xx) is tried again `retries` more
 * times, 1 s, 2 s, 4 s … apart; `close()` cancels waiting retries and
 * in-flight requests (a notification is best effort: the dashboard and
 * `sluice_alerts_firing` still show the alert).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { AlertWebhookConfig } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import { SIGNATURE_HEADER, signWebhook } from '../core/webhook-signature.js';
import { abortableSleep } from '../delivery/abortable-sleep.js';
import { resolveTarget } from './address-guard.js';

/** Cap of the doubling delay between attempts. */
const MAX_RETRY_DELAY_MS = 30_000;
const FIRST_RETRY_DELAY_MS = 1_000;

export interface NotifierLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface AlertNotifierOptions {
  webhooks: readonly AlertWebhookConfig[];
  retries: number;
  timeoutMs: number;
  clock: Clock;
  logger: NotifierLogger;
  /** Delay before retry `n` (1-based); tests shorten it. */
  retryDelayMs?: (n: number) => number;
}

export class AlertNotifier {
  private readonly abort = new AbortController();
  private readonly sending = new Set<Promise<void>>();

  constructor(private readonly options: AlertNotifierOptions) {}

  /** Posts `payload` to every webhook in the background. */
  notify(payload: object): void {
    const body = JSON.stringify(payload);
    for (const webhook of this.options.webhooks) {
      const sent = this.deliver(webhook, body).finally(() => this.sending.delete(sent));
      this.sending.add(sent);
    }
  }

  /** Waits for notifications in progress (for tests). */
  async idle(): Promise<void> {
    while (this.sending.size > 0) await Promise.all([...this.sending]);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.sending]);
  }

  private async deliver(webhook: AlertWebhookConfig, body: string): Promise<void> {
    const { retries, logger } = this.options;
    const delay =
      this.options.retryDelayMs ??
      ((n: number) => Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** (n - 1)));
    const target = redactedUrl(webhook.url);
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0 && !(await abortableSleep(delay(attempt), this.abort.signal))) return;
      try {
        const status = await this.post(webhook, body);
        if (status >= 200 && status < 300) return;
        logger.warn({ url: target, status, attempt: attempt + 1 }, 'alert webhook refused');
      } catch (error) {
        if (this.abort.signal.aborted) return;
        logger.warn(
          { url: target, error: (error as Error).message, attempt: attempt + 1 },
          'alert webhook failed',
        );
      }
    }
    logger.warn({ url: target }, 'alert notification given up');
  }

  private async post(webhook: AlertWebhookConfig, body: string): Promise<number> {
    const { url, address, family } = await resolveTarget(webhook.url, webhook.allowPrivate);
    const pinned: LookupFunction = (_host, options, callback) => {
      if ((options as { all?: boolean }).all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<number>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          lookup: pinned,
          timeout: this.options.timeoutMs,
          signal: this.abort.signal,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Sluice-Alerts/1',
            [SIGNATURE_HEADER]: signWebhook(webhook.secret, body, this.options.clock.now()),
          },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
          response.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer in ${this.options.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}

/** The URL for a log line: no credentials, no query (either may carry a token). */
function redactedUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '[invalid url]';
  }
}
