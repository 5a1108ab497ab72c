/**
 * Repair on the real stack (Azurite, the local Service Bus, the local Functions host with the real
 * app): a lost proposal message is repaired by the republish route and, separately, by the sweep
 * alone; republishing twice changes nothing more; republish-accounting (and the sweep) restore a
 * posted proposal's accounting details on Dataverse; what the sweep cannot repair is one error row
 * across runs; the routes refuse with problem+json. The confirmation runs in this process with a
 * publisher that loses messages; the consumers run in the host. The import and the sweep run on
 * demand (their timers never fire here); the sweep is run "later" by giving it a clock 30 minutes
 * ahead, so its default thresholds (10 minutes) have passed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirmProformaInvoice } from '../../../shared/bridge/confirmProformaInvoice';
import { withoutEtag } from '../../../shared/core/stored';
import { InvoiceStatus, TransactionType } from '../../../shared/core/options';
import type { Actual } from '../../../shared/dataverse/records';
import { runImportFromStaging } from '../../../shared/finance/import/importFromStaging';
import { StagingWork } from '../../../shared/finance/import/stagingIndexStore';
import { isComplete } from '../../../shared/finance/rules/import';
import { Queues, type OutboundMessage, type Publisher, type QueueName } from '../../../shared/messages';
import { reconcile, RECONCILE, type ReconcileOptions } from '../../../shared/operations/reconcile';
import { ServiceBusPublisher } from '../../../shared/servicebus/publisher';
import { TableLeases } from '../../../shared/storage/leases';
import { TableSequenceStore } from '../../../shared/storage/sequences';
import { seedActuals, seedContract, seedDraftInvoice, type ContractFixture, type InvoiceFixture } from '../../kit/fixtures/dataverse';
import { NEVER, startSystem, waitFor, type TestSystem } from '../../kit/system';

let sys: TestSystem;
let publisher: ServiceBusPublisher;

const RATES = [{ FromCurrency: 'EUR', ToCurrency: 'USD', Rate: '1.084500', ValidFrom: '2024-01-01' }];
const LATER_MS = 30 * 60_000;

beforeAll(async () => {
  sys = await startSystem({ settings: { ReconcileSchedule: NEVER } });
  publisher = new ServiceBusPublisher(sys.serviceBus);
  await sys.finance.exchangeRates.upsertMany(RATES);
}, 120_000);

afterAll(async () => {
  await publisher?.close();
  await sys?.stop();
});

/** A publisher that loses the messages `lose` picks (as a broker outage or a crash would) and sends the rest. */
class LosingPublisher implements Publisher {
  readonly lost: { queue: QueueName; message: OutboundMessage }[] = [];
  constructor(private readonly lose: (queue: QueueName, message: OutboundMessage) => boolean) {}
  async publish(queue: QueueName, messages: OutboundMessage[]): Promise<void> {
    const kept = messages.filter((m) => {
      if (!this.lose(queue, m)) return true;
      this.lost.push({ queue, message: m });
      return false;
    });
    await publisher.publish(queue, kept);
  }
}

async function importNow() {
  const result = await runImportFromStaging(
    { finance: sys.finance, work: new StagingWork(sys.settings.FinanceTables!), leases: new TableLeases(sys.settings.IntegrationTables!), publisher, accountingCurrency: 'USD' },
    { now: new Date() },
  );
  await sys.drain();
  return result;
}

/** The sweep as the timer runs it, on a clock `LATER_MS` ahead (so its thresholds have passed). */
async function sweep(options: ReconcileOptions = {}) {
  const lines: string[] = [];
  const result = await reconcile(
    {
      dataverse: sys.dataverse,
      finance: sys.finance,
      work: new StagingWork(sys.settings.FinanceTables!),
      sequences: new TableSequenceStore(sys.settings.IntegrationTables!),
      leases: new TableLeases(sys.settings.IntegrationTables!),
      publisher,
      errorLog: sys.errorLog,
    },
    { now: new Date(Date.now() + LATER_MS), log: (line) => lines.push(line), ...options },
  );
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^\[reconcile\] run=\S+ done /);
  await sys.drain();
  return result;
}

interface Case {
  fx: ContractFixture;
  inv: InvoiceFixture;
  unbilled: Actual[];
  invoiceId: string;
  proposalId: string;
}

/**
 * A EUR contract whose approved unbilled actuals are in F&O and posted, and a draft invoice of
 * them (the second one's price edited: the confirmation then creates and syncs a new unbilled actual
 * that its billed actual bills, and an adjustment reversal).
 */
async function prepare(key: string): Promise<Case> {
  const fx = await seedContract(sys.dataverse, { key, currency: 'EUR' });
  const unbilled = await seedActuals(sys.dataverse, fx, [
    { quantity: '8', price: '150.00' },
    { quantity: '4', price: '100.00' },
    { quantity: '2', price: '120.00' },
  ]);
  const approved = [...(await sys.dataverse.actualsOfContract(fx.contract.salesorderid)).values()].map((a) => withoutEtag(a));
  await sys.send(Queues.actuals, { actuals: approved }, { messageId: `approved-${key}` });
  await sys.drain();
  await importNow();
  const inv = await seedDraftInvoice(sys.dataverse, fx, { actuals: unbilled, edits: { [unbilled[1]!.msdyn_actualid]: { price: '90.00' } }, taxRate: '0.10' });
  return { fx, inv, unbilled, invoiceId: inv.invoice.invoiceid, proposalId: inv.invoice.invoicenumber };
}

async function confirmLosing(c: Case, lose: (queue: QueueName, message: OutboundMessage) => boolean): Promise<LosingPublisher> {
  const losing = new LosingPublisher(lose);
  await confirmProformaInvoice({ dataverse: sys.dataverse, publisher: losing }, { invoiceId: c.invoiceId, confirmedOn: new Date().toISOString() });
  await sys.drain();
  return losing;
}

/** What both sides hold of a case, without ETags (equal for equal states). */
async function stateOf(c: Case) {
  const contractId = c.fx.contract.salesorderid;
  const proposal = await sys.finance.proposals.get(c.proposalId, c.proposalId);
  const lines = await sys.finance.proposalLines.listPartition(c.proposalId);
  const staging = await sys.finance.staging.listPartition(contractId);
  const actuals = await sys.dataverse.actuals.listPartition(contractId);
  const invoice = await sys.dataverse.invoices.get(c.invoiceId, c.invoiceId);
  const sorted = <T extends { etag: string }>(rows: T[], key: (r: T) => string) => rows.map((r) => ({ key: key(r), row: withoutEtag(r) })).sort((a, b) => a.key.localeCompare(b.key)).map((r) => r.row);
  return {
    proposal: proposal && withoutEtag(proposal),
    lines: sorted(lines, (l) => l.LineId),
    staging: sorted(staging, (r) => r.ActualId),
    actuals: sorted(actuals, (a) => a.msdyn_actualid),
    invoice: invoice && withoutEtag(invoice),
  };
}

async function billedOf(c: Case) {
  return (await sys.dataverse.billedActualsOfInvoice(c.fx.contract.salesorderid, c.invoiceId)).sort((a, b) => a.msdyn_actualid.localeCompare(b.msdyn_actualid));
}

/** Lose the accounting details of the billed actuals on Dataverse (rewrite them without those fields). */
async function loseAccounting(c: Case): Promise<void> {
  for (const a of await billedOf(c)) {
    const { etag: _etag, msdyn_externalreferenceid: _v, msdyn_postingdate: _d, msdyn_accountingcurrency: _c, msdyn_accountingamount: _a, msdyn_exchangerate: _r, ...rest } = a;
    await sys.dataverse.actuals.upsert(rest, 'Replace');
  }
  expect((await billedOf(c)).every((a) => a.msdyn_externalreferenceid === undefined)).toBe(true);
}

async function accountingRestored(c: Case) {
  return waitFor('the accounting details back on every billed actual', async () => {
    const billed = await billedOf(c);
    return billed.length > 0 && billed.every((a) => a.msdyn_externalreferenceid !== undefined) ? billed : undefined;
  }, 60_000);
}

function expectProblem(reply: { status: number; headers: Headers; body: any }, status: number, detail: RegExp | string) {
  expect(reply.status).toBe(status);
  expect(reply.headers.get('content-type')).toContain('application/problem+json');
  expect(reply.body).toMatchObject({ status, title: expect.any(String) });
  if (typeof detail === 'string') expect(reply.body.detail).toContain(detail);
  else expect(reply.body.detail).toMatch(detail);
}

describe('republish and the repair sweep', () => {
  it('registers the sweep on its schedule setting and the two routes at authLevel function', () => {
    const bindingsOf = (name: string) => Object.values(sys.host.functions.find((f) => f.name === name)?.bindings ?? {}) as Record<string, unknown>[];
    expect(bindingsOf('reconcile')).toContainEqual(expect.objectContaining({ type: 'timerTrigger', schedule: '%ReconcileSchedule%' }));
    expect(bindingsOf('republishInvoiceConfirmation')).toContainEqual(
      expect.objectContaining({ type: 'httpTrigger', route: 'dataverse/invoices/{invoiceId}/republish', methods: ['POST'], authLevel: 'function' }),
    );
    expect(bindingsOf('republishProposalAccounting')).toContainEqual(
      expect.objectContaining({ type: 'httpTrigger', route: 'finance/proposals/{proposalId}/republish-accounting', methods: ['POST'], authLevel: 'function' }),
    );
  });

  let routeCase: Case;
  let routeState: Awaited<ReturnType<typeof stateOf>>;

  it('the republish route repairs a lost proposal message; republishing twice changes nothing more', { timeout: 240_000 }, async () => {
    routeCase = await prepare('repair-route');
    const c = routeCase;
    const losing = await confirmLosing(c, (queue) => queue === Queues.invoiceProposals);
    expect(losing.lost.map((l) => l.message.messageId)).toEqual([`proposal-${c.invoiceId}`]);
    expect((await sys.dataverse.invoices.get(c.invoiceId, c.invoiceId))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);

    // The billed rows arrive and wait for a proposal that never comes.
    await importNow();
    expect(await sys.finance.proposals.get(c.proposalId, c.proposalId)).toBeUndefined();
    const waiting = (await sys.finance.billedRowsNotImported(c.fx.contract.salesorderid, c.invoiceId)).map((r) => r.ImportMessage);
    expect(waiting).toHaveLength(3);
    expect(new Set(waiting)).toEqual(new Set(['Invoice proposal not synchronized yet']));

    // An open proposal cannot have its accounting republished; a Draft invoice has nothing to republish.
    const reply = await sys.http('POST', `dataverse/invoices/${c.invoiceId}/republish`);
    expect(reply.status).toBe(202);
    expect(reply.headers.get('content-type')).toContain('application/json');
    expect(reply.body).toMatchObject({
      invoiceId: c.invoiceId,
      invoiceNumber: c.proposalId,
      invoiceStatus: 'Confirmed',
      status: 'Republished',
      proposal: { queue: 'invoice-proposals', messageId: expect.stringMatching(new RegExp(`^proposal-${c.invoiceId}~r\\d{8}T\\d{9}Z$`)) },
      actuals: { queue: 'actuals', messages: 1, records: 5 }, // 3 billed, the edited line's new unbilled and its adjustment reversal
      trace: `/api/invoices/${c.invoiceId}/trace`,
    });
    expect(reply.body.actuals.messageIds).toEqual([expect.stringMatching(new RegExp(`^actuals-${c.invoiceId}-1~r`))]);

    const proposal = await waitFor('the proposal header', () => sys.finance.proposals.get(c.proposalId, c.proposalId), 60_000);
    expect(proposal).toMatchObject({ InvoiceId: c.invoiceId, ExpectedLineCount: 3, Status: 'Open' });
    await sys.drain();
    await importNow();
    const complete = await sys.finance.proposals.get(c.proposalId, c.proposalId);
    expect(complete && isComplete(complete)).toBe(true);
    const once = await stateOf(c);

    // Again: new ids (duplicate detection lets it through), same bodies: nothing changes.
    const again = await sys.http('POST', `dataverse/invoices/${c.invoiceId}/republish`);
    expect(again.status).toBe(202);
    expect(again.body.proposal.messageId).not.toBe(reply.body.proposal.messageId);
    await sys.drain();
    await importNow();
    expect(await stateOf(c)).toEqual(once);
    routeState = once;
  });

  it('refuses what cannot be republished with problem+json: Draft, unknown, malformed, open proposal', async () => {
    const fx = await seedContract(sys.dataverse, { key: 'repair-draft', currency: 'EUR' });
    const [a] = await seedActuals(sys.dataverse, fx, [{ quantity: '1', price: '10.00' }]);
    const draft = await seedDraftInvoice(sys.dataverse, fx, { actuals: [a!] });
    expectProblem(await sys.http('POST', `dataverse/invoices/${draft.invoice.invoiceid}/republish`), 409, /Invoice \S+ is Draft: it has not been confirmed.*Confirm it first/);
    expectProblem(await sys.http('POST', 'dataverse/invoices/3f2504e0-4f89-41d3-9a0c-0305e82c3301/republish'), 404, 'was not found in Dataverse');
    expectProblem(await sys.http('POST', 'dataverse/invoices/not-a-guid/republish'), 400, 'is not a GUID');

    expectProblem(await sys.http('POST', `finance/proposals/${routeCase.proposalId}/republish-accounting`), 409, /is Open, not posted.*Post it first/);
    expectProblem(await sys.http('POST', 'finance/proposals/INV-NOSUCH/republish-accounting'), 404, 'INV-NOSUCH does not exist');
    // Nothing was sent: the route case is as it was.
    await sys.drain();
    expect(await stateOf(routeCase)).toEqual(routeState);
  });

  it('republish-accounting restores a posted proposal\'s accounting details on Dataverse; so does the sweep', { timeout: 240_000 }, async () => {
    const c = routeCase;
    const posting = await sys.http('POST', `finance/proposals/${c.proposalId}/post`);
    expect(posting.status).toBe(202);
    await waitFor('the invoice to be Posted on Dataverse', async () => (await sys.dataverse.invoices.get(c.invoiceId, c.invoiceId))?.msdyn_projectinvoicestatus === InvoiceStatus.Posted, 60_000);
    const withAccounting = await accountingRestored(c);
    await sys.drain();
    const posted = await stateOf(c);

    await loseAccounting(c);
    const reply = await sys.http('POST', `finance/proposals/${c.proposalId}/republish-accounting`);
    expect(reply.status).toBe(202);
    expect(reply.body).toMatchObject({
      proposalId: c.proposalId,
      invoiceId: c.invoiceId,
      customerInvoiceId: posted.proposal!.CustomerInvoiceId,
      voucher: posted.proposal!.Voucher,
      postingDate: '2024-03-31',
      status: 'Republished',
      accounting: { queue: 'actuals-accounting', messages: 1, details: 3 },
    });
    expect(reply.body.accounting.messageIds[0]).toMatch(/^[0-9a-f-]{36}~r\d{8}T\d{9}Z$/);
    expect(await accountingRestored(c)).toEqual(withAccounting.map((a) => ({ ...a, etag: expect.any(String) })));
    await sys.drain();
    expect(await stateOf(c)).toEqual(posted);

    // A Posted invoice can be republished too: it changes nothing.
    const republished = await sys.http('POST', `dataverse/invoices/${c.invoiceId}/republish`);
    expect(republished.status).toBe(202);
    expect(republished.body.invoiceStatus).toBe('Posted');
    await sys.drain();
    await importNow();
    expect(await stateOf(c)).toEqual(posted);

    // Lost again: the sweep alone finds the posted proposal whose details are missing and sends them.
    await loseAccounting(c);
    const result = await sweep();
    expect(result.republished.accountingProposals).toBe(1);
    expect(result.problems).toBe(0);
    await accountingRestored(c);
    await sys.drain();
    expect(await stateOf(c)).toEqual(posted);
  });

  it('the sweep alone repairs a confirmation whose messages were all lost, and a run after it changes nothing', { timeout: 240_000 }, async () => {
    const c = await prepare('repair-sweep');
    const losing = await confirmLosing(c, () => true);
    expect(losing.lost.map((l) => l.queue)).toEqual([Queues.invoiceProposals, Queues.actuals]);
    await importNow();
    expect(await sys.finance.proposals.get(c.proposalId, c.proposalId)).toBeUndefined();
    expect(await sys.finance.billedStagingIdsOfInvoice(c.fx.contract.salesorderid, c.invoiceId)).toEqual(new Set());

    // Too early for the sweep (confirmed just now): it leaves the invoice alone.
    const early = await sweep({ now: new Date() });
    expect(early.republished.invoices).toBe(0);

    const first = await sweep();
    expect(first.ran).toBe(true);
    expect(first.republished).toMatchObject({ invoices: 1, proposalMessages: 1, actualsMessages: 1, actuals: 5 });
    expect(first.problems).toBe(0);
    await waitFor('the proposal header', () => sys.finance.proposals.get(c.proposalId, c.proposalId), 60_000);
    await importNow();
    const complete = await sys.finance.proposals.get(c.proposalId, c.proposalId);
    expect(complete && isComplete(complete)).toBe(true);
    const repaired = await stateOf(c);

    const second = await sweep();
    expect(second.republished.invoices).toBe(0);
    expect(second.republished.accountingProposals).toBe(0);
    await importNow();
    expect(await stateOf(c)).toEqual(repaired);
  });

  it('the sweep repairs a lost new unbilled actual that a billed row waits for', { timeout: 240_000 }, async () => {
    const c = await prepare('repair-waiting');
    // The proposal arrives; of the actuals only the billed ones do (the edited line's new unbilled
    // actual and its adjustment reversal are lost), as if they had been sent in a message of their own.
    const losing = await confirmLosing(c, (queue) => queue === Queues.actuals);
    const actualsMessage = losing.lost.find((l) => l.queue === Queues.actuals)!.message;
    const records = (actualsMessage.body as { actuals: Actual[] }).actuals;
    const billed = records.filter((a) => a.msdyn_transactiontypecode === TransactionType.BilledSales);
    expect(billed).toHaveLength(3);
    await publisher.publish(Queues.actuals, [{ messageId: 'billed-only', body: { actuals: billed } }]);
    await sys.drain();
    await importNow();
    const stuck = await sys.finance.billedRowsNotImported(c.fx.contract.salesorderid, c.invoiceId);
    expect(stuck.map((r) => r.ImportMessage)).toEqual(["Project transaction hasn't been posted yet"]);
    const incomplete = await sys.finance.proposals.get(c.proposalId, c.proposalId);
    expect(incomplete).toMatchObject({ ExpectedLineCount: 3, ImportedLineCount: 2 });

    // Every billed row is staged, so the invoice looks fine by its counts; the waiting row tells:
    // its unbilled actual has no staging row, and the confirmation publishes it: its message goes again.
    const first = await sweep();
    expect(first.republished).toMatchObject({ invoices: 1, proposalMessages: 0, actualsMessages: 1, actuals: 5 });
    expect(first.problems).toBe(0);
    await importNow();
    const complete = await sys.finance.proposals.get(c.proposalId, c.proposalId);
    expect(complete && isComplete(complete)).toBe(true);
    expect(await sys.finance.billedRowsNotImported(c.fx.contract.salesorderid, c.invoiceId)).toEqual([]);
  });

  it('what the sweep cannot repair is one error row a person can act on, however many runs find it', { timeout: 120_000 }, async () => {
    // An invoice Confirmed by something other than this integration: its billed actuals do not exist.
    const fx = await seedContract(sys.dataverse, { key: 'repair-foreign', currency: 'EUR' });
    const actuals = await seedActuals(sys.dataverse, fx, [{ quantity: '2', price: '50.00' }]);
    const inv = await seedDraftInvoice(sys.dataverse, fx, { actuals });
    await sys.dataverse.invoices.upsert({ ...inv.invoice, msdyn_projectinvoicestatus: InvoiceStatus.Confirmed, msdyn_confirmedon: new Date().toISOString() });
    const number = inv.invoice.invoicenumber;
    const rowsOf = async () => (await sys.errorLog.list({ source: RECONCILE })).filter((r) => r.Reference === number);
    expect(await rowsOf()).toEqual([]);

    const first = await sweep();
    expect(first.problems).toBeGreaterThanOrEqual(1);
    const rows = await rowsOf();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      Source: 'reconcile',
      Category: 'Business',
      Status: 'Open',
      Reference: number,
      Message: expect.stringContaining(`Invoice ${number} needs its confirmation messages again (its proposal ${number} is not in F&O), but they cannot be republished`),
    });
    expect(rows[0]!.Message).toContain('not by this integration');

    await sweep();
    const after = await rowsOf();
    expect(after).toHaveLength(1);
    expect(after[0]!.Id).toBe(rows[0]!.Id);
    // Nothing was sent for it: still no proposal.
    expect(await sys.finance.proposals.get(number, number)).toBeUndefined();
  });

  it('reports what needs a person: a number taken by another proposal, staging rows in Error, a repair that has not taken effect for too long', { timeout: 240_000 }, async () => {
    // A Confirmed invoice whose number an F&O proposal of another invoice holds.
    const fx = await seedContract(sys.dataverse, { key: 'repair-taken', currency: 'EUR' });
    const inv = await seedDraftInvoice(sys.dataverse, fx, { actuals: await seedActuals(sys.dataverse, fx, [{ quantity: '1', price: '10.00' }]) });
    await sys.dataverse.invoices.upsert({ ...inv.invoice, msdyn_projectinvoicestatus: InvoiceStatus.Confirmed, msdyn_confirmedon: new Date().toISOString() });
    const other = '0bbce863-0000-4000-8000-000000000001';
    await sys.finance.proposals.upsert({
      ProposalId: inv.invoice.invoicenumber,
      InvoiceId: other,
      ContractId: other,
      CustomerAccount: 'CUST-OTHER',
      CurrencyCode: 'EUR',
      InvoiceDate: '2024-03-31',
      ExpectedLineCount: 1,
      ExpectedAmount: '10.00',
      ImportedLineCount: 0,
      ImportedAmount: '0.00',
      Status: 'Open',
    });

    // Actuals in a currency without a rate to USD: their staging rows stay in Error.
    const gbp = await seedContract(sys.dataverse, { key: 'repair-gbp', currency: 'GBP' });
    const gbpActuals = await seedActuals(sys.dataverse, gbp, [{ quantity: '1', price: '10.00' }, { quantity: '2', price: '10.00' }]);
    await sys.send(Queues.actuals, { actuals: gbpActuals }, { messageId: 'repair-gbp-actuals' });
    await sys.drain();
    await importNow();
    expect((await sys.finance.staging.listPartition(gbp.contract.salesorderid)).map((r) => r.ImportStatus)).toEqual(['Error', 'Error']);

    // A lost proposal, repaired by this run; confirmed 30 minutes before the sweep's clock, which
    // here escalates after 20: the row says it has been republished and where to look.
    const late = await prepare('repair-escalate');
    await confirmLosing(late, (queue) => queue === Queues.invoiceProposals);

    const result = await sweep({ escalateAfterMs: 20 * 60_000 });
    expect(result.republished.proposalMessages).toBe(1);
    const rows = await sys.errorLog.list({ source: RECONCILE });
    const taken = rows.filter((r) => r.Reference === inv.invoice.invoicenumber);
    expect(taken).toEqual([expect.objectContaining({ Category: 'Business', Message: expect.stringContaining(`F&O proposal ${inv.invoice.invoicenumber} belongs to invoice ${other}`) })]);
    const errors = rows.filter((r) => r.Reference === gbp.contract.salesorderid);
    expect(errors).toEqual([expect.objectContaining({ Message: expect.stringMatching(/^2 foActualsStaging row\(s\) of contract .* are in Error .*GBP.*foExchangeRates/) })]);
    const stuck = rows.filter((r) => r.Reference === late.proposalId);
    expect(stuck).toEqual([expect.objectContaining({ Message: expect.stringContaining(`Invoice ${late.proposalId} has been stuck on its way to F&O since`) })]);
    expect(stuck[0]!.Message).toContain(`its proposal ${late.proposalId} is not in F&O`);
    expect(stuck[0]!.Message).toContain('syncInvoiceProposal');

    // The repair itself worked; a second run adds no row.
    await waitFor('the proposal header', () => sys.finance.proposals.get(late.proposalId, late.proposalId), 60_000);
    await importNow();
    const complete = await sys.finance.proposals.get(late.proposalId, late.proposalId);
    expect(complete && isComplete(complete)).toBe(true);
    const count = (await sys.errorLog.list({ source: RECONCILE })).length;
    await sweep({ escalateAfterMs: 20 * 60_000 });
    expect((await sys.errorLog.list({ source: RECONCILE })).length).toBe(count);
  });

  it('one run at a time: a run that finds the lease taken does nothing', async () => {
    const leases = new TableLeases(sys.settings.IntegrationTables!);
    const held = await leases.acquire('reconcile', { ttlMs: 30_000 });
    expect(held).toBeDefined();
    try {
      const lines: string[] = [];
      const result = await reconcile(
        { dataverse: sys.dataverse, finance: sys.finance, work: new StagingWork(sys.settings.FinanceTables!), sequences: new TableSequenceStore(sys.settings.IntegrationTables!), leases, publisher, errorLog: sys.errorLog },
        { now: new Date(Date.now() + LATER_MS), log: (line) => lines.push(line) },
      );
      expect(result.ran).toBe(false);
      expect(lines).toEqual([expect.stringContaining('skipped: another run holds the lease')]);
    } finally {
      await held!.release();
    }
  });
});
