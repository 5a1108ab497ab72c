import { describe, expect, it } from 'vitest';
import { BusinessError, ConcurrencyConflict, retryOnConflict } from '../../shared/core/errors';
import { statusOf } from '../../shared/triggers/http';

describe('retryOnConflict', () => {
  it('runs the work again after a concurrency conflict and returns its result', async () => {
    let calls = 0;
    const result = await retryOnConflict(async () => {
      calls++;
      if (calls < 3) throw new ConcurrencyConflict('changed meanwhile');
      return 'done';
    });
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  it('gives up after the last attempt with the conflict itself (a 409)', async () => {
    let calls = 0;
    const failing = retryOnConflict(async () => {
      calls++;
      throw new ConcurrencyConflict('still changing');
    }, 3);
    const error = await failing.catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ConcurrencyConflict' });
    expect(statusOf(error)).toBe(409);
    expect(calls).toBe(3);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(
      retryOnConflict(async () => {
        calls++;
        throw new BusinessError('nothing ready');
      }),
    ).rejects.toThrow('nothing ready');
    expect(calls).toBe(1);
  });
});
