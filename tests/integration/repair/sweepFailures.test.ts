/**
 * The sweep when a side is unreachable: the other finders still run, the run logs its one summary
 * line naming the failure and records no error row for it (storage faults are not a person's to
 * fix; the next run retries). And the sweep's reading of the pending index when an actual has two
 * entries. Fakes for the stores: this is about the run, not the queries.
 */
import { describe, expect, it } from 'vitest';
import type { ErrorReport } from '../../../shared/core/errorReports';
import { reconcile, type ReconcileDeps } from '../../../shared/operations/reconcile';
import type { LeaseHandle, LeasePort } from '../../../shared/storage/leases';
import { id, scenario, staging, unbilledActual } from '../../kit/fixtures/finance';

function deps(overrides: { confirmedInvoicesBefore: () => Promise<never[]>; work?: ReconcileDeps['work'] }): { deps: ReconcileDeps; recorded: ErrorReport[]; released: () => boolean } {
  const recorded: ErrorReport[] = [];
  let released = false;
  const lease: LeaseHandle = { name: 'reconcile', owner: 'test', held: () => !released, release: async () => void (released = true) };
  const leases: LeasePort = { acquire: async () => lease };
  const none = async () => [];
  const unused = () => {
    throw new Error('not used by this test');
  };
  return {
    recorded,
    released: () => released,
    deps: {
      dataverse: { confirmedInvoicesBefore: overrides.confirmedInvoicesBefore, billedAccountingOfInvoice: unused, invoices: { get: unused }, actuals: { get: unused } } as unknown as ReconcileDeps['dataverse'],
      finance: { postedProposalsBetween: none, billedStagingIdsOfInvoice: unused, proposals: { get: unused }, staging: { getMany: unused } } as unknown as ReconcileDeps['finance'],
      work: overrides.work ?? { list: none },
      sequences: { find: unused },
      leases,
      publisher: { publish: unused },
      errorLog: { record: async (r: ErrorReport) => void recorded.push(r) },
    },
  };
}

describe('the sweep over the pending index', () => {
  it('counts and reports an actual with two index entries (before and after the index was sharded by contract) once', async () => {
    const entry = (Shard: string) => ({
      ...staging(unbilledActual(scenario('sweep-twice'), id('sweep-twice', 'u'))),
      Shard,
      QueuedAt: '2024-01-01T00:00:00.000Z',
      ImportStatus: 'Error' as const,
      ImportMessage: 'No exchange rate from EUR to USD on 2024-03-10',
    });
    const { deps: d, recorded } = deps({ confirmedInvoicesBefore: async () => [], work: { list: async () => [entry('S1'), entry('S6')] } });
    const result = await reconcile(d, { now: new Date('2024-06-01T00:00:00Z') });
    expect(result.checked.errorRows).toBe(1);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.message).toMatch(/^1 foActualsStaging row\(s\) of contract .* are in Error/);
  });
});

describe('the sweep when a side is unreachable', () => {
  it('runs the other finders, counts the failure, logs one line and releases the lease', async () => {
    const { deps: d, recorded, released } = deps({
      confirmedInvoicesBefore: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:10002');
      },
    });
    const lines: string[] = [];
    const result = await reconcile(d, { log: (line) => lines.push(line) });
    expect(result).toMatchObject({ ran: true, failures: 1, problems: 0, firstFailure: 'the Confirmed invoices: connect ECONNREFUSED 127.0.0.1:10002' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[reconcile\] run=\S+ done .* failures=1 firstFailure="the Confirmed invoices: connect ECONNREFUSED/);
    expect(recorded).toEqual([]);
    expect(released()).toBe(true);
  });
});
