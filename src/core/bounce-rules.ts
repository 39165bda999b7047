/**
 * The built-in bounce rules: data, tried in order, first match wins (see
 * bounce.ts for the matching and the guards, docs/bounces.md for the
 * format). Operator rules from `bounces.rulesFile` go before these.
 *
 * Order, and why:
 * 1. replies whose words overrule their code: rate limits and greylisting
 *   are temporary even when a server says 5xx; Yahoo's "permanently
 *   deferred" is final even though it says "deferred";
 * 2. DNS and sender-side refusals, before the mailbox words they contain
 *   ("Unrouteable address" inside a sender-verify failure is not about
 *   the recipient);
 * 3. the recipient's mailbox: does not exist (the only suppressing rules),
 *   is full;
 * 4. "try again later" on a 5xx: deferred rather than bounced;
 * 5. spam and reputation blocks, then content, then other policy refusals;
 * 6. enhanced status codes alone (RFC 3463), for replies with no telling words.
 * Anything left: 5xx → unknown, else transient (bounce.ts).
 *
 * Patterns are case-insensitive regular expressions on the whole reply.
 * Every rule here is exercised by src/core/bounce-rules.test.ts.
 */
import { createReplyClassifier, type BounceRule, type ReplyClassifier } from './bounce.js';

export const BUILTIN_BOUNCE_RULES: readonly BounceRule[] = [
  // 1. words that overrule the code
  {
    pattern: 'permanently deferred|retrying will not succeed',
    category: 'spam-block',
    permanent: true,
    suppress: false,
    note: 'Yahoo TSS09: a block that says "deferred" but is final',
  },
  {
    pattern:
      'rate limit|ratelimit|rate-limit|too many (messages|connections|concurrent|sessions|sessions opened)|exceeded the maximum number of connections|receiving mail at a rate|unusual rate|limits for how many messages|temporarily deferred due to|\\[ts0\\d\\]|throttl|server busy|slow down|\\bRL0+\\d',
    category: 'rate-limited',
    permanent: false,
    suppress: false,
    note: 'the receiver slows the sender down: retry later, whatever the code',
  },
  {
    pattern: 'gr[ea]y-?list',
    category: 'transient',
    permanent: false,
    suppress: false,
    note: 'greylisting: the retry is expected',
  },

  // 2. DNS and the sender's side
  {
    pattern:
      'domain not found|host not found|host unknown|name service error|nonexistentdomain|domain lookup failed|no mx record|cannot find your hostname|reverse dns|\\brdns\\b|ptr record|\\benotfound\\b|\\beai_again\\b|\\bnxdomain\\b|domain (does not|doesn.t) exist|unknown domain|unroutable domain',
    category: 'dns',
    permanent: true,
    suppress: false,
    note: 'a name does not resolve: the recipient domain, or the sender host (rDNS)',
  },
  {
    pattern:
      'sender verify failed|verification failed for|sender address rejected|sender domain|mail from.*(rejected|refused)',
    category: 'policy',
    permanent: true,
    suppress: false,
    note: 'the receiver refuses the sender address, not the recipient',
  },

  // 3. the recipient's mailbox
  {
    enhanced: '5.4.1',
    pattern: 'recipient address rejected: access denied',
    category: 'bad-mailbox',
    permanent: true,
    suppress: true,
    note: 'Microsoft 365 directory-based edge blocking: the recipient does not exist',
  },
  {
    pattern:
      "user unknown|unknown user|no such (user|mailbox|recipient|address)|user not found|user doesn.t exist|does not exist|doesn't exist|does no(t)? exists?|doesn.t have an? .{1,40} account|recipient not found|recipientnotfound|exrecipnotfound|invalid recipient|invalid mailbox|unknown recipient|mailbox (is )?unavailable|mailbox not found|unrouteable address|not our customer|undeliverable address|bad destination mailbox|not a valid mailbox|no mailbox here|no such user here|(account|mailbox)[^.]{0,40}(disabled|deactivated|inactive)|user is terminated|address rejected: user",
    category: 'bad-mailbox',
    permanent: true,
    suppress: true,
    note: 'the mailbox does not exist or is closed',
  },
  {
    pattern:
      'over quota|quota exceeded|quotaexceeded|mailbox (is )?full|mailbox size limit|exceeded storage allocation|storage (space )?exceeded|out of storage|full mailbox|user is over',
    category: 'mailbox-full',
    permanent: true,
    suppress: false,
    note: 'the mailbox exists but has no room',
  },

  // 4. a 5xx that asks for a retry
  {
    pattern:
      'try again later|try later|please try again|retry later|come back later|temporar(y|ily)|essayer plus tard',
    category: 'transient',
    permanent: false,
    suppress: false,
    note: 'the reply itself says the refusal is temporary',
  },

  // 5. blocks, content, policy
  {
    pattern:
      'spam|unsolicited|junk|block ?list|black ?list|\\bdnsbls?\\b|\\brbl\\b|spamhaus|spamcop|barracuda|cloudmark|reputation|blocked using|listed (at|on|in)|ipcheck\\.proofpoint|dnsbl-lookup|banned sending ip|traffic not accepted|\\b(sc|ou)-00\\d|\\bBL0+\\d|\\[tss0\\d\\]|will not accept delivery|blocked - see|\\bblocked\\b.*\\b(ip|address)\\b',
    category: 'spam-block',
    permanent: true,
    suppress: false,
    note: 'the sender (IP, domain) or the message looks like spam',
  },
  {
    pattern:
      'content|virus|malware|attachment|message size|size limit|too large|too big|exceed(s|ed)? (the )?(maximum|size|fixed)|message length|security issue|message (was )?blocked because',
    category: 'content',
    permanent: true,
    suppress: false,
    note: 'the message itself (size, attachment, content) is refused',
  },
  {
    pattern:
      'policy|policies|dmarc|\\bspf\\b|dkim|unauthenticated|authenticat|relay(ing)? (access )?(denied|not permitted|prohibited)|open relay|prohibit|not permitted|access denied|anti-spoofing|\\bhelo\\b|not allowed',
    category: 'policy',
    permanent: true,
    suppress: false,
    note: 'a local policy or authentication rule refuses the message',
  },

  // 6. enhanced status codes alone
  {
    enhanced: '5.1.1',
    category: 'bad-mailbox',
    permanent: true,
    suppress: true,
    note: 'bad destination mailbox address',
  },
  {
    enhanced: '5.1.10',
    category: 'bad-mailbox',
    permanent: true,
    suppress: true,
    note: 'recipient address has a null MX (RFC 7505)',
  },
  {
    enhanced: '5.1.3',
    category: 'bad-mailbox',
    permanent: true,
    suppress: true,
    note: 'bad destination mailbox address syntax',
  },
  {
    enhanced: '5.1.6',
    category: 'bad-mailbox',
    permanent: true,
    suppress: true,
    note: 'destination mailbox has moved, no forwarding address',
  },
  {
    enhanced: '4.2.2',
    category: 'mailbox-full',
    permanent: false,
    suppress: false,
    note: 'mailbox full',
  },
  {
    enhanced: '5.2.2',
    category: 'mailbox-full',
    permanent: true,
    suppress: false,
    note: 'mailbox full',
  },
  {
    enhanced: '5.2.3',
    category: 'content',
    permanent: true,
    suppress: false,
    note: 'message length exceeds administrative limit',
  },
  {
    enhanced: '5.3.4',
    category: 'content',
    permanent: true,
    suppress: false,
    note: 'message too big for system',
  },
  { enhanced: '5.6', category: 'content', permanent: true, suppress: false, note: 'media error' },
  {
    enhanced: '5.1.2',
    category: 'dns',
    permanent: true,
    suppress: false,
    note: 'bad destination system address',
  },
  {
    enhanced: '5.4.4',
    category: 'dns',
    permanent: true,
    suppress: false,
    note: 'unable to route',
  },
  {
    enhanced: '4.4.3',
    category: 'dns',
    permanent: false,
    suppress: false,
    note: 'directory server failure',
  },
  {
    enhanced: '5.7',
    category: 'policy',
    permanent: true,
    suppress: false,
    note: 'security or policy status',
  },
  {
    enhanced: '4.7',
    category: 'policy',
    permanent: false,
    suppress: false,
    note: 'security or policy status, temporary',
  },
];

/** The built-in rules alone; the worker adds the operator's rules in front. */
export const classifyReply: ReplyClassifier = createReplyClassifier(BUILTIN_BOUNCE_RULES);
