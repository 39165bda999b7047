/**
 * The campaign of bench/campaign, shared by the Sluice run and the naive
 * baseline. Contact attributes carry a `default` because a campaign is
 * checked in strict mode against a contact without attributes too
 * (docs/campaigns.md, "Personalization").
 */
export const CAMPAIGN_SUBJECT = "News for {{ contact.first_name | default: 'you' }}";
/** ~2 KB once rendered: a personalized greeting and 24 lines of 76 characters. */
export const CAMPAIGN_TEXT =
  "Hello {{ contact.first_name | default: 'there' }},\n\n" +
  "News for {{ contact.city | default: 'your city' }} on the {{ contact.plan | default: 'free' }} plan.\n" +
  'x'.repeat(76).concat('\n').repeat(24) +
  'Thanks, {{ company }}\n';
