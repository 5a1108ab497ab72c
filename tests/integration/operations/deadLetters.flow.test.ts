/**
 * Issue 15 on the real stack: a message dead-lettered by repeated failure becomes one DeadLetter
 * row and leaves the dead-letter queue; replayed once the fault is mended it ends in the state of
 * a clean run (and a second replay changes nothing more); the error log pages; a paused function
 * leaves its messages waiting until it is resumed.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InvoiceStatus } from '../../../shared/core/options';
import { Queues } from '../../../shared/messages';
import { ErrorLog } from '../../../shared/operations/errorLogStore';
import { dataverseState, seedActuals, seedContract, seedDraftInvoice } from '../../kit/fixtures/dataverse';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';

let sys: TestSystem;
let refusing: Server;

beforeAll(async () => {
  // Dead-letter after 2 deliveries, so "repeated failure" takes seconds; a restart loads the app
  // again, so it reads the new settings.
  sys = await startSystem({
    queues: Object.values(Queues).map((name) => ({ name, maxDeliveryCount: 2, requiresDuplicateDetection: true })),
    reloadApp: () => vi.resetModules(),
  });
  // A Table endpoint that refuses every call the way the service does after a key rotation
  // (Azurite itself does not check the account key).
  refusing = createServer((req, res) => {
    req.resume();
    res.writeHead(403, { 'content-type': 'application/json;odata=minimalmetadata', 'x-ms-error-code': 'AuthenticationFailed' });
    res.end(JSON.stringify({ 'odata.error': { code: 'AuthenticationFailed', message: { lang: 'en-US', value: 'Server failed to authenticate the request.' } } }));
  });
  await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await sys?.stop();
  await new Promise((resolve) => refusing?.close(resolve));
});

/** A connection string whose Table endpoint refuses every call (403 AuthenticationFailed). */
function wrongKey(): string {
  const port = (refusing.address() as AddressInfo).port;
  return sys.connectionString.replace(/TableEndpoint=[^;]+/, `TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1`);
}

async function deadLetterCount(queue: string): Promise<number> {
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

describe('dead letters and replay', () => {
  it('a confirmation dead-lettered by a storage fault is one DeadLetter row; replayed after the fault is mended, it confirms the invoice once', async () => {
    const fx = await seedContract(sys.dataverse);
    const actuals = await seedActuals(sys.dataverse, fx, [{}, {}]);
    const inv = await seedDraftInvoice(sys.dataverse, fx, { actuals });
    const invoiceId = inv.invoice.invoiceid;

    await sys.restartHost({ DataverseTables: wrongKey() });
    const messageId = randomUUID();
    await sys.send(Queues.invoiceConfirmations, { invoiceId, confirmedOn: '2026-11-30T12:00:00.000Z' }, { messageId });
    const [row] = await waitFor(
      'the DeadLetter row',
      async () => {
        const rows = await rowsOf('confirmProformaInvoice', messageId);
        return rows.some((r) => r.Category === 'DeadLetter') ? rows : undefined;
      },
      30_000,
    );
    await waitFor('the dead-letter queue to empty', async () => (await deadLetterCount(Queues.invoiceConfirmations)) === 0, 15_000);
    expect(await rowsOf('confirmProformaInvoice', messageId)).toHaveLength(1);
    expect(row).toMatchObject({ Category: 'DeadLetter', Status: 'Open', Queue: Queues.invoiceConfirmations, DeadLetterReason: 'MaxDeliveryCountExceeded', Reference: invoiceId });
    expect(row!.Message).toContain('The last failure');
    expect((await sys.dataverse.invoices.get(invoiceId, invoiceId))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Draft);

    // The fault mended, a person replays it.
    await sys.restartHost({ DataverseTables: sys.connectionString });
    const replay = await sys.http('POST', `errors/${row!.Id}/replay`);
    expect(replay.status).toBe(202);
    expect(replay.body).toMatchObject({ errorId: row!.Id, queue: Queues.invoiceConfirmations, replayCount: 1, error: { Status: 'Replayed' } });
    await waitFor('the invoice to be confirmed', async () => (await sys.dataverse.invoices.get(invoiceId, invoiceId))?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed, 20_000);
    await sys.drain();
    await waitFor('the row to be resolved', async () => (await rowsOf('confirmProformaInvoice', messageId))[0]?.Status === 'Resolved', 10_000);
    const once = await dataverseState(sys.dataverse, { contractId: fx.contract.salesorderid, invoiceId });

    // Replaying what went through is refused; replaying it by hand a second time changes nothing.
    const again = await sys.http('POST', `errors/${row!.Id}/replay`);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toContain('application/problem+json');
    expect(again.body.detail).toContain('Resolved');
    await sys.send(Queues.invoiceConfirmations, { invoiceId, confirmedOn: '2026-11-30T12:00:00.000Z' }, { messageId: randomUUID() });
    await sys.drain();
    expect(await dataverseState(sys.dataverse, { contractId: fx.contract.salesorderid, invoiceId })).toEqual(once);
  });

  it('refuses to replay a Validation row (malformed input) and an unknown id, with a reason', async () => {
    const messageId = randomUUID();
    await sys.send(Queues.proposalPostings, { proposalId: 42 }, { messageId });
    const [row] = await waitFor('the Validation row', async () => {
      const rows = await rowsOf('postInvoiceProposal', messageId);
      return rows.length ? rows : undefined;
    });
    const refused = await sys.http('POST', `errors/${row!.Id}/replay`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain('Validation error');
    expect((await sys.http('POST', 'errors/0000000000000-ABCDEF123456/replay')).status).toBe(404);
    expect((await sys.http('POST', "errors/x'or'1/replay")).status).toBe(400);
  });

  it('replays many at once by filter, refusing what cannot be replayed', async () => {
    const errorLog = new ErrorLog(sys.connectionString);
    const source = 'syncInvoiceProposal';
    const replayable = await errorLog.record({ source, category: 'Business', message: 'header of another invoice', messageId: randomUUID(), queue: Queues.invoiceProposals, payload: { proposalId: 'nothing' } });
    const refusedRow = await errorLog.record({ source, category: 'Business', message: 'too large to keep', messageId: randomUUID(), queue: Queues.invoiceProposals, payload: 'x'.repeat(300_000) });
    const result = await sys.http('POST', 'errors/replay', { source, category: 'Business', by: 'ops@contoso' });
    expect(result.status).toBe(202);
    expect(result.body.replayed.map((r: { errorId: string }) => r.errorId)).toContain(replayable.Id);
    expect(result.body.refused).toEqual(expect.arrayContaining([expect.objectContaining({ errorId: refusedRow.Id, reason: expect.stringContaining('was not kept') })]));
    const marked = (await errorLog.byId(replayable.Id))!;
    expect(marked).toMatchObject({ Status: 'Replayed', ReplayCount: 1, ReplayedBy: 'ops@contoso' });
    expect((await sys.http('POST', 'errors/replay', { category: 'Validation' })).status).toBe(400);
  });
});

describe('the error log pages and filters in storage', () => {
  it('answers pages of `top` rows with a continuation token, newest first within a source, filtered by category and status', async () => {
    const errorLog = new ErrorLog(sys.connectionString, () => new Date(Date.now() + Math.floor(Math.random() * 1000)));
    const source = `pagedSource${randomUUID().slice(0, 8)}`;
    for (let i = 0; i < 5; i++) await errorLog.record({ source, category: i % 2 ? 'Business' : 'Transient', message: `row ${i}` });
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await sys.http('GET', `errors?source=${source}&top=2${token ? `&continuationToken=${encodeURIComponent(token)}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.errors.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.errors.map((e: { Id: string }) => e.Id));
      token = page.body.continuationToken;
    } while (token);
    expect(seen).toHaveLength(5);
    const times = (await errorLog.list({ source })).map((r) => r.Id);
    expect(seen).toEqual([...times].sort());
    const business = await sys.http('GET', `errors?source=${source}&category=Business&status=Open`);
    expect(business.body.errors.map((e: { Message: string }) => e.Message).sort()).toEqual(['row 1', 'row 3']);
    expect(business.body.errors[0]).not.toHaveProperty('Body0');
    expect((await sys.http('GET', 'errors?category=Nope')).status).toBe(400);
  });
});

describe('pause and resume', () => {
  it.each([['AzureWebJobs.syncActuals.Disabled'], ['AzureWebJobs__syncActuals__Disabled']])('%s=true leaves messages waiting; they are taken once it is removed', async (setting) => {
    const fx = await seedContract(sys.dataverse);
    const [actual] = await seedActuals(sys.dataverse, fx, [{}]);
    await sys.restartHost({ [setting]: 'true' });
    await sys.send(Queues.actuals, { actuals: [actual] }, { messageId: randomUUID() });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await sys.queuesEmpty()).toBe(false);
    expect(await sys.finance.staging.get(fx.contract.salesorderid, actual!.msdyn_actualid)).toBeUndefined();
    await sys.restartHost({ [setting]: undefined });
    await waitFor('the actual to be staged', async () => sys.finance.staging.get(fx.contract.salesorderid, actual!.msdyn_actualid), 15_000);
    await sys.drain();
  });
});
