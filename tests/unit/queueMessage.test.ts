import { InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ErrorLogPort, ErrorReport, ErrorRow } from '../../shared/operations/errorLogStore';
import { BusinessError } from '../../shared/core/errors';
import { handleQueueMessage } from '../../shared/triggers/queueMessage';

/** A fake error log that keeps what it was told. */
function fakeErrorLog(): ErrorLogPort & { reports: ErrorReport[] } {
  const reports: ErrorReport[] = [];
  return {
    reports,
    async record(report) {
      reports.push(report);
      return { Id: String(reports.length), Source: report.source, Category: report.category, Message: report.message, OccurredAt: '', Status: report.status ?? 'Open' } as ErrorRow;
    },
  };
}

function context(deliveryCount: number, messageId = 'm-1'): InvocationContext {
  return new InvocationContext({
    invocationId: 'inv-1',
    functionName: 'testFunction',
    triggerMetadata: { messageId, deliveryCount, enqueuedTimeUtc: '2026-11-25T10:00:00.000Z' },
    logHandler: () => undefined,
  });
}

const schema = z.object({ invoiceId: z.string() });

async function run(message: unknown, deliveryCount: number, handle: () => Promise<void>, retryPausesMs: readonly number[] = []) {
  const errorLog = fakeErrorLog();
  const outcome = await handleQueueMessage({ source: 'testFunction', message, context: context(deliveryCount), schema, errorLog, reference: (b) => b.invoiceId, handle, retryPausesMs }).then(
    () => 'completed' as const,
    (error: unknown) => error as Error,
  );
  return { outcome, reports: errorLog.reports };
}

describe('handleQueueMessage', () => {
  it('records a body that is not JSON as Validation and completes the message', async () => {
    const { outcome, reports } = await run('{not json', 1, async () => undefined);
    expect(outcome).toBe('completed');
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ category: 'Validation', messageId: 'm-1' });
    expect(reports[0]?.message).toMatch(/^the message body is not JSON/);
  });

  it('records a schema mismatch naming the field', async () => {
    const { outcome, reports } = await run({ invoiceId: 42 }, 1, async () => undefined);
    expect(outcome).toBe('completed');
    expect(reports[0]?.message).toMatch(/invoiceId: /);
  });

  it('records a business refusal with its reference and completes', async () => {
    const { outcome, reports } = await run({ invoiceId: 'INV-1' }, 1, async () => {
      throw new BusinessError('Invoice INV-1 is Posted; only Draft or In Review can be confirmed');
    });
    expect(outcome).toBe('completed');
    expect(reports).toEqual([expect.objectContaining({ category: 'Business', reference: 'INV-1', message: expect.stringContaining('is Posted') })]);
  });

  it('rethrows a transient fault so Service Bus redelivers, leaving one Transient row for the message', async () => {
    const { outcome, reports } = await run({ invoiceId: 'INV-1' }, 2, async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:10002');
    });
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toContain('ECONNREFUSED');
    expect(reports).toEqual([
      expect.objectContaining({ category: 'Transient', status: 'Open', dedupeKey: 'transient|m-1', reference: 'INV-1', message: expect.stringMatching(/^Delivery 2 failed/) }),
    ]);
  });

  it('closes the Transient row when a redelivered message succeeds, and writes nothing on a first clean delivery', async () => {
    const redelivered = await run({ invoiceId: 'INV-1' }, 3, async () => undefined);
    expect(redelivered.outcome).toBe('completed');
    expect(redelivered.reports).toEqual([expect.objectContaining({ category: 'Transient', status: 'Resolved', dedupeKey: 'transient|m-1' })]);
    const clean = await run({ invoiceId: 'INV-1' }, 1, async () => undefined);
    expect(clean.reports).toEqual([]);
  });

  it('still rethrows the original fault when the error log itself cannot be written', async () => {
    const failingLog: ErrorLogPort = {
      record: async () => {
        throw new Error('table storage down');
      },
    };
    const result = await handleQueueMessage({
      source: 'testFunction',
      message: { invoiceId: 'x' },
      context: context(1),
      schema,
      errorLog: failingLog,
      retryPausesMs: [],
      handle: async () => {
        throw new Error('broker down');
      },
    }).catch((e: unknown) => e as Error);
    expect((result as Error).message).toBe('broker down');
  });

  it('retries a passing fault inside the delivery after growing pauses, and completes when it passes', async () => {
    let calls = 0;
    const started = Date.now();
    const { outcome, reports } = await run(
      { invoiceId: 'INV-1' },
      1,
      async () => {
        if (++calls < 3) throw new Error('connect ECONNREFUSED 127.0.0.1:10002');
      },
      [40, 80, 160],
    );
    expect(outcome).toBe('completed');
    expect(calls).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(40 * 0.75 + 80 * 0.75);
    expect(reports).toEqual([]);
  });

  it('gives the delivery up after its last retry, and never retries a business refusal', async () => {
    let calls = 0;
    const transient = await run({ invoiceId: 'INV-1' }, 1, async () => {
      calls++;
      throw new Error('storage down');
    }, [5, 5]);
    expect(calls).toBe(3);
    expect(transient.outcome).toBeInstanceOf(Error);
    expect(transient.reports[0]?.message).toMatch(/^Delivery 1 failed after 2 retries/);
    calls = 0;
    const refused = await run({ invoiceId: 'INV-1' }, 1, async () => {
      calls++;
      throw new BusinessError('no');
    }, [5, 5]);
    expect(calls).toBe(1);
    expect(refused.outcome).toBe('completed');
  });

  it('resolves the error row a replayed message repairs, read from the camel-cased application property the host hands over', async () => {
    const resolved: { source: string; errorId: string }[] = [];
    const errorLog = {
      ...fakeErrorLog(),
      async resolveReplayed(source: string, errorId: string) {
        resolved.push({ source, errorId });
      },
    };
    const ctx = new InvocationContext({
      invocationId: 'inv-2',
      functionName: 'testFunction',
      triggerMetadata: { messageId: 'm-2', deliveryCount: 1, applicationProperties: { replayOf: '9999-ABC' } },
      logHandler: () => undefined,
    });
    await handleQueueMessage({ source: 'testFunction', message: { invoiceId: 'INV-1' }, context: ctx, schema, errorLog, handle: async () => undefined, retryPausesMs: [] });
    expect(resolved).toEqual([{ source: 'testFunction', errorId: '9999-ABC' }]);
    const failing = await handleQueueMessage({ source: 'testFunction', message: { invoiceId: 'INV-1' }, context: ctx, schema, errorLog, handle: async () => { throw new BusinessError('no'); }, retryPausesMs: [] });
    expect(failing).toBeUndefined();
    expect(resolved).toHaveLength(1);
  });
});
