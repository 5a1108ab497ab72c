import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { DataverseStore } from '../../../shared/dataverse/dataverseStore';
import type { Actual, Invoice } from '../../../shared/dataverse/records';
import { deterministicGuid } from '../../../shared/core/ids';
import { BillingType, InvoiceStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import { BusinessError } from '../../../shared/core/errors';
import type { AccountingDetail, ActualsAccountingMessage } from '../../../shared/messages';
import { syncActualsAccounting } from '../../../shared/bridge/syncActualsAccounting';

let azurite: LocalAzurite;
let dataverse: DataverseStore;

beforeAll(async () => {
  azurite = await startAzurite();
  dataverse = new DataverseStore(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});

const id = (...parts: string[]) => deterministicGuid('accounting-test', ...parts);

function actual(contract: string, role: string, type: number, extra: Partial<Actual> = {}): Actual {
  return {
    msdyn_actualid: id(contract, role),
    msdyn_transactiontypecode: type as Actual['msdyn_transactiontypecode'],
    msdyn_transactionclassification: TransactionClass.Time,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_quantity: '8',
    msdyn_price: '150.00',
    msdyn_amount: '1200.00',
    transactioncurrencyid: 'EUR',
    msdyn_documentdate: '2026-02-10',
    msdyn_accountingdate: '2026-02-10',
    msdyn_project: id('project'),
    msdyn_salescontract: id(contract),
    msdyn_salescontractlineid: id(contract, 'line'),
    msdyn_accountcustomer: id('customer'),
    msdyn_skipsync: false,
    ...extra,
  };
}

function invoice(name: string, status: number, extra: Partial<Invoice> = {}): Invoice {
  return {
    invoiceid: id('invoice', name),
    invoicenumber: `INV-${name}`,
    name,
    customerid: id('customer'),
    salesorderid: id('A'),
    transactioncurrencyid: 'EUR',
    msdyn_projectinvoicestatus: status as Invoice['msdyn_projectinvoicestatus'],
    msdyn_invoicedate: '2026-03-15',
    totalamount: '1200.00',
    totaltax: '240.00',
    ...extra,
  };
}

function detail(a: Actual, voucher: string, accountingAmount: string, salesTaxAmount?: string): AccountingDetail {
  const d: AccountingDetail = {
    actualId: a.msdyn_actualid,
    contractId: a.msdyn_salescontract,
    voucher,
    postingDate: '2026-03-15',
    accountingCurrency: 'USD',
    accountingAmount,
    exchangeRate: '1.100000',
  };
  if (salesTaxAmount !== undefined) d.salesTaxAmount = salesTaxAmount;
  return d;
}

describe('syncActualsAccounting on Azurite', () => {
  it('writes accounting details on cost, unbilled and billed actuals of several contracts and sets the invoice Posted; a redelivery writes nothing', async () => {
    const cost = actual('A', 'cost', TransactionType.Cost);
    const unbilled = actual('A', 'unbilled', TransactionType.UnbilledSales);
    const billed = actual('A', 'billed', TransactionType.BilledSales, { msdyn_invoice: id('invoice', 'OK'), msdyn_unbilledactual: unbilled.msdyn_actualid });
    const otherContract = actual('B', 'billed', TransactionType.BilledSales, { msdyn_invoice: id('invoice', 'OK') });
    await dataverse.actuals.upsertMany([cost, unbilled, billed, otherContract]);
    await dataverse.invoices.upsert(invoice('OK', InvoiceStatus.Confirmed));

    const message: ActualsAccountingMessage = {
      details: [detail(cost, 'PJV-1', '800.00'), detail(unbilled, 'PJV-2', '1301.40'), detail(billed, 'PIV-9', '1320.00', '240.00'), detail(otherContract, 'PIV-9', '1320.00', '240.00')],
      invoice: { invoiceId: id('invoice', 'OK'), customerInvoiceNumber: 'CIV-000007', customerInvoiceDate: '2026-03-15' },
    };
    const result = await syncActualsAccounting({ dataverse }, message);
    expect(result).toEqual({ updated: 4, unchanged: 0, unknownActuals: [], invoice: 'posted' });

    const stored = await dataverse.actuals.get(billed.msdyn_salescontract, billed.msdyn_actualid);
    expect(stored).toMatchObject({
      ...billed,
      msdyn_externalreferenceid: 'PIV-9',
      msdyn_postingdate: '2026-03-15',
      msdyn_accountingcurrency: 'USD',
      msdyn_accountingamount: '1320.00',
      msdyn_exchangerate: '1.100000',
      msdyn_salestaxamount: '240.00',
    });
    const storedCost = await dataverse.actuals.get(cost.msdyn_salescontract, cost.msdyn_actualid);
    expect(storedCost).toMatchObject({ msdyn_externalreferenceid: 'PJV-1', msdyn_accountingamount: '800.00', msdyn_amount: '1200.00' });
    expect(storedCost?.msdyn_salestaxamount).toBeUndefined();
    expect((await dataverse.actuals.get(otherContract.msdyn_salescontract, otherContract.msdyn_actualid))?.msdyn_externalreferenceid).toBe('PIV-9');
    expect(await dataverse.invoices.get(id('invoice', 'OK'), id('invoice', 'OK'))).toMatchObject({
      msdyn_projectinvoicestatus: InvoiceStatus.Posted,
      msdyn_customerinvoicenumber: 'CIV-000007',
      msdyn_customerinvoicedate: '2026-03-15',
      totalamount: '1200.00',
    });

    const etags = (await dataverse.actuals.listPartition(id('A'))).map((a) => a.etag);
    expect(await syncActualsAccounting({ dataverse }, message)).toEqual({ updated: 0, unchanged: 4, unknownActuals: [], invoice: 'unchanged' });
    expect((await dataverse.actuals.listPartition(id('A'))).map((a) => a.etag)).toEqual(etags);
  });

  it('an unknown actual is a Business error naming it, and the rest of the message is still applied', async () => {
    const known = actual('C', 'known', TransactionType.BilledSales, { msdyn_invoice: id('invoice', 'C') });
    await dataverse.actuals.upsert(known);
    await dataverse.invoices.upsert(invoice('C', InvoiceStatus.Confirmed));
    const ghost = actual('C', 'ghost', TransactionType.BilledSales);
    const message: ActualsAccountingMessage = {
      details: [detail(known, 'PIV-C', '100.00', '0.00'), detail(ghost, 'PIV-C', '50.00', '0.00')],
      invoice: { invoiceId: id('invoice', 'C'), customerInvoiceNumber: 'CIV-000008', customerInvoiceDate: '2026-03-15' },
    };
    const error = await syncActualsAccounting({ dataverse }, message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusinessError);
    expect((error as BusinessError).message).toContain(`Actual ${ghost.msdyn_actualid} (contract ${id('C')}, voucher PIV-C) is not in dvActuals`);
    expect((error as BusinessError).reference).toBe(ghost.msdyn_actualid);
    expect((await dataverse.actuals.get(id('C'), known.msdyn_actualid))?.msdyn_externalreferenceid).toBe('PIV-C');
    expect(await dataverse.actuals.get(id('C'), ghost.msdyn_actualid)).toBeUndefined();
    expect((await dataverse.invoices.get(id('invoice', 'C'), id('invoice', 'C')))?.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Posted);
  });

  it('an unknown actual first in its contract group, or in the middle of a large one, is named; all the others are applied', async () => {
    const many = Array.from({ length: 60 }, (_, i) => actual('E', `e${i}`, TransactionType.BilledSales));
    await dataverse.actuals.upsertMany(many);
    const ghostFirst = actual('E', 'ghost-first', TransactionType.BilledSales);
    const ghostMiddle = actual('E', 'ghost-middle', TransactionType.BilledSales);
    const others = actual('F', 'f', TransactionType.Cost); // another contract: its own group, applied optimistically
    await dataverse.actuals.upsert(others);
    const details = [ghostFirst, ...many.slice(0, 30), ghostMiddle, ...many.slice(30)].map((a) => detail(a, 'PIV-E', '10.00', '0.00'));
    const message: ActualsAccountingMessage = { details: [...details, detail(others, 'PJV-F', '5.00')] };
    const error = await syncActualsAccounting({ dataverse }, message).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusinessError);
    expect((error as BusinessError).message).toContain(
      `Actuals ${ghostFirst.msdyn_actualid} (contract ${id('E')}, voucher PIV-E), ${ghostMiddle.msdyn_actualid} (contract ${id('E')}, voucher PIV-E) are not in dvActuals`,
    );
    expect((error as BusinessError).message).toContain('(the other 61 of this message were)');
    expect((error as BusinessError).reference).toBe(ghostFirst.msdyn_actualid);
    const stored = await dataverse.actuals.listPartition(id('E'));
    expect(stored).toHaveLength(60); // nothing created for the unknown ones
    expect(stored.every((a) => a.msdyn_externalreferenceid === 'PIV-E')).toBe(true);
    expect((await dataverse.actuals.get(id('F'), others.msdyn_actualid))?.msdyn_externalreferenceid).toBe('PJV-F');

    // With the unknown ones in the middle of a group whose first actual is known: the optimistic
    // transaction is refused as a whole, then the group is applied actual by actual.
    const fresh = many.map((a) => detail(a, 'PIV-E2', '11.00', '0.00'));
    const mixed: ActualsAccountingMessage = { details: [...fresh.slice(0, 10), detail(ghostMiddle, 'PIV-E2', '11.00', '0.00'), ...fresh.slice(10)] };
    await expect(syncActualsAccounting({ dataverse }, mixed)).rejects.toThrow(`Actual ${ghostMiddle.msdyn_actualid} (contract ${id('E')}, voucher PIV-E2) is not in dvActuals`);
    expect((await dataverse.actuals.listPartition(id('E'))).map((a) => a.msdyn_externalreferenceid)).toEqual(Array(60).fill('PIV-E2'));
  });

  it('a group whose first actual already carries its details is applied exactly: only the others are written', async () => {
    const group = Array.from({ length: 5 }, (_, i) => actual('G', `g${i}`, TransactionType.Cost));
    await dataverse.actuals.upsertMany(group);
    const details = group.map((a, i) => detail(a, 'PJV-G', `${i}.00`));
    expect(await syncActualsAccounting({ dataverse }, { details: details.slice(0, 1) })).toEqual({ updated: 1, unchanged: 0, unknownActuals: [] });
    const firstEtag = (await dataverse.actuals.get(id('G'), group[0]!.msdyn_actualid))!.etag;
    expect(await syncActualsAccounting({ dataverse }, { details })).toEqual({ updated: 4, unchanged: 1, unknownActuals: [] });
    expect((await dataverse.actuals.get(id('G'), group[0]!.msdyn_actualid))!.etag).toBe(firstEtag);
    expect((await dataverse.actuals.listPartition(id('G'))).map((a) => a.msdyn_accountingamount).sort()).toEqual(['0.00', '1.00', '2.00', '3.00', '4.00']);
  });

  it('refuses to post an unknown invoice, a draft invoice, or one posted with another number', async () => {
    await dataverse.invoices.upsert(invoice('DRAFT', InvoiceStatus.Draft));
    await dataverse.invoices.upsert(invoice('OTHER', InvoiceStatus.Posted, { msdyn_customerinvoicenumber: 'CIV-000001', msdyn_customerinvoicedate: '2026-03-01' }));
    const post = (name: string) =>
      syncActualsAccounting({ dataverse }, { details: [], invoice: { invoiceId: id('invoice', name), customerInvoiceNumber: 'CIV-000009', customerInvoiceDate: '2026-03-15' } });
    await expect(post('MISSING')).rejects.toThrow(/Invoice .* is not in dvInvoices/);
    await expect(post('DRAFT')).rejects.toThrow(/INV-DRAFT .* is Draft; only a confirmed invoice can become Posted/);
    await expect(post('OTHER')).rejects.toThrow(/INV-OTHER .* is already posted as customer invoice CIV-000001/);
    expect(await dataverse.invoices.get(id('invoice', 'DRAFT'), id('invoice', 'DRAFT'))).toMatchObject({ msdyn_projectinvoicestatus: InvoiceStatus.Draft });
    expect((await dataverse.invoices.get(id('invoice', 'DRAFT'), id('invoice', 'DRAFT')))?.msdyn_customerinvoicenumber).toBeUndefined();
    expect(await dataverse.invoices.get(id('invoice', 'OTHER'), id('invoice', 'OTHER'))).toMatchObject({ msdyn_customerinvoicenumber: 'CIV-000001' });
  });

  it('applies 100 details of one contract in one go', async () => {
    const many = Array.from({ length: 100 }, (_, i) => actual('D', `a${i}`, TransactionType.Cost));
    await dataverse.actuals.upsertMany(many);
    const lines: string[] = [];
    const result = await syncActualsAccounting({ dataverse, log: (l) => lines.push(l) }, { details: many.map((a, i) => detail(a, `PJV-${i}`, `${i}.00`)) });
    expect(result.updated).toBe(100);
    expect(lines).toContain('accounting details: 100 actuals updated, 0 already up to date, 0 unknown (1 of 1 contract groups written without reading each actual)');
    const stored = await dataverse.actuals.listPartition(id('D'));
    expect(stored.filter((a) => a.msdyn_externalreferenceid?.startsWith('PJV-'))).toHaveLength(100);
  });
});
