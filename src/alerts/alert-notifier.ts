/**
 * Sends alert notifications: one JSON POST per webhook per transition,
 * signed with `Sluice-Signature` (core/webhook-signature.ts), through the
 * outgoing-webhooks module's HttpSender (src/webhooks/http-sender.ts): its
 * address guard refuses private, loopback and other non-public addresses
 * (checked again at connect time, so DNS rebinding cannot slip through)
 * unless the webhook sets `allowPrivate`; redirects are not followed. A
 * failed attempt (network error, timeout, non-2xx) is tried again `retries`
 * more times, 1 s, 2 s, 4 s … apart; a refused address is not retried.
 * `close()` cancels waiting retries and cuts requests in flight (a
 * notification is best effort: the dashboard and `sluice_alerts_firing`
 * still show the alert).
 */
import type { AlertWebhookConfig } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import { SIGNATURE_HEADER, signWebhook } from '../core/webhook-signature.js';
import { AbortWatch } from '../delivery/abort-watch.js';
import { HttpSender } from '../webhooks/http-sender.js';

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
  /** Retry waits, which `close()` cuts short (one 'abort' listener for all of them). */
  private readonly aborts = new AbortWatch();
  private readonly sending = new Set<Promise<void>>();
  /** One sender per guard setting: private addresses allowed or not. */
  private readonly senders: Record<'guarded' | 'private', HttpSender>;

  constructor(private readonly options: AlertNotifierOptions) {
    const make = (allowPrivateNetworks: boolean) =>
      new HttpSender({
        guard: { allowPrivateNetworks },
        timeoutMs: options.timeoutMs,
        userAgent: 'Sluice-Alerts/1',
      });
    this.senders = { guarded: make(false), private: make(true) };
  }

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
    // Destroys the sockets of requests in flight: they end at once as network failures.
    this.senders.guarded.close();
    this.senders.private.close();
    await Promise.all([...this.sending]);
  }

  private async deliver(webhook: AlertWebhookConfig, body: string): Promise<void> {
    const { retries, logger, clock } = this.options;
    const delay =
      this.options.retryDelayMs ??
      ((n: number) => Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** (n - 1)));
    const target = redactedUrl(webhook.url);
    const sender = webhook.allowPrivate ? this.senders.private : this.senders.guarded;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0 && !(await this.aborts.sleep(delay(attempt), this.abort.signal))) return;
      const outcome = await sender.post(webhook.url, body, {
        [SIGNATURE_HEADER]: signWebhook(webhook.secret, body, clock.now()),
      });
      if (outcome.kind === 'ok' || this.abort.signal.aborted) return;
      logger.warn(
        { url: target, outcome: outcome.kind, error: outcome.error, attempt: attempt + 1 },
        'alert notification failed',
      );
      if (outcome.kind === 'refused') return;
    }
    logger.warn({ url: target }, 'alert notification given up');
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
