import { describe, expect, it } from 'vitest';
import { BusinessError, ConcurrencyConflict, NotFoundError } from '../../shared/core/errors';
import type { Stored } from '../../shared/core/stored';
import type { OutboundMessage, Publisher, QueueName } from '../../shared/messages';
import type { ErrorRow } from '../../shared/operations/errorLogStore';
import { replayError, replayErrors, replayRefusal, type ReplayDeps } from '../../shared/operations/replay';

function row(id: string, extra: Partial<ErrorRow> = {}): Stored<ErrorRow> {
  const body = JSON.stringify({ invoiceId: `inv-${id}` });
  return {
    Id: id,
    Source: 'confirmProformaInvoice',
    Category: 'DeadLetter',
    Message: 'dead-lettered',
    MessageId: `m-${id}`,
    OccurredAt: '2026-12-01T10:00:00.000Z',
    Status: 'Open',
    Queue: 'invoice-confirmations',
    BodyChars: body.length,
    Body0: body,
    etag: 'W/"1"',
    ...extra,
  } as Stored<ErrorRow>;
}

/** An in-memory error log and a publisher that keeps what it sent (and can be made to fail). */
function fakes(rows: Stored<ErrorRow>[], options: { failPublishAfter?: number; staleIds?: string[] } = {}) {
  const table = new Map(rows.map((r) => [r.Id, r]));
  const sent: { queue: QueueName; message: OutboundMessage }[] = [];
  const publisher: Publisher = {
    async publish(queue, messages) {
      if (options.failPublishAfter !== undefined && sent.length >= options.failPublishAfter) throw new Error('The underlying AMQP connection is closed.');
      for (const message of messages) sent.push({ queue, message });
    },
  };
  const deps: ReplayDeps = {
    publisher,
    now: () => new Date('2026-12-01T12:00:00.000Z'),
    errorLog: {
      async byId(id) {
        return table.get(id);
      },
      async update(next) {
        if (options.staleIds?.includes(next.Id)) return false;
        table.set(next.Id, next);
        return true;
      },
      async page(filter) {
        return { rows: [...table.values()].filter((r) => !filter.status || r.Status === filter.status) };
      },
    },
  };
  return { deps, sent, table };
}

describe('replay', () => {
  it('sends the kept body again to the row\'s queue with a new id and ReplayOf, and marks the row Replayed', async () => {
    const { deps, sent, table } = fakes([row('A')]);
    const first = await replayError(deps, 'A', 'ops@contoso');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.queue).toBe('invoice-confirmations');
    expect(sent[0]!.message.body).toEqual({ invoiceId: 'inv-A' });
    expect(sent[0]!.message.properties).toEqual({ ReplayOf: 'A' });
    expect(sent[0]!.message.messageId).not.toBe('m-A');
    expect(first).toMatchObject({ errorId: 'A', replayCount: 1, error: { Status: 'Replayed', ReplayedBy: 'ops@contoso', ReplayCount: 1 } });
    expect(first.error).not.toHaveProperty('Body0');
    // A second replay (the first did not go through) gets another id, so duplicate detection keeps it.
    const second = await replayError(deps, 'A', 'ops@contoso');
    expect(second.replayCount).toBe(2);
    expect(second.messageId).not.toBe(first.messageId);
    expect(table.get('A')!.LastReplayMessageId).toBe(second.messageId);
  });

  it('refuses rows that cannot be replayed, each with its reason', async () => {
    expect(replayRefusal(row('R', { Status: 'Resolved' }))).toContain('is Resolved');
    expect(replayRefusal(row('V', { Category: 'Validation' }))).toContain('malformed');
    expect(replayRefusal(row('T', { Source: 'importFromStaging', Queue: undefined }))).toContain('not about a queue message');
    expect(replayRefusal(row('B', { BodyChars: undefined }))).toContain('was not kept');
    expect(replayRefusal(row('C', { BodyChars: 999 }))).toContain('was not kept'); // a body cut short is not sent
    expect(replayRefusal(row('OK'))).toBeUndefined();
    const { deps, sent } = fakes([row('V', { Category: 'Validation' })]);
    await expect(replayError(deps, 'V', 'x')).rejects.toBeInstanceOf(BusinessError);
    await expect(replayError(deps, 'nope', 'x')).rejects.toBeInstanceOf(NotFoundError);
    expect(sent).toEqual([]);
  });

  it('reports a row changed while it was replayed as a conflict', async () => {
    const { deps } = fakes([row('A')], { staleIds: ['A'] });
    await expect(replayError(deps, 'A', 'x')).rejects.toBeInstanceOf(ConcurrencyConflict);
  });

  it('replays many: refused rows listed with reasons, and a broker fault stops the run but keeps what was done', async () => {
    const { deps, sent } = fakes([row('A'), row('V', { Category: 'Validation' }), row('B'), row('C')], { failPublishAfter: 1 });
    const result = await replayErrors(deps, {}, 'ops');
    expect(sent).toHaveLength(1);
    expect(result.replayed.map((r) => r.errorId)).toEqual(['A']);
    expect(result.refused.map((r) => r.errorId)).toEqual(['V']);
    expect(result.more).toBe(true);
    expect(result.stoppedBy).toContain('AMQP connection is closed');
    const nothingYet = fakes([row('A')], { failPublishAfter: 0 });
    await expect(replayErrors(nothingYet.deps, {}, 'ops')).rejects.toThrow('AMQP');
  });

  it('stops at `top`, saying there is more', async () => {
    const { deps, sent } = fakes([row('A'), row('B'), row('C')]);
    const result = await replayErrors(deps, { top: 2 }, 'ops');
    expect(result.replayed).toHaveLength(2);
    expect(result.more).toBe(true);
    expect(sent).toHaveLength(2);
  });
});
