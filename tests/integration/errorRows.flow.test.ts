/**
 * Issue 14, items 5 and 6, through the real host and broker: a message that can never succeed
 * ends as exactly one error row and a completed message, however long its reasons, its body or
 * its ids, and a stored row that breaks its schema is a Business error, not retried.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Queues } from '../../shared/messages';
import { MESSAGE_LIMIT } from '../../shared/operations/errorLogStore';
import { TableStore } from '../../shared/storage/tableStore';
import { seedActuals, seedContract, seedDraftInvoice } from '../kit/fixtures/dataverse';
import { startSystem, waitFor, type TestSystem } from '../kit/system';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startSystem();
});
afterAll(async () => {
  await sys?.stop();
});

async function deadLettered(queue: string): Promise<number> {
  const receiver = sys.serviceBus.createReceiver(queue, { subQueueType: 'deadLetter' });
  try {
    return (await receiver.peekMessages(50)).length;
  } finally {
    await receiver.close();
  }
}

async function rowsOf(source: string, messageId: string) {
  return (await sys.errorLog.list({ source, top: 1000 })).filter((r) => r.MessageId === messageId);
}

describe('a message that can never succeed is one error row and a completed message', () => {
  it.each([
    ['100 empty accounting details (57 KB of reasons)', Queues.actualsAccounting, 'syncActualsAccounting', { details: Array.from({ length: 100 }, () => ({})) }, 'Validation'],
    ['a 200 KB string in an actual', Queues.actuals, 'syncActuals', { actuals: [{ msdyn_actualid: 'x'.repeat(200_000) }] }, 'Validation'],
    ['a proposal id over the key limit', Queues.proposalPostings, 'postInvoiceProposal', { proposalId: 'P'.repeat(2_000) }, 'Validation'],
    ['a proposal id with a key character Table storage refuses', Queues.proposalPostings, 'postInvoiceProposal', { proposalId: "PI-1/'or'1'eq'1" }, 'Validation'],
  ])('%s', async (_what, queue, source, body, category) => {
    const messageId = randomUUID();
    await sys.send(queue, body, { messageId });
    const rows = await waitFor(`the error row of ${messageId}`, async () => {
      const found = await rowsOf(source, messageId);
      return found.length ? found : undefined;
    });
    await sys.drain();
    expect(await rowsOf(source, messageId)).toHaveLength(1);
    expect(rows[0]).toMatchObject({ Category: category, Status: 'Open' });
    expect(rows[0]!.Message.length).toBeLessThanOrEqual(MESSAGE_LIMIT + 40);
    expect(rows[0]!.Payload!.length).toBeLessThanOrEqual(16_040);
    expect(await deadLettered(queue)).toBe(0);
  });
});

describe('a stored row that breaks its schema (issue 14, item 6)', () => {
  it('makes the confirmation a Business error naming the table, keys and field; the message is completed, not retried', async () => {
    const fx = await seedContract(sys.dataverse);
    const actuals = await seedActuals(sys.dataverse, fx, [{}]);
    const inv = await seedDraftInvoice(sys.dataverse, fx, { actuals });
    const loose = new TableStore(sys.connectionString, 'dvActuals', z.object({ c: z.string(), a: z.string(), msdyn_quantity: z.string() }), (r) => ({ partitionKey: r.c, rowKey: r.a }));
    await loose.mergeFields({ partitionKey: fx.contract.salesorderid, rowKey: actuals[0]!.msdyn_actualid }, { msdyn_quantity: 'lots' });
    const messageId = randomUUID();
    await sys.send(Queues.invoiceConfirmations, { invoiceId: inv.invoice.invoiceid }, { messageId });
    const [row] = await waitFor('the error row', async () => {
      const found = await rowsOf('confirmProformaInvoice', messageId);
      return found.length ? found : undefined;
    });
    await sys.drain();
    expect(row).toMatchObject({ Category: 'Business' });
    expect(row!.Message).toContain(`dvActuals row ${fx.contract.salesorderid}/${actuals[0]!.msdyn_actualid} is malformed: msdyn_quantity`);
    expect(await rowsOf('confirmProformaInvoice', messageId)).toHaveLength(1);
    expect(await deadLettered(Queues.invoiceConfirmations)).toBe(0);
  });
});
