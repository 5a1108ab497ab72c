/**
 * confirmProformaInvoice through the whole local system: the real app in the local Functions host,
 * messages sent with the Service Bus SDK to the local broker, tables in Azurite. syncInvoiceProposal
 * and syncActuals are disabled so the published messages stay on their queues to be read here.
 */
import { randomUUID } from 'node:crypto';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actualSchema, type Actual } from '../../../shared/dataverse/records';
import { BillingType, InvoiceStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import { invoiceProposalMessage, Queues } from '../../../shared/messages';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';
import {
  dataverseState,
  seedActuals,
  seedContract,
  seedDraftInvoice,
  seedMilestones,
  type ContractFixture,
  type InvoiceFixture,
} from '../../kit/fixtures/dataverse';

const SOURCE = 'confirmProformaInvoice';
let sys: TestSystem;
const hostLog: string[] = [];

beforeAll(async () => {
  sys = await startSystem({
    log: (line) => hostLog.push(line),
    settings: { 'AzureWebJobs.syncInvoiceProposal.Disabled': 'true', 'AzureWebJobs.syncActuals.Disabled': 'true' },
  });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

/**
 * Messages on a queue, locked ones included. A fresh client each time: the SDK's peek continues
 * after the last sequence number that client peeked on the entity, so a reused client misses messages.
 */
async function peekCount(queue: string, deadLetter = false): Promise<number> {
  const client = new ServiceBusClient(sys.broker.connectionString, { retryOptions: { maxRetries: 2, timeoutInMs: 10_000 } });
  try {
    const receiver = client.createReceiver(queue, deadLetter ? { subQueueType: 'deadLetter' } : {});
    return (await receiver.peekMessages(1000)).length;
  } finally {
    await client.close();
  }
}

/** The confirmation message was settled (completed: nothing waiting or locked, nothing dead-lettered). */
async function confirmationsSettled(timeoutMs = 30_000): Promise<void> {
  await waitFor('invoice-confirmations to be empty', async () => (await peekCount(Queues.invoiceConfirmations)) === 0, timeoutMs, 200);
  expect(await peekCount(Queues.invoiceConfirmations, true)).toBe(0);
}

/** Receive (and complete) every message now on a queue. */
async function receiveAll(queue: string, expected: number, timeoutMs = 30_000): Promise<ServiceBusReceivedMessage[]> {
  const receiver = sys.serviceBus.createReceiver(queue);
  const got: ServiceBusReceivedMessage[] = [];
  try {
    const deadline = Date.now() + timeoutMs;
    while (got.length < expected && Date.now() < deadline) {
      const batch = await receiver.receiveMessages(Math.min(100, expected - got.length), { maxWaitTimeInMs: 1_000 });
      for (const m of batch) await receiver.completeMessage(m);
      got.push(...batch);
    }
  } finally {
    await receiver.close();
  }
  return got;
}

async function errorsFor(messageId: string) {
  return (await sys.errorLog.list({ source: SOURCE })).filter((r) => r.MessageId === messageId);
}

async function seedMixed(): Promise<{ fx: ContractFixture; inv: InvoiceFixture; actuals: Actual[] }> {
  const dv = sys.dataverse;
  const fx = await seedContract(dv);
  const actuals = await seedActuals(dv, fx, [{ quantity: '8', price: '100.00' }, { quantity: '8', price: '120.00' }, { quantity: '2', price: '100.00' }]);
  const milestones = await seedMilestones(dv, fx, [{ amount: '5000.00' }]);
  const [a0, a1, a2] = actuals as [Actual, Actual, Actual];
  const inv = await seedDraftInvoice(dv, fx, {
    actuals: [a0, a1, a2],
    milestones,
    edits: { [a1.msdyn_actualid]: { quantity: '6' }, [a2.msdyn_actualid]: { billingType: BillingType.Complimentary } },
    manual: [{ cls: TransactionClass.Fee }],
    taxRate: '0.10',
  });
  return { fx, inv, actuals };
}

const refOf = (fx: ContractFixture, inv: InvoiceFixture) => ({ contractId: fx.contract.salesorderid, invoiceId: inv.invoice.invoiceid });

describe('confirmProformaInvoice through the host and the broker', () => {
  it('confirms on a message, publishes the proposal and the synced actuals, and a repeated request changes nothing', async () => {
    const { fx, inv, actuals } = await seedMixed();
    const invoiceId = inv.invoice.invoiceid;
    const firstId = randomUUID();
    await sys.send(Queues.invoiceConfirmations, { invoiceId, confirmedOn: '2024-04-02T09:30:00Z', confirmedBy: 'pm@contoso.com' }, { messageId: firstId });

    await waitFor('the invoice to be Confirmed', async () => {
      const invoice = await sys.dataverse.invoices.get(invoiceId, invoiceId);
      return invoice?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed;
    });
    await confirmationsSettled();
    expect(await errorsFor(firstId)).toEqual([]);

    const state = await dataverseState(sys.dataverse, refOf(fx, inv), { withEtags: true });
    expect(state.invoice).toMatchObject({ msdyn_confirmedon: '2024-04-02T09:30:00.000Z', totalamount: inv.invoice.totalamount });
    const seeded = new Set(actuals.map((a) => a.msdyn_actualid));
    const created = state.actuals.filter((a) => !seeded.has(String(a.msdyn_actualid))).map((a) => actualSchema.parse(a));
    // a0 unchanged: 2; a1 cut 8 -> 6: 4 + 3; a2 complimentary: 4; milestone: 1; manual T&M: 3
    expect(created).toHaveLength(17);
    const billed = created.filter((a) => a.msdyn_transactiontypecode === TransactionType.BilledSales);

    const [proposal] = await receiveAll(Queues.invoiceProposals, 1);
    expect(proposal?.messageId).toBe(`proposal-${invoiceId}`);
    expect(invoiceProposalMessage.parse(proposal?.body)).toMatchObject({
      proposalId: inv.invoice.invoicenumber,
      invoiceId,
      customerAccount: fx.account.accountnumber,
      expectedLineCount: billed.length,
      expectedAmount: inv.invoice.totalamount,
      expectedTax: inv.invoice.totaltax,
    });
    const actualsMessages = await receiveAll(Queues.actuals, 1);
    expect(actualsMessages.map((m) => m.messageId)).toEqual([`actuals-${invoiceId}-1`]);
    const published = (actualsMessages[0]?.body as { actuals: unknown[] }).actuals.map((a) => actualSchema.parse(a));
    expect(published.map((a) => a.msdyn_actualid).sort()).toEqual(
      created.filter((a) => !a.msdyn_skipsync).map((a) => a.msdyn_actualid).sort(),
    );

    // The same request again (a second click: same body, its own message id).
    const secondId = randomUUID();
    await sys.send(Queues.invoiceConfirmations, { invoiceId }, { messageId: secondId });
    await confirmationsSettled();
    expect(await errorsFor(secondId)).toEqual([]);
    expect(hostLog.some((l) => l.includes(`messageId=${secondId}`) && l.includes('was already confirmed: nothing written'))).toBe(true);
    expect(await dataverseState(sys.dataverse, refOf(fx, inv), { withEtags: true })).toEqual(state); // not one write
    // Republished with the same message ids: the broker's duplicate detection drops them.
    expect(await peekCount(Queues.invoiceProposals)).toBe(0);
    expect(await peekCount(Queues.actuals)).toBe(0);
  });

  describe('poison and refusals: one error row, nothing written or published, message completed', () => {
    async function expectOneError(messageId: string, category: 'Validation' | 'Business', pattern: RegExp) {
      const rows = await waitFor('the error row', async () => {
        const found = await errorsFor(messageId);
        return found.length > 0 ? found : undefined;
      });
      await confirmationsSettled();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ Source: SOURCE, Category: category, Status: 'Open' });
      expect(rows[0]?.Message).toMatch(pattern);
      expect(await errorsFor(messageId)).toHaveLength(1);
      expect(await peekCount(Queues.invoiceProposals)).toBe(0);
      expect(await peekCount(Queues.actuals)).toBe(0);
    }

    it('malformed JSON', async () => {
      const messageId = randomUUID();
      await sys.send(Queues.invoiceConfirmations, '{"invoiceId": ', { messageId });
      await expectOneError(messageId, 'Validation', /not JSON/);
    });

    it('a body that does not match the schema', async () => {
      const messageId = randomUUID();
      await sys.send(Queues.invoiceConfirmations, { invoiceId: 'INV-0001' }, { messageId });
      await expectOneError(messageId, 'Validation', /does not match its schema: invoiceId: must be a GUID/);
    });

    it('an unknown invoice', async () => {
      const messageId = randomUUID();
      const invoiceId = randomUUID();
      await sys.send(Queues.invoiceConfirmations, { invoiceId }, { messageId });
      await expectOneError(messageId, 'Business', new RegExp(`Invoice ${invoiceId} was not found`));
      expect(await sys.dataverse.invoices.get(invoiceId, invoiceId)).toBeUndefined();
    });

    it('a confirmed and posted invoice', async () => {
      const dv = sys.dataverse;
      const fx = await seedContract(dv);
      const actuals = await seedActuals(dv, fx, [{}, {}]);
      const inv = await seedDraftInvoice(dv, fx, { actuals, status: InvoiceStatus.Posted });
      const before = await dataverseState(dv, refOf(fx, inv), { withEtags: true });
      const messageId = randomUUID();
      await sys.send(Queues.invoiceConfirmations, { invoiceId: inv.invoice.invoiceid }, { messageId });
      await expectOneError(messageId, 'Business', /is Posted; only a Draft or In Review invoice can be confirmed/);
      const [row] = await errorsFor(messageId);
      expect(row?.Reference).toBe(inv.invoice.invoicenumber);
      expect(await dataverseState(dv, refOf(fx, inv), { withEtags: true })).toEqual(before);
    });
  });
});
