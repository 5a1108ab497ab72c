import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { isBalanced } from '../../../shared/finance/rules/ledger';
import { postTransaction, transactionVoucher, WaitingReason } from '../../../shared/finance/rules/import';
import { actualsAccountingMessage } from '../../../shared/messages';
import { runImportFromStaging } from '../../../shared/finance/import/importFromStaging';
import { syncActuals } from '../../../shared/finance/syncActuals';
import { syncInvoiceProposal } from '../../../shared/finance/syncInvoiceProposal';
import { shardOf, workShardOf } from '../../../shared/finance/import/stagingIndexStore';
import {
  alwaysGranted,
  billedActual,
  checkJournals,
  costActual,
  financeSide,
  id,
  proposalMessage,
  resetFinanceSide,
  scenario,
  staging,
  unbilledActual,
  unknownInvoices,
  type FinanceSide,
} from '../../kit/fixtures/finance';

let azurite: LocalAzurite;
let side: FinanceSide;

beforeAll(async () => {
  azurite = await startAzurite();
  side = financeSide(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});
beforeEach(async () => {
  await resetFinanceSide(side);
  side.publisher.sent.length = 0;
});

const run = (lines: string[] = []) => runImportFromStaging(side.deps(), { now: new Date('2024-04-01T08:00:00Z'), log: (l) => lines.push(l) });

async function stagingRow(contractId: string, actualId: string) {
  const row = await side.finance.staging.get(contractId, actualId);
  if (!row) throw new Error(`no staging row ${actualId}`);
  return row;
}

async function voucherEntries(voucher: string, reference?: string) {
  return (await side.finance.ledgerEntries.listPartition(voucher)).filter((e) => reference === undefined || e.Reference === reference);
}

describe('importFromStaging on Azurite', () => {
  it('posts cost and unbilled rows, then in the same run turns the billed twin into a proposal line', async () => {
    const s = scenario('ordering');
    const cost = costActual(s, id('ordering', 'cost'), '400.00');
    const unbilled = unbilledActual(s, id('ordering', 'unbilled'), '800.00');
    const billed = billedActual(s, id('ordering', 'billed'), unbilled.msdyn_actualid, '800.00');
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['800.00']));
    // The billed row is listed first in the index: ordering inside the run must not depend on it.
    await side.stage([staging(billed)]);
    await side.stage([staging(unbilled), staging(cost)]);

    const lines: string[] = [];
    const result = await run(lines);
    expect(result).toMatchObject({ ran: true, read: 3, posted: 2, linesCreated: 1, linesImported: 1, waiting: 0, errors: 0, conflicts: 0 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[importFromStaging\] run=\S+ done read=3 posted=2 linesCreated=1 waiting=0 errors=0 .*durationMs=\d+ phases=\S+$/);

    // unbilled: project transaction, its entries in the run's journal voucher, accounting details on the row
    const trans = await side.finance.projectTransactions.get(s.projectId, unbilled.msdyn_actualid);
    const voucher = trans!.Voucher;
    expect(voucher).toMatch(/^PJV-\d{14}-[0-9A-F]{8}-0001$/);
    expect(result.vouchers).toBe(1);
    expect(trans).toMatchObject({ TransType: 'UnbilledSales', Amount: '800.00', AccountingAmount: '800.00', CurrencyCode: 'USD', Voucher: voucher, PostingDate: '2024-03-10', FullyInvoiced: false });
    const entries = await voucherEntries(voucher, unbilled.msdyn_actualid);
    expect(entries.map((e) => [e.MainAccount, e.Amount, e.ProjectId])).toEqual([
      ['WIPSalesValue', '800.00', s.projectId],
      ['AccruedRevenue', '-800.00', s.projectId],
    ]);
    expect(await stagingRow(s.contractId, unbilled.msdyn_actualid)).toMatchObject({
      ImportStatus: 'Imported',
      VoucherNumber: voucher,
      PostingDate: '2024-03-10',
      AccountingCurrency: 'USD',
      AccountingAmount: '800.00',
      ExchangeRate: '1.000000',
      ImportedOn: '2024-04-01T08:00:00.000Z',
    });
    // cost: the same journal voucher (one run), its own balanced pair
    expect((await side.finance.projectTransactions.get(s.projectId, cost.msdyn_actualid))?.Voucher).toBe(voucher);
    expect(isBalanced(await voucherEntries(voucher))).toBe(true);
    const costEntries = await voucherEntries(voucher, cost.msdyn_actualid);
    expect(costEntries.map((e) => [e.MainAccount, e.Amount])).toEqual([
      ['ProjectCost', '400.00'],
      ['CostOffset', '-400.00'],
    ]);

    // billed: a line on the proposal, counters follow, row Imported
    const line = await side.finance.proposalLines.get(s.proposalId, billed.msdyn_actualid);
    expect(line).toMatchObject({ ActualId: billed.msdyn_actualid, UnbilledActualId: unbilled.msdyn_actualid, TransType: 'Hour', LineProperty: 'Chargeable', Quantity: '8', SalesPrice: '100.00', LineAmount: '800.00', CurrencyCode: 'USD' });
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '800.00', ExpectedLineCount: 1, ExpectedAmount: '800.00', Status: 'Open' });
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported', InvoiceProposalId: s.proposalId });

    // accounting details published once for the two posted rows, with a deterministic id
    expect(side.publisher.sent).toHaveLength(1);
    const sent = side.publisher.sent[0]!;
    expect(sent.queue).toBe('actuals-accounting');
    const body = actualsAccountingMessage.parse(sent.message.body);
    expect(body.details.map((d) => d.actualId).sort()).toEqual([cost.msdyn_actualid, unbilled.msdyn_actualid].sort());
    expect(body.details.find((d) => d.actualId === unbilled.msdyn_actualid)).toEqual({
      actualId: unbilled.msdyn_actualid,
      contractId: s.contractId,
      voucher,
      postingDate: '2024-03-10',
      accountingCurrency: 'USD',
      accountingAmount: '800.00',
      exchangeRate: '1.000000',
    });

    // nothing left to do: the index is empty and a second run reads nothing
    expect(await side.work.list()).toEqual([]);
    expect(await run()).toMatchObject({ read: 0, posted: 0, linesCreated: 0 });
    expect(side.publisher.sent).toHaveLength(1);
  });

  it('lets a billed row wait for its proposal header, then for its unbilled transaction, with the exact reasons', async () => {
    const s = scenario('waiting');
    const unbilled = unbilledActual(s, id('waiting', 'unbilled'), '300.00');
    const billed = billedActual(s, id('waiting', 'billed'), unbilled.msdyn_actualid, '300.00');
    const manual = billedActual(s, id('waiting', 'manual'), undefined, '50.00'); // no unbilled behind it
    await side.stage([staging(billed), staging(manual)]);

    expect(await run()).toMatchObject({ read: 2, waiting: 2, linesCreated: 0 });
    for (const a of [billed, manual]) {
      expect(await stagingRow(s.contractId, a.msdyn_actualid)).toMatchObject({ ImportStatus: 'Waiting', ImportMessage: WaitingReason.proposalNotSynchronized });
    }
    expect(WaitingReason.proposalNotSynchronized).toBe('Invoice proposal not synchronized yet');

    // the header arrives: the manual line goes in, the other waits for its unbilled transaction
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['300.00', '50.00']));
    expect(await run()).toMatchObject({ read: 2, waiting: 1, linesCreated: 1 });
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ ImportStatus: 'Waiting', ImportMessage: "Project transaction hasn't been posted yet" });
    expect(await stagingRow(s.contractId, manual.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported' });
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '50.00' });

    // a waiting row that did not change is not rewritten
    const before = await stagingRow(s.contractId, billed.msdyn_actualid);
    expect(await run()).toMatchObject({ read: 1, waiting: 1 });
    expect((await stagingRow(s.contractId, billed.msdyn_actualid)).etag).toBe(before.etag);

    // the unbilled actual arrives: both complete, the proposal is complete
    await side.stage([staging(unbilled)]);
    expect(await run()).toMatchObject({ read: 2, posted: 1, linesCreated: 1, waiting: 0 });
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ ImportedLineCount: 2, ImportedAmount: '350.00', ExpectedLineCount: 2, ExpectedAmount: '350.00' });
    expect(await side.work.list()).toEqual([]);
  });

  it('leaves a row without an exchange rate in Error naming the currencies and date, and imports it once the rate exists', async () => {
    const s = scenario('rate', 'EUR');
    const unbilled = unbilledActual(s, id('rate', 'unbilled'), '1000.00');
    const billed = billedActual(s, id('rate', 'billed'), unbilled.msdyn_actualid, '1000.00');
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['1000.00']));
    // a rate that starts after the row's date does not apply
    await side.finance.exchangeRates.upsert({ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.2', ValidFrom: '2024-03-11' });
    await side.stage([staging(unbilled), staging(billed)]);

    expect(await run()).toMatchObject({ read: 2, posted: 0, errors: 1, waiting: 1 });
    expect(await stagingRow(s.contractId, unbilled.msdyn_actualid)).toMatchObject({
      ImportStatus: 'Error',
      ImportMessage: 'No exchange rate from EUR to USD on or before 2024-03-10',
    });
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ ImportStatus: 'Waiting', ImportMessage: "Project transaction hasn't been posted yet" });
    expect(await side.finance.projectTransactions.get(s.projectId, unbilled.msdyn_actualid)).toBeUndefined();
    expect(side.publisher.sent).toHaveLength(0);

    // still no rate: retried, still Error
    expect(await run()).toMatchObject({ read: 2, errors: 1 });

    await side.finance.exchangeRates.upsert({ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.0845', ValidFrom: '2024-03-01' });
    expect(await run()).toMatchObject({ read: 2, posted: 1, linesCreated: 1, errors: 0, waiting: 0 });
    const row = await stagingRow(s.contractId, unbilled.msdyn_actualid);
    expect(row).toMatchObject({ ImportStatus: 'Imported', AccountingCurrency: 'USD', ExchangeRate: '1.084500', AccountingAmount: '1084.50' });
    const entries = await voucherEntries(row.VoucherNumber!, unbilled.msdyn_actualid);
    expect(entries.map((e) => e.Amount)).toEqual(['1084.50', '-1084.50']);
    expect((await side.finance.projectTransactions.get(s.projectId, unbilled.msdyn_actualid))?.AccountingAmount).toBe('1084.50');
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '1000.00' });
  });

  it('balances every voucher, including negative reversals and zero-amount rows', async () => {
    const s = scenario('vouchers');
    const rows = [
      staging(unbilledActual(s, id('v', 1), '1234.56')),
      staging(unbilledActual(s, id('v', 2), '-1234.56')), // an adjustment reversal posts negative amounts
      staging(unbilledActual(s, id('v', 3), '0.00')), // non-chargeable remainder: no ledger lines
      staging(costActual(s, id('v', 4), '333.33')),
      staging(costActual(s, id('v', 5), '-10.01')),
    ];
    await side.stage(rows);
    expect(await run()).toMatchObject({ read: 5, posted: 5, errors: 0, vouchers: 1 });
    const all = await side.finance.ledgerEntries.query();
    const byVoucher = new Map<string, typeof all>();
    for (const e of all) byVoucher.set(e.Voucher, [...(byVoucher.get(e.Voucher) ?? []), e]);
    expect(byVoucher.size).toBe(1); // one journal: 4 rows with lines, 8 entries
    expect(all).toHaveLength(8);
    for (const entries of byVoucher.values()) expect(isBalanced(entries)).toBe(true);
    const zeroTx = await side.finance.projectTransactions.get(s.projectId, id('v', 3));
    expect(await voucherEntries(zeroTx!.Voucher, id('v', 3))).toEqual([]);
    expect(await checkJournals(side.finance)).toEqual({ vouchers: 1, entries: 8, transactions: 5 });
    expect((await side.finance.projectTransactions.get(s.projectId, id('v', 3)))?.AccountingAmount).toBe('0.00');
  });

  it('ignores a re-sent actual that was already imported, and cleans up its index entry without publishing again', async () => {
    const s = scenario('resend');
    const unbilled = unbilledActual(s, id('resend', 'u'), '100.00');
    const deps = { invoices: unknownInvoices, staging: side.finance.staging, work: side.work, errorLog: side.errorLog };
    await syncActuals(deps, [unbilled]);
    await run();
    const imported = await stagingRow(s.contractId, unbilled.msdyn_actualid);
    expect(imported.ImportStatus).toBe('Imported');
    expect(side.publisher.sent).toHaveLength(1);

    expect(await syncActuals(deps, [{ ...unbilled, msdyn_amount: '999.00' }])).toMatchObject({ accepted: 1, created: 0 });
    expect(await side.work.list()).toHaveLength(1);
    const again = await stagingRow(s.contractId, unbilled.msdyn_actualid);
    expect(again.etag).toBe(imported.etag);
    expect(await run()).toMatchObject({ read: 1, cleaned: 1, posted: 0, vouchers: 0 });
    expect(await side.work.list()).toEqual([]);
    expect(side.publisher.sent).toHaveLength(1);
    // its journal slot was pinned for good: no second pair anywhere
    expect(await side.finance.ledgerEntries.query()).toHaveLength(2);
    expect((await side.work.journals.get(unbilled.msdyn_actualid))?.voucher).toBe(imported.VoucherNumber);
    await checkJournals(side.finance);
  });

  it('completes after a crash between writing the transaction and updating the staging row, without duplicates', async () => {
    const s = scenario('crash');
    const unbilled = unbilledActual(s, id('crash', 'u'), '500.00');
    const billed = billedActual(s, id('crash', 'b'), unbilled.msdyn_actualid, '500.00');
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['500.00']));
    await side.stage([staging(unbilled), staging(billed)]);
    // a publisher that fails = the run dies after the ledger and transaction writes
    const failing = { publish: async () => Promise.reject(new Error('broker unavailable')) };
    await expect(runImportFromStaging(side.deps({ publisher: failing }), { now: new Date() })).rejects.toThrow(/broker unavailable/);
    expect(await side.finance.projectTransactions.get(s.projectId, unbilled.msdyn_actualid)).toBeDefined();
    expect((await stagingRow(s.contractId, unbilled.msdyn_actualid)).ImportStatus).toBe('Pending');

    // the lease was released by the failed run: the next run finishes the work
    expect(await run()).toMatchObject({ ran: true, read: 2, posted: 1, linesCreated: 1 });
    expect(await side.finance.projectTransactions.query()).toHaveLength(1);
    expect(await side.finance.ledgerEntries.query()).toHaveLength(2);
    expect(await side.finance.proposalLines.query()).toHaveLength(1);
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '500.00' });
  });

  it('imports a row whose index entry was written but whose staging row was not (syncActuals crashed), and the redelivery keeps it', async () => {
    const s = scenario('half-written');
    const unbilled = unbilledActual(s, id('half', 'u'), '42.00');
    await side.work.add([staging(unbilled)], new Date()); // the crash came right after the index write
    expect(await run()).toMatchObject({ read: 1, posted: 1 });
    const row = await stagingRow(s.contractId, unbilled.msdyn_actualid);
    expect(row).toMatchObject({ ...staging(unbilled), ImportStatus: 'Imported', AccountingAmount: '42.00' });
    // the redelivered message finds the row and leaves it as it is
    expect(await syncActuals({ invoices: unknownInvoices, staging: side.finance.staging, work: side.work, errorLog: side.errorLog }, [unbilled])).toMatchObject({ created: 0 });
    expect((await stagingRow(s.contractId, unbilled.msdyn_actualid)).etag).toBe(row.etag);
    expect(await run()).toMatchObject({ read: 1, cleaned: 1, posted: 0 });
    expect(await side.finance.projectTransactions.query()).toHaveLength(1);
  });

  it('a slow run that lost its lease neither duplicates nor puts rows finished by a newer run back to Waiting', async () => {
    const s = scenario('slow');
    const unbilled = unbilledActual(s, id('slow', 'u'), '60.00');
    const billed = billedActual(s, id('slow', 'b'), unbilled.msdyn_actualid, '60.00');
    await side.stage([staging(unbilled), staging(billed)]);

    // The slow run posts the unbilled row, looks for the header (missing), then stalls until a
    // newer run has imported both rows; it then decides Waiting for a row that is Imported by now.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let stalled!: () => void;
    const stalling = new Promise<void>((resolve) => (stalled = resolve));
    const proposals = new Proxy(side.finance.proposals, {
      get(target, prop, receiver) {
        if (prop === 'query') {
          return async (...args: Parameters<typeof target.query>) => {
            const found = await target.query(...args);
            stalled();
            await gate;
            return found;
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const slowFinance = Object.create(side.finance, { proposals: { value: proposals } }) as typeof side.finance;
    const slow = runImportFromStaging(side.deps({ finance: slowFinance, leases: alwaysGranted }), { now: new Date() });
    await stalling;

    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['60.00']));
    const fast = await runImportFromStaging(side.deps({ leases: alwaysGranted }), { now: new Date() });
    expect(fast).toMatchObject({ linesCreated: 1 });
    const finished = await stagingRow(s.contractId, billed.msdyn_actualid);
    expect(finished.ImportStatus).toBe('Imported');

    release();
    const late = await slow;
    expect(late).toMatchObject({ linesCreated: 0, waiting: 1, cleaned: 1 });
    expect(await stagingRow(s.contractId, billed.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported', etag: finished.etag });
    expect(await stagingRow(s.contractId, unbilled.msdyn_actualid)).toMatchObject({ ImportStatus: 'Imported' });
    expect(await side.finance.projectTransactions.query()).toHaveLength(1);
    expect(await side.finance.ledgerEntries.query()).toHaveLength(2);
    expect(await side.finance.proposalLines.query()).toHaveLength(1);
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ ImportedLineCount: 1, ImportedAmount: '60.00' });
    expect(await side.work.list()).toEqual([]);
  });

  it('after posting: a re-sent billed actual changes nothing, and a new billed row for the posted proposal is an Error', async () => {
    const s = scenario('after-posting');
    const billed = billedActual(s, id('after', 'b'), undefined, '90.00');
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['90.00']));
    await side.stage([staging(billed)]);
    await run();
    // the accountant posts the proposal; posting writes its details on the billed staging row
    const { etag, ...open } = (await side.finance.proposals.get(s.proposalId, s.proposalId))!;
    await side.finance.proposals.replaceIfMatch({ ...open, Status: 'Posted', CustomerInvoiceId: 'CIV-000007' }, etag);
    const postedRow = await stagingRow(s.contractId, billed.msdyn_actualid);
    await side.finance.staging.upsert({ ...postedRow, VoucherNumber: 'CIV-V-7', PostingDate: '2024-04-02' });
    const withDetails = await stagingRow(s.contractId, billed.msdyn_actualid);

    const late = billedActual(s, id('after', 'late'), undefined, '5.00');
    await syncActuals({ invoices: unknownInvoices, staging: side.finance.staging, work: side.work, errorLog: side.errorLog }, [billed, late]);
    expect(await run()).toMatchObject({ read: 2, cleaned: 1, errors: 1, linesCreated: 0 });
    expect((await stagingRow(s.contractId, billed.msdyn_actualid)).etag).toBe(withDetails.etag);
    expect(await stagingRow(s.contractId, late.msdyn_actualid)).toMatchObject({
      ImportStatus: 'Error',
      ImportMessage: expect.stringMatching(new RegExp(`Invoice proposal ${s.proposalId} is already posted as customer invoice CIV-000007`)),
    });
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ Status: 'Posted', ImportedLineCount: 1, ImportedAmount: '90.00' });
    expect((await side.work.list()).map((i) => i.ActualId)).toEqual([late.msdyn_actualid]);
  });

  it('skips a run while another one holds the lease', async () => {
    const s = scenario('lease');
    await side.stage([staging(unbilledActual(s, id('lease', 'u')))]);
    const held = await side.leases.acquire('importFromStaging', { ttlMs: 30_000 });
    expect(held).toBeDefined();
    const lines: string[] = [];
    expect(await run(lines)).toMatchObject({ ran: false, read: 0, posted: 0 });
    expect(lines[0]).toMatch(/skipped: another run holds the lease/);
    await held!.release();
    expect(await run()).toMatchObject({ ran: true, read: 1, posted: 1 });
  });

  it('of two runs started at the same moment with the real lease, one works and the other steps aside', async () => {
    const s = scenario('simultaneous');
    const rows = Array.from({ length: 30 }, (_, i) => staging(unbilledActual(s, id('simultaneous', i))));
    await side.stage(rows);
    const results = await Promise.all([run(), run(), run()]);
    expect(results.filter((r) => r.ran)).toHaveLength(1);
    expect(results.find((r) => r.ran)).toMatchObject({ read: 30, posted: 30, conflicts: 0 });
    expect(await side.finance.projectTransactions.query()).toHaveLength(30);
    expect(await side.finance.ledgerEntries.query()).toHaveLength(60);
  });
});

/** The storage kit's write calls (each one or more table transactions). */
const KIT_WRITES = new Set<PropertyKey>(['transact', 'createManyIfAbsent', 'createGroupsIfAbsent', 'replaceAllIfMatch', 'replaceEachIfMatch', 'upsertMany', 'mergeMany', 'mergeFieldsMany', 'deleteMany']);

/** `store` with its bulk writes failing from the (n+1)-th call on ("the process died"); optionally held at a gate first. */
function failingAfter<T extends object>(store: T, n: number, gate?: { reached: () => void; wait: Promise<void> }): T {
  let calls = 0;
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (KIT_WRITES.has(prop)) {
        return async (...args: unknown[]) => {
          if (gate) {
            gate.reached();
            await gate.wait;
          }
          if (++calls > n) throw new Error('injected crash');
          return (Reflect.get(target, prop, receiver) as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function financeWith(overrides: Partial<Record<'ledgerEntries' | 'projectTransactions', object>>): FinanceSide['finance'] {
  return Object.create(side.finance, Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, { value: v }]))) as FinanceSide['finance'];
}

/** Each voucher's distinct rows, and whether any row has entries in two vouchers. */
async function ledgerShape() {
  const all = await side.finance.ledgerEntries.query();
  const rowsByVoucher = new Map<string, Set<string>>();
  const voucherOfRow = new Map<string, Set<string>>();
  for (const e of all) {
    rowsByVoucher.set(e.Voucher, (rowsByVoucher.get(e.Voucher) ?? new Set()).add(e.Reference!));
    voucherOfRow.set(e.Reference!, (voucherOfRow.get(e.Reference!) ?? new Set()).add(e.Voucher));
  }
  const byVoucher = new Map<string, typeof all>();
  for (const e of all) byVoucher.set(e.Voucher, [...(byVoucher.get(e.Voucher) ?? []), e]);
  return {
    entries: all.length,
    rowsPerVoucher: [...rowsByVoucher.values()].map((r) => r.size),
    allBalanced: [...byVoucher.values()].every((e) => isBalanced(e)),
    rowsInTwoVouchers: [...voucherOfRow.values()].filter((v) => v.size > 1).length,
  };
}

describe('importFromStaging journals (many rows per voucher)', () => {
  const mixed = (key: string, n: number, from = 0) =>
    Array.from({ length: n }, (_, i) => staging(i % 3 === 0 ? costActual(scenario(key), id(key, from + i), `${40 + i}.25`) : unbilledActual(scenario(key), id(key, from + i), `${100 + i}.10`)));

  it('puts at most 50 rows in a voucher, every voucher balances, and each transaction, staging row and accounting detail names the voucher holding its entries', async () => {
    const rows = mixed('journal', 120);
    await side.stage(rows);
    const result = await run();
    expect(result).toMatchObject({ read: 120, posted: 120, vouchers: 3, errors: 0 });
    expect(await checkJournals(side.finance)).toEqual({ vouchers: 3, entries: 240, transactions: 120 });
    expect((await ledgerShape()).rowsPerVoucher.sort()).toEqual([20, 50, 50]);
    const details = side.publisher.sent.flatMap(({ message }) => actualsAccountingMessage.parse(message.body).details);
    expect(details).toHaveLength(120);
    const s = scenario('journal');
    for (const d of details) {
      const tx = await side.finance.projectTransactions.get(s.projectId, d.actualId);
      expect(d.voucher).toBe(tx!.Voucher);
      expect((await stagingRow(s.contractId, d.actualId)).VoucherNumber).toBe(tx!.Voucher);
      expect((await voucherEntries(tx!.Voucher, d.actualId)).map((e) => e.LineNumber)).toEqual([expect.any(Number), expect.any(Number)]);
      expect((await side.work.journals.get(d.actualId))?.voucher).toBe(tx!.Voucher);
    }
    // pinned slots: two per row, 1..100 in a full voucher
    const lines = (await side.finance.ledgerEntries.listPartition(details[0]!.voucher)).map((e) => e.LineNumber);
    expect(lines).toEqual(Array.from({ length: lines.length }, (_, i) => i + 1));
  });

  it('a crash after pinning the slots, then a rerun with new rows and a smaller maxRows: the old rows keep their slots, nothing twice, nothing orphaned', async () => {
    const first = mixed('crash-pin', 80);
    await side.stage(first);
    const crashed = runImportFromStaging(side.deps({ finance: financeWith({ ledgerEntries: failingAfter(side.finance.ledgerEntries, 0) }) }), { now: new Date() });
    await expect(crashed).rejects.toThrow(/injected crash/);
    expect(await side.finance.ledgerEntries.query()).toEqual([]);
    const pinned = new Map<string, string>();
    for (const r of first) pinned.set(r.ActualId, (await side.work.journals.get(r.ActualId))!.voucher);
    expect(new Set(pinned.values()).size).toBe(2);

    await new Promise((r) => setTimeout(r, 5)); // later rows queue later
    await side.stage(mixed('crash-pin', 30, 1000));
    expect(await runImportFromStaging(side.deps(), { now: new Date(), maxRows: 60 })).toMatchObject({ read: 60, posted: 60 });
    expect(await runImportFromStaging(side.deps(), { now: new Date() })).toMatchObject({ read: 50, posted: 50 });
    expect(await checkJournals(side.finance)).toMatchObject({ entries: 220, transactions: 110 });
    const s = scenario('crash-pin');
    for (const r of first) expect((await side.finance.projectTransactions.get(s.projectId, r.ActualId))?.Voucher).toBe(pinned.get(r.ActualId));
    expect(await side.work.list()).toEqual([]);
  });

  it('a crash after part of the ledger, then reruns that each see another set of rows: no duplicate, no orphan, every voucher balanced at every step', async () => {
    const first = mixed('crash-part', 160); // 4 vouchers
    await side.stage(first);
    const crashed = runImportFromStaging(side.deps({ finance: financeWith({ ledgerEntries: failingAfter(side.finance.ledgerEntries, 2) }) }), { now: new Date() });
    await expect(crashed).rejects.toThrow(/injected crash/);
    const afterCrash = await ledgerShape();
    expect(afterCrash).toMatchObject({ entries: 200, allBalanced: true, rowsInTwoVouchers: 0 });
    expect(await side.finance.projectTransactions.query()).toEqual([]);

    await new Promise((r) => setTimeout(r, 5));
    await side.stage(mixed('crash-part', 45, 1000));
    // 70 oldest rows: one and a half vouchers of the crashed run, whatever was written of them
    expect(await runImportFromStaging(side.deps(), { now: new Date(), maxRows: 70 })).toMatchObject({ read: 70, posted: 70 });
    expect(await ledgerShape()).toMatchObject({ allBalanced: true, rowsInTwoVouchers: 0 });
    expect(await runImportFromStaging(side.deps(), { now: new Date() })).toMatchObject({ read: 135, posted: 135, errors: 0 });
    expect(await checkJournals(side.finance)).toMatchObject({ entries: 410, transactions: 205 });
    expect(await side.work.list()).toEqual([]);
  });

  it('a crash after the whole ledger (no transaction yet) and a rate changed meanwhile: the rerun posts what the ledger holds', async () => {
    const s = scenario('crash-ledger', 'EUR');
    await side.finance.exchangeRates.upsert({ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.1', ValidFrom: '2024-01-01' });
    const rows = Array.from({ length: 60 }, (_, i) => staging(unbilledActual(s, id('crash-ledger', i), '100.00')));
    await side.stage(rows);
    const crashed = runImportFromStaging(side.deps({ finance: financeWith({ projectTransactions: failingAfter(side.finance.projectTransactions, 0) }) }), { now: new Date() });
    await expect(crashed).rejects.toThrow(/injected crash/);
    expect(await side.finance.ledgerEntries.query()).toHaveLength(120);

    await side.finance.exchangeRates.upsert({ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.2', ValidFrom: '2024-01-01' });
    await new Promise((r) => setTimeout(r, 5));
    const extra = staging(unbilledActual(s, id('crash-ledger', 'new'), '100.00'));
    await side.stage([extra]);
    expect(await runImportFromStaging(side.deps(), { now: new Date() })).toMatchObject({ read: 61, posted: 61 });
    expect(await checkJournals(side.finance, /^PJV-\d{14}-[0-9A-F]{8}-\d{4}$/)).toMatchObject({ entries: 122, transactions: 61 });
    const old = await side.finance.projectTransactions.get(s.projectId, rows[0]!.ActualId);
    expect(old).toMatchObject({ AccountingAmount: '110.00' });
    expect(await stagingRow(s.contractId, rows[0]!.ActualId)).toMatchObject({ AccountingAmount: '110.00', ExchangeRate: '1.100000', VoucherNumber: old!.Voucher });
    expect((await side.finance.projectTransactions.get(s.projectId, extra.ActualId))?.AccountingAmount).toBe('120.00');
    const details = side.publisher.sent.flatMap(({ message }) => actualsAccountingMessage.parse(message.body).details);
    expect(details.find((d) => d.actualId === rows[0]!.ActualId)).toMatchObject({ accountingAmount: '110.00', exchangeRate: '1.100000', voucher: old!.Voucher });
  });

  it('two overlapping runs: the one that pins later takes the other one\'s slots, writes into its vouchers, and nothing is posted twice', async () => {
    const rows = mixed('overlap', 100);
    await side.stage(rows);
    // Run A pins its slots, then stalls before its first ledger write.
    let reached!: () => void;
    const atLedger = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const wait = new Promise<void>((r) => (release = r));
    const a = runImportFromStaging(side.deps({ leases: alwaysGranted, finance: financeWith({ ledgerEntries: failingAfter(side.finance.ledgerEntries, Infinity, { reached, wait }) }) }), { now: new Date() });
    await atLedger;
    const pinnedByA = (await side.work.journals.get(rows[0]!.ActualId))!.voucher;
    await side.stage(mixed('overlap', 20, 1000));
    const b = await runImportFromStaging(side.deps({ leases: alwaysGranted }), { now: new Date() });
    expect(b).toMatchObject({ read: 120, posted: 120 });
    release();
    const late = await a;
    expect(late).toMatchObject({ posted: 0, cleaned: 100, vouchers: 0 });
    expect(await checkJournals(side.finance)).toMatchObject({ entries: 240, transactions: 120 });
    const s = scenario('overlap');
    for (const r of rows) expect((await side.finance.projectTransactions.get(s.projectId, r.ActualId))?.Voucher.slice(0, 28)).toBe(pinnedByA.slice(0, 28));
    expect(await side.work.list()).toEqual([]);
  });

  it('two runs pinning the same rows at the same moment: each row gets exactly one slot, and both runs are told the same one', async () => {
    const rows = mixed('pin-race', 300);
    const plan = (tag: string) => rows.map((r, i) => ({ actualId: r.ActualId, voucher: `PJV-${tag}-${String(1 + Math.floor(i / 50)).padStart(4, '0')}`, firstLine: 1 + 2 * (i % 50), lineCount: 2 }));
    const [x, y] = await Promise.all([side.work.reserveJournals(plan('X'), new Date()), side.work.reserveJournals(plan('Y'), new Date())]);
    expect([...x.entries()].sort()).toEqual([...y.entries()].sort());
    expect(x.size).toBe(300);
    expect(await side.work.journals.store.count()).toBe(300);
  });

  it('data posted before journals (one voucher per row): a re-sent actual is not posted again, before or after the backfill', async () => {
    const s = scenario('legacy');
    const legacyRows = [0, 1].map((i) => staging(unbilledActual(s, id('legacy', i), '70.00')));
    for (const row of legacyRows) {
      const old = postTransaction(row, { accountingCurrency: 'USD', rates: [] }); // no slot: the old PJV-<hash> voucher
      if (old.kind !== 'posted') throw new Error(old.reason);
      await side.finance.ledgerEntries.createManyIfAbsent(old.ledger);
      await side.finance.projectTransactions.createIfAbsent(old.transaction);
      await side.finance.staging.createIfAbsent({ ...row, ...old.rowUpdate });
    }
    const legacyPattern = /^PJV-([0-9A-F]{10}|\d{14}-[0-9A-F]{8}-\d{4})$/;
    // re-sent without a backfill: the journal pair made before the transaction was seen goes again
    await side.work.add([legacyRows[0]!], new Date());
    expect(await run()).toMatchObject({ read: 1, posted: 0, cleaned: 1 });
    expect(await checkJournals(side.finance, legacyPattern)).toEqual({ vouchers: 2, entries: 4, transactions: 2 });
    // after the backfill the slot is the old voucher: nothing is written at all
    const transactions = side.finance.projectTransactions.query();
    expect(await side.work.journals.backfillFromTransactions((async function* () { yield* await transactions; })())).toBe(2);
    expect((await side.work.journals.get(legacyRows[1]!.ActualId))?.voucher).toBe(transactionVoucher(legacyRows[1]!.ActualId));
    await side.work.add([legacyRows[1]!], new Date());
    expect(await run()).toMatchObject({ read: 1, posted: 0, cleaned: 1, vouchers: 0 });
    expect(await checkJournals(side.finance, legacyPattern)).toEqual({ vouchers: 2, entries: 4, transactions: 2 });
  });

  it('recounts from the header it read before creating its lines, and reads it again when another writer changed it meanwhile', async () => {
    const s = scenario('recount-stale');
    const billed = [1, 2].map((i) => staging(billedActual(s, id('recount-stale', i), undefined, '100.00')));
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['100.00', '100.00', '100.00']));
    await side.stage(billed);
    // While this run creates its lines, another run adds a third line and recounts the header.
    const createLines = side.finance.proposalLines.createManyIfAbsent.bind(side.finance.proposalLines);
    const intruder = vi.spyOn(side.finance.proposalLines, 'createManyIfAbsent').mockImplementationOnce(async (lines) => {
      const header = (await side.finance.proposals.get(s.proposalId, s.proposalId))!;
      const third = { ...lines[0]!, LineId: id('recount-stale', 3), ActualId: id('recount-stale', 3) };
      await createLines([third]);
      const { etag, ...fields } = header;
      expect(await side.finance.proposals.replaceIfMatch({ ...fields, ImportedLineCount: 1, ImportedAmount: '100.00', ImportedTax: '0.00' }, etag)).toBeDefined();
      return createLines(lines);
    });
    try {
      expect(await run()).toMatchObject({ linesImported: 2 });
    } finally {
      intruder.mockRestore();
    }
    // The run's first recount failed its ETag (the header changed after the run read it); it read
    // the header again and counted every stored line, the other run's too.
    expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({ ImportedLineCount: 3, ImportedAmount: '300.00', ExpectedLineCount: 3 });
  });

  it('index entries written before the index was sharded by contract: found, updated and removed where they are, and an actual indexed twice is imported once', async () => {
    const s = scenario('shard-upgrade');
    const unbilled = staging(unbilledActual(s, id('shard-upgrade', 'u'), '90.00'));
    const billed = staging(billedActual(s, id('shard-upgrade', 'b'), unbilled.ActualId, '90.00'));
    const legacy = (row: typeof unbilled) => ({ ...row, Shard: shardOf(row.ActualId), QueuedAt: '2024-01-01T00:00:00.000Z' });
    // Both were synchronized before the upgrade; the unbilled actual's message came again after it.
    await side.work.store.createManyIfAbsent([legacy(unbilled), legacy(billed)]);
    await side.finance.staging.createManyIfAbsent([unbilled, billed]);
    await side.work.add([unbilled], new Date('2024-02-01T00:00:00Z'));
    expect(shardOf(unbilled.ActualId)).not.toBe(workShardOf(unbilled)); // the case this test is about
    expect((await side.work.list()).filter((i) => i.ActualId === unbilled.ActualId).map((i) => i.Shard).sort()).toEqual([shardOf(unbilled.ActualId), workShardOf(unbilled)].sort());

    // No proposal yet: the unbilled row posts once, the billed row waits in its legacy entry.
    expect(await run()).toMatchObject({ read: 2, posted: 1, waiting: 1 });
    expect((await side.finance.projectTransactions.listPartition(s.projectId)).map((t) => t.TransId)).toEqual([unbilled.ActualId]);
    expect(await side.work.list()).toEqual([expect.objectContaining({ ActualId: billed.ActualId, Shard: shardOf(billed.ActualId), ImportStatus: 'Waiting', ImportMessage: 'Invoice proposal not synchronized yet' })]);

    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, ['90.00']));
    expect(await run()).toMatchObject({ read: 1, linesImported: 1 });
    expect(await side.work.list()).toEqual([]);
    expect(await checkJournals(side.finance)).toEqual({ vouchers: 1, entries: 2, transactions: 1 });
  });
});

describe('importFromStaging picks fairly (issue 14, item 7)', () => {
  it('rows that keep waiting never starve newer work: Pending rows come first, and a capped run puts what still waits behind', async () => {
    const s = scenario('fair');
    // 6 billed rows whose proposal never arrives, queued first.
    const stuck = Array.from({ length: 6 }, (_, i) => staging(billedActual(s, id('fair', 'stuck', i), undefined, '10.00')));
    await side.work.add(stuck, new Date('2024-01-01T00:00:00Z'));
    await side.finance.staging.createManyIfAbsent(stuck);
    const first = await runImportFromStaging(side.deps(), { now: new Date('2024-04-01T08:00:00Z'), maxRows: 4 });
    expect(first).toMatchObject({ read: 4, waiting: 4 });
    // New cost rows arrive later. Capped runs take Pending work first (the two stuck rows never
    // tried yet, then the new rows), and only then the rows that already wait.
    const fresh = Array.from({ length: 3 }, (_, i) => staging(costActual(s, id('fair', 'fresh', i), '40.00')));
    await side.stage(fresh);
    expect(await runImportFromStaging(side.deps(), { now: new Date('2024-04-01T08:01:00Z'), maxRows: 4 })).toMatchObject({ read: 4, posted: 2, waiting: 2 });
    expect(await runImportFromStaging(side.deps(), { now: new Date('2024-04-01T08:02:00Z'), maxRows: 4 })).toMatchObject({ read: 4, posted: 1, waiting: 3 });
    for (const row of fresh) expect((await side.finance.staging.get(row.ContractId, row.ActualId))?.ImportStatus).toBe('Imported');
    for (const row of stuck) expect((await side.finance.staging.get(row.ContractId, row.ActualId))?.ImportStatus).toBe('Waiting');
    // What waits longest since it was last tried goes first among the waiting rows.
    const order = (await side.work.list()).map((i) => i.QueuedAt);
    expect(order).toEqual([...order].sort());
    expect(await side.work.list()).toHaveLength(6);
  });
});
