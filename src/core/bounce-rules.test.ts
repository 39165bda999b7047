/**
 * The bounce rules against replies seen in the field, by provider. Each
 * row: the reply line as the receiving server sent it (addresses and IPs
 * replaced by documentation values), then the expected category,
 * permanence and suppression.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createReplyClassifier, parseReplyLine, type BounceCategory } from './bounce.js';
import { validateBounceRules } from './bounce-rule-validation.js';
import { BUILTIN_BOUNCE_RULES, classifyReply } from './bounce-rules.js';
import { isSluiceError } from './errors.js';

type Row = [
  provider: string,
  line: string,
  category: BounceCategory,
  permanent: boolean,
  suppress: boolean,
];

const P = true;
const T = false;
const SUPPRESS = true;
const KEEP = false;

const FIELD: Row[] = [
  [
    'Gmail',
    "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser",
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Gmail',
    '550-5.2.1 The email account that you tried to reach is disabled. Learn more at https://support.google.com/mail/?p=DisabledUser',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Gmail',
    '552-5.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm',
    'mailbox-full',
    P,
    KEEP,
  ],
  [
    'Gmail',
    '452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp',
    'mailbox-full',
    T,
    KEEP,
  ],
  [
    'Gmail',
    '450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later time.',
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Gmail',
    '421-4.7.0 [203.0.113.5] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.',
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Gmail',
    '421-4.7.28 [203.0.113.5] Our system has detected an unusual rate of unsolicited mail originating from your IP address.',
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Gmail',
    '550-5.7.1 [203.0.113.5] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.',
    'spam-block',
    P,
    KEEP,
  ],
  [
    'Gmail',
    '550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users, and has been blocked. The sender must authenticate with at least one of SPF or DKIM.',
    'policy',
    P,
    KEEP,
  ],
  [
    'Gmail',
    '550-5.7.25 The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP.',
    'dns',
    P,
    KEEP,
  ],
  [
    'Gmail',
    '552-5.7.0 This message was blocked because its content presents a potential security issue. Please visit https://support.google.com/mail/?p=BlockedMessage',
    'content',
    P,
    KEEP,
  ],
  [
    'Gmail',
    "552-5.2.3 Your message exceeded Google's message size limits. Please visit https://support.google.com/mail/?p=MaxSizeError",
    'content',
    P,
    KEEP,
  ],
  [
    'Gmail',
    '550-5.7.1 The user or domain that you are sending to (or from) has a policy that prohibits the mail that you sent.',
    'policy',
    P,
    KEEP,
  ],
  ['Gmail', '421-4.3.0 Temporary System Problem.  Try again later (10).', 'transient', T, KEEP],
  [
    'Outlook',
    '550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [BN8NAM11FT066.eop-nam11.prod.protection.outlook.com]',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Outlook',
    "550 5.7.1 Unfortunately, messages from [203.0.113.5] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
    'spam-block',
    P,
    KEEP,
  ],
  [
    'Outlook',
    '421 4.7.650 The mail server [203.0.113.5] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775)',
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Outlook',
    '451 4.7.500 Server busy. Please try again later from [203.0.113.5]. (S77719)',
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Outlook',
    '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Outlook',
    '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM12FT035.eop-nam12.prod.protection.outlook.com]',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Outlook',
    '554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded',
    'mailbox-full',
    P,
    KEEP,
  ],
  [
    'Outlook',
    '550 5.7.606 Access denied, banned sending IP [203.0.113.5]. To request removal from this list please visit https://sender.office.com/ and follow the directions.',
    'spam-block',
    P,
    KEEP,
  ],
  [
    'Outlook',
    '550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject.',
    'policy',
    P,
    KEEP,
  ],
  [
    'Outlook',
    '550 5.7.520 Access denied, Your organization does not allow external forwarding. Please contact your administrator for further assistance. AS(7555)',
    'policy',
    P,
    KEEP,
  ],
  ['Outlook', '550 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain', 'dns', P, KEEP],
  [
    'Hotmail',
    "550 SC-001 (BAY004-MC1F36) Unfortunately, messages from 203.0.113.5 weren't sent. Please contact your Internet service provider. You can tell them that Hotmail does not relay dynamically-assigned IP ranges.",
    'spam-block',
    P,
    KEEP,
  ],
  [
    'Hotmail',
    "421 RP-001 (BAY004-MC1F45) Unfortunately, some messages from 203.0.113.5 weren't sent. Please try again. We have limits for how many messages can be sent per hour and per day.",
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Yahoo',
    "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1234.mail.gq1.yahoo.com",
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Yahoo',
    '554 delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1234.mail.bf1.yahoo.com',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Yahoo',
    '421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes',
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Yahoo',
    '553 5.7.2 [TSS09] All messages from 203.0.113.5 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes',
    'spam-block',
    P,
    KEEP,
  ],
  [
    'Yahoo',
    '554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes',
    'policy',
    P,
    KEEP,
  ],
  ['Yahoo', '451 Message temporarily deferred - [160]', 'transient', T, KEEP],
  ['AOL', '521 5.2.1 :  AOL will not accept delivery of this message.', 'spam-block', P, KEEP],
  [
    'AOL',
    '550 5.1.1 <someone@aol.com>: Recipient address rejected: aol.com',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  ['iCloud', '550 5.1.1 <someone@icloud.com>: user does not exist', 'bad-mailbox', P, SUPPRESS],
  [
    'iCloud',
    '554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137',
    'policy',
    P,
    KEEP,
  ],
  [
    'iCloud',
    '550 5.7.0 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=203.0.113.5',
    'spam-block',
    P,
    KEEP,
  ],
  ['iCloud', '552 5.2.2 <someone@icloud.com>: user is over quota', 'mailbox-full', P, KEEP],
  ['GMX', '550 Requested action not taken: mailbox unavailable', 'bad-mailbox', P, SUPPRESS],
  [
    'GMX',
    '554-Transaction failed 554-Reject due to policy restrictions. 554 For explanation visit https://postmaster.gmx.net/en/case?c=hi&i=ip&v=203.0.113.5&r=1McHM6-1srIWI1qNo',
    'policy',
    P,
    KEEP,
  ],
  [
    'GMX',
    '554-gmx.net (mxgmx117) Nemesis ESMTP Service not available 554-No SMTP service 554-IP address is black listed. 554 For explanation visit https://www.gmx.net/mail/senderguidelines?c=bl',
    'spam-block',
    P,
    KEEP,
  ],
  [
    'GMX',
    '421-gmx.net (mxgmx012) Nemesis ESMTP Service not available 421-Service unavailable 421-Reject due to policy restrictions. 421 For explanation visit https://postmaster.gmx.net/en/error-messages',
    'policy',
    T,
    KEEP,
  ],
  [
    'web.de',
    '552 Requested mail action aborted: exceeded storage allocation',
    'mailbox-full',
    P,
    KEEP,
  ],
  [
    'Mail.ru',
    '550 Message was not accepted -- invalid mailbox.  Local mailbox someone@mail.ru is unavailable: user not found',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Mail.ru',
    '550 Message was not accepted -- invalid mailbox.  Local mailbox someone@mail.ru is unavailable: account is disabled',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Mail.ru',
    '550 spam message rejected. Please visit http://help.mail.ru/notspam-support/id?c=AbCdEf or report details to abuse@corp.mail.ru. Error code: 0123456789ABCDEF.',
    'spam-block',
    P,
    KEEP,
  ],
  [
    'Mail.ru',
    '550 5.7.1 This message was not accepted due to domain owner DMARC policy (RFC 7489) https://help.mail.ru/mail-help/postmaster/dmarc',
    'policy',
    P,
    KEEP,
  ],
  ['Yandex', '550 5.7.1 No such user!', 'bad-mailbox', P, KEEP],
  [
    'Yandex',
    '554 5.7.1 [2] Message rejected under suspicion of SPAM; https://ya.cc/1IrBc 1700000000-AbCdEfGhIj',
    'spam-block',
    P,
    KEEP,
  ],
  ['Yandex', '552 5.2.2 Mailbox size limit exceeded', 'mailbox-full', P, KEEP],
  [
    'Yandex',
    '451 4.7.1 Sorry, the service is currently unavailable. Please come back later.',
    'transient',
    T,
    KEEP,
  ],
  [
    'Comcast',
    '554 resimta-ch2-18v.sys.comcast.net resimta-ch2-18v.sys.comcast.net 203.0.113.5 found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000001',
    'spam-block',
    P,
    KEEP,
  ],
  ['Comcast', '550 5.1.1 <someone@comcast.net> Not our Customer', 'bad-mailbox', P, SUPPRESS],
  ['Comcast', '421 Too many sessions opened', 'rate-limited', T, KEEP],
  ['Comcast', '421 Reverse DNS failure : Try again later', 'dns', T, KEEP],
  [
    'Orange',
    '421 mwinf5c79 ME Trop de connexions, veuillez verifier votre configuration. Too many connections, slow down. OFR004_104 [104]',
    'rate-limited',
    T,
    KEEP,
  ],
  [
    'Orange',
    '550 5.7.1 Service refuse. Veuillez essayer plus tard. service refused, please try later. OFR_506 [506]',
    'transient',
    T,
    KEEP,
  ],
  [
    'Orange',
    '421 mwinf5c18 ME Service refuse. Veuillez essayer plus tard. Service refused, please try later. OFR004_105 [105]',
    'transient',
    T,
    KEEP,
  ],
  [
    'Proofpoint',
    '554 Blocked - see https://ipcheck.proofpoint.com/?ip=203.0.113.5',
    'spam-block',
    P,
    KEEP,
  ],
  ['Proofpoint', '550 5.1.1 User Unknown', 'bad-mailbox', P, SUPPRESS],
  [
    'Mimecast',
    '550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [AbCdEfGhIjK.us123]',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Mimecast',
    '550 Rejected by header based Anti-Spoofing policy: someone@example.com - https://community.mimecast.com/docs/DOC-1369#550 [AbCd.uk12]',
    'policy',
    P,
    KEEP,
  ],
  [
    'Mimecast',
    '554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554 [AbC.us1]',
    'policy',
    P,
    KEEP,
  ],
  [
    'Mimecast',
    '451 Internal resources are temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451 [AbC.us2]',
    'transient',
    T,
    KEEP,
  ],
  [
    'Mimecast',
    '550 Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550 [AbC.us3]',
    'policy',
    P,
    KEEP,
  ],
  [
    'Mimecast',
    '550 Local CT IP Reputation - (reject) https://community.mimecast.com/docs/DOC-1369#550',
    'spam-block',
    P,
    KEEP,
  ],
  [
    'Postfix',
    '550 5.1.1 <someone@example.com>: Recipient address rejected: User unknown in local recipient table',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Postfix',
    '550 5.1.1 <someone@example.com>: Recipient address rejected: User unknown in virtual mailbox table',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  [
    'Postfix',
    '450 4.1.1 <someone@example.com>: Recipient address rejected: User unknown in local recipient table',
    'bad-mailbox',
    T,
    KEEP,
  ],
  ['Postfix', '554 5.7.1 <someone@example.net>: Relay access denied', 'policy', P, KEEP],
  [
    'Postfix',
    '450 4.7.1 Client host rejected: cannot find your hostname, [203.0.113.5]',
    'dns',
    T,
    KEEP,
  ],
  [
    'Postfix',
    '450 4.1.2 <someone@nowhere.example>: Recipient address rejected: Domain not found',
    'dns',
    T,
    KEEP,
  ],
  [
    'Postfix',
    '554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.5',
    'spam-block',
    P,
    KEEP,
  ],
  ['Postfix', '552 5.3.4 Message size exceeds fixed limit', 'content', P, KEEP],
  ['Postfix', '452 4.3.1 Insufficient system storage', 'transient', T, KEEP],
  [
    'Postfix',
    '450 4.2.0 <someone@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html',
    'transient',
    T,
    KEEP,
  ],
  ['Postfix', '550 5.7.1 Message content rejected', 'content', P, KEEP],
  [
    'Postfix',
    '504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname',
    'policy',
    P,
    KEEP,
  ],
  [
    'Postfix',
    '553 5.7.1 <someone@example.com>: Sender address rejected: not owned by user someone',
    'policy',
    P,
    KEEP,
  ],
  [
    'Postfix',
    '556 5.1.10 <someone@example.com>: Recipient address rejected: Domain example.com does not accept mail (nullMX)',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  ['Exim', '550 No Such User Here', 'bad-mailbox', P, SUPPRESS],
  [
    'Exim',
    '550-Verification failed for <bounce@example.org> 550-Unrouteable address 550 Sender verify failed',
    'policy',
    P,
    KEEP,
  ],
  ['Exim', '550 Unrouteable address', 'bad-mailbox', P, SUPPRESS],
  ['Exim', '451 Temporary local problem - please try later', 'transient', T, KEEP],
  ['Exim', '552 Message size exceeds maximum permitted', 'content', P, KEEP],
  [
    'Exim',
    '550 rejected because 203.0.113.5 is in a black list at zen.spamhaus.org',
    'spam-block',
    P,
    KEEP,
  ],
  ['Exim', '550 This message scored 15.2 spam points.', 'spam-block', P, KEEP],
  ['Exim', '550 Administrative prohibition', 'policy', P, KEEP],
];

/** Replies with nothing but codes: the enhanced-code rows of the table decide. */
const CODES_ONLY: Row[] = [
  ['codes', '550 5.1.1 Bad destination mailbox address', 'bad-mailbox', P, SUPPRESS],
  ['codes', '501 5.1.3 Bad recipient address syntax', 'bad-mailbox', P, SUPPRESS],
  [
    'codes',
    '550 5.1.6 Destination mailbox has moved, no forwarding address',
    'bad-mailbox',
    P,
    SUPPRESS,
  ],
  ['codes', '452 4.2.2 Requested action not taken', 'mailbox-full', T, KEEP],
  ['codes', '552 5.2.2 Requested action not taken', 'mailbox-full', P, KEEP],
  ['codes', '552 5.2.3 Requested action not taken', 'content', P, KEEP],
  ['codes', '554 5.3.4 Requested action not taken', 'content', P, KEEP],
  ['codes', '554 5.6.0 Message contains invalid header', 'content', P, KEEP],
  ['codes', '550 5.1.2 Bad destination system address', 'dns', P, KEEP],
  ['codes', '550 5.4.4 Unable to route', 'dns', P, KEEP],
  ['codes', '451 4.4.3 Directory server failure', 'dns', T, KEEP],
  ['codes', '554 5.7.1 Rejected by recipient', 'policy', P, KEEP],
  ['codes', '451 4.7.1 Please retry', 'policy', T, KEEP],
  ['codes', '554 5.0.0 Requested action not taken', 'unknown', P, KEEP],
  ['codes', '451 4.3.0 Requested action aborted: local error in processing', 'transient', T, KEEP],
  ['local', 'connect ECONNREFUSED 127.0.0.1:2525', 'transient', T, KEEP],
  ['local', 'getaddrinfo ENOTFOUND mx.example.invalid', 'dns', T, KEEP],
];

describe('bounce classification: the built-in rules', () => {
  it(`classifies ${FIELD.length} real replies from the big providers and the common MTAs`, () => {
    assert.ok(FIELD.length >= 60);
    const wrong = FIELD.flatMap(([provider, line, category, permanent, suppress]) => {
      const got = classifyReply(parseReplyLine(line));
      const actual = [got.category, got.permanent, got.suppress];
      return JSON.stringify(actual) === JSON.stringify([category, permanent, suppress])
        ? []
        : [
            `${provider}: ${line}\n  expected ${category}/${permanent}/${suppress}, got ${actual.join('/')} (${JSON.stringify(got.matched)})`,
          ];
    });
    assert.deepEqual(wrong, []);
  });

  it('falls back on enhanced status codes, then on the code class', () => {
    for (const [, line, category, permanent, suppress] of CODES_ONLY) {
      const got = classifyReply(parseReplyLine(line));
      assert.deepEqual(
        [got.category, got.permanent, got.suppress],
        [category, permanent, suppress],
        line,
      );
    }
  });

  it('exercises every built-in rule', () => {
    const used = new Set<number>();
    for (const [, line] of [...FIELD, ...CODES_ONLY]) {
      const { matched } = classifyReply(parseReplyLine(line));
      if (matched.source === 'builtin') used.add(matched.index);
    }
    const unused = BUILTIN_BOUNCE_RULES.flatMap((rule, i) =>
      used.has(i) ? [] : [`${i}: ${JSON.stringify(rule)}`],
    );
    assert.deepEqual(unused, []);
  });

  it('passes its own validation (what an operator rule must also pass)', () => {
    assert.deepEqual(validateBounceRules(BUILTIN_BOUNCE_RULES, 'builtin'), BUILTIN_BOUNCE_RULES);
  });

  it('suppresses only bad-mailbox, and never on a 5.7.x reply', () => {
    for (const [, line] of [...FIELD, ...CODES_ONLY]) {
      const reply = parseReplyLine(line);
      const got = classifyReply(reply);
      if (got.suppress) {
        assert.equal(got.category, 'bad-mailbox', line);
        assert.equal(got.permanent, true, line);
        assert.ok(!reply.enhancedCode?.startsWith('5.7.'), line);
      }
    }
  });
});

describe('bounce classification: the classifier', () => {
  it('uses the code and enhanced code given, and parses them from the text otherwise', () => {
    assert.deepEqual(parseReplyLine('550-5.1.1 The email account'), {
      code: 550,
      enhancedCode: '5.1.1',
      text: '550-5.1.1 The email account',
    });
    assert.deepEqual(parseReplyLine('553 sorry, that domain is not in my list (#5.7.1)'), {
      code: 553,
      enhancedCode: '5.7.1',
      text: '553 sorry, that domain is not in my list (#5.7.1)',
    });
    assert.equal(parseReplyLine('550 host 5.9.12.33 said no').enhancedCode, undefined);
    assert.equal(parseReplyLine('550 4.7.1 mismatched class').enhancedCode, undefined);
    const given = classifyReply({ code: 550, enhancedCode: '5.1.1', text: 'nothing telling' });
    assert.equal(given.category, 'bad-mailbox');
  });

  it('never makes a 4xx or a reply without a code permanent, whatever the rule says', () => {
    const classify = createReplyClassifier(
      [],
      [{ pattern: 'gone', category: 'bad-mailbox', permanent: true, suppress: true }],
    );
    for (const text of ['450 4.1.1 gone', 'gone (no reply)']) {
      const got = classify(parseReplyLine(text));
      assert.deepEqual([got.category, got.permanent, got.suppress], ['bad-mailbox', false, false]);
    }
    assert.equal(classify(parseReplyLine('550 5.1.1 gone')).suppress, true);
  });

  it('tries operator rules before the built-in ones and says which rule matched', () => {
    const classify = createReplyClassifier(BUILTIN_BOUNCE_RULES, [
      {
        code: '55x',
        pattern: 'not our customer',
        category: 'policy',
        permanent: true,
        suppress: false,
        note: 'ours',
      },
    ]);
    const ours = classify(parseReplyLine('550 5.1.1 <a@comcast.net> Not our Customer'));
    assert.deepEqual(ours, {
      category: 'policy',
      permanent: true,
      suppress: false,
      matched: { source: 'operator', index: 0, note: 'ours' },
    });
    const theirs = classify(parseReplyLine('550 5.1.1 User Unknown'));
    assert.equal(theirs.matched.source, 'builtin');
    assert.deepEqual(classify(parseReplyLine('599 who knows')).matched, { source: 'default' });
  });

  it('matches enhanced prefixes by whole parts', () => {
    const classify = createReplyClassifier([
      { enhanced: '5.1.1', category: 'bad-mailbox', permanent: true, suppress: true },
    ]);
    assert.equal(classify({ code: 550, enhancedCode: '5.1.10', text: '' }).category, 'unknown');
    assert.equal(classify({ code: 550, enhancedCode: '5.1.1', text: '' }).category, 'bad-mailbox');
  });
});

describe('bounce rules: validation of an operator file', () => {
  const cases: [unknown, string, RegExp][] = [
    [{}, 'rules', /expected an array/],
    [[42], 'rules[0]', /expected an object/],
    [[{ category: 'policy', permanent: true, suppress: false }], 'rules[0]', /at least one of/],
    [
      [{ code: 550, category: 'nope', permanent: true, suppress: false }],
      'rules[0].category',
      /expected one of bad-mailbox/,
    ],
    [
      [{ code: 550, category: 'policy', permanent: 'yes', suppress: false }],
      'rules[0].permanent',
      /true or false/,
    ],
    [[{ code: 550, category: 'policy', permanent: true }], 'rules[0].suppress', /true or false/],
    [
      [{ code: 650, category: 'policy', permanent: true, suppress: false }],
      'rules[0].code',
      /550 or "5xx"/,
    ],
    [
      [{ enhanced: '5.1.', category: 'policy', permanent: true, suppress: false }],
      'rules[0].enhanced',
      /prefix/,
    ],
    [
      [{ pattern: '(', category: 'policy', permanent: true, suppress: false }],
      'rules[0].pattern',
      /regular expression/,
    ],
    [
      [{ code: 550, category: 'policy', permanent: true, suppress: false, why: 'x' }],
      'rules[0].why',
      /unknown field/,
    ],
    [
      [{ code: 550, category: 'policy', permanent: true, suppress: true }],
      'rules[0].suppress',
      /only a bad-mailbox/,
    ],
    [
      [{ code: 550, category: 'bad-mailbox', permanent: false, suppress: true }],
      'rules[0].suppress',
      /permanent/,
    ],
    [
      [
        { code: 550, category: 'policy', permanent: true, suppress: false },
        { enhanced: '5.7.1', category: 'bad-mailbox', permanent: true, suppress: true },
      ],
      'rules[1].suppress',
      /5\.7\.x/,
    ],
  ];
  for (const [value, field, message] of cases) {
    it(`refuses with the rule index and field: ${field} ${String(message)}`, () => {
      assert.throws(
        () => validateBounceRules(value, 'rules'),
        (error: unknown) =>
          isSluiceError(error) &&
          error.code === 'ERR_VALIDATION' &&
          error.details.field === field &&
          message.test(error.message) &&
          error.message.startsWith(`${field}: `),
      );
    });
  }

  it('accepts a valid file and keeps only known fields', () => {
    const rules = validateBounceRules(
      [
        {
          code: '5XX',
          pattern: 'mailbox is frozen',
          category: 'bad-mailbox',
          permanent: true,
          suppress: true,
          note: 'acme',
        },
      ],
      'rules',
    );
    assert.deepEqual(rules, [
      {
        code: '5xx',
        pattern: 'mailbox is frozen',
        category: 'bad-mailbox',
        permanent: true,
        suppress: true,
        note: 'acme',
      },
    ]);
  });
});
