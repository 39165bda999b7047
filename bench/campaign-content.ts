/** The campaign of bench/campaign, shared by the Sluice run and the naive baseline. */
export const CAMPAIGN_SUBJECT = 'News for {{ contact.first_name }}';
/** ~2 KB once rendered: a personalized greeting and 24 lines of 76 characters. */
export const CAMPAIGN_TEXT =
  'Hello {{ contact.first_name }},\n\nNews for {{ contact.city }} on the {{ contact.plan }} plan.\n' +
  'x'.repeat(76).concat('\n').repeat(24) +
  'Thanks, {{ company }}\n';
