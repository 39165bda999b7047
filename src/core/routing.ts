/**
 * Routing and domain groups, pure.
 *
 * - A message goes to the pool of the first routing rule that matches it
 *   (every field given in `match` must equal, case-insensitively), else to
 *   the pool of its stream.
 * - A destination domain group gathers domains that one receiver serves
 *   (gmail.com + googlemail.com → `google`), so that they share throttles;
 *   an unmapped domain is a group of its own.
 *
 * Campaign: read from the `X-Sluice-Campaign` header of the message, so
 * that campaigns (a later issue) can tag messages without a schema change.
 */
import type { Stream } from './message.js';

export const CAMPAIGN_HEADER = 'X-Sluice-Campaign';

export interface RouteMatch {
  senderDomain?: string;
  recipientDomain?: string;
  campaign?: string;
}

export interface RoutingRule {
  match: RouteMatch;
  pool: string;
}

export interface RoutingTable {
  transactional: string;
  bulk: string;
  rules: readonly RoutingRule[];
}

export interface RouteFacts {
  stream: Stream;
  senderDomain: string;
  recipientDomain: string;
  campaign?: string;
}

export function routeMessage(table: RoutingTable, facts: RouteFacts): string {
  for (const rule of table.rules) {
    if (matches(rule.match, facts)) return rule.pool;
  }
  return table[facts.stream];
}

function matches(match: RouteMatch, facts: RouteFacts): boolean {
  return (
    same(match.senderDomain, facts.senderDomain) &&
    same(match.recipientDomain, facts.recipientDomain) &&
    same(match.campaign, facts.campaign)
  );
}

function same(wanted: string | undefined, actual: string | undefined): boolean {
  return wanted === undefined || wanted.toLowerCase() === actual?.toLowerCase();
}

/** The campaign tag of a message's headers (header names are case-insensitive). */
export function campaignOf(headers: Readonly<Record<string, string>>): string | undefined {
  const wanted = CAMPAIGN_HEADER.toLowerCase();
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** domain → group name, from the configured groups. */
export function domainGroupIndex(
  groups: readonly { name: string; domains: readonly string[] }[],
): ReadonlyMap<string, string> {
  const index = new Map<string, string>();
  for (const group of groups) {
    for (const domain of group.domains) index.set(domain.toLowerCase(), group.name);
  }
  return index;
}

export function domainGroupOf(index: ReadonlyMap<string, string>, domain: string): string {
  const lower = domain.toLowerCase();
  return index.get(lower) ?? lower;
}
