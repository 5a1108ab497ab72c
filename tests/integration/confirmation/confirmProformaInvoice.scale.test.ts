/**
 * Scale (domain.md "Lessons": a 10,000-line invoice must go through): one message confirms an
 * invoice of 10,000 ILDs through the local host, the broker and Azurite, with batched writes.
 */
import { randomUUID } from 'node:crypto';
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { amount, sum } from '../../../shared/core/money';
import { BillingStatus, InvoiceStatus, TransactionType } from '../../../shared/core/options';
import { Queues } from '../../../shared/messages';
import { seedActuals, seedContract, seedDraftInvoice, type ActualSpec } from '../../kit/fixtures/dataverse';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem({
    settings: { 'AzureWebJobs.syncInvoiceProposal.Disabled': 'true', 'AzureWebJobs.syncActuals.Disabled': 'true' },
  });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const ILDS = 10_000;
const CUT = 1_000; // ILDs whose quantity the manager reduced: 7 new actuals each instead of 2

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

describe('confirmProformaInvoice at scale', () => {
  it(`confirms a ${ILDS}-ILD invoice in one delivery`, async () => {
    const dv = sys.dataverse;
    const fx = await seedContract(dv);
    const specs: ActualSpec[] = Array.from({ length: ILDS }, (_, i) => ({ quantity: String(1 + (i % 8)), price: '100.00' }));
    const actuals = await seedActuals(dv, fx, specs);
    const edits = Object.fromEntries(actuals.slice(0, CUT).map((a) => [a.msdyn_actualid, { quantity: '0.5' }]));
    const inv = await seedDraftInvoice(dv, fx, { actuals, edits, taxRate: '0.2' });
    const invoiceId = inv.invoice.invoiceid;

    const started = Date.now();
    await sys.send(Queues.invoiceConfirmations, { invoiceId }, { messageId: randomUUID() });
    await waitFor(
      'the confirmation message to be completed',
      async () => (await peekCount(Queues.invoiceConfirmations)) === 0,
      240_000,
      1_000,
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(`confirmProformaInvoice: ${ILDS}-ILD invoice confirmed and published in ${seconds.toFixed(1)} s (send to message completed)`);

    expect(await sys.errorLog.list({ source: 'confirmProformaInvoice' })).toEqual([]);
    const invoice = await dv.invoices.get(invoiceId, invoiceId);
    expect(invoice?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
    const stored = await dv.actuals.listPartition(fx.contract.salesorderid);
    const expectedNew = (ILDS - CUT) * 2 + CUT * 7;
    expect(stored).toHaveLength(ILDS + expectedNew);
    expect(stored.filter((a) => a.msdyn_billingstatus !== BillingStatus.CustomerInvoicePosted)).toEqual([]);
    const billed = stored.filter((a) => a.msdyn_transactiontypecode === TransactionType.BilledSales && a.msdyn_invoice === invoiceId);
    expect(billed).toHaveLength(ILDS + CUT);
    expect(amount(sum(billed.map((a) => a.msdyn_amount)))).toBe(invoice?.totalamount);

    // Published: the header, and every synced new actual in messages of at most 100 records.
    expect(await peekCount(Queues.invoiceProposals)).toBe(1);
    const receiver = sys.serviceBus.createReceiver(Queues.actuals, { receiveMode: 'receiveAndDelete' });
    const ids = new Set<string>();
    let records = 0;
    try {
      await waitFor(
        'the actuals messages',
        async () => {
          for (const m of await receiver.receiveMessages(100, { maxWaitTimeInMs: 1_000 })) {
            ids.add(String(m.messageId));
            const body = m.body as { actuals: unknown[] };
            expect(body.actuals.length).toBeLessThanOrEqual(100);
            records += body.actuals.length;
          }
          return records >= ILDS - CUT + CUT * 5;
        },
        60_000,
        0,
      );
    } finally {
      await receiver.close();
    }
    expect(records).toBe(ILDS - CUT + CUT * 5);
    expect(ids.size).toBe(Math.ceil(records / 100));
  }, 400_000);
});
