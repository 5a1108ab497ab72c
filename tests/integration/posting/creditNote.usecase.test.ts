/**
 * Credit proposals and credit notes through the F&O use cases on Azurite (domain.md step 12):
 * syncInvoiceProposal takes a corrective header, syncActuals and the import turn billed sales
 * reversals into negative lines and re-billed actuals into positive ones, and postInvoiceProposal
 * posts the credit note: exact records for a mixed credit, crash-safe at every step, refused before
 * its original is posted, idempotent when redelivered, republishable.
 *
 * The original is the posting fixture's EUR proposal (tests/kit/fixtures/posting.ts): B1 time
 * 8 x 150.00 (tax 240.00) from U1, B2 expense 333.33 from U2, B3 milestone 5000.00 (tax 1000.00);
 * U1 and U2 posted at import at 1.084500. Its correction credits B1 and keeps 5 h of it (billed again
 * from a new unbilled actual U1b, 3 h back in the backlog as U1c) and credits the milestone B3.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import type { Actual } from '../../../shared/dataverse/records';
import { FinanceStore } from '../../../shared/finance/financeStore';
import { StagingWork } from '../../../shared/finance/import/stagingIndexStore';
import { runImportFromStaging } from '../../../shared/finance/import/importFromStaging';
import { syncActuals } from '../../../shared/finance/syncActuals';
import { syncInvoiceProposal } from '../../../shared/finance/syncInvoiceProposal';
import { getProposal } from '../../../shared/finance/proposals';
import { isBalanced } from '../../../shared/finance/rules/ledger';
import { isComplete } from '../../../shared/finance/rules/completeness';
import { postingVoucher } from '../../../shared/finance/rules/posting';
import { transactionVoucher } from '../../../shared/finance/rules/import';
import {
  CUSTOMER_INVOICE_SEQUENCE,
  POSTING_STEPS,
  postInvoiceProposal,
  requestProposalPosting,
  type PostInvoiceProposalDeps,
  type PostingStep,
} from '../../../shared/finance/posting/postInvoiceProposal';
import { republishAccounting } from '../../../shared/finance/posting/republishAccounting';
import { BusinessError } from '../../../shared/core/errors';
import { deterministicGuid } from '../../../shared/core/ids';
import { AdjustmentStatus, BillingStatus, BillingType, InvoiceStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import { actualsAccountingMessage, invoiceProposalMessage, type InvoiceProposalMessage } from '../../../shared/messages';
import { ErrorLog } from '../../../shared/operations/errorLogStore';
import { reconcile } from '../../../shared/operations/reconcile';
import { DataverseStore } from '../../../shared/dataverse/dataverseStore';
import { TableLeases } from '../../../shared/storage/leases';
import { TableSequenceStore } from '../../../shared/storage/sequences';
import { statusOf } from '../../../shared/triggers/http';
import { buildScenario, seedScenario, type Scenario } from '../../kit/fixtures/posting';
import { knownInvoices, unknownInvoices } from '../../kit/fixtures/finance';
import { RecordingPublisher } from '../../kit/publisher';

let azurite: LocalAzurite;
let finance: FinanceStore;
let work: StagingWork;
let leases: TableLeases;
let errorLog: ErrorLog;
let sequences: TableSequenceStore;
let publisher: RecordingPublisher;

const NOW = new Date('2026-04-11T08:00:00.000Z');
const CORRECTION_DATE = '2026-04-10';

beforeAll(async () => {
  azurite = await startAzurite();
  finance = new FinanceStore(azurite.connectionString);
  work = new StagingWork(azurite.connectionString);
  leases = new TableLeases(azurite.connectionString);
  errorLog = new ErrorLog(azurite.connectionString);
  sequences = new TableSequenceStore(azurite.connectionString);
  publisher = new RecordingPublisher();
});
afterAll(async () => {
  await azurite?.stop();
});

function deps(extra: Partial<PostInvoiceProposalDeps> = {}): PostInvoiceProposalDeps {
  return { finance, sequences, publisher, accountingCurrency: 'USD', now: () => NOW, ...extra };
}

const importNow = () => runImportFromStaging({ finance, work, leases, publisher, accountingCurrency: 'USD' }, { now: NOW });

interface Credit {
  name: string;
  sc: Scenario;
  creditId: string;
  correctiveId: string;
  /** role -> id of the corrective invoice's actuals (R1, U1b, B1b, U1c, R3, U1bReversal). */
  ids: Map<string, string>;
  header: InvoiceProposalMessage;
  actuals: Actual[];
}

/** A Dataverse actual of the scenario's contract (as the Dataverse side sends it on `actuals`). */
function dvActual(sc: Scenario, fields: Partial<Actual> & Pick<Actual, 'msdyn_actualid' | 'msdyn_transactiontypecode' | 'msdyn_quantity' | 'msdyn_price' | 'msdyn_amount'>): Actual {
  return {
    msdyn_transactionclassification: TransactionClass.Time,
    msdyn_billingtype: BillingType.Chargeable,
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: '2026-02-10',
    msdyn_accountingdate: CORRECTION_DATE,
    msdyn_project: sc.projectId,
    msdyn_salescontract: sc.contractId,
    msdyn_salescontractlineid: sc.ids.get('contractLineTM')!,
    msdyn_accountcustomer: deterministicGuid('posting-test', sc.name, 'customer'),
    msdyn_skipsync: false,
    ...fields,
  };
}

/** The corrective invoice's header and actuals (interface point 2), built as the Dataverse side builds them. */
function correction(sc: Scenario): Omit<Credit, 'name' | 'sc'> {
  const ids = new Map<string, string>();
  const cid = (role: string) => {
    let v = ids.get(role);
    if (!v) ids.set(role, (v = deterministicGuid('credit-usecase', sc.name, role)));
    return v;
  };
  const correctiveId = cid('corrective-invoice');
  const creditId = `${sc.proposalId}-C`;
  const onCorrective = { msdyn_invoice: correctiveId, msdyn_billingstatus: BillingStatus.CustomerInvoicePosted };
  const actuals: Actual[] = [
    // The billed sales reversal of B1 (its negative copy, Unadjustable, with B1's unbilled actual U1).
    dvActual(sc, { ...onCorrective, msdyn_actualid: cid('R1'), msdyn_transactiontypecode: TransactionType.BilledSales, msdyn_quantity: '-8', msdyn_price: '150.00', msdyn_amount: '-1200.00', msdyn_salestaxamount: '-240.00', msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable, msdyn_reversedactual: sc.ids.get('B1')!, msdyn_unbilledactual: sc.ids.get('U1')! }),
    // 5 h kept: a new unbilled actual, its invoicing reversal (skip-sync), a billed actual on the corrective invoice.
    dvActual(sc, { msdyn_actualid: cid('U1b'), msdyn_transactiontypecode: TransactionType.UnbilledSales, msdyn_billingstatus: BillingStatus.CustomerInvoicePosted, msdyn_quantity: '5', msdyn_price: '150.00', msdyn_amount: '750.00' }),
    dvActual(sc, { msdyn_actualid: cid('U1bReversal'), msdyn_transactiontypecode: TransactionType.UnbilledSales, msdyn_quantity: '-5', msdyn_price: '150.00', msdyn_amount: '-750.00', msdyn_reversedactual: cid('U1b'), msdyn_skipsync: true }),
    dvActual(sc, { ...onCorrective, msdyn_actualid: cid('B1b'), msdyn_transactiontypecode: TransactionType.BilledSales, msdyn_quantity: '5', msdyn_price: '150.00', msdyn_amount: '750.00', msdyn_salestaxamount: '150.00', msdyn_unbilledactual: cid('U1b') }),
    // 3 h credited: back in the backlog, an ordinary unbilled actual.
    dvActual(sc, { msdyn_actualid: cid('U1c'), msdyn_transactiontypecode: TransactionType.UnbilledSales, msdyn_billingstatus: BillingStatus.UnbilledSalesCreated, msdyn_quantity: '3', msdyn_price: '150.00', msdyn_amount: '450.00' }),
    // The milestone credited in full (no unbilled actual).
    dvActual(sc, {
      ...onCorrective,
      msdyn_actualid: cid('R3'),
      msdyn_transactiontypecode: TransactionType.BilledSales,
      msdyn_transactionclassification: TransactionClass.Milestone,
      msdyn_salescontractlineid: sc.ids.get('contractLineFP')!,
      msdyn_quantity: '-1',
      msdyn_price: '5000.00',
      msdyn_amount: '-5000.00',
      msdyn_salestaxamount: '-1000.00',
      msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable,
      msdyn_reversedactual: sc.ids.get('B3')!,
    }),
  ];
  const header = invoiceProposalMessage.parse({
    proposalId: creditId,
    invoiceId: correctiveId,
    contractId: sc.contractId,
    customerId: deterministicGuid('posting-test', sc.name, 'customer'),
    customerAccount: sc.proposal.CustomerAccount,
    currencyCode: 'EUR',
    invoiceDate: CORRECTION_DATE,
    expectedLineCount: 3,
    expectedAmount: '-5450.00', // -1200.00 + 750.00 - 5000.00
    expectedTax: '-1090.00', // -240.00 + 150.00 - 1000.00
    confirmedOn: `${CORRECTION_DATE}T09:00:00.000Z`,
    correctedInvoiceId: sc.invoiceId,
    correctedProposalId: sc.proposalId,
  });
  return { creditId, correctiveId, ids, header, actuals };
}

/** The original seeded (with its expected tax), optionally posted; the correction synchronized and imported. */
async function setup(name: string, options: { postOriginal?: boolean } = {}): Promise<Credit> {
  const sc = buildScenario(name);
  await seedScenario(finance, sc, { proposal: { ExpectedTax: '1240.00', ImportedTax: '1240.00' } });
  if (options.postOriginal !== false) {
    expect((await postInvoiceProposal(deps(), { proposalId: sc.proposalId, requestId: `original-${name}` })).outcome).toBe('posted');
  }
  const c = { name, sc, ...correction(sc) };
  expect(await syncInvoiceProposal({ finance }, c.header)).toBe('created');
  const synced = await syncActuals({ invoices: knownInvoices({ [c.correctiveId]: c.creditId }), staging: finance.staging, work, errorLog }, c.actuals, { now: NOW });
  expect(synced).toMatchObject({ accepted: 5, skippedSkipSync: 1, rejected: 0 });
  await importNow();
  return c;
}

const creditProposal = (c: Credit) => finance.proposals.get(c.creditId, c.creditId);

/**
 * Everything a credit posting writes, normalized (ids by role, customer invoice numbers, vouchers,
 * journal voucher numbers and timestamps of the run): equal for two scenarios in the same end state.
 */
async function snapshot(c: Credit): Promise<string> {
  const { sc } = c;
  const strip = <T extends { etag?: string }>(rows: T[]) => rows.map(({ etag: _e, ...rest }) => rest);
  const proposal = await creditProposal(c);
  const reservation = await sequences.find(CUSTOMER_INVOICE_SEQUENCE, c.creditId);
  const original = await sequences.find(CUSTOMER_INVOICE_SEQUENCE, sc.proposalId);
  const invoices = (await finance.customerInvoices.query()).filter((i) => i.ProposalId === c.creditId);
  const ledger = await finance.ledgerEntries.listPartition(postingVoucher(c.creditId));
  const transactions = await finance.projectTransactions.listPartition(sc.projectId);
  const staging = await finance.staging.listPartition(sc.contractId);
  const messages = [...new Map(publisher.about(c.creditId).map((s) => [s.message.messageId, s] as const)).values()];
  const replacements: [string, string][] = [
    ...[...sc.ids].flatMap(([role, id]): [string, string][] => [
      [id, `<${role}>`],
      [transactionVoucher(id), `<PJV-${role}>`],
    ]),
    ...[...c.ids].map(([role, id]): [string, string] => [id, `<${role}>`]),
    [postingVoucher(c.creditId), '<V>'],
    [postingVoucher(sc.proposalId), '<V0>'],
    [c.creditId, '<C>'],
    [sc.proposalId, '<P>'],
  ];
  if (reservation) replacements.push([reservation.value, '<CIV>']);
  if (original) replacements.push([original.value, '<CIV0>']);
  replacements.sort((a, b) => b[0].length - a[0].length);
  const normal = (value: unknown) => {
    let text = JSON.stringify(value);
    for (const [from, to] of replacements) text = text.split(from).join(to);
    return text.replace(/PJV-\d{14}-[0-9A-F]{8}-\d{4,}/g, '<PJV>').replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g, '<TS>');
  };
  const rows = (list: unknown[]) => list.map(normal).sort();
  return [
    `proposal ${proposal ? normal(strip([proposal])[0]) : 'none'}`,
    `reservation ${reservation ? normal({ value: reservation.value, reservedOn: reservation.reservedOn }) : 'none'}`,
    ...rows(strip(invoices)).map((r) => `invoice ${r}`),
    ...rows(strip(ledger)).map((r) => `ledger ${r}`),
    ...rows(strip(transactions)).map((r) => `transaction ${r}`),
    ...rows(strip(staging)).map((r) => `staging ${r}`),
    ...messages
      .map((s) => {
        const body = s.message.body as { details?: unknown[]; invoice?: unknown };
        return normal({ queue: s.queue, subject: s.message.subject, invoice: body.invoice, details: rows(body.details ?? []) });
      })
      .sort()
      .map((m) => `message ${m}`),
  ].join('\n');
}

describe('credit proposals and credit notes on Azurite', () => {
  let clean: Credit;
  let cleanSnapshot: string;

  it('imports the correction: reversals become negative lines, the re-billed actual a positive one; complete with tax', async () => {
    clean = await setup('CREDIT');
    const { sc } = clean;
    const proposal = await creditProposal(clean);
    expect(proposal).toMatchObject({
      Status: 'Open',
      InvoiceId: clean.correctiveId,
      CorrectedProposalId: sc.proposalId,
      CorrectedInvoiceId: sc.invoiceId,
      ExpectedLineCount: 3,
      ExpectedAmount: '-5450.00',
      ExpectedTax: '-1090.00',
      ImportedLineCount: 3,
      ImportedAmount: '-5450.00',
      ImportedTax: '-1090.00',
    });
    expect(isComplete(proposal!)).toBe(true);
    const lines = new Map((await finance.proposalLines.listPartition(clean.creditId)).map((l) => [l.LineId, l] as const));
    expect(lines.get(clean.ids.get('R1')!)).toMatchObject({ Quantity: '-8', LineAmount: '-1200.00', SalesTaxAmount: '-240.00', UnbilledActualId: sc.ids.get('U1'), ReversedActualId: sc.ids.get('B1'), TransType: 'Hour' });
    expect(lines.get(clean.ids.get('B1b')!)).toMatchObject({ Quantity: '5', LineAmount: '750.00', SalesTaxAmount: '150.00', UnbilledActualId: clean.ids.get('U1b') });
    expect(lines.get(clean.ids.get('B1b')!)?.ReversedActualId).toBeUndefined();
    expect(lines.get(clean.ids.get('R3')!)).toMatchObject({ TransType: 'OnAccount', LineAmount: '-5000.00', SalesTaxAmount: '-1000.00', ReversedActualId: sc.ids.get('B3') });
    // U1b and U1c are posted as project transactions by the same run (U1b before its billed twin).
    expect(await finance.projectTransactions.get(sc.projectId, clean.ids.get('U1b')!)).toMatchObject({ Amount: '750.00', AccountingAmount: '825.00', FullyInvoiced: false });
    expect(await finance.projectTransactions.get(sc.projectId, clean.ids.get('U1c')!)).toMatchObject({ Amount: '450.00', AccountingAmount: '495.00', FullyInvoiced: false });
    // The original billed rows were not touched; the original stays Posted.
    expect(await finance.proposals.get(sc.proposalId, sc.proposalId)).toMatchObject({ Status: 'Posted' });
  });

  it('posts the credit note: negative customer invoice from the same sequence, linked to the original; a voucher with the sides reversed that re-accrues the credited WIP', async () => {
    const { sc } = clean;
    const civ0 = (await finance.proposals.get(sc.proposalId, sc.proposalId))!.CustomerInvoiceId!;
    const before = await sequences.last(CUSTOMER_INVOICE_SEQUENCE);
    const result = await postInvoiceProposal(deps(), { proposalId: clean.creditId, requestId: 'credit-clean' });
    expect(result).toMatchObject({ outcome: 'posted', postingDate: CORRECTION_DATE });
    expect(await sequences.last(CUSTOMER_INVOICE_SEQUENCE)).toBe(before + 1);
    const civ = result.customerInvoiceId;
    const voucher = postingVoucher(clean.creditId);

    // -5450.00 - 1090.00 = -6540.00 EUR at 1.100000 -> -7194.00 USD; tax -1199.00; lines -1320.00 + 825.00 - 5500.00.
    expect(await finance.customerInvoices.get(civ, civ)).toMatchObject({
      ProposalId: clean.creditId,
      CustomerAccount: sc.proposal.CustomerAccount,
      InvoiceDate: CORRECTION_DATE,
      CurrencyCode: 'EUR',
      InvoiceAmount: '-5450.00',
      SalesTaxAmount: '-1090.00',
      TotalAmount: '-6540.00',
      AccountingAmount: '-7194.00',
      Voucher: voucher,
      CorrectedInvoiceId: civ0,
      CorrectedProposalId: sc.proposalId,
    });
    const ledger = await finance.ledgerEntries.listPartition(voucher);
    expect(ledger.map((e) => [e.LineNumber, e.MainAccount, e.Amount, e.ProjectId ?? null])).toEqual([
      [1, 'AccruedRevenue', '825.00', sc.projectId], // U1b invoiced: its accrual reversed
      [2, 'WIPSalesValue', '-825.00', sc.projectId],
      [3, 'WIPSalesValue', '1301.40', sc.projectId], // U1 credited: its WIP re-accrued at the import amount
      [4, 'AccruedRevenue', '-1301.40', sc.projectId],
      [5, 'CustomerBalance', '-7194.00', null],
      [6, 'Revenue', '5995.00', sc.projectId],
      [7, 'SalesTaxPayable', '1199.00', null],
    ]);
    expect(ledger.every((e) => e.Reference === civ)).toBe(true);
    for (const v of new Set((await finance.ledgerEntries.query()).map((e) => e.Voucher))) {
      expect(isBalanced(await finance.ledgerEntries.listPartition(v)), `voucher ${v}`).toBe(true);
    }

    const tx = (role: string) => finance.projectTransactions.get(sc.projectId, sc.ids.get(role) ?? clean.ids.get(role)!);
    const u1 = await tx('U1');
    expect(u1).toMatchObject({ FullyInvoiced: false, CreditNoteId: civ, CreditedInvoiceId: civ0, AccountingAmount: '1301.40' });
    expect(u1?.CustomerInvoiceId).toBeUndefined();
    expect(await tx('U2')).toMatchObject({ FullyInvoiced: true, CustomerInvoiceId: civ0 }); // not credited
    expect(await tx('U1b')).toMatchObject({ FullyInvoiced: true, CustomerInvoiceId: civ });
    expect(await tx('U1c')).toMatchObject({ FullyInvoiced: false });
    expect((await tx('U1c'))?.CustomerInvoiceId).toBeUndefined();

    for (const role of ['R1', 'B1b', 'R3']) {
      expect(await finance.staging.get(sc.contractId, clean.ids.get(role)!)).toMatchObject({ ImportStatus: 'Imported', VoucherNumber: voucher, PostingDate: CORRECTION_DATE, ExchangeRate: '1.100000' });
    }
    const bodies = publisher.about(clean.creditId).map((s) => actualsAccountingMessage.parse(s.message.body));
    expect(bodies).toHaveLength(1);
    expect(bodies[0]!.invoice).toEqual({ invoiceId: clean.correctiveId, customerInvoiceNumber: civ, customerInvoiceDate: CORRECTION_DATE });
    expect(bodies[0]!.details.map((d) => [d.actualId, d.accountingAmount, d.salesTaxAmount]).sort()).toEqual(
      [
        [clean.ids.get('R1'), '-1320.00', '-240.00'],
        [clean.ids.get('B1b'), '825.00', '150.00'],
        [clean.ids.get('R3'), '-5500.00', '-1000.00'],
      ].sort(),
    );
    expect(await creditProposal(clean)).toMatchObject({ Status: 'Posted', CustomerInvoiceId: civ, Voucher: voucher, PostedOn: NOW.toISOString() });
    expect(await finance.proposals.get(sc.proposalId, sc.proposalId)).toMatchObject({ Status: 'Posted', CustomerInvoiceId: civ0 });
    cleanSnapshot = await snapshot(clean);
  });

  describe('a crash after each step, then the redelivery, ends in the clean-run state', () => {
    for (const step of POSTING_STEPS) {
      it(`crash after "${step}"`, async () => {
        const c = await setup(`CR-${step}`);
        const before = await sequences.last(CUSTOMER_INVOICE_SEQUENCE);
        const crash = new Error(`injected crash after ${step}`);
        const crashing = deps({
          afterStep: (s: PostingStep) => {
            if (s === step) throw crash;
          },
        });
        await expect(postInvoiceProposal(crashing, { proposalId: c.creditId, requestId: `credit-${step}` })).rejects.toBe(crash);
        const redelivered = await postInvoiceProposal(deps(), { proposalId: c.creditId, requestId: `credit-${step}` });
        expect(redelivered.outcome).toBe(step === 'posted' ? 'republished' : 'posted');
        expect(await sequences.last(CUSTOMER_INVOICE_SEQUENCE)).toBe(before + 1);
        expect(await snapshot(c)).toBe(cleanSnapshot);
      });
    }
  });

  it('a redelivery after Posted republishes the same messages and changes nothing; another request is refused; republish-accounting resends the same bodies', async () => {
    const before = await snapshot(clean);
    const sentBefore = publisher.about(clean.creditId).length;
    expect((await postInvoiceProposal(deps(), { proposalId: clean.creditId, requestId: 'credit-clean' })).outcome).toBe('republished');
    const sent = publisher.about(clean.creditId);
    expect(sent).toHaveLength(sentBefore + 1);
    expect(sent.at(-1)).toEqual(sent[0]);
    await expect(postInvoiceProposal(deps(), { proposalId: clean.creditId, requestId: 'credit-other' })).rejects.toThrow(/is already posted as customer invoice CIV-/);

    const republished = await republishAccounting({ finance, sequences, publisher }, clean.creditId, { at: new Date('2026-04-12T10:00:00.000Z') });
    expect(republished).toMatchObject({ invoiceId: clean.correctiveId, details: 3 });
    const last = publisher.sent.at(-1)!;
    expect(last.message.messageId).not.toBe(sent[0]!.message.messageId);
    expect(last.message.body).toEqual(sent[0]!.message.body);
    // Nothing but a message under a new id: the stored records are as they were.
    const records = (text: string) => text.split('\n').filter((l) => !l.startsWith('message '));
    expect(records(await snapshot(clean))).toEqual(records(before));
  });

  it('a credit proposal cannot be posted before its original: the route and the posting refuse naming it, nothing is written; then it posts', async () => {
    const c = await setup('EARLY', { postOriginal: false });
    const before = await sequences.last(CUSTOMER_INVOICE_SEQUENCE);
    const snap = await snapshot(c);
    const sentBefore = publisher.sent.length;
    const reason = `Credit proposal ${c.creditId} corrects invoice proposal ${c.sc.proposalId}, which is Open (not posted yet)`;

    const routed = await requestProposalPosting({ finance, publisher }, { proposalId: c.creditId }).catch((e: unknown) => e);
    expect(routed).toBeInstanceOf(BusinessError);
    expect(statusOf(routed)).toBe(409);
    expect(String(routed)).toContain(reason);
    expect(String(routed)).toContain(`Post ${c.sc.proposalId} first (POST /api/finance/proposals/${c.sc.proposalId}/post)`);
    await expect(postInvoiceProposal(deps(), { proposalId: c.creditId })).rejects.toThrow(reason);
    expect(await sequences.last(CUSTOMER_INVOICE_SEQUENCE)).toBe(before);
    expect(await sequences.find(CUSTOMER_INVOICE_SEQUENCE, c.creditId)).toBeUndefined();
    expect(publisher.sent.length).toBe(sentBefore);
    expect(await snapshot(c)).toBe(snap);

    // Unknown corrected proposal: named too.
    await finance.proposals.upsert({ ...(await creditProposal(c))!, CorrectedProposalId: 'INV-NOWHERE' });
    await expect(postInvoiceProposal(deps(), { proposalId: c.creditId })).rejects.toThrow(`corrects invoice proposal INV-NOWHERE, which is not in F&O`);
    await finance.proposals.upsert({ ...(await creditProposal(c))!, CorrectedProposalId: c.sc.proposalId });

    await postInvoiceProposal(deps(), { proposalId: c.sc.proposalId });
    const posted = await postInvoiceProposal(deps(), { proposalId: c.creditId });
    expect(posted.outcome).toBe('posted');
    expect(await finance.customerInvoices.get(posted.customerInvoiceId, posted.customerInvoiceId)).toMatchObject({ InvoiceAmount: '-5450.00', SalesTaxAmount: '-1090.00' });
  });

  it('the proposals view shows the credit proposal with the proposal it corrects and its tax figures, and the original with its credit', async () => {
    const view = await getProposal({ finance }, clean.creditId);
    expect(view).toMatchObject({
      kind: 'Credit',
      proposal: { ProposalId: clean.creditId, CorrectedProposalId: clean.sc.proposalId, ExpectedTax: '-1090.00', ImportedTax: '-1090.00' },
      reconciliation: { expectedAmount: '-5450.00', importedAmount: '-5450.00', taxChecked: true, expectedTax: '-1090.00', importedTax: '-1090.00', missingTax: '0.00', complete: true },
      corrects: { proposalId: clean.sc.proposalId, status: 'Posted', invoiceId: clean.sc.invoiceId, expectedTax: '1240.00' },
      correctedBy: [],
    });
    expect(view.lines).toHaveLength(3);
    const original = await getProposal({ finance }, clean.sc.proposalId);
    expect(original).toMatchObject({ kind: 'Invoice', correctedBy: [{ proposalId: clean.creditId, status: 'Posted' }] });
    expect(original.corrects).toBeUndefined();
  });

  it('a reversal row whose header is not (yet) a credit proposal stays in Error with the reason, and goes through once the header names what it corrects', async () => {
    const sc = buildScenario('NOTCREDIT');
    await seedScenario(finance, sc, { proposal: { ExpectedTax: '1240.00', ImportedTax: '1240.00' } });
    await postInvoiceProposal(deps(), { proposalId: sc.proposalId });
    const c = correction(sc);
    const { correctedInvoiceId: _i, correctedProposalId: _p, ...plain } = c.header;
    await syncInvoiceProposal({ finance }, plain);
    await syncActuals({ invoices: unknownInvoices, staging: finance.staging, work, errorLog }, c.actuals, { now: NOW });
    await importNow();
    const r1 = await finance.staging.get(sc.contractId, c.ids.get('R1')!);
    expect(r1).toMatchObject({ ImportStatus: 'Error' });
    expect(r1?.ImportMessage).toContain(`reverses billed actual ${sc.ids.get('B1')}, but invoice proposal ${c.creditId} is not a credit proposal`);
    expect(await finance.staging.get(sc.contractId, c.ids.get('B1b')!)).toMatchObject({ ImportStatus: 'Imported' });

    expect(await syncInvoiceProposal({ finance }, c.header)).toBe('updated');
    await importNow();
    const fixed = (await finance.proposals.get(c.creditId, c.creditId))!;
    expect(fixed).toMatchObject({ CorrectedProposalId: sc.proposalId, ImportedLineCount: 3, ImportedAmount: '-5450.00', ImportedTax: '-1090.00' });
    expect(isComplete(fixed)).toBe(true);
  });

  it('a proposal stored before tax was reconciled: complete without a tax check; a redelivered header recounts its tax from its lines', async () => {
    const sc = buildScenario('LEGACY');
    await seedScenario(finance, sc); // the fixture's proposal has no ExpectedTax / ImportedTax
    const legacy = (await finance.proposals.get(sc.proposalId, sc.proposalId))!;
    expect(legacy.ExpectedTax).toBeUndefined();
    expect(isComplete(legacy)).toBe(true);
    const message: InvoiceProposalMessage = {
      proposalId: sc.proposalId,
      invoiceId: sc.invoiceId,
      contractId: sc.contractId,
      customerId: deterministicGuid('posting-test', sc.name, 'customer'),
      customerAccount: legacy.CustomerAccount,
      currencyCode: 'EUR',
      invoiceDate: legacy.InvoiceDate,
      expectedLineCount: 3,
      expectedAmount: legacy.ExpectedAmount,
      expectedTax: '1240.00',
      confirmedOn: '2026-03-15T10:00:00.000Z',
    };
    expect(await syncInvoiceProposal({ finance }, message)).toBe('updated');
    const recounted = (await finance.proposals.get(sc.proposalId, sc.proposalId))!;
    expect(recounted).toMatchObject({ ExpectedTax: '1240.00', ImportedTax: '1240.00', ImportedLineCount: 3 });
    expect(isComplete(recounted)).toBe(true);
    expect(await syncInvoiceProposal({ finance }, message)).toBe('unchanged');
    // A header whose tax the lines do not carry is not complete, and posting says why.
    await syncInvoiceProposal({ finance }, { ...message, expectedTax: '1240.01' });
    await expect(postInvoiceProposal(deps(), { proposalId: sc.proposalId })).rejects.toThrow(
      'expected 3 lines totalling 6533.33 EUR, imported 3 lines totalling 6533.33 EUR; sales tax expected 1240.01 EUR, imported 1240.00 EUR (missing 0 lines, 0.00 EUR, tax 0.01 EUR)',
    );

    // No message can repair that: the repair sweep reports it once, pointing at the trace.
    const dataverse = new DataverseStore(azurite.connectionString);
    await dataverse.invoices.upsert({
      invoiceid: sc.invoiceId,
      invoicenumber: sc.proposalId,
      name: `Invoice ${sc.proposalId}`,
      customerid: message.customerId,
      salesorderid: sc.contractId,
      transactioncurrencyid: 'EUR',
      msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
      msdyn_invoicedate: legacy.InvoiceDate,
      totalamount: legacy.ExpectedAmount,
      totaltax: '1240.01',
      msdyn_confirmedon: '2026-03-15T10:00:00.000Z',
    });
    const swept = await reconcile({ dataverse, finance, work, sequences, leases, publisher, errorLog }, { now: NOW });
    expect(swept.problems).toBe(1);
    const rows = await errorLog.list({ source: 'reconcile' });
    expect(rows.find((r) => r.Reference === sc.proposalId)?.Message).toContain(
      `Invoice proposal ${sc.proposalId} has all 3 lines for 6533.33 EUR, but its lines carry tax 1240.00 where its header expects 1240.01, so it cannot be posted`,
    );
  });
});
