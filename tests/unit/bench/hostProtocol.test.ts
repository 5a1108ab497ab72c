import { describe, expect, it } from 'vitest';
import { executionsBetween, ExecutionTally } from '../../../tools/bench/hostProtocol';

describe('ExecutionTally', () => {
  it('counts invocations per function from the host log lines and knows how many are running', () => {
    const tally = new ExecutionTally();
    const id = '0b7c2d1e-1111-4222-8333-444455556666';
    expect(tally.see(`[2026-11-25T12:00:00.000Z] Executing 'Functions.syncActuals' (Reason='New ServiceBus message detected', Id=${id})`)).toBe('started');
    expect(tally.see(`[2026-11-25T12:00:00.000Z] Executing 'Functions.syncActuals' (Reason='New ServiceBus message detected', Id=${id})`)).toBe('started');
    expect(tally.see(`[2026-11-25T12:00:00.000Z] Executing 'Functions.importFromStaging' (Reason='This function was programmatically called via the host APIs.', Id=${id})`)).toBe('started');
    expect(tally.inFlight()).toBe(3);
    expect(tally.see(`[2026-11-25T12:00:01.000Z] Executed 'Functions.syncActuals' (Succeeded, Id=${id}, Duration=812ms)`)).toBe('succeeded');
    expect(tally.see(`[2026-11-25T12:00:02.000Z] Executed 'Functions.importFromStaging' (Failed, Id=${id}, Duration=5ms)`)).toBe('failed');
    expect(tally.see(`[2026-11-25T12:00:02.000Z] syncActuals (${id}) [Information] 100 received`)).toBeUndefined();
    expect(tally.counts).toEqual({
      syncActuals: { started: 2, succeeded: 1, failed: 0, busyMs: 812 },
      importFromStaging: { started: 1, succeeded: 0, failed: 1, busyMs: 5 },
    });
    expect(tally.inFlight()).toBe(1);
  });

  it('tells what ran between two snapshots', () => {
    const before = { syncActuals: { started: 2, succeeded: 1, failed: 0, busyMs: 800 }, health: { started: 1, succeeded: 1, failed: 0, busyMs: 3 } };
    const after = {
      syncActuals: { started: 5, succeeded: 4, failed: 1, busyMs: 4000 },
      health: { started: 1, succeeded: 1, failed: 0, busyMs: 3 },
      importFromStaging: { started: 1, succeeded: 1, failed: 0, busyMs: 15000 },
    };
    expect(executionsBetween(before, after)).toEqual({
      syncActuals: { invocations: 4, failed: 1, busyMs: 3200 },
      importFromStaging: { invocations: 1, failed: 0, busyMs: 15000 },
    });
  });
});
