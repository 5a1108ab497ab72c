/**
 * The inbound adapter on fixtures written from the documented RemoteExecutionContext format
 * (tests/fixtures/dataverse/*.json, raw DataContract JSON with escaped slashes, and the kit's
 * builders): every value type, dates with and without offsets, Update with a post image, unknown
 * attributes, missing attributes, size-limited contexts, malformed JSON, exact money.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { BusinessError, ValidationError } from '../../../shared/core/errors';
import { InvoiceStatus, TransactionType } from '../../../shared/core/options';
import type { ErrorLogPort, ErrorReport } from '../../../shared/core/errorReports';
import { actualOfContext, draftActual, REQUIRED_ACTUAL_COLUMNS, type InboundStore } from '../../../shared/dataverse/inbound/actualOfContext';
import { confirmationOfContext } from '../../../shared/dataverse/inbound/confirmationOfContext';
import {
  actualsQueueBody,
  actualsToSync,
  confirmationToRun,
  invoiceConfirmationsQueueBody,
  receiveWebhook,
  webhookMessageId,
} from '../../../shared/dataverse/inbound/dataverseMessages';
import {
  crossCheck,
  dataversePropertiesOf,
  describeContext,
  isSizeLimited,
  parseRemoteExecutionContext,
  parseRemoteExecutionContextText,
  webhookPropertiesOf,
  type DataverseProperties,
} from '../../../shared/dataverse/inbound/remoteExecutionContext';
import { flatten, parseDataverseDate } from '../../../shared/dataverse/inbound/values';
import type { Actual, Currency } from '../../../shared/dataverse/records';
import { handleQueueMessage } from '../../../shared/triggers/queueMessage';
import { buildContract, buildUnbilledActual, currencyOf } from '../../kit/fixtures/dataverse';
import { RecordingPublisher } from '../../kit/publisher';
import {
  actualCreateContext,
  actualUpdateContext,
  confirmInvoiceActionContext,
  dataverseApplicationProperties,
  invoiceUpdateContext,
  money,
  optionSet,
  sizeLimited,
} from '../../kit/fixtures/remoteExecutionContext';

const FIXTURES = path.resolve(__dirname, '../../fixtures/dataverse');
const text = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');
const json = (name: string): unknown => JSON.parse(text(name));

const EUR: Currency = { transactioncurrencyid: 'e1e2e3e4-0000-4000-8000-000000000978', isocurrencycode: 'EUR', currencyname: 'Euro' };
const USD: Currency = { transactioncurrencyid: 'e1e2e3e4-0000-4000-8000-000000000840', isocurrencycode: 'USD', currencyname: 'US Dollar' };
const ACTUAL_ID = '5f0c6a1e-2b7d-4c1e-9a3f-1d2e3f4a5b6c';
const NO_PROPS: DataverseProperties = { sizeExceeded: false };

/** A Dataverse store with these currencies and actuals, counting its reads. */
function fakeStore(currencies: Currency[] = [EUR, USD], actuals: Actual[] = []): InboundStore & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    async currencyById(id) {
      reads.push(`currency ${id}`);
      return currencies.find((c) => c.transactioncurrencyid === id);
    },
    async actualById(id) {
      reads.push(`actual ${id}`);
      const found = actuals.find((a) => a.msdyn_actualid === id);
      return found && { ...found, etag: 'W/"1"' };
    },
  };
}

const read = (value: unknown, store = fakeStore(), properties = NO_PROPS) =>
  actualOfContext(store, parseRemoteExecutionContext(value), { properties, where: 'The actuals queue' });

async function failure(work: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (error) {
    if (error instanceof Error) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('a Create of msdyn_actual (raw DataContract JSON with escaped slashes)', () => {
  it('the fixture really escapes its slashes, and JSON reads them', () => {
    expect(text('actual-create.json')).toContain('"\\/Date(1710028800000)\\/"');
    expect(text('actual-create.json')).toContain('Money:http:\\/\\/schemas.microsoft.com');
    const context = parseRemoteExecutionContextText(text('actual-create.json'));
    expect(context).toMatchObject({ MessageName: 'Create', PrimaryEntityName: 'msdyn_actual', PrimaryEntityId: ACTUAL_ID, OperationCreatedOn: '/Date(1732532400000+0000)/' });
  });

  it('becomes the contract record, value by value, exact to the cent, with unknown attributes ignored', async () => {
    const store = fakeStore();
    const actual = await read(json('actual-create.json'), store);
    expect(actual).toEqual({
      msdyn_actualid: ACTUAL_ID,
      msdyn_transactiontypecode: 192350005, // OptionSetValue
      msdyn_transactionclassification: 192350000,
      msdyn_billingtype: 192350001,
      msdyn_billingstatus: 192350000,
      msdyn_quantity: '7.5', // a plain decimal
      msdyn_price: '166.74', // Money at the price scale
      msdyn_amount: '1250.55', // Money 1250.5499999999997: rounded once, exactly
      transactioncurrencyid: 'EUR', // EntityReference to transactioncurrency, through dvCurrencies
      msdyn_documentdate: '2024-03-10', // "/Date(ms)/"
      msdyn_accountingdate: '2024-03-12', // "/Date(ms+0100)/": the offset does not move the instant
      msdyn_project: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a', // EntityReference
      msdyn_salescontract: '8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', // upper-case GUID lower-cased
      msdyn_salescontractlineid: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
      msdyn_accountcustomer: '3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a7b',
      msdyn_skipsync: false, // a plain boolean
    });
    // msdyn_invoice: null is absent; msdyn_description, statecode, ownerid, createdon, exchangerate, msdyn_amount_base are not the contract's
    expect(Object.keys(actual)).not.toContain('msdyn_invoice');
    expect(store.reads).toEqual([`currency ${EUR.transactioncurrencyid}`]);
  });

  it('the Target id stands in for a missing msdyn_actualid attribute, and a different one is refused', async () => {
    const context = actualCreateContext(buildUnbilledActual(buildContract({ key: 'ids' }), {}, 0));
    const target = (context.InputParameters as { value: { Attributes: { key: string; value: unknown }[] } }[])[0]!.value;
    const withoutId = { ...context, InputParameters: [{ key: 'Target', value: { ...target, Attributes: target.Attributes.filter((a) => a.key !== 'msdyn_actualid') } }] };
    expect((await read(withoutId, fakeStore([currencyOf('EUR')]))).msdyn_actualid).toBe(context.PrimaryEntityId);

    const otherId = { ...context, InputParameters: [{ key: 'Target', value: { ...target, Attributes: [...target.Attributes.filter((a) => a.key !== 'msdyn_actualid'), { key: 'msdyn_actualid', value: ACTUAL_ID }] } }] };
    const error = await failure(read(otherId, fakeStore([currencyOf('EUR')])));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain(`msdyn_actualid: "${ACTUAL_ID}" is not the message's PrimaryEntityId`);
  });
});

describe('an Update of msdyn_actual with a post image', () => {
  it('takes the Target over the post image (Target wins, null clears), with exact money and UTC dates', async () => {
    const actual = await read(json('actual-update-post-image.json'));
    expect(actual).toEqual({
      msdyn_actualid: ACTUAL_ID,
      msdyn_transactiontypecode: 192350005,
      msdyn_transactionclassification: 192350001,
      msdyn_billingtype: 192350001,
      msdyn_billingstatus: 192350004, // Target (Ready to Invoice) over the image's 192350000
      // msdyn_adjustmentstatus: the Target sets it to null, so the image's Unadjustable is gone
      msdyn_quantity: '1',
      msdyn_price: '0.30', // 0.30000000000000004 in the image
      msdyn_amount: '0.30',
      transactioncurrencyid: 'USD',
      msdyn_documentdate: '2024-03-10',
      msdyn_accountingdate: '2024-03-10',
      msdyn_project: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a',
      msdyn_salescontract: '8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
      msdyn_salescontractlineid: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
      msdyn_accountcustomer: '3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a7b',
      msdyn_skipsync: false,
      msdyn_externalreferenceid: 'PJV-20241125-0001', // Target over the image's null
      msdyn_postingdate: '2024-11-25', // "/Date(ms+0530)/"
      msdyn_accountingcurrency: 'USD', // a plain ISO code is taken as it is
      msdyn_accountingamount: '1356.22',
      msdyn_exchangerate: '1.084500',
    });
  });

  it('without a post image names every required attribute the Target lacks', async () => {
    const context = json('actual-update-post-image.json') as Record<string, unknown>;
    const error = await failure(read({ ...context, PostEntityImages: [] }));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('msdyn_transactiontypecode, msdyn_transactionclassification, msdyn_billingtype, msdyn_quantity, msdyn_price, msdyn_amount, transactioncurrencyid');
    expect(error.message).toContain('missing from the Target (the step has no post image)');
    expect(error.message).toContain('register a post image "PostImage"');
    expect((error as ValidationError).reference).toBe(ACTUAL_ID);
  });

  it('the kit builder gives the same record as the actual it was built from', async () => {
    const fx = buildContract({ key: 'builder', currency: 'GBP' });
    const actual = { ...buildUnbilledActual(fx, { quantity: '2.25', price: '1333.33' }, 0), msdyn_invoice: '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090' };
    const update = actualUpdateContext(actual, { msdyn_billingstatus: optionSet(192350004) });
    expect(await read(update, fakeStore([currencyOf('GBP')]))).toEqual({ ...actual, msdyn_billingstatus: 192350004 });
    expect(await read(actualCreateContext(actual), fakeStore([currencyOf('GBP')]))).toEqual(actual);
  });
});

describe('value types', () => {
  it('flattens every Dataverse value type by its column kind', () => {
    const ref = { __type: 'EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts', Id: '2D3E4F5A-6B7C-4D8E-9F0A-1B2C3D4E5F6A', LogicalName: 'msdyn_project', Name: 'Contoso' };
    expect(flatten('option', optionSet(192350005))).toEqual({ ok: true, value: 192350005 });
    expect(flatten('option', 192350005)).toEqual({ ok: true, value: 192350005 });
    expect(flatten('amount', money(800))).toEqual({ ok: true, value: '800.00' });
    expect(flatten('price', money(100))).toEqual({ ok: true, value: '100.00' });
    expect(flatten('reference', ref)).toEqual({ ok: true, value: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a' });
    expect(flatten('reference', '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a')).toEqual({ ok: true, value: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a' });
    expect(flatten('id', '5F0C6A1E-2B7D-4C1E-9A3F-1D2E3F4A5B6C')).toEqual({ ok: true, value: ACTUAL_ID });
    expect(flatten('text', 'PJV-1')).toEqual({ ok: true, value: 'PJV-1' });
    expect(flatten('boolean', true)).toEqual({ ok: true, value: true });
    expect(flatten('quantity', 7.5)).toEqual({ ok: true, value: '7.5' });
    expect(flatten('rate', 1.0845)).toEqual({ ok: true, value: '1.084500' });
    expect(flatten('currency', 'EUR')).toEqual({ ok: true, value: { code: 'EUR' } });
    expect(flatten('currency', { ...ref, LogicalName: 'transactioncurrency' })).toEqual({ ok: true, value: { currencyId: '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a' } });
  });

  it('says what it expected and what came for a value of the wrong type', () => {
    expect(flatten('amount', optionSet(1))).toEqual({ ok: false, problem: expect.stringMatching(/^expected a Money .* got OptionSetValue/) });
    expect(flatten('option', 'Unbilled Sales')).toEqual({ ok: false, problem: 'expected an OptionSetValue ({ "Value": <integer> }), got "Unbilled Sales"' });
    expect(flatten('reference', money(1))).toEqual({ ok: false, problem: expect.stringContaining('got Money') });
    expect(flatten('boolean', 'false')).toEqual({ ok: false, problem: 'expected true or false, got "false"' });
    expect(flatten('date', '2024/03/10')).toEqual({ ok: false, problem: expect.stringContaining('expected a date') });
    expect(flatten('currency', { __type: 'EntityReference:x', Id: ACTUAL_ID, LogicalName: 'account' })).toEqual({ ok: false, problem: expect.stringContaining('got one to account') });
  });

  it.each([
    [1250.5, '1250.50'],
    [1250.4999999999998, '1250.50'],
    [0.1 + 0.2, '0.30'],
    [1.005, '1.01'], // (1.005).toFixed(2) is "1.00" in floating point
    [2.675, '2.68'], // (2.675).toFixed(2) is "2.67"
    [1250.55, '1250.55'],
    [19.99, '19.99'],
    [-800.125, '-800.13'],
    [-0.001, '0.00'],
    [922337203685477, '922337203685477.00'],
  ])('Money %s is the amount %s', (value, expected) => {
    expect(flatten('amount', money(value))).toEqual({ ok: true, value: expected });
  });

  it.each([
    [100, '100.00'],
    [12.3456, '12.3456'],
    [0.1 + 0.2, '0.30'],
    [1.23456789, '1.234568'],
    [166.74, '166.74'],
  ])('Money %s is the price %s', (value, expected) => {
    expect(flatten('price', money(value))).toEqual({ ok: true, value: expected });
  });

  it('reads a Money value sent as decimal text too, without going through a float', () => {
    expect(flatten('amount', { __type: 'Money:http://schemas.microsoft.com/xrm/2011/Contracts', Value: '1250.555' })).toEqual({ ok: true, value: '1250.56' });
  });
});

describe('dates', () => {
  it.each([
    ['/Date(1710028800000)/', '2024-03-10', '2024-03-10T00:00:00.000Z'],
    ['/Date(1710028800000+0000)/', '2024-03-10', '2024-03-10T00:00:00.000Z'],
    ['/Date(1710028800000+0100)/', '2024-03-10', '2024-03-10T00:00:00.000Z'],
    ['/Date(1710028800000-0800)/', '2024-03-10', '2024-03-10T00:00:00.000Z'],
    ['/Date(1732532400000+0530)/', '2024-11-25', '2024-11-25T11:00:00.000Z'],
    ['/Date(-86400000)/', '1969-12-31', '1969-12-31T00:00:00.000Z'],
    [JSON.parse('"\\/Date(1710028800000)\\/"') as string, '2024-03-10', '2024-03-10T00:00:00.000Z'],
  ])('%s is the date %s and the timestamp %s (UTC)', (value, date, timestamp) => {
    expect(flatten('date', value)).toEqual({ ok: true, value: date });
    expect(flatten('timestamp', value)).toEqual({ ok: true, value: timestamp });
  });

  it('refuses what is not a date', () => {
    expect(parseDataverseDate('/Date(abc)/')).toBeUndefined();
    expect(parseDataverseDate('Date(1710028800000)')).toBeUndefined();
    expect(parseDataverseDate('2024-03-10')?.toISOString()).toBe('2024-03-10T00:00:00.000Z');
  });
});

describe('what cannot be read', () => {
  it('a missing required attribute is a ValidationError naming it', async () => {
    const context = json('actual-create.json') as { InputParameters: { value: { Attributes: { key: string }[] } }[] };
    const target = context.InputParameters[0]!.value;
    target.Attributes = target.Attributes.filter((a) => a.key !== 'msdyn_amount' && a.key !== 'msdyn_skipsync');
    const error = await failure(read(context));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toBe(
      `Dataverse Create of msdyn_actual ${ACTUAL_ID} cannot be read as an actual: required attributes msdyn_amount, msdyn_skipsync missing from the Target.`,
    );
    expect(REQUIRED_ACTUAL_COLUMNS).toContain('msdyn_amount');
    expect(REQUIRED_ACTUAL_COLUMNS).not.toContain('msdyn_invoice');
  });

  it('names every bad attribute at once', () => {
    const context = json('actual-create.json') as { InputParameters: { value: { Attributes: { key: string; value: unknown }[] } }[] };
    for (const a of context.InputParameters[0]!.value.Attributes) {
      if (a.key === 'msdyn_amount') a.value = 'twelve';
      if (a.key === 'msdyn_documentdate') a.value = 'yesterday';
    }
    const error = (() => {
      try {
        draftActual(parseRemoteExecutionContext(context));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toContain('msdyn_amount: expected a Money ({ "Value": <number> }), got "twelve"');
    expect((error as Error).message).toContain('msdyn_documentdate: expected a date such as "/Date(1732492800000)/", got "yesterday"');
  });

  it('an option value Dataverse does not have is refused by the contract schema, naming the column', async () => {
    const context = actualCreateContext({ ...buildUnbilledActual(buildContract({ key: 'option' }), {}, 0), msdyn_transactiontypecode: TransactionType.Cost });
    const target = (context.InputParameters as { value: { Attributes: { key: string; value: unknown }[] } }[])[0]!.value;
    for (const a of target.Attributes) if (a.key === 'msdyn_transactiontypecode') a.value = optionSet(192350099);
    const error = await failure(read(context, fakeStore([currencyOf('EUR')])));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(/msdyn_transactiontypecode: must be a transaction type option value/);
  });

  it('an unknown currency GUID is a BusinessError naming the id', async () => {
    const error = await failure(read(json('actual-create.json'), fakeStore([USD])));
    expect(error).toBeInstanceOf(BusinessError);
    expect(error).not.toBeInstanceOf(ValidationError);
    expect(error.message).toContain(`names the Dataverse currency ${EUR.transactioncurrencyid}, which dvCurrencies does not hold`);
    expect((error as BusinessError).reference).toBe(ACTUAL_ID);
  });

  it('malformed JSON, a body that is no context, and a context with bad members are ValidationErrors naming what is wrong', async () => {
    expect(await failure(() => parseRemoteExecutionContextText('{"MessageName": "Create", "PrimaryEntityName": '))).toBeInstanceOf(ValidationError);
    expect((await failure(() => parseRemoteExecutionContextText('{"MessageName": "Create",'))).message).toMatch(/^The body is not valid JSON/);
    expect((await failure(() => parseRemoteExecutionContextText('{"invoiceId": "x"}'))).message).toContain('neither MessageName nor PrimaryEntityName');
    const bad = { ...(json('actual-create.json') as object), PrimaryEntityId: 'not-a-guid', InputParameters: 'Target' };
    const error = await failure(() => parseRemoteExecutionContext(bad));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('PrimaryEntityId: must be a GUID');
    expect(error.message).toContain('InputParameters:');
    const badImage = { ...(json('actual-update-post-image.json') as object), PostEntityImages: [{ key: 'PostImage', value: { LogicalName: 'msdyn_actual', Attributes: {} } }] };
    expect((await failure(() => parseRemoteExecutionContext(badImage))).message).toContain('PostEntityImages.0.value.Attributes');
  });

  it('a Target that is not an Entity is a ValidationError', async () => {
    const context = { ...(json('actual-create.json') as object), InputParameters: [{ key: 'Target', value: { __type: 'Money:x', Value: 1 } }] };
    const error = await failure(read(context));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('is not an Entity');
  });

  it('a context of another table or message on the actuals queue is a ValidationError saying where it belongs', async () => {
    const error = await failure(read(json('invoice-update-confirmed.json')));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('The actuals queue takes Create and Update of msdyn_actual; this message is Update of invoice');
  });
});

describe('size-limited contexts', () => {
  const stored = { ...buildUnbilledActual(buildContract({ key: 'stored' }), {}, 0), msdyn_actualid: ACTUAL_ID };

  it('are recognised by the marker on the body, the envelope or the missing InputParameters', () => {
    const limited = parseRemoteExecutionContext(json('actual-create-size-limited.json'));
    expect(isSizeLimited(limited, NO_PROPS)).toBe(true);
    const create = parseRemoteExecutionContext(json('actual-create.json'));
    expect(isSizeLimited(create, NO_PROPS)).toBe(false);
    expect(isSizeLimited(create, { sizeExceeded: true })).toBe(true);
    expect(isSizeLimited({ ...create, InputParameters: undefined }, NO_PROPS)).toBe(true);
    expect(dataversePropertiesOf({ messageMaxSizeExceeded: 'True' }).sizeExceeded).toBe(true);
    expect(webhookPropertiesOf((h) => (h === 'x-ms-dynamics-msg-size-exceeded' ? '' : null)).sizeExceeded).toBe(true);
  });

  it('an actual the project holds is read from dvActuals by id', async () => {
    const store = fakeStore([EUR], [stored]);
    expect(await read(json('actual-create-size-limited.json'), store)).toEqual(stored);
    expect(store.reads).toEqual([`actual ${ACTUAL_ID}`]);
  });

  it('an actual the project does not hold is a BusinessError naming what is missing', async () => {
    const error = await failure(read(json('actual-create-size-limited.json'), fakeStore([EUR], [])));
    expect(error).toBeInstanceOf(BusinessError);
    expect(error).not.toBeInstanceOf(ValidationError);
    expect(error.message).toContain(`msdyn_actual ${ACTUAL_ID} exceeded the service endpoint's size limit`);
    expect(error.message).toContain('dvActuals does not hold that actual');
    expect(error.message).toContain('msdyn_transactiontypecode');
  });

  it('an invoice confirmation by the action still works: the invoice is PrimaryEntityId', () => {
    const action = parseRemoteExecutionContext(sizeLimited(confirmInvoiceActionContext('6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090')));
    expect(confirmationOfContext(action, NO_PROPS, 'q')).toMatchObject({ kind: 'confirm', message: { invoiceId: '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090' } });
  });

  it('an invoice Update over the limit cannot say its status: a BusinessError, nothing confirmed', () => {
    const update = parseRemoteExecutionContext(sizeLimited(invoiceUpdateContext('6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090', InvoiceStatus.Confirmed)));
    expect(() => confirmationOfContext(update, NO_PROPS, 'q')).toThrow(/cannot be read; nothing was confirmed/);
  });
});

describe('invoice confirmations', () => {
  it('an Update to Confirmed asks for the confirmation of PrimaryEntityId, at OperationCreatedOn, by the initiating user', () => {
    const context = parseRemoteExecutionContextText(text('invoice-update-confirmed.json'));
    expect(confirmationOfContext(context, NO_PROPS, 'q')).toEqual({
      kind: 'confirm',
      message: { invoiceId: '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090', confirmedOn: '2024-11-25T11:00:00.000Z', confirmedBy: '8d7c6b5a-4938-4271-b605-f4e3d2c1b0a9' },
    });
  });

  it('the action msdyn_ConfirmInvoice asks for it too', () => {
    expect(confirmationOfContext(parseRemoteExecutionContext(json('confirm-invoice-action.json')), NO_PROPS, 'q')).toMatchObject({ kind: 'confirm', message: { invoiceId: '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090' } });
  });

  it('an Update to another status, or one that does not set the status, asks for nothing', () => {
    const id = '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090';
    expect(confirmationOfContext(parseRemoteExecutionContext(invoiceUpdateContext(id, InvoiceStatus.InReview)), NO_PROPS, 'q')).toEqual({
      kind: 'ignore',
      reason: `Update of invoice ${id} sets msdyn_projectinvoicestatus to In Review (192350001), not Confirmed`,
    });
    const nameOnly = { ...invoiceUpdateContext(id, InvoiceStatus.Confirmed), InputParameters: [] };
    expect(confirmationOfContext(parseRemoteExecutionContext(nameOnly), NO_PROPS, 'q')).toMatchObject({ kind: 'ignore' });
  });

  it('a post image under the Target counts, and the Target wins', () => {
    const id = '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090';
    const context = invoiceUpdateContext(id, InvoiceStatus.InReview, {
      postImage: { __type: 'Entity:x', LogicalName: 'invoice', Id: id, Attributes: [{ key: 'msdyn_projectinvoicestatus', value: optionSet(InvoiceStatus.Confirmed) }] },
    });
    expect(confirmationOfContext(parseRemoteExecutionContext(context), NO_PROPS, 'q').kind).toBe('ignore');
    const imageOnly = { ...context, InputParameters: [{ key: 'Target', value: { __type: 'Entity:x', LogicalName: 'invoice', Id: id, Attributes: [{ key: 'name', value: 'x' }] } }] };
    expect(confirmationOfContext(parseRemoteExecutionContext(imageOnly), NO_PROPS, 'q').kind).toBe('confirm');
  });

  it('another table or message is a ValidationError', () => {
    expect(() => confirmationOfContext(parseRemoteExecutionContext(json('actual-create.json')), NO_PROPS, 'The invoice-confirmations queue')).toThrow(ValidationError);
    const del = { ...invoiceUpdateContext('6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090', 1), MessageName: 'Delete' };
    expect(() => confirmationOfContext(parseRemoteExecutionContext(del), NO_PROPS, 'q')).toThrow(/this message is Delete of invoice/);
  });
});

describe('application properties and webhook headers', () => {
  const create = json('actual-create.json') as { [key: string]: never };

  it('reads the claims as the host hands them over (first letter lower-cased: "http" stays)', () => {
    const props = dataverseApplicationProperties(create);
    const camel = Object.fromEntries(Object.entries(props).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), v]));
    expect(dataversePropertiesOf(camel)).toEqual({
      organization: 'contoso.crm4.dynamics.com',
      user: '7c6b5a49-3827-4160-a5f4-e3d2c1b0a998',
      initiatingUser: '7c6b5a49-3827-4160-a5f4-e3d2c1b0a998',
      entityLogicalName: 'msdyn_actual',
      requestName: 'Create',
      sizeExceeded: false,
    });
    expect(dataversePropertiesOf(undefined)).toEqual({ sizeExceeded: false });
  });

  it('cross-checks the envelope against the body', () => {
    const context = parseRemoteExecutionContext(create);
    expect(crossCheck(context, { sizeExceeded: false, entityLogicalName: 'msdyn_actual', requestName: 'Create' })).toBeUndefined();
    expect(crossCheck(context, { sizeExceeded: false, requestName: 'Update' })).toBe('note: RequestName Update differs from MessageName Create');
    expect(() => crossCheck(context, { sizeExceeded: false, entityLogicalName: 'invoice' })).toThrow(/EntityLogicalName \(invoice\) and its body's PrimaryEntityName \(msdyn_actual\) disagree/);
    expect(describeContext(context, dataversePropertiesOf(dataverseApplicationProperties(create)))).toBe(
      `Dataverse Create of msdyn_actual ${ACTUAL_ID}, organization contoso.crm4.dynamics.com, user 7c6b5a49-3827-4160-a5f4-e3d2c1b0a998, stage 40 mode 1 depth 1, correlation 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a; envelope: EntityLogicalName=msdyn_actual RequestName=Create Organization=contoso.crm4.dynamics.com`,
    );
  });

  it('reads the x-ms-dynamics headers of a webhook', () => {
    const headers: Record<string, string> = { 'x-ms-dynamics-organization': 'contoso.crm4.dynamics.com', 'x-ms-dynamics-entity-name': 'invoice', 'x-ms-dynamics-request-name': 'Update' };
    expect(webhookPropertiesOf((h) => headers[h] ?? null)).toEqual({ organization: 'contoso.crm4.dynamics.com', entityLogicalName: 'invoice', requestName: 'Update', sizeExceeded: false });
  });
});

describe('the queues take both formats; the body tells which', () => {
  it('parses the project\'s own bodies as before and a context as a context', () => {
    expect(actualsQueueBody.parse({ actuals: [{ any: 1 }] })).toEqual({ format: 'project', body: { actuals: [{ any: 1 }] } });
    expect(invoiceConfirmationsQueueBody.parse({ invoiceId: '6E5D4C3B-2A19-4807-96F5-E4D3C2B1A090' })).toEqual({ format: 'project', body: { invoiceId: '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090' } });
    expect(actualsQueueBody.parse(json('actual-create.json'))).toMatchObject({ format: 'dataverse', context: { MessageName: 'Create' } });
    const own = invoiceConfirmationsQueueBody.safeParse({ invoiceId: 42 });
    expect(own.success ? [] : own.error.issues.map((i) => i.path.join('.'))).toEqual(['invoiceId']);
  });

  it('records a malformed context as Validation naming its bad attributes, and a missing attribute too', async () => {
    const reports: ErrorReport[] = [];
    const errorLog: ErrorLogPort = { record: async (r) => reports.push(r) };
    const context = new InvocationContext({ invocationId: 'inv', functionName: 'syncActuals', triggerMetadata: { messageId: 'm', deliveryCount: 1 }, logHandler: () => undefined });
    const bad = { ...(json('actual-create.json') as object), PrimaryEntityId: 42 };
    await handleQueueMessage({ source: 'syncActuals', message: bad, context, schema: actualsQueueBody, errorLog, retryPausesMs: [], handle: async () => undefined });
    expect(reports[0]).toMatchObject({ category: 'Validation' });
    expect(reports[0]?.message).toContain('(body): the body is a Dataverse RemoteExecutionContext');
    expect(reports[0]?.message).toContain('PrimaryEntityId:');

    const missing = json('actual-create.json') as { InputParameters: { value: { Attributes: { key: string }[] } }[] };
    missing.InputParameters[0]!.value.Attributes = missing.InputParameters[0]!.value.Attributes.filter((a) => a.key !== 'msdyn_billingtype');
    await handleQueueMessage({
      source: 'syncActuals',
      message: JSON.stringify(missing),
      context,
      schema: actualsQueueBody,
      errorLog,
      retryPausesMs: [],
      handle: async (body) => {
        await actualsToSync({ dataverse: fakeStore() }, body, { properties: NO_PROPS });
      },
    });
    expect(reports[1]).toMatchObject({ category: 'Validation', reference: ACTUAL_ID, message: expect.stringContaining('required attribute msdyn_billingtype missing from the Target') });
  });

  it('an own actuals body is handed on as it is, a context as its one actual', async () => {
    const own = actualsQueueBody.parse({ actuals: [{ msdyn_actualid: 'x' }] });
    expect(await actualsToSync({ dataverse: fakeStore() }, own, { properties: NO_PROPS })).toEqual([{ msdyn_actualid: 'x' }]);
    const context = actualsQueueBody.parse(json('actual-create.json'));
    const lines: string[] = [];
    const records = await actualsToSync({ dataverse: fakeStore() }, context, { properties: dataversePropertiesOf(dataverseApplicationProperties(json('actual-create.json') as never)), log: (l) => lines.push(l) });
    expect(records).toEqual([expect.objectContaining({ msdyn_actualid: ACTUAL_ID, msdyn_amount: '1250.55' })]);
    expect(lines.join('\n')).toContain('organization contoso.crm4.dynamics.com');
  });

  it('an Update of invoice that asks for no confirmation runs none', () => {
    const lines: string[] = [];
    const body = invoiceConfirmationsQueueBody.parse(invoiceUpdateContext('6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090', InvoiceStatus.InReview));
    expect(confirmationToRun(body, { properties: NO_PROPS, log: (l) => lines.push(l) })).toBeUndefined();
    expect(lines[0]).toMatch(/no confirmation asked \(.*In Review.*\); nothing to do$/);
  });
});

describe('the webhook', () => {
  it('publishes the project\'s own message on the queue that takes it, with an id derived from the operation', async () => {
    const publisher = new RecordingPublisher();
    const actualContext = parseRemoteExecutionContext(json('actual-create.json'));
    const outcome = await receiveWebhook({ dataverse: fakeStore(), publisher }, actualContext, { properties: NO_PROPS });
    expect(outcome).toMatchObject({ status: 'Queued', queue: 'actuals', reference: ACTUAL_ID, messageId: webhookMessageId(actualContext) });
    expect(publisher.sent[0]?.message.body).toEqual({ actuals: [await read(json('actual-create.json'))] });

    const invoice = parseRemoteExecutionContext(json('invoice-update-confirmed.json'));
    expect(await receiveWebhook({ dataverse: fakeStore(), publisher }, invoice, { properties: NO_PROPS })).toMatchObject({ status: 'Queued', queue: 'invoice-confirmations' });
    expect(publisher.sent[1]).toMatchObject({
      queue: 'invoice-confirmations',
      message: { body: { invoiceId: '6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090', confirmedOn: '2024-11-25T11:00:00.000Z', confirmedBy: '8d7c6b5a-4938-4271-b605-f4e3d2c1b0a9' } },
    });
    expect(webhookMessageId(invoice)).toBe(webhookMessageId(parseRemoteExecutionContext(json('invoice-update-confirmed.json'))));

    const inReview = parseRemoteExecutionContext(invoiceUpdateContext('6e5d4c3b-2a19-4807-96f5-e4d3c2b1a090', InvoiceStatus.InReview));
    expect(await receiveWebhook({ dataverse: fakeStore(), publisher }, inReview, { properties: NO_PROPS })).toMatchObject({ status: 'Ignored' });
    expect(publisher.sent).toHaveLength(2);

    const account = { ...(json('actual-create.json') as object), PrimaryEntityName: 'account' };
    await expect(receiveWebhook({ dataverse: fakeStore(), publisher }, parseRemoteExecutionContext(account), { properties: NO_PROPS })).rejects.toThrow(/this message is Create of account/);
  });
});
