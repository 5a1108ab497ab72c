import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { isBalanced } from '../../../shared/finance/rules/ledger';
import { amount, dec, sum } from '../../../shared/core/money';
import { deterministicGuid } from '../../../shared/core/ids';
import { parseCustomerInvoiceId, postingVoucher } from '../../../shared/finance/rules/posting';
import { FinanceStore } from '../../../shared/finance/financeStore';
import { odata } from '../../../shared/storage/tableStore';
import { statusOf } from '../../../shared/triggers/http';
import { BusinessError, NotFoundError } from '../../../shared/core/errors';
import { TableSequenceStore } from '../../../shared/storage/sequences';
import { actualsAccountingMessage, Queues } from '../../../shared/messages';
import {
  CUSTOMER_INVOICE_SEQUENCE,
  POSTING_STEPS,
  postInvoiceProposal,
  postingRequestId,
  requestProposalPosting,
  type PostInvoiceProposalDeps,
  type PostingStep,
} from '../../../shared/finance/posting/postInvoiceProposal';
import { buildScenario, seedScenario, snapshot, type Scenario } from '../../kit/fixtures/posting';
import { RecordingPublisher } from '../../kit/publisher';

let azurite: LocalAzurite;
let finance: FinanceStore;
let sequences: TableSequenceStore;
let publisher: RecordingPublisher;

const NOW = new Date('2026-03-16T09:30:00.000Z');

beforeAll(async () => {
  azurite = await startAzurite();
  finance = new FinanceStore(azurite.connectionString);
  sequences = new TableSequenceStore(azurite.connectionString);
  publisher = new RecordingPublisher();
});
afterAll(async () => {
  await azurite?.stop();
});

function deps(extra: Partial<PostInvoiceProposalDeps> = {}): PostInvoiceProposalDeps {
  return { finance, sequences, publisher, accountingCurrency: 'USD', now: () => NOW, ...extra };
}

async function seeded(name: string, options: Parameters<typeof seedScenario>[2] & { lines?: number } = {}): Promise<Scenario> {
  const sc = buildScenario(name, { lines: options.lines });
  await seedScenario(finance, sc, options);
  return sc;
}

const counter = () => sequences.last(CUSTOMER_INVOICE_SEQUENCE);

describe('postInvoiceProposal on Azurite', () => {
  let clean: Scenario;
  let cleanSnapshot: string;

  it('posts a complete EUR proposal in USD: customer invoice, balanced voucher, invoiced transactions, staging details, accounting messages, Posted last', async () => {
    clean = await seeded('CLEAN');
    const before = await counter();
    const result = await postInvoiceProposal(deps(), { proposalId: clean.proposalId, requestId: 'msg-clean-1' });
    expect(result.outcome).toBe('posted');
    expect(await counter()).toBe(before + 1);
    const civ = result.customerInvoiceId;
    expect(parseCustomerInvoiceId(civ)).toBe(before + 1);
    expect(result.postingDate).toBe('2026-03-15'); // the proposal's invoice date, rate 1.1
    const voucher = postingVoucher(clean.proposalId);

    const invoice = await finance.customerInvoices.get(civ, civ);
    expect(invoice).toMatchObject({
      ProposalId: clean.proposalId,
      CurrencyCode: 'EUR',
      InvoiceDate: '2026-03-15',
      InvoiceAmount: '6533.33',
      SalesTaxAmount: '1240.00',
      TotalAmount: '7773.33',
      AccountingAmount: '8550.66',
      Voucher: voucher,
    });

    const ledger = await finance.ledgerEntries.listPartition(voucher);
    expect(isBalanced(ledger)).toBe(true);
    const byAccount = (account: string) => ledger.filter((e) => e.MainAccount === account).map((e) => e.Amount);
    expect(byAccount('CustomerBalance')).toEqual(['8550.66']);
    expect(byAccount('SalesTaxPayable')).toEqual(['-1364.00']);
    // Summarized (one project): one entry per account; revenue 1320.00 + 366.66 + 5500.00.
    expect(byAccount('Revenue')).toEqual(['-7186.66']);
    // The accrual of the two invoiced unbilled transactions (1301.40 + 361.50) is reversed at the rate they were posted at.
    expect(byAccount('AccruedRevenue')).toEqual(['1662.90']);
    expect(byAccount('WIPSalesValue')).toEqual(['-1662.90']);
    expect(ledger).toHaveLength(5);
    expect(ledger.every((e) => e.Reference === civ)).toBe(true);
    expect(ledger.filter((e) => e.ProjectId !== undefined).every((e) => e.ProjectId === clean.projectId)).toBe(true);

    for (const t of clean.transactions) {
      expect(await finance.projectTransactions.get(clean.projectId, t.TransId)).toMatchObject({ FullyInvoiced: true, CustomerInvoiceId: civ });
    }
    const b1 = await finance.staging.get(clean.contractId, clean.ids.get('B1')!);
    expect(b1).toMatchObject({ VoucherNumber: voucher, PostingDate: '2026-03-15', AccountingCurrency: 'USD', AccountingAmount: '1320.00', ExchangeRate: '1.100000', SalesTaxAmount: '240.00', ImportStatus: 'Imported' });
    const u1 = await finance.staging.get(clean.contractId, clean.ids.get('U1')!);
    expect(u1?.VoucherNumber).not.toBe(voucher); // unbilled rows keep their own transaction voucher

    const proposal = await finance.proposals.get(clean.proposalId, clean.proposalId);
    expect(proposal).toMatchObject({ Status: 'Posted', CustomerInvoiceId: civ, Voucher: voucher, PostedOn: NOW.toISOString() });

    const sent = publisher.about(clean.proposalId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.queue).toBe(Queues.actualsAccounting);
    const body = actualsAccountingMessage.parse(sent[0]!.message.body);
    expect(body.invoice).toEqual({ invoiceId: clean.invoiceId, customerInvoiceNumber: civ, customerInvoiceDate: '2026-03-15' });
    expect(body.details.map((d) => d.actualId).sort()).toEqual(clean.lines.map((l) => l.ActualId).sort());
    expect(body.details.every((d) => d.voucher === voucher && d.accountingCurrency === 'USD' && d.exchangeRate === '1.100000')).toBe(true);
    cleanSnapshot = await snapshot(finance, sequences, publisher, clean);
  });

  it('a redelivery of the same request after Posted republishes the same messages and changes nothing else', async () => {
    const before = await snapshot(finance, sequences, publisher, clean);
    const sentBefore = publisher.about(clean.proposalId).length;
    const again = await postInvoiceProposal(deps(), { proposalId: clean.proposalId, requestId: 'msg-clean-1' });
    expect(again.outcome).toBe('republished');
    const sent = publisher.about(clean.proposalId);
    expect(sent).toHaveLength(sentBefore + 1);
    expect(sent.at(-1)).toEqual(sent[0]);
    expect(await snapshot(finance, sequences, publisher, clean)).toBe(before);
  });

  it('another request to post a posted proposal is refused as already posted; nothing written or published', async () => {
    const before = await snapshot(finance, sequences, publisher, clean);
    const sentBefore = publisher.sent.length;
    const civ = (await finance.proposals.get(clean.proposalId, clean.proposalId))!.CustomerInvoiceId!;
    const refusal = postInvoiceProposal(deps(), { proposalId: clean.proposalId, requestId: 'msg-clean-2', postingDate: '2026-03-20' });
    await expect(refusal).rejects.toBeInstanceOf(BusinessError);
    await expect(postInvoiceProposal(deps(), { proposalId: clean.proposalId, requestId: 'msg-clean-3' })).rejects.toThrow(
      new RegExp(`already posted as customer invoice ${civ}`),
    );
    expect(publisher.sent.length).toBe(sentBefore);
    expect(await snapshot(finance, sequences, publisher, clean)).toBe(before);
  });

  describe('a crash after each step, then the redelivery, ends in the clean-run state', () => {
    for (const step of POSTING_STEPS) {
      it(`crash after "${step}"`, async () => {
        const sc = await seeded(`CRASH-${step}`);
        const before = await counter();
        const crash = new Error(`injected crash after ${step}`);
        const crashing = deps({
          afterStep: (s: PostingStep) => {
            if (s === step) throw crash;
          },
        });
        await expect(postInvoiceProposal(crashing, { proposalId: sc.proposalId, requestId: `msg-${step}` })).rejects.toBe(crash);
        const status = (await finance.proposals.get(sc.proposalId, sc.proposalId))?.Status;
        expect(status).toBe(step === 'posted' ? 'Posted' : 'Open');

        const redelivered = await postInvoiceProposal(deps(), { proposalId: sc.proposalId, requestId: `msg-${step}` });
        expect(redelivered.outcome).toBe(step === 'posted' ? 'republished' : 'posted');
        expect(await counter()).toBe(before + 1); // one number, however many attempts
        expect(await snapshot(finance, sequences, publisher, sc)).toBe(cleanSnapshot);
      });
    }
  });

  it('a crashed posting is finished, not repeated, by a later different request (its number, date and rate)', async () => {
    const sc = await seeded('ORPHAN');
    const before = await counter();
    const crashing = deps({
      afterStep: (s: PostingStep) => {
        if (s === 'ledger') throw new Error('crash');
      },
    });
    await expect(postInvoiceProposal(crashing, { proposalId: sc.proposalId, requestId: 'dead-lettered' })).rejects.toThrow('crash');
    const later = await postInvoiceProposal(deps(), { proposalId: sc.proposalId, requestId: 'accountant-again', postingDate: '2026-03-31' });
    expect(later).toMatchObject({ outcome: 'posted', postingDate: '2026-03-15' });
    expect(await counter()).toBe(before + 1);
    expect(await snapshot(finance, sequences, publisher, sc)).toBe(cleanSnapshot);
  });

  it('two different requests racing on one proposal post it once', async () => {
    const sc = await seeded('RACE');
    const before = await counter();
    const outcomes = await Promise.allSettled(
      ['race-a', 'race-b', 'race-c'].map((requestId) => postInvoiceProposal(deps(), { proposalId: sc.proposalId, requestId })),
    );
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(String(o.reason)).toMatch(/already posted/);
    }
    expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
    expect(await counter()).toBe(before + 1);
    const { CustomerInvoiceId } = (await finance.proposals.get(sc.proposalId, sc.proposalId))!;
    const invoices = await finance.customerInvoices.query();
    expect(invoices.filter((i) => i.ProposalId === sc.proposalId).map((i) => i.InvoiceId)).toEqual([CustomerInvoiceId]);
    expect(await snapshot(finance, sequences, publisher, sc)).toBe(cleanSnapshot);
  });

  it('a 150-line proposal: ledger over several transactions, details in messages of at most 100, each carrying the invoice', async () => {
    const sc = await seeded('LARGE', { lines: 150 });
    const result = await postInvoiceProposal(deps(), { proposalId: sc.proposalId, postingDate: '2026-03-02' });
    expect(result).toMatchObject({ outcome: 'posted', postingDate: '2026-03-02', messages: 2 });
    const ledger = await finance.ledgerEntries.listPartition(result.voucher);
    expect(ledger).toHaveLength(5); // summarized: was 150 revenue + 2 x 150 accrual reversal + 2 entries
    expect(ledger.find((e) => e.MainAccount === 'Revenue')?.Text).toBe(`Revenue of 150 lines (Hour 150) ${sc.proposal.ExpectedAmount} EUR on ${result.customerInvoiceId} (proposal ${sc.proposalId})`);
    expect(isBalanced(ledger)).toBe(true);
    const bodies = publisher.about(sc.proposalId).map((s) => actualsAccountingMessage.parse(s.message.body));
    expect(bodies.map((b) => b.details.length)).toEqual([100, 50]);
    expect(bodies.every((b) => b.invoice?.customerInvoiceNumber === result.customerInvoiceId)).toBe(true);
    expect(new Set(publisher.about(sc.proposalId).map((s) => s.message.messageId)).size).toBe(2);
    const staged = (await finance.staging.listPartition(sc.contractId)).filter((r) => r.TransType === 'BilledSales');
    expect(staged.every((r) => r.VoucherNumber === result.voucher && r.AccountingAmount !== undefined)).toBe(true);
    const revenue = ledger.filter((e) => e.MainAccount === 'Revenue').map((e) => e.Amount);
    const details = bodies.flatMap((b) => b.details).map((d) => dec(d.accountingAmount).negated());
    expect(revenue).toEqual([amount(sum(details))]); // the lines' accounting amounts add up to the revenue posted
    const accrual = sum(sc.transactions.map((t) => t.AccountingAmount));
    expect(ledger.filter((e) => e.MainAccount === 'AccruedRevenue').map((e) => e.Amount)).toEqual([amount(accrual)]);
  });

  it('a large proposal reads its transactions per project with one query; what the query misses is still point-read, and a missing one refuses', async () => {
    // 40 lines: the project's transactions are queried; one of them is filed under another contract
    // id (the query, filtered on the proposal's contract, misses it) and must still be found.
    const sc = buildScenario('QUERY', { lines: 40 });
    const odd = sc.transactions[7]!;
    sc.transactions[7] = { ...odd, ContractId: deterministicGuid('posting-test', 'another-contract') };
    await seedScenario(finance, sc);
    const result = await postInvoiceProposal(deps(), { proposalId: sc.proposalId });
    expect(result.outcome).toBe('posted');
    expect(await finance.projectTransactions.get(sc.projectId, odd.TransId)).toMatchObject({ FullyInvoiced: true, CustomerInvoiceId: result.customerInvoiceId });
    const ledger = await finance.ledgerEntries.listPartition(result.voucher);
    expect(ledger.filter((e) => e.MainAccount === 'AccruedRevenue').map((e) => e.Amount)).toEqual([amount(sum(sc.transactions.map((t) => t.AccountingAmount)))]);

    const gone = buildScenario('QUERYGONE', { lines: 40 });
    await seedScenario(finance, gone);
    await finance.projectTransactions.delete(gone.projectId, gone.transactions[3]!.TransId);
    await expect(postInvoiceProposal(deps(), { proposalId: gone.proposalId })).rejects.toThrow(
      new RegExp(`the project transactions ${gone.transactions[3]!.TransId} that its lines bill were not found`),
    );
    expect(await sequences.find(CUSTOMER_INVOICE_SEQUENCE, gone.proposalId)).toBeUndefined();
  });

  it('a long history of the contract in the project is not read whole: what the capped query misses is point-read', async () => {
    // 40 lines, and 1,000 earlier (already invoiced) unbilled transactions of the same contract in
    // the project: the query stops at 800 rows, so some of the 40 come from point reads.
    const sc = buildScenario('HISTORY', { lines: 40 });
    await seedScenario(finance, sc);
    const template = sc.transactions[0]!;
    const history = Array.from({ length: 1_000 }, (_, i) => ({
      ...template,
      TransId: deterministicGuid('posting-test', 'history', String(i)),
      FullyInvoiced: true,
      CustomerInvoiceId: 'CIV-OLD',
    }));
    await finance.projectTransactions.upsertMany(history);
    const result = await postInvoiceProposal(deps(), { proposalId: sc.proposalId });
    expect(result.outcome).toBe('posted');
    const invoiced = await finance.projectTransactions.query(odata`PartitionKey eq ${sc.projectId} and CustomerInvoiceId eq ${result.customerInvoiceId}`);
    expect(invoiced.map((t) => t.TransId).sort()).toEqual(sc.transactions.map((t) => t.TransId).sort());
    const ledger = await finance.ledgerEntries.listPartition(result.voucher);
    expect(ledger.filter((e) => e.MainAccount === 'AccruedRevenue').map((e) => e.Amount)).toEqual([amount(sum(sc.transactions.map((t) => t.AccountingAmount)))]);
  });

  describe('refusals write nothing and use no number', () => {
    async function expectNothingWritten(sc: Scenario | undefined, run: () => Promise<unknown>, pattern: RegExp, type: new (...args: never[]) => BusinessError = BusinessError) {
      const before = await counter();
      const sentBefore = publisher.sent.length;
      const snap = sc ? await snapshot(finance, sequences, publisher, sc) : '';
      const error = await run().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(type);
      expect(String((error as Error).message)).toMatch(pattern);
      expect(await counter()).toBe(before);
      expect(publisher.sent.length).toBe(sentBefore);
      if (sc) {
        expect(await snapshot(finance, sequences, publisher, sc)).toBe(snap);
        expect(await sequences.find(CUSTOMER_INVOICE_SEQUENCE, sc.proposalId)).toBeUndefined();
      }
    }

    it('unknown proposal', async () => {
      await expectNothingWritten(undefined, () => postInvoiceProposal(deps(), { proposalId: 'INV-NOPE' }), /Invoice proposal INV-NOPE does not exist/, NotFoundError);
    });

    it('incomplete by its header: expected versus imported lines and amounts', async () => {
      const sc = await seeded('SHORT', { proposal: { ImportedLineCount: 2, ImportedAmount: '1533.33' } });
      await expectNothingWritten(
        sc,
        () => postInvoiceProposal(deps(), { proposalId: sc.proposalId }),
        /INV-SHORT is incomplete and cannot be posted: expected 3 lines totalling 6533\.33 EUR, imported 2 lines totalling 1533\.33 EUR \(missing 1 lines, 5000\.00 EUR\)/,
      );
    });

    it('incomplete by its stored lines although the header counters say complete', async () => {
      const sc = await seeded('LINESHORT', { skipLines: 1 });
      await expectNothingWritten(sc, () => postInvoiceProposal(deps(), { proposalId: sc.proposalId }), /INV-LINESHORT is incomplete: expected 3 lines .* imported 2 lines/);
    });

    it('no exchange rate on the posting date', async () => {
      const sc = await seeded('NORATE');
      await expectNothingWritten(sc, () => postInvoiceProposal(deps(), { proposalId: sc.proposalId, postingDate: '2025-12-31' }), /No exchange rate from EUR to USD on or before 2025-12-31/);
    });
  });

  describe('requestProposalPosting (the route)', () => {
    it('enqueues an open complete proposal with a deterministic message id', async () => {
      const sc = await seeded('ROUTE');
      const result = await requestProposalPosting({ finance, publisher }, { proposalId: sc.proposalId, postingDate: '2026-03-20' });
      expect(result.messageId).toBe(postingRequestId(sc.proposalId, '2026-03-20'));
      const sent = publisher.about(sc.proposalId);
      expect(sent).toEqual([{ queue: Queues.proposalPostings, message: expect.objectContaining({ messageId: result.messageId, body: { proposalId: sc.proposalId, postingDate: '2026-03-20' } }) }]);
    });

    it('refuses unknown (404), incomplete and posted (409) proposals without enqueuing', async () => {
      const sentBefore = publisher.sent.length;
      const refusal = (proposalId: string) => requestProposalPosting({ finance, publisher }, { proposalId }).catch((e: unknown) => e);
      const none = await refusal('INV-NONE');
      expect(statusOf(none)).toBe(404);
      const short = await refusal('INV-SHORT');
      expect([statusOf(short), String(short)]).toEqual([409, expect.stringMatching(/incomplete/)]);
      const clean = await refusal('INV-CLEAN');
      expect([statusOf(clean), String(clean)]).toEqual([409, expect.stringMatching(/already posted/)]);
      expect(statusOf(await refusal('INV/1'))).toBe(400);
      expect(publisher.sent.length).toBe(sentBefore);
    });
  });
});
