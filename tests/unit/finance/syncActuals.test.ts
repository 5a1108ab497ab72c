import { describe, expect, it } from 'vitest';
import type { StagingRow } from '../../../shared/finance/records';
import type { ErrorReport, ErrorRow } from '../../../shared/operations/errorLogStore';
import { contractShardsOf, shardOf, STAGING_WORK_SHARDS, workShardOf } from '../../../shared/finance/import/stagingIndexStore';
import { SHARDS_PER_CONTRACT } from '../../../shared/finance/import/shards';
import { accountingMessageId } from '../../../shared/finance/import/importFromStaging';
import { syncActuals } from '../../../shared/finance/syncActuals';
import { billedActual, costActual, id, knownInvoices, scenario, unbilledActual, unknownInvoices } from '../../kit/fixtures/finance';

/** In-memory stand-ins for the staging table, the index and the error log, recording the order of writes. */
function fakes() {
  const calls: string[] = [];
  const staging = new Map<string, StagingRow>();
  const index = new Set<string>();
  const errors: ErrorReport[] = [];
  return {
    calls,
    staging,
    index,
    errors,
    deps: {
      invoices: unknownInvoices,
      staging: {
        async createManyIfAbsent(rows: readonly StagingRow[]) {
          calls.push(`staging:${rows.length}`);
          let created = 0;
          for (const r of rows) {
            if (!staging.has(r.ActualId)) {
              staging.set(r.ActualId, r);
              created++;
            }
          }
          return { created, existing: new Map() };
        },
      },
      work: {
        async add(rows: readonly StagingRow[]) {
          calls.push(`index:${rows.length}`);
          for (const r of rows) index.add(r.ActualId);
        },
      },
      errorLog: {
        async record(report: ErrorReport): Promise<ErrorRow> {
          calls.push('error');
          errors.push(report);
          return { Id: String(errors.length), Source: report.source, Category: report.category, Message: report.message, OccurredAt: '', Status: 'Open' };
        },
      },
    },
  };
}

const s = scenario('unit');

describe('syncActuals', () => {
  it('writes the good records, logs each bad one with its field and value, and skips skip-sync actuals', async () => {
    const f = fakes();
    const good1 = costActual(s, id('unit', 1));
    const good2 = billedActual(s, id('unit', 2), id('unit', 'u'));
    const badAmount = { ...unbilledActual(s, id('unit', 3)), msdyn_amount: '12,50' };
    const badType = { ...unbilledActual(s, id('unit', 4)), msdyn_transactiontypecode: 123 };
    const noId = { msdyn_quantity: '1' };
    const skip = { ...unbilledActual(s, id('unit', 5)), msdyn_skipsync: true };
    const result = await syncActuals(f.deps, [good1, badAmount, good2, badType, noId, skip], { messageId: 'm-1' });

    expect(result).toEqual({ accepted: 2, created: 2, skippedSkipSync: 1, rejected: 3 });
    expect([...f.staging.keys()]).toEqual([id('unit', 1), id('unit', 2)]);
    expect(f.staging.get(id('unit', 2))).toMatchObject({ TransType: 'BilledSales', InvoiceId: s.invoiceId, UnbilledActualId: id('unit', 'u'), ImportStatus: 'Pending' });
    expect(f.staging.has(id('unit', 5))).toBe(false);
    // the index is written before the staging rows
    expect(f.calls.slice(0, 2)).toEqual(['index:2', 'staging:2']);

    expect(f.errors.map((e) => [e.source, e.category, e.reference, e.messageId])).toEqual([
      ['syncActuals', 'Validation', id('unit', 3), 'm-1'],
      ['syncActuals', 'Validation', id('unit', 4), 'm-1'],
      ['syncActuals', 'Validation', undefined, 'm-1'],
    ]);
    expect(f.errors[0]!.message).toMatch(/record 2 of 6/);
    expect(f.errors[0]!.message).toMatch(/msdyn_amount: must be a decimal string.*\(got "12,50"\)/);
    expect(f.errors[1]!.message).toMatch(/msdyn_transactiontypecode: must be a transaction type option value.*\(got 123\)/);
    expect(f.errors[2]!.message).toMatch(/no readable msdyn_actualid.*msdyn_actualid: .*\(got missing\)/);
    expect(f.errors[0]!.payload).toEqual(badAmount);
  });

  it('writes an actual repeated within one message once, and a redelivery creates nothing new', async () => {
    const f = fakes();
    const a = unbilledActual(s, id('unit', 'dup'));
    expect(await syncActuals(f.deps, [a, a])).toMatchObject({ accepted: 1, created: 1 });
    expect(await syncActuals(f.deps, [a, a])).toMatchObject({ accepted: 1, created: 0 });
    expect(f.staging.size).toBe(1);
  });

  it("names a billed row's proposal with its invoice's number, asking once per message, and leaves other rows and unknown invoices alone", async () => {
    const f = fakes();
    const other = scenario('unit-other');
    const invoices = knownInvoices({ [s.invoiceId]: 'PRF-000042' });
    const deps = { ...f.deps, invoices };
    const b1 = billedActual(s, id('unit', 'n1'), id('unit', 'nu1'));
    const b2 = billedActual(s, id('unit', 'n2'), undefined);
    const unknown = billedActual(other, id('unit', 'n3'), undefined);
    // An unbilled actual made at confirmation carries the invoice too; it is no proposal line.
    const unbilledOfInvoice = { ...unbilledActual(s, id('unit', 'nu2')), msdyn_invoice: s.invoiceId };
    expect(await syncActuals(deps, [b1, unbilledOfInvoice, b2, unknown])).toMatchObject({ accepted: 4, created: 4 });

    expect(invoices.asked).toEqual([[s.invoiceId, other.invoiceId]]);
    expect(f.staging.get(b1.msdyn_actualid)).toMatchObject({ InvoiceId: s.invoiceId, InvoiceProposalId: 'PRF-000042' });
    expect(f.staging.get(b2.msdyn_actualid)).toMatchObject({ InvoiceProposalId: 'PRF-000042' });
    expect(f.staging.get(unknown.msdyn_actualid)!.InvoiceProposalId).toBeUndefined();
    expect(f.staging.get(unbilledOfInvoice.msdyn_actualid)!.InvoiceProposalId).toBeUndefined();

    // Nothing billed: nothing to ask.
    await syncActuals(deps, [costActual(s, id('unit', 'nc'))]);
    expect(invoices.asked).toHaveLength(1);
  });

  it('refuses a billed actual without its invoice as a validation error', async () => {
    const f = fakes();
    const { msdyn_invoice: _drop, ...billed } = billedActual(s, id('unit', 'b'), undefined);
    expect(await syncActuals(f.deps, [billed])).toMatchObject({ accepted: 0, rejected: 1 });
    expect(f.errors[0]).toMatchObject({ reference: id('unit', 'b'), category: 'Validation' });
    expect(f.errors[0]!.message).toMatch(/has no msdyn_invoice/);
    expect(f.calls).toEqual(['error']);
  });
});

describe('pending index and accounting message ids', () => {
  it('spreads actual ids over the shards, always to the same shard', () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 800; i++) {
      const shard = shardOf(id('shard', i));
      expect(shard).toBe(shardOf(id('shard', i)));
      seen.set(shard, (seen.get(shard) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(Array.from({ length: STAGING_WORK_SHARDS }, (_, i) => `S${i}`));
    for (const n of seen.values()) expect(n).toBeGreaterThan(50);
  });

  it("puts a contract's index entries in its two shards, always the same one per actual, and spreads contracts over all shards", () => {
    const contract = id('shard-contract');
    const own = contractShardsOf(contract);
    expect(new Set(own).size).toBe(SHARDS_PER_CONTRACT);
    const used = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const row = { ContractId: contract, ActualId: id('shard-actual', i) };
      expect(workShardOf(row)).toBe(workShardOf({ ...row }));
      used.set(workShardOf(row), (used.get(workShardOf(row)) ?? 0) + 1);
    }
    expect([...used.keys()].sort()).toEqual([...own].sort());
    for (const n of used.values()) expect(n).toBeGreaterThan(100);
    const firsts = new Set(Array.from({ length: 200 }, (_, i) => contractShardsOf(id('shard-contract', i))[0]));
    expect(firsts.size).toBe(STAGING_WORK_SHARDS);
  });

  it('derives the accounting message id from the actual ids it carries', () => {
    const detail = (actualId: string) => ({ actualId, contractId: s.contractId, voucher: 'PJV-1', postingDate: '2024-03-10', accountingCurrency: 'USD', accountingAmount: '1.00', exchangeRate: '1.000000' });
    const a = accountingMessageId([detail(id(1)), detail(id(2))]);
    expect(accountingMessageId([detail(id(1)), detail(id(2))])).toBe(a);
    expect(accountingMessageId([detail(id(1)), detail(id(3))])).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
  });
});
