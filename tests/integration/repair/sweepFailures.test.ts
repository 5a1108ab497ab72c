/**
 * The sweep when a side is unreachable: the other finders still run, the run logs its one summary
 * line naming the failure and records no error row for it (storage faults are not a person's to
 * fix; the next run retries). Fakes for the stores: this is about the run, not the queries.
 */
import { describe, expect, it } from 'vitest';
import type { ErrorReport } from '../../../shared/core/errorReports';
import { reconcile, type ReconcileDeps } from '../../../shared/operations/reconcile';
import type { LeaseHandle, LeasePort } from '../../../shared/storage/leases';

function deps(overrides: { confirmedInvoicesBefore: () => Promise<never[]> }): { deps: ReconcileDeps; recorded: ErrorReport[]; released: () => boolean } {
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
      work: { list: none },
      sequences: { find: unused },
      leases,
      publisher: { publish: unused },
      errorLog: { record: async (r: ErrorReport) => void recorded.push(r) },
    },
  };
}

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
