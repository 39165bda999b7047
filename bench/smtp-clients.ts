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
import { machineCpuMeter, startSmtpSink } from './support.js';

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
  /** Busy CPU of the whole machine (client, sinks, kernel) per message; NaN off Linux. */
  machineUsPerMessage: number;
}

/**
 * One client kind; each connection sends its share in a loop. With
 * `sinks` > 1 the messages are split evenly over that many smtp-sinks,
 * `connections` to each (bench/campaign's topology: 4 × 3).
 */
export async function clientToSink(
  kind: ClientKind,
  count: number,
  connections: number,
  sinks = 1,
): Promise<ClientRun> {
  const share = Math.floor(count / sinks);
  const flags = kind === 'sluice-no-pipelining' ? ['-p'] : [];
  const started = await Promise.all(
    Array.from({ length: sinks }, () => startSmtpSink(share, flags)),
  );
  const messages = Array.from({ length: 100 }, (_, i) => prebuiltMessage(i));
  const senders = await Promise.all(
    started.flatMap((sink) =>
      Array.from({ length: connections }, async () => ({
        sink,
        sender: await sender(kind, sink.port),
      })),
    ),
  );
  const left = new Map(started.map((sink) => [sink, share]));
  let next = 0;
  let refused = 0;
  const meter = machineCpuMeter();
  const cpuBefore = process.cpuUsage();
  const begun = process.hrtime.bigint();
  await Promise.all(
    senders.map(async ({ sink, sender }) => {
      for (let n = left.get(sink) ?? 0; n > 0; n = left.get(sink) ?? 0) {
        left.set(sink, n - 1);
        const i = next++;
        const raw = messages[i % messages.length] ?? Buffer.alloc(0);
        if (!(await sender.send(`rcpt${i}@example.test`, raw))) refused++;
      }
    }),
  );
  await Promise.all(started.map((sink) => sink.done));
  const seconds = Number(process.hrtime.bigint() - begun) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const total = share * sinks;
  const machineUsPerMessage = meter.perMessage(total);
  // smtp-sink exits on receiving the last message, maybe before its 250: one a sink may fail.
  if (refused > sinks) throw new Error(`${kind}: ${refused} messages were not accepted`);
  await Promise.all(senders.map(({ sender }) => sender.close()));
  return {
    msgPerSec: total / seconds,
    cpuUsPerMessage: (cpu.user + cpu.system) / total,
    machineUsPerMessage,
  };
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
