import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withQueryPlans } from './test-support.js';
import { WEBHOOK_SQL } from './webhooks.js';

describe('sqlite webhook queries', () => {
  it('claims and finds due endpoints through the partial index, never scanning the backlog', async () => {
    await withQueryPlans((plan) => {
      const due =
        /SEARCH d\b.*USING INDEX webhook_deliveries_due \(endpoint_id=\? AND next_attempt_at<\?\)/;
      assert.match(plan(WEBHOOK_SQL.pick, 'wh', 0, 10), due);
      assert.match(plan(WEBHOOK_SQL.dueEndpoints, 0, 10), due);
      assert.match(
        plan(WEBHOOK_SQL.purgeFinished, 0),
        /USING INDEX webhook_deliveries_finished \(finished_at<\?\)/,
      );
    });
  });
});
