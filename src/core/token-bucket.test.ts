import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketShapes, MemoryRateLimiter } from './token-bucket.js';

describe('token buckets', () => {
  it('per second: a burst of one second, then one token every 1/rate', () => {
    const limiter = new MemoryRateLimiter();
    const request = [{ key: 'domain:google', limit: { perSecond: 10 } }];
    for (let i = 0; i < 10; i++)
      assert.deepEqual(limiter.reserve(request, 0, 0), { ok: true, waitMs: 0 });
    assert.deepEqual(limiter.reserve(request, 0, 0), { ok: false, retryAt: 100 });
    assert.deepEqual(limiter.reserve(request, 100, 0), { ok: true, waitMs: 0 });
  });

  it('reserves ahead within maxWait, so waiters queue in time', () => {
    const limiter = new MemoryRateLimiter();
    const request = [{ key: 'k', limit: { perSecond: 2 } }];
    limiter.reserve(request, 0, 0);
    limiter.reserve(request, 0, 0);
    assert.deepEqual(limiter.reserve(request, 0, 1_000), { ok: true, waitMs: 500 });
    assert.deepEqual(limiter.reserve(request, 0, 1_000), { ok: true, waitMs: 1_000 });
    assert.deepEqual(limiter.reserve(request, 0, 1_000), { ok: false, retryAt: 1_500 });
  });

  it('per hour: a minute of burst, and the hourly rate holds over an hour', () => {
    assert.deepEqual(bucketShapes({ perHour: 3_600 }), [
      { unit: 'hour', capacity: 60, ratePerMs: 0.001 },
    ]);
    const limiter = new MemoryRateLimiter();
    const request = [{ key: 'k', limit: { perHour: 3_600 } }];
    let sent = 0;
    for (let t = 0; t < 3_600_000; t += 100) {
      while (limiter.reserve(request, t, 0).ok) sent++;
    }
    assert.ok(sent <= 3_600 + 60 && sent >= 3_600, `sent ${sent}`);
  });

  it('all or nothing across buckets: a refusal takes no token from the others', () => {
    const limiter = new MemoryRateLimiter();
    const global = { key: 'global', limit: { perSecond: 100 } };
    const google = { key: 'domain:google', limit: { perSecond: 1 } };
    assert.equal(limiter.reserve([global, google], 0, 0).ok, true);
    assert.equal(limiter.reserve([global, google], 0, 0).ok, false);
    for (let i = 0; i < 99; i++) assert.equal(limiter.reserve([global], 0, 0).ok, true);
    assert.equal(limiter.reserve([global], 0, 0).ok, false);
  });

  it('a cut rate refills the same bucket more slowly', () => {
    const limiter = new MemoryRateLimiter();
    const at = (perSecond: number) => [{ key: 'k', limit: { perSecond } }];
    for (let i = 0; i < 10; i++) limiter.reserve(at(10), 0, 0);
    assert.deepEqual(limiter.reserve(at(5), 0, 0), { ok: false, retryAt: 200 });
  });
});
