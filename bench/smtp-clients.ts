/**
 * SMTP clients alone, with pre-built messages: Sluice's first client, on
 * nodemailer's SMTPConnection (bench/nodemailer-smtp-client.ts), against
 * its own client (src/delivery/smtp/), behind the same interface,
 * each over `connections` persistent connections to Postfix's smtp-sink on
 * loopback, timed at the sink (smtp-sink -M exits at the last message).
 *
 * Sluice's client runs twice: against a sink that offers PIPELINING (MAIL,
 * RCPT and DATA in one write) and against one started with `-p` (no
 * PIPELINING: one command at a time), so the gain of pipelining alone shows.
 */
import { SmtpClient } from '../src/delivery/smtp-client.js';
import { NodemailerSmtpClient } from './nodemailer-smtp-client.js';
import { startSmtpSink } from './support.js';

export type ClientKind = 'nodemailer' | 'sluice' | 'sluice-no-pipelining';

/** A ~2 KB message as MailComposer would build it (7-bit, CRLF), one line starting with a dot. */
export function prebuiltMessage(i: number): Buffer {
  const body = ('x'.repeat(76) + '\r\n').repeat(24) + '.a line that starts with a dot\r\n';
  return Buffer.from(
    `From: Bench <bench@example.test>\r\nTo: rcpt${i}@example.test\r\nSubject: Benchmark ${i}\r\n` +
      `Message-ID: <${i}.bench@example.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n` +
      `MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Transfer-Encoding: 7bit\r\n\r\n${body}`,
  );
}

export interface ClientRun {
  msgPerSec: number;
  /** CPU time of this process (the client; smtp-sink is another process) per message. */
  cpuUsPerMessage: number;
}

/** One client kind; each connection sends its share in a loop. */
export async function clientToSink(
  kind: ClientKind,
  count: number,
  connections: number,
): Promise<ClientRun> {
  const sink = await startSmtpSink(count, kind === 'sluice-no-pipelining' ? ['-p'] : []);
  const messages = Array.from({ length: 100 }, (_, i) => prebuiltMessage(i));
  const senders = await Promise.all(
    Array.from({ length: connections }, () => sender(kind, sink.port)),
  );
  let next = 0;
  let refused = 0;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    senders.map(async (sender) => {
      while (next < count) {
        const i = next++;
        const raw = messages[i % messages.length] ?? Buffer.alloc(0);
        if (!(await sender.send(`rcpt${i}@example.test`, raw))) refused++;
      }
    }),
  );
  await sink.done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  // smtp-sink exits on receiving the last message, maybe before its 250: one may fail.
  if (refused > 1) throw new Error(`${kind}: ${refused} messages were not accepted`);
  await Promise.all(senders.map((s) => s.close()));
  return { msgPerSec: count / seconds, cpuUsPerMessage: (cpu.user + cpu.system) / count };
}

interface Sender {
  send(to: string, raw: Buffer): Promise<boolean>;
  close(): Promise<void>;
}

async function sender(kind: ClientKind, port: number): Promise<Sender> {
  const options = {
    relay: {
      name: 'sink',
      host: '127.0.0.1',
      port,
      weight: 1,
      maxConnections: 1,
      tls: { mode: 'none' as const, rejectUnauthorized: false },
    },
    heloName: 'bench.example.test',
    connectionTimeoutMs: 5_000,
    greetingTimeoutMs: 5_000,
    socketTimeoutMs: 30_000,
  };
  const opened =
    kind === 'nodemailer'
      ? await NodemailerSmtpClient.open(options)
      : await SmtpClient.open(options);
  if (!opened.ok) throw new Error(`cannot connect: ${opened.reason}`);
  const { client } = opened;
  return {
    send: async (to, raw) =>
      (await client.send({ from: 'bench@example.test', to: [to] }, raw)).result.kind ===
      'delivered',
    close: () => client.close(),
  };
}
