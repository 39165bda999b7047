/**
 * Query plans of segment engagement conditions on SQLite: a segment runs
 * its subqueries once per contact, so each must be an index range of that
 * contact's rows, never a scan of the engagement table (or of a campaign's
 * messages) repeated a million times.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SegmentCondition } from '../../core/segment.js';
import { sqliteSegmentWhere } from './segment-sql.js';
import { withQueryPlans } from './test-support.js';

const NOW = 1_700_000_000_000;

describe('sqlite segment engagement queries', () => {
  it('count each contact’s engagement through indexes', async () => {
    await withQueryPlans((explain) => {
      const plan = (condition: SegmentCondition): string => {
        const where = sqliteSegmentWhere(condition, NOW);
        return explain(
          `SELECT c.id FROM contacts c WHERE c.id > ? AND ${where.sql} ORDER BY c.id LIMIT ?`,
          '',
          ...where.values,
          100,
        );
      };
      const byContact =
        /SEARCH e USING (COVERING )?INDEX engagement_contact \(contact_id=\? AND kind=\? AND at>\?\)/;
      const byEmail =
        /SEARCH e USING (COVERING )?INDEX engagement_email \(email=\? AND kind=\? AND at>\?\)/;

      const any = plan({ engagement: 'opened', withinDays: 30 });
      assert.match(any, byContact, any);
      assert.match(any, byEmail, any);
      assert.doesNotMatch(any, /SCAN e\b/, any);

      const campaign = plan({ not: { engagement: 'clicked', campaign: 'cmp_1', atLeast: 2 } });
      assert.match(campaign, byContact, campaign);
      assert.match(campaign, byEmail, campaign);
      // Each row's message by its key: one seek (since 0013 in the covering
      // campaign_id, id index), never a range of the campaign's messages.
      assert.match(
        campaign,
        /SEARCH m USING COVERING INDEX messages_campaign_stats \(campaign_id=\? AND id=\?\)/,
        campaign,
      );
      assert.doesNotMatch(campaign, /SCAN (e|m)\b|campaign_id=\?\)/, campaign);
    });
  });
});
