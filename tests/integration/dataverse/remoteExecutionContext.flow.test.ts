/**
 * Dataverse's own messages through the whole local system (issue 17): a RemoteExecutionContext sent
 * with the real @azure/service-bus SDK to the local broker, or POSTed to the webhook route, handled
 * by the real app in the local Functions host, tables in Azurite. Each is compared with the
 * project's own message doing the same thing: the same staging row, the same confirmation.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvoiceStatus } from '../../../shared/core/options';
import type { Actual } from '../../../shared/dataverse/records';
import { Queues } from '../../../shared/messages';
import type { StagingRow } from '../../../shared/finance/records';
import { startSystem, waitFor, type TestSystem } from '../../kit/system';
import {
  buildUnbilledActual,
  clearDataverse,
  dataverseState,
  seedActuals,
  seedContract,
  seedDraftInvoice,
  type ContractFixture,
  type DataverseState,
} from '../../kit/fixtures/dataverse';
import {
  actualCreateContext,
  actualUpdateContext,
  CLAIMS,
  confirmInvoiceActionContext,
  dataverseApplicationProperties,
  invoiceUpdateContext,
  optionSet,
  sizeLimited,
} from '../../kit/fixtures/remoteExecutionContext';

let sys: TestSystem;
const hostLog: string[] = [];

beforeAll(async () => {
  sys = await startSystem({ log: (line) => hostLog.push(line) });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

/** The context as Dataverse writes it: JSON with every "/" escaped as "\/". */
const dataContractJson = (value: unknown) => JSON.stringify(value).replace(/\//g, '\\/');

async function stagingRowOf(actual: Actual): Promise<StagingRow> {
  const row = await waitFor(`the staging row of ${actual.msdyn_actualid}`, () => sys.finance.staging.get(actual.msdyn_salescontract, actual.msdyn_actualid));
  const { etag: _etag, ...rest } = row;
  return rest;
}

async function errorsOf(source: string, messageId: string) {
  return (await sys.errorLog.list({ source })).filter((r) => r.MessageId === messageId);
}

async function oneError(source: string, messageId: string) {
  const rows = await waitFor(`the error row of ${messageId}`, async () => {
    const found = await errorsOf(source, messageId);
    return found.length ? found : undefined;
  });
  await sys.drain();
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

/** Two actuals alike in everything but their id. */
async function twins(fx: ContractFixture, spec: { quantity: string; price: string }): Promise<[Actual, Actual]> {
  const [a, b] = await seedActuals(sys.dataverse, fx, [spec, spec], Math.floor(Math.random() * 1e6));
  return [a!, b!];
}

async function webhook(body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${sys.host.baseUrl}/api/dataverse/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
}

describe('a Create of msdyn_actual is synced like the project\'s own actuals message', () => {
  it('on the actuals queue: the same staging row, field by field, and the application properties are read', async () => {
    const fx = await seedContract(sys.dataverse, { currency: 'GBP' });
    const [own, fromDataverse] = await twins(fx, { quantity: '7.5', price: '166.74' });

    const ownId = randomUUID();
    const contextId = randomUUID();
    const context = actualCreateContext(fromDataverse);
    await sys.send(Queues.actuals, { actuals: [own] }, { messageId: ownId });
    // As Dataverse posts it: DataContract JSON text (escaped slashes) and its claims as application properties.
    await sys.send(Queues.actuals, dataContractJson(context), { messageId: contextId, contentType: 'application/json', applicationProperties: dataverseApplicationProperties(context) });
    await sys.drain();

    const ownRow = await stagingRowOf(own);
    const contextRow = await stagingRowOf(fromDataverse);
    expect(ownRow).toMatchObject({ Quantity: '7.5', UnitPrice: '166.74', Amount: '1250.55', TransactionCurrencyId: 'GBP', ImportStatus: 'Pending' });
    expect(contextRow).toEqual({ ...ownRow, ActualId: fromDataverse.msdyn_actualid });
    expect(await errorsOf('syncActuals', ownId)).toEqual([]);
    expect(await errorsOf('syncActuals', contextId)).toEqual([]);

    const line = hostLog.find((l) => l.includes(`messageId=${contextId}`) && l.includes('Dataverse Create of msdyn_actual'));
    expect(line).toContain('organization contoso.crm4.dynamics.com');
    expect(line).toContain('envelope: EntityLogicalName=msdyn_actual RequestName=Create Organization=contoso.crm4.dynamics.com');
  });

  it('an Update with a post image and a size-limited message of an actual the project holds give the same row too', async () => {
    const fx = await seedContract(sys.dataverse);
    const [own, updated] = await twins(fx, { quantity: '3', price: '150.00' });
    const [, limited] = await twins(fx, { quantity: '3', price: '150.00' });
    await sys.send(Queues.actuals, { actuals: [own] }, { messageId: randomUUID() });
    await sys.send(Queues.actuals, actualUpdateContext(updated, { msdyn_billingstatus: optionSet(updated.msdyn_billingstatus!) }), { messageId: randomUUID() });
    const limitedId = randomUUID();
    await sys.send(Queues.actuals, sizeLimited(actualCreateContext(limited)), { messageId: limitedId });
    await sys.drain();

    const ownRow = await stagingRowOf(own);
    expect(ownRow).toMatchObject({ Quantity: '3', UnitPrice: '150.00', Amount: '450.00' }); // Money 150 and 450 keep their scale
    expect(await stagingRowOf(updated)).toEqual({ ...ownRow, ActualId: updated.msdyn_actualid });
    expect(await stagingRowOf(limited)).toEqual({ ...ownRow, ActualId: limited.msdyn_actualid });
    expect(hostLog.some((l) => l.includes(`messageId=${limitedId}`) && l.includes('over the size limit, the actual was read from dvActuals'))).toBe(true);
  });

  it('through the webhook: 202, queued as the project\'s own message, the same row', async () => {
    const fx = await seedContract(sys.dataverse, { currency: 'USD' });
    const [own, fromDataverse] = await twins(fx, { quantity: '2.25', price: '1333.33' });
    await sys.send(Queues.actuals, { actuals: [own] }, { messageId: randomUUID() });
    const reply = await webhook(dataContractJson(actualCreateContext(fromDataverse)), {
      'x-ms-dynamics-organization': 'contoso.crm4.dynamics.com',
      'x-ms-dynamics-entity-name': 'msdyn_actual',
      'x-ms-dynamics-request-name': 'Create',
    });
    expect(reply).toMatchObject({ status: 202, body: { status: 'Queued', queue: 'actuals', reference: fromDataverse.msdyn_actualid } });
    await sys.drain();
    const ownRow = await stagingRowOf(own);
    expect(ownRow).toMatchObject({ Amount: '2999.99', UnitPrice: '1333.33', Quantity: '2.25' });
    expect(await stagingRowOf(fromDataverse)).toEqual({ ...ownRow, ActualId: fromDataverse.msdyn_actualid });
    expect(hostLog.some((l) => l.includes('[receiveDataverseWebhook]') && l.includes('envelope: EntityLogicalName=msdyn_actual RequestName=Create Organization=contoso.crm4.dynamics.com'))).toBe(true);
  });
});

describe('what cannot be applied is recorded (queue) or answered (webhook), and nothing is written', () => {
  it('an envelope that disagrees with its body: one Validation row naming both', async () => {
    const fx = await seedContract(sys.dataverse);
    const actual = buildUnbilledActual(fx, {}, 900);
    const context = actualCreateContext(actual);
    const messageId = randomUUID();
    await sys.send(Queues.actuals, context, { messageId, applicationProperties: { ...dataverseApplicationProperties(context), [`${CLAIMS}EntityLogicalName`]: 'invoice' } });
    const row = await oneError('syncActuals', messageId);
    expect(row).toMatchObject({ Category: 'Validation', Reference: actual.msdyn_actualid });
    expect(row.Message).toContain("EntityLogicalName (invoice) and its body's PrimaryEntityName (msdyn_actual) disagree");
    expect(await sys.finance.staging.get(actual.msdyn_salescontract, actual.msdyn_actualid)).toBeUndefined();
  });

  it('a missing required attribute: Validation naming it; an unknown currency: Business naming the id', async () => {
    const fx = await seedContract(sys.dataverse);
    const actual = buildUnbilledActual(fx, {}, 901);
    const context = actualCreateContext(actual);
    const target = (context.InputParameters as { value: { Attributes: { key: string; value: unknown }[] } }[])[0]!.value;
    const noAmount = { ...context, InputParameters: [{ key: 'Target', value: { ...target, Attributes: target.Attributes.filter((a) => a.key !== 'msdyn_amount') } }] };
    const missingId = randomUUID();
    await sys.send(Queues.actuals, noAmount, { messageId: missingId });
    const missing = await oneError('syncActuals', missingId);
    expect(missing).toMatchObject({ Category: 'Validation', Reference: actual.msdyn_actualid });
    expect(missing.Message).toContain('required attribute msdyn_amount missing from the Target');

    const unknownCurrency = randomUUID();
    const withCurrency = {
      ...context,
      InputParameters: [{ key: 'Target', value: { ...target, Attributes: target.Attributes.map((a) => (a.key === 'transactioncurrencyid' ? { ...a, value: { Id: unknownCurrency, LogicalName: 'transactioncurrency' } } : a)) } }],
    };
    const currencyId = randomUUID();
    await sys.send(Queues.actuals, withCurrency, { messageId: currencyId });
    const currency = await oneError('syncActuals', currencyId);
    expect(currency).toMatchObject({ Category: 'Business', Reference: actual.msdyn_actualid });
    expect(currency.Message).toContain(`names the Dataverse currency ${unknownCurrency}, which dvCurrencies does not hold`);

    const sizeId = randomUUID();
    await sys.send(Queues.actuals, sizeLimited(context), { messageId: sizeId });
    const size = await oneError('syncActuals', sizeId);
    expect(size).toMatchObject({ Category: 'Business', Reference: actual.msdyn_actualid });
    expect(size.Message).toContain('dvActuals does not hold that actual');
    expect(await sys.finance.staging.get(actual.msdyn_salescontract, actual.msdyn_actualid)).toBeUndefined();

    const reply = await webhook(JSON.stringify(withCurrency));
    expect(reply).toMatchObject({ status: 409, body: { detail: expect.stringContaining(unknownCurrency) } });
    const malformed = await webhook('{"MessageName": "Create", "PrimaryEntityName": "msdyn_actual", "PrimaryEntityId": 7}');
    expect(malformed).toMatchObject({ status: 400, body: { detail: expect.stringContaining('PrimaryEntityId: ') } });
    expect((await webhook('{"MessageName": ')).status).toBe(400);
    expect((await webhook(JSON.stringify(noAmount))).body.detail).toContain('msdyn_amount');
  });
});

describe('an Update of invoice to Confirmed confirms a Draft invoice exactly as the project\'s own message does', () => {
  const KEY = `rec-confirmation-${randomUUID()}`;
  const CONFIRMED_ON = '2024-04-02T09:30:00.000Z';

  /** The same Draft invoice every time (same key, same ids), after clearing the Dataverse tables. */
  async function seedSameInvoice() {
    await sys.drain();
    await clearDataverse(sys.dataverse);
    const fx = await seedContract(sys.dataverse, { key: KEY });
    const actuals = await seedActuals(sys.dataverse, fx, [{ quantity: '8', price: '100.00' }, { quantity: '6', price: '120.00' }]);
    const inv = await seedDraftInvoice(sys.dataverse, fx, { actuals, edits: { [actuals[1]!.msdyn_actualid]: { quantity: '4' } }, manual: [{}], taxRate: '0.10' });
    return { fx, inv, ref: { contractId: fx.contract.salesorderid, invoiceId: inv.invoice.invoiceid } };
  }

  async function confirmedState(ref: { contractId: string; invoiceId: string }): Promise<DataverseState> {
    await waitFor('the invoice to be Confirmed', async () => (await sys.dataverse.invoices.get(ref.invoiceId, ref.invoiceId))?.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed);
    await sys.drain();
    return dataverseState(sys.dataverse, ref);
  }

  let reference: DataverseState;

  it('the project\'s own message (the reference state)', async () => {
    const { ref } = await seedSameInvoice();
    await sys.send(Queues.invoiceConfirmations, { invoiceId: ref.invoiceId, confirmedOn: CONFIRMED_ON }, { messageId: randomUUID() });
    reference = await confirmedState(ref);
    expect(reference.invoice).toMatchObject({ msdyn_projectinvoicestatus: InvoiceStatus.Confirmed, msdyn_confirmedon: CONFIRMED_ON });
    expect(reference.actuals.length).toBeGreaterThan(2);
  });

  it('the Update of invoice on invoice-confirmations (with its application properties)', async () => {
    expect(reference).toBeDefined();
    const { ref } = await seedSameInvoice();
    const context = invoiceUpdateContext(ref.invoiceId, InvoiceStatus.Confirmed, { operationCreatedOn: CONFIRMED_ON });
    const messageId = randomUUID();
    await sys.send(Queues.invoiceConfirmations, dataContractJson(context), { messageId, contentType: 'application/json', applicationProperties: dataverseApplicationProperties(context) });
    expect(await confirmedState(ref)).toEqual(reference);
    expect(await errorsOf('confirmProformaInvoice', messageId)).toEqual([]);
    expect(hostLog.some((l) => l.includes(`messageId=${messageId}`) && l.includes(`confirmation of invoice ${ref.invoiceId} asked`) && l.includes('EntityLogicalName=invoice RequestName=Update'))).toBe(true);
  });

  it('the action msdyn_ConfirmInvoice on invoice-confirmations, over the size limit', async () => {
    const { ref } = await seedSameInvoice();
    await sys.send(Queues.invoiceConfirmations, sizeLimited(confirmInvoiceActionContext(ref.invoiceId, { operationCreatedOn: CONFIRMED_ON })), { messageId: randomUUID() });
    expect(await confirmedState(ref)).toEqual(reference);
  });

  it('the webhook route', async () => {
    const { ref } = await seedSameInvoice();
    const reply = await webhook(dataContractJson(invoiceUpdateContext(ref.invoiceId, InvoiceStatus.Confirmed, { operationCreatedOn: CONFIRMED_ON })));
    expect(reply).toMatchObject({ status: 202, body: { status: 'Queued', queue: 'invoice-confirmations', reference: ref.invoiceId } });
    expect(await confirmedState(ref)).toEqual(reference);
  });

  it('an Update to another status asks for nothing: no write, no error row (queue and webhook)', async () => {
    const { ref } = await seedSameInvoice();
    const before = await dataverseState(sys.dataverse, ref, { withEtags: true });
    const messageId = randomUUID();
    await sys.send(Queues.invoiceConfirmations, invoiceUpdateContext(ref.invoiceId, InvoiceStatus.InReview), { messageId });
    await waitFor('the message to be taken', () => hostLog.some((l) => l.includes(`messageId=${messageId}`) && l.includes('no confirmation asked')));
    await sys.drain();
    const reply = await webhook(JSON.stringify(invoiceUpdateContext(ref.invoiceId, InvoiceStatus.InReview)));
    expect(reply).toMatchObject({ status: 202, body: { status: 'Ignored', reference: ref.invoiceId } });
    await sys.drain();
    expect(await dataverseState(sys.dataverse, ref, { withEtags: true })).toEqual(before);
    expect(await errorsOf('confirmProformaInvoice', messageId)).toEqual([]);
  });
});
