/**
 * Query plans of the dashboard's waiting list on SQLite: each live status is
 * a range of `messages_status` (status, created_at), never a scan or a sort
 * of the whole live queue (a campaign of 1M messages is 1M waiting rows).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DASHBOARD_SQL } from './dashboard-queries.js';
import { withQueryPlans } from './test-support.js';

const RANGE = /SEARCH messages USING (COVERING )?INDEX messages_status \(status=\?/g;

describe('sqlite dashboard waiting list', () => {
  it('reads one range of the status index per live status', async () => {
    await withQueryPlans((explain) => {
      const plans = {
        first: explain(DASHBOARD_SQL.pending, { take: 51 }),
        after: explain(DASHBOARD_SQL.pendingAfter, { createdAt: 1, id: 'msg_1', take: 51 }),
        oldest: explain(DASHBOARD_SQL.oldestPending),
      };
      for (const [name, plan] of Object.entries(plans)) {
        assert.equal(plan.match(RANGE)?.length, 3, `${name}:\n${plan}`);
        assert.doesNotMatch(plan, /SCAN messages/, `${name}:\n${plan}`);
      }
      assert.match(plans.after, /created_at>\?/, 'the cursor is a seek in each range');
    });
  });
});
