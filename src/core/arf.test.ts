import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFeedbackReport } from './arf.js';

/** RFC 5965 appendix B's example, with a Sluice Message-ID in the original. */
function arfReport(
  options: {
    rcpt?: string | null;
    messageId?: string;
    originalType?: string;
    encodeOriginal?: boolean;
  } = {},
): string {
  const original = [
    'From: <app@example.com>',
    'To: <user@example.com>',
    'Subject: Earn money',
    `Message-ID: <${options.messageId ?? 'msg_0123abcd'}.9f8e7d6c@example.com>`,
    '',
    'Spam Spam Spam',
  ].join('\r\n');
  const rcpt = options.rcpt === undefined ? 'rfc822; user@example.com' : options.rcpt;
  return [
    'From: <abusedesk@example.net>',
    'Subject: FW: Earn money',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report;',
    '     boundary="part1_13d.2e68ed54_boundary"',
    '',
    '--part1_13d.2e68ed54_boundary',
    'Content-Type: text/plain; charset="US-ASCII"',
    '',
    'This is an email abuse report.',
    '',
    '--part1_13d.2e68ed54_boundary',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: abuse',
    'User-Agent: SomeGenerator/1.0',
    'Version: 1',
    ...(rcpt === null ? [] : [`Original-Rcpt-To: ${rcpt}`]),
    '',
    '--part1_13d.2e68ed54_boundary',
    `Content-Type: ${options.originalType ?? 'message/rfc822'}`,
    ...(options.encodeOriginal ? ['Content-Transfer-Encoding: base64'] : []),
    '',
    options.encodeOriginal ? Buffer.from(original).toString('base64') : original,
    '--part1_13d.2e68ed54_boundary--',
    '',
  ].join('\r\n');
}

describe('ARF feedback reports', () => {
  it('reads the feedback type, the recipient and the Sluice message id', () => {
    assert.deepEqual(readFeedbackReport(arfReport()), {
      feedbackType: 'abuse',
      recipient: 'user@example.com',
      messageId: 'msg_0123abcd',
    });
  });

  it('reads text/rfc822-headers, base64 originals, bare and bracketed recipients', () => {
    assert.equal(
      readFeedbackReport(arfReport({ originalType: 'text/rfc822-headers' }))?.messageId,
      'msg_0123abcd',
    );
    assert.equal(
      readFeedbackReport(arfReport({ encodeOriginal: true }))?.messageId,
      'msg_0123abcd',
    );
    assert.equal(
      readFeedbackReport(arfReport({ rcpt: '<a.b@example.org>' }))?.recipient,
      'a.b@example.org',
    );
    assert.deepEqual(readFeedbackReport(arfReport({ rcpt: null })), {
      feedbackType: 'abuse',
      messageId: 'msg_0123abcd',
    });
    assert.equal(
      readFeedbackReport(arfReport({ messageId: 'something-else' }))?.messageId,
      undefined,
    );
  });

  it('is undefined for anything that is not a feedback report', () => {
    assert.equal(readFeedbackReport('Subject: hi\r\n\r\nhello'), undefined);
    assert.equal(
      readFeedbackReport(arfReport().replace('message/feedback-report', 'text/plain')),
      undefined,
    );
    assert.equal(readFeedbackReport(''), undefined);
  });
});
