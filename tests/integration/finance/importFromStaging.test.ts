import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../dev/azurite';
import { isBalanced } from '../../../shared/domain/foLedger';
import { WaitingReason, transactionVoucher } from '../../../shared/domain/foImport';
import { actualsAccountingMessage } from '../../../shared/messaging/schemas';
import { runImportFromStaging } from '../../../shared/usecases/importFromStaging';
import { syncActuals } from '../../../shared/usecases/syncActuals';
import { syncInvoiceProposal } from '../../../shared/usecases/syncInvoiceProposal';
import {
  alwaysGranted,
  billedActual,
  costActual,
  financeSide,
  id,
  proposalMessage,
  resetFinanceSide,
  scenario,
  staging,
  unbilledActual,
  type FinanceSide,
} from './support';

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

async function voucherEntries(voucher: string) {
  return side.finance.ledgerEntries.listPartition(voucher);
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

    // unbilled: project transaction, balanced voucher, accounting details on the row
    const trans = await side.finance.projectTransactions.get(s.projectId, unbilled.msdyn_actualid);
    const voucher = transactionVoucher(unbilled.msdyn_actualid);
    expect(trans).toMatchObject({ TransType: 'UnbilledSales', Amount: '800.00', AccountingAmount: '800.00', CurrencyCode: 'USD', Voucher: voucher, PostingDate: '2024-03-10', FullyInvoiced: false });
    const entries = await voucherEntries(voucher);
    expect(entries.map((e) => [e.MainAccount, e.Amount])).toEqual([
      ['WIPSalesValue', '800.00'],
      ['AccruedRevenue', '-800.00'],
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
    // cost
    const costEntries = await voucherEntries(transactionVoucher(cost.msdyn_actualid));
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
    const entries = await voucherEntries(row.VoucherNumber!);
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
    expect(await run()).toMatchObject({ read: 5, posted: 5, errors: 0 });
    const all = await side.finance.ledgerEntries.query();
    const byVoucher = new Map<string, typeof all>();
    for (const e of all) byVoucher.set(e.Voucher, [...(byVoucher.get(e.Voucher) ?? []), e]);
    expect(byVoucher.size).toBe(4);
    for (const entries of byVoucher.values()) expect(isBalanced(entries)).toBe(true);
    expect(await voucherEntries(transactionVoucher(id('v', 3)))).toEqual([]);
    expect((await side.finance.projectTransactions.get(s.projectId, id('v', 3)))?.AccountingAmount).toBe('0.00');
  });

  it('ignores a re-sent actual that was already imported, and cleans up its index entry without publishing again', async () => {
    const s = scenario('resend');
    const unbilled = unbilledActual(s, id('resend', 'u'), '100.00');
    const deps = { staging: side.finance.staging, work: side.work, errorLog: side.errorLog };
    await syncActuals(deps, [unbilled]);
    await run();
    const imported = await stagingRow(s.contractId, unbilled.msdyn_actualid);
    expect(imported.ImportStatus).toBe('Imported');
    expect(side.publisher.sent).toHaveLength(1);

    expect(await syncActuals(deps, [{ ...unbilled, msdyn_amount: '999.00' }])).toMatchObject({ accepted: 1, created: 0 });
    expect(await side.work.list()).toHaveLength(1);
    const again = await stagingRow(s.contractId, unbilled.msdyn_actualid);
    expect(again.etag).toBe(imported.etag);
    expect(await run()).toMatchObject({ read: 1, cleaned: 1, posted: 0 });
    expect(await side.work.list()).toEqual([]);
    expect(side.publisher.sent).toHaveLength(1);
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
    expect(await syncActuals({ staging: side.finance.staging, work: side.work, errorLog: side.errorLog }, [unbilled])).toMatchObject({ created: 0 });
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
    await syncActuals({ staging: side.finance.staging, work: side.work, errorLog: side.errorLog }, [billed, late]);
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
