import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import type { StagingRow } from '../../../shared/finance/records';
import { amount, sum } from '../../../shared/core/money';
import { runImportFromStaging } from '../../../shared/finance/import/importFromStaging';
import { syncInvoiceProposal } from '../../../shared/finance/syncInvoiceProposal';
import {
  alwaysGranted,
  billedActual,
  checkJournals,
  costActual,
  financeSide,
  id,
  proposalMessage,
  scenario,
  staging,
  unbilledActual,
  type FinanceSide,
  type Scenario,
} from '../../kit/fixtures/finance';

let azurite: LocalAzurite | undefined;
let side: FinanceSide;

// Each test gets its own Azurite: deleting thousands of partitions would cost more than a restart.
beforeEach(async () => {
  azurite = await startAzurite();
  side = financeSide(azurite.connectionString);
});
afterEach(async () => {
  await azurite?.stop();
  azurite = undefined;
});

/**
 * One invoice: `pairs` unbilled actuals with their billed twins, `manual` billed actuals with no
 * unbilled actual behind them (fixed-price / manual lines), and `costs` cost actuals.
 */
function workload(key: string, pairs: number, manual: number, costs: number): { s: Scenario; rows: StagingRow[]; billedAmounts: string[] } {
  const s = scenario(key);
  const rows: StagingRow[] = [];
  const billedAmounts: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const value = amount(100 + (i % 97) + (i % 7) / 100);
    const unbilled = unbilledActual(s, id(key, 'u', i), value);
    // billed rows first, so the run's own ordering is what makes them complete
    rows.unshift(staging(billedActual(s, id(key, 'b', i), unbilled.msdyn_actualid, value)));
    rows.push(staging(unbilled));
    billedAmounts.push(value);
  }
  for (let i = 0; i < manual; i++) {
    const value = amount(250 + (i % 31));
    rows.push(staging(billedActual(s, id(key, 'm', i), undefined, value)));
    billedAmounts.push(value);
  }
  for (let i = 0; i < costs; i++) rows.push(staging(costActual(s, id(key, 'c', i), amount(40 + (i % 13)))));
  return { s, rows, billedAmounts };
}

async function count(store: { count(): Promise<number> }): Promise<number> {
  return store.count();
}

async function expectExactlyOnce(s: Scenario, pairs: number, costs: number, billedAmounts: string[]) {
  expect(await count(side.finance.projectTransactions)).toBe(pairs + costs);
  expect(await count(side.finance.proposalLines)).toBe(billedAmounts.length);
  // journals: at most 50 rows a voucher, each balanced; every row's pair once, in its transaction's voucher
  const journals = await checkJournals(side.finance);
  expect(journals).toMatchObject({ entries: 2 * (pairs + costs), transactions: pairs + costs });
  expect(journals.vouchers).toBeGreaterThanOrEqual(Math.ceil((pairs + costs) / 50));
  expect(await side.finance.proposals.get(s.proposalId, s.proposalId)).toMatchObject({
    ImportedLineCount: billedAmounts.length,
    ImportedAmount: amount(sum(billedAmounts)),
    ExpectedLineCount: billedAmounts.length,
  });
  const notImported = await side.finance.staging.query("ImportStatus ne 'Imported'");
  expect(notImported).toEqual([]);
  expect(await side.work.list()).toEqual([]);
}

describe('importFromStaging at scale', () => {
  it('two runs started at once over the same 5,000 rows process each row exactly once', async () => {
    const [pairs, manual, costs] = [1_500, 1_000, 1_000];
    const { s, rows, billedAmounts } = workload('overlap', pairs, manual, costs);
    expect(rows).toHaveLength(5_000);
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, billedAmounts));
    await side.stage(rows);

    const results = await Promise.all([runImportFromStaging(side.deps(), { log: console.log }), runImportFromStaging(side.deps(), { log: console.log })]);
    expect(results.filter((r) => r.ran)).toHaveLength(1); // the lease: the other run stepped aside
    expect(results.find((r) => r.ran)).toMatchObject({ read: 5_000, posted: pairs + costs, linesCreated: pairs + manual, waiting: 0, errors: 0, conflicts: 0 });
    await expectExactlyOnce(s, pairs, costs, billedAmounts);
  }, 900_000);

  it('two runs that both believe they hold the lease still process each of 5,000 rows exactly once', async () => {
    const [pairs, manual, costs] = [1_500, 1_000, 1_000];
    const { s, rows, billedAmounts } = workload('lost-lease', pairs, manual, costs);
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, billedAmounts));
    await side.stage(rows);

    // A lost lease, or two hosts whose clocks disagree: only the create-if-absent and
    // ETag-guarded writes underneath keep the two runs apart.
    const [a, b] = await Promise.all([
      runImportFromStaging(side.deps({ leases: alwaysGranted }), { log: console.log }),
      runImportFromStaging(side.deps({ leases: alwaysGranted }), { log: console.log }),
    ]);
    expect(a.ran && b.ran).toBe(true);
    expect(a.linesCreated + b.linesCreated).toBe(pairs + manual);
    expect(a.errors + b.errors + a.waiting + b.waiting).toBe(0);
    await expectExactlyOnce(s, pairs, costs, billedAmounts);
    // every posted row's accounting details went out (some maybe twice: same content, harmless)
    const published = new Set(side.publisher.sent.flatMap(({ message }) => (message.body as { details: { actualId: string }[] }).details.map((d) => d.actualId)));
    expect(published.size).toBe(pairs + costs);
  }, 900_000);

  it('imports 10,000 billed rows whose unbilled transactions were posted by earlier runs', async () => {
    const pairs = 10_000;
    const { s, rows, billedAmounts } = workload('billed-only', pairs, 0, 0);
    const unbilledRows = rows.filter((r) => r.TransType === 'UnbilledSales');
    const billedRows = rows.filter((r) => r.TransType === 'BilledSales');
    await side.stage(unbilledRows);
    const first = await runImportFromStaging(side.deps(), {});
    expect(first).toMatchObject({ read: pairs, posted: pairs, errors: 0 });
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, billedAmounts));
    await side.stage(billedRows);

    const lines: string[] = [];
    const started = Date.now();
    const result = await runImportFromStaging(side.deps(), { log: (l) => lines.push(l) });
    console.log(`importFromStaging: 10,000 billed rows imported in one run in ${((Date.now() - started) / 1000).toFixed(1)} s (${lines[0]})`);
    expect(result).toMatchObject({ ran: true, read: pairs, posted: 0, linesCreated: pairs, linesImported: pairs, waiting: 0, errors: 0 });
    await expectExactlyOnce(s, pairs, 0, billedAmounts);
  }, 900_000);

  it('imports 10,000 rows in one run', async () => {
    const [pairs, manual, costs] = [3_000, 2_000, 2_000];
    const { s, rows, billedAmounts } = workload('bulk', pairs, manual, costs);
    expect(rows).toHaveLength(10_000);
    await syncInvoiceProposal({ finance: side.finance }, proposalMessage(s, billedAmounts));
    await side.stage(rows);

    const lines: string[] = [];
    const started = Date.now();
    const result = await runImportFromStaging(side.deps(), { log: (l) => lines.push(l) });
    const seconds = (Date.now() - started) / 1000;
    console.log(`importFromStaging: 10,000 staging rows imported in one run in ${seconds.toFixed(1)} s (${lines[0]})`);
    expect(result).toMatchObject({ ran: true, read: 10_000, posted: pairs + costs, linesCreated: pairs + manual, linesImported: pairs + manual, waiting: 0, errors: 0 });
    expect(result.accountingMessages).toBe(Math.ceil((pairs + costs) / 100));
    expect(result.vouchers).toBe(Math.ceil((pairs + costs) / 50));
    for (const { message } of side.publisher.sent) expect((message.body as { details: unknown[] }).details.length).toBeLessThanOrEqual(100);
    await expectExactlyOnce(s, pairs, costs, billedAmounts);
  }, 900_000);
});
