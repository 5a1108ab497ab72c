/**
 * The Dataverse-side use cases (approvals, backlog, proforma invoices, confirmation request,
 * trace, operations views) on a real Azurite, with a recording Publisher in place of Service Bus.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { DataverseStore } from '../../../shared/dataverse/dataverseStore';
import { approvalIndexBucket, type Actual } from '../../../shared/dataverse/records';
import { deterministicGuid } from '../../../shared/core/ids';
import { AdjustmentStatus, BillingMethod, BillingStatus, BillingType, InvoiceStatus, MilestoneStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import { ErrorLog } from '../../../shared/operations/errorLogStore';
import { FinanceStore } from '../../../shared/finance/financeStore';
import { BusinessError, NotFoundError, ValidationError } from '../../../shared/core/errors';
import { TableSequenceStore } from '../../../shared/storage/sequences';
import { odata } from '../../../shared/storage/tableStore';
import { approvalActualId, approveEntries, type ApprovalEntry } from '../../../shared/dataverse/approvals';
import { setReadyToInvoice } from '../../../shared/dataverse/backlog';
import { rescaledTax } from '../../../shared/dataverse/rules/invoiceRules';
import { createProformaInvoice } from '../../../shared/dataverse/invoices/createInvoice';
import { addInvoiceLineDetail, deleteInvoiceLineDetail, updateInvoiceLineDetail } from '../../../shared/dataverse/invoices/editInvoice';
import { sequenceInvoiceNumbers, type InvoiceNumbers } from '../../../shared/dataverse/invoices/numbers';
import { requestInvoiceConfirmation } from '../../../shared/dataverse/invoices/requestConfirmation';
import { statusOf } from '../../../shared/triggers/http';
import { traceInvoice } from '../../../shared/operations/trace';
import { dashboard } from '../../../shared/operations/dashboard';
import { listErrors } from '../../../shared/operations/errorList';
import { RecordingPublisher } from '../../kit/publisher';

let azurite: LocalAzurite;
let dv: DataverseStore;
let fo: FinanceStore;
let errorLog: ErrorLog;
let numbers: InvoiceNumbers;

beforeAll(async () => {
  azurite = await startAzurite();
  dv = new DataverseStore(azurite.connectionString);
  fo = new FinanceStore(azurite.connectionString);
  errorLog = new ErrorLog(azurite.connectionString);
  numbers = sequenceInvoiceNumbers(new TableSequenceStore(azurite.connectionString));
});
afterAll(async () => {
  await azurite?.stop();
});

/** A customer and a EUR contract with a T&M line and a fixed-price line with two milestones (the first Ready). */
async function contract() {
  const key = randomUUID();
  const id = (...p: string[]) => deterministicGuid('dv-usecase-test', key, ...p);
  const ids = {
    account: id('account'),
    contract: id('contract'),
    project: id('project'),
    tm: id('tm'),
    fp: id('fp'),
    kickoff: id('kickoff'),
    golive: id('golive'),
  };
  await dv.accounts.createIfAbsent({ accountid: ids.account, name: 'Test customer', accountnumber: `C-${key.slice(0, 6)}` });
  await dv.contracts.createIfAbsent({ salesorderid: ids.contract, name: 'Test contract', ordernumber: `ORD-${key.slice(0, 6)}`, customerid: ids.account, transactioncurrencyid: 'EUR' });
  await dv.contractLines.createManyIfAbsent([
    { salesorderdetailid: ids.tm, salesorderid: ids.contract, productdescription: 'T&M', msdyn_billingmethod: BillingMethod.TimeAndMaterial, msdyn_project: ids.project },
    { salesorderdetailid: ids.fp, salesorderid: ids.contract, productdescription: 'Fixed', msdyn_billingmethod: BillingMethod.FixedPrice, msdyn_project: ids.project, extendedamount: '10000.00' },
  ]);
  await dv.milestones.createManyIfAbsent([
    { msdyn_contractlinescheduleofvalueid: ids.kickoff, msdyn_contractlineid: ids.fp, salesorderid: ids.contract, msdyn_name: 'Kick-off', msdyn_amount: '2500.00', msdyn_invoicestatus: MilestoneStatus.Ready, msdyn_milestonedate: '2026-10-01' },
    { msdyn_contractlinescheduleofvalueid: ids.golive, msdyn_contractlineid: ids.fp, salesorderid: ids.contract, msdyn_name: 'Go-live', msdyn_amount: '7500.00', msdyn_invoicestatus: MilestoneStatus.NotReady, msdyn_milestonedate: '2027-01-01' },
  ]);
  return ids;
}
type Fx = Awaited<ReturnType<typeof contract>>;

function time(fx: Fx, quantity: string, price = '150.00', extra: Partial<ApprovalEntry> = {}): ApprovalEntry {
  return { entryId: randomUUID(), contractLineId: fx.tm, classification: 'Time', quantity, price, costPrice: '90.00', documentDate: '2026-11-02', ...extra };
}

async function approveReady(fx: Fx, entries: ApprovalEntry[]): Promise<string[]> {
  const result = await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries });
  const ids = result.entries.map((e) => e.unbilledActualId).filter((x): x is string => x !== undefined);
  await setReadyToInvoice({ dataverse: dv }, { actualIds: ids, ready: true });
  return ids;
}

async function actualsOf(contractId: string) {
  return dv.actuals.listPartition(contractId);
}

describe('approvals', () => {
  it('makes a cost and a chargeable unbilled actual on a T&M line, cost only on a fixed-price line, and publishes them', async () => {
    const fx = await contract();
    const publisher = new RecordingPublisher();
    const tm = time(fx, '8');
    const fp: ApprovalEntry = { entryId: randomUUID(), contractLineId: fx.fp, classification: 'Expense', quantity: '1', price: '40.00', documentDate: '2026-11-03' };
    const result = await approveEntries({ dataverse: dv, publisher }, { entries: [tm, fp] });

    expect(result.created).toBe(3);
    const stored = new Map((await actualsOf(fx.contract)).map((a) => [a.msdyn_actualid, a]));
    const cost = stored.get(approvalActualId(tm.entryId!, 'cost'))!;
    const unbilled = stored.get(approvalActualId(tm.entryId!, 'unbilled'))!;
    expect(cost).toMatchObject({ msdyn_transactiontypecode: TransactionType.Cost, msdyn_price: '90.00', msdyn_amount: '720.00', transactioncurrencyid: 'EUR', msdyn_accountcustomer: fx.account });
    expect(cost.msdyn_billingstatus).toBeUndefined();
    expect(unbilled).toMatchObject({
      msdyn_transactiontypecode: TransactionType.UnbilledSales,
      msdyn_billingtype: BillingType.Chargeable,
      msdyn_billingstatus: BillingStatus.UnbilledSalesCreated,
      msdyn_amount: '1200.00',
      msdyn_skipsync: false,
      msdyn_salescontractlineid: fx.tm,
    });
    expect(stored.get(approvalActualId(fp.entryId!, 'cost'))).toMatchObject({ msdyn_amount: '40.00', msdyn_billingtype: BillingType.NonChargeable });
    expect(stored.has(approvalActualId(fp.entryId!, 'unbilled'))).toBe(false);
    expect(result.entries[1]!.unbilledActualId).toBeUndefined();

    expect(publisher.sent).toHaveLength(1);
    expect(publisher.sent[0]!.queue).toBe('actuals');
    const body = publisher.sent[0]!.message.body as { actuals: Actual[] };
    expect(body.actuals.map((a) => a.msdyn_actualid).sort()).toEqual([...stored.keys()].sort());
  });

  it('is idempotent for the same entry ids (same messages, nothing rewritten) and refuses changed values with 409', async () => {
    const fx = await contract();
    const entry = time(fx, '8');
    const first = new RecordingPublisher();
    const again = new RecordingPublisher();
    await approveEntries({ dataverse: dv, publisher: first }, { entries: [entry] });
    const before = await actualsOf(fx.contract);
    const result = await approveEntries({ dataverse: dv, publisher: again }, { entries: [entry] });
    expect(result.created).toBe(0);
    expect(again.sent.map((s) => s.message.messageId)).toEqual(first.sent.map((s) => s.message.messageId));
    expect((await actualsOf(fx.contract)).map((a) => a.etag).sort()).toEqual(before.map((a) => a.etag).sort());

    const changed = new RecordingPublisher();
    const error = await approveEntries({ dataverse: dv, publisher: changed }, { entries: [{ ...entry, quantity: '9' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusinessError);
    expect(statusOf(error)).toBe(409);
    expect((error as Error).message).toContain(entry.entryId!);
    expect(changed.sent).toHaveLength(0);
  });

  it('indexes each approved actual by its id with its contract, so an entry approved on another contract is found without a query across contracts', async () => {
    const fx = await contract();
    const other = await contract();
    const entry = time(fx, '8');
    await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [entry] });
    for (const kind of ['cost', 'unbilled'] as const) {
      const id = approvalActualId(entry.entryId!, kind);
      expect(await dv.approvalIndex.get(approvalIndexBucket(id), id)).toMatchObject({ ActualId: id, ContractId: fx.contract });
    }
    // Looked up by key only: a query of dvActuals without the contract would be a table scan.
    const query = vi.spyOn(dv.actuals, 'query');
    const publisher = new RecordingPublisher();
    const fresh = time(other, '1');
    const error = await approveEntries({ dataverse: dv, publisher }, { entries: [fresh, { ...entry, contractLineId: other.tm }] }).catch((e: unknown) => e);
    query.mockRestore();
    expect(query).not.toHaveBeenCalled();
    expect(statusOf(error)).toBe(409);
    expect((error as Error).message).toContain(entry.entryId!);
    // Nothing of the refused request stays: no actual, no index row, no message.
    expect(await actualsOf(other.contract)).toHaveLength(0);
    const freshCost = approvalActualId(fresh.entryId!, 'cost');
    expect(await dv.approvalIndex.get(approvalIndexBucket(freshCost), freshCost)).toBeUndefined();
    expect(publisher.sent).toHaveLength(0);
    // The refused entry can be approved afterwards, on its own.
    await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [fresh] });
    expect(await actualsOf(other.contract)).toHaveLength(2);
  });

  it('lets at most one of two approvals of one entry on two contracts at the same moment through, and the entry ends on one contract', async () => {
    for (let round = 0; round < 5; round++) {
      const a = await contract();
      const b = await contract();
      const entry = time(a, '3');
      const outcomes = await Promise.allSettled([
        approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [entry] }),
        approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [{ ...entry, contractLineId: b.tm }] }),
      ]);
      // Its cost and unbilled rows may sit in two index partitions, so each request can win one
      // and both be refused (nothing written; sending again decides). Never may both pass.
      const passed = outcomes.filter((o) => o.status === 'fulfilled').length;
      expect(passed).toBeLessThanOrEqual(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(statusOf(o.reason)).toBe(409);
      const held = () => Promise.all([actualsOf(a.contract), actualsOf(b.contract)]).then((lists) => lists.map((l) => l.length));
      expect(await held()).toEqual(passed === 0 ? [0, 0] : outcomes[0]!.status === 'fulfilled' ? [2, 0] : [0, 2]);
      // Sent again on its own contract: approved there, unless the other contract holds it.
      const again = await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [entry] }).catch((e: unknown) => e);
      const counts = await held();
      if (counts[1] === 2) expect(statusOf(again)).toBe(409);
      else expect(counts).toEqual([2, 0]);
    }
  });

  it('finishes an approval that stopped after its index rows, and lets another contract take rows over only once they are stale', async () => {
    const fx = await contract();
    const other = await contract();
    const entry = time(fx, '2');
    const ids = [approvalActualId(entry.entryId!, 'cost'), approvalActualId(entry.entryId!, 'unbilled')];
    const leftBehind = (contractId: string, at: Date) =>
      dv.approvalIndex.createManyIfAbsent(ids.map((id) => ({ Bucket: approvalIndexBucket(id), ActualId: id, ContractId: contractId, IndexedOn: at.toISOString() })));
    // Rows written a moment ago, by an approval on `fx` that stopped before its actuals.
    await leftBehind(fx.contract, new Date());
    // The same approval again: it writes its actuals.
    await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [entry] });
    expect((await actualsOf(fx.contract)).map((a) => a.msdyn_actualid).sort()).toEqual([...ids].sort());

    // Rows of an approval on `fx` that never wrote its actuals: young, they hold; stale, they go.
    const second = time(fx, '4');
    const secondIds = [approvalActualId(second.entryId!, 'cost'), approvalActualId(second.entryId!, 'unbilled')];
    await dv.approvalIndex.createManyIfAbsent(secondIds.map((id) => ({ Bucket: approvalIndexBucket(id), ActualId: id, ContractId: fx.contract, IndexedOn: '2026-11-30T10:00:00.000Z' })));
    const onOther = { ...second, contractLineId: other.tm };
    const young = await approveEntries({ dataverse: dv, publisher: new RecordingPublisher(), now: () => new Date('2026-11-30T10:04:00.000Z') }, { entries: [onOther] }).catch((e: unknown) => e);
    expect(statusOf(young)).toBe(409);
    expect((young as Error).message).toContain(`being approved on contract ${fx.contract}`);
    await approveEntries({ dataverse: dv, publisher: new RecordingPublisher(), now: () => new Date('2026-11-30T10:06:00.000Z') }, { entries: [onOther] });
    expect((await actualsOf(other.contract)).map((a) => a.msdyn_actualid).sort()).toEqual([...secondIds].sort());
    for (const id of secondIds) expect(await dv.approvalIndex.get(approvalIndexBucket(id), id)).toMatchObject({ ContractId: other.contract });
  });

  it('lets only one of two approvals on two other contracts take over the same stale rows', async () => {
    const stale = await contract();
    const b = await contract();
    const c = await contract();
    const entry = time(stale, '2');
    const ids = [approvalActualId(entry.entryId!, 'cost'), approvalActualId(entry.entryId!, 'unbilled')];
    await dv.approvalIndex.createManyIfAbsent(ids.map((id) => ({ Bucket: approvalIndexBucket(id), ActualId: id, ContractId: stale.contract, IndexedOn: '2026-11-30T10:00:00.000Z' })));
    const later = () => new Date('2026-11-30T11:00:00.000Z');
    const outcomes = await Promise.allSettled([
      approveEntries({ dataverse: dv, publisher: new RecordingPublisher(), now: later }, { entries: [{ ...entry, contractLineId: b.tm }] }),
      approveEntries({ dataverse: dv, publisher: new RecordingPublisher(), now: later }, { entries: [{ ...entry, contractLineId: c.tm }] }),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(statusOf(outcomes.find((o) => o.status === 'rejected')?.reason)).toBe(409);
    const held = [(await actualsOf(b.contract)).length, (await actualsOf(c.contract)).length].sort();
    expect(held).toEqual([0, 2]);
  });

  it('writes the index rows again after its actuals when it went on over rows another request created and then took back', async () => {
    const fx = await contract();
    const entry = time(fx, '2');
    const ids = [approvalActualId(entry.entryId!, 'cost'), approvalActualId(entry.entryId!, 'unbilled')];
    // Rows of a request that is being refused at this moment (its other entry conflicts).
    await dv.approvalIndex.createManyIfAbsent(ids.map((id) => ({ Bucket: approvalIndexBucket(id), ActualId: id, ContractId: fx.contract, IndexedOn: new Date().toISOString() })));
    const keys = ids.map((id) => ({ partitionKey: approvalIndexBucket(id), rowKey: id }));
    // That request takes its rows back while this one writes the actuals.
    const store = {
      contractLinesByIds: (lineIds: readonly string[]) => dv.contractLinesByIds(lineIds),
      actualsByIds: (actualIds: readonly string[], contractId: string) => dv.actualsByIds(actualIds, contractId),
      contracts: dv.contracts,
      approvalIndex: dv.approvalIndex,
      actuals: {
        createManyIfAbsent: async (rows: readonly Actual[]) => {
          await dv.approvalIndex.deleteMany(keys);
          return dv.actuals.createManyIfAbsent(rows);
        },
      },
    };
    await approveEntries({ dataverse: store, publisher: new RecordingPublisher() }, { entries: [entry] });
    for (const id of ids) expect(await dv.approvalIndex.get(approvalIndexBucket(id), id)).toMatchObject({ ContractId: fx.contract });
  });

  it('refuses an entry found only when its actuals are written (stored before the index, with other values), after approving and publishing the rest', async () => {
    const fx = await contract();
    const old = time(fx, '5');
    await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [old] });
    // As before the index existed: the actuals are stored, their index rows are not.
    for (const kind of ['cost', 'unbilled'] as const) {
      const id = approvalActualId(old.entryId!, kind);
      await dv.approvalIndex.deleteMany([{ partitionKey: approvalIndexBucket(id), rowKey: id }]);
    }
    const fresh = time(fx, '1');
    const publisher = new RecordingPublisher();
    const error = await approveEntries({ dataverse: dv, publisher }, { entries: [{ ...old, quantity: '6' }, fresh] }).catch((e: unknown) => e);
    expect(statusOf(error)).toBe(409);
    expect((error as Error).message).toContain(old.entryId!);
    const stored = new Map((await actualsOf(fx.contract)).map((a) => [a.msdyn_actualid, a]));
    expect(stored.get(approvalActualId(old.entryId!, 'cost'))?.msdyn_quantity).toBe('5');
    expect(stored.has(approvalActualId(fresh.entryId!, 'unbilled'))).toBe(true);
    const published = publisher.sent.flatMap((s) => (s.message.body as { actuals: Actual[] }).actuals.map((a) => a.msdyn_actualid));
    expect(published.sort()).toEqual([approvalActualId(fresh.entryId!, 'cost'), approvalActualId(fresh.entryId!, 'unbilled')].sort());
  });

  it('indexes the actuals stored before the index existed (npm run index-approvals), once, so their entries are found again', async () => {
    const fx = await contract();
    const other = await contract();
    const entry = time(fx, '7');
    await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [entry] });
    const ids = [approvalActualId(entry.entryId!, 'cost'), approvalActualId(entry.entryId!, 'unbilled')];
    await dv.approvalIndex.deleteMany(ids.map((id) => ({ partitionKey: approvalIndexBucket(id), rowKey: id })));
    const pages: number[] = [];
    const first = await dv.indexStoredActuals(({ listed }) => pages.push(listed));
    expect(first.created).toBeGreaterThanOrEqual(2);
    expect(pages.at(-1)).toBe(first.listed);
    for (const id of ids) expect(await dv.approvalIndex.get(approvalIndexBucket(id), id)).toMatchObject({ ContractId: fx.contract });
    expect((await dv.indexStoredActuals()).created).toBe(0);
    const error = await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [{ ...entry, contractLineId: other.tm }] }).catch((e: unknown) => e);
    expect(statusOf(error)).toBe(409);
    expect(await actualsOf(other.contract)).toHaveLength(0);
  });

  it('refuses an unknown contract line (404) and a repeated entry id (400) without writing or publishing anything', async () => {
    const fx = await contract();
    const publisher = new RecordingPublisher();
    const unknown = randomUUID();
    const error = await approveEntries({ dataverse: dv, publisher }, { entries: [time(fx, '1'), { ...time(fx, '2'), contractLineId: unknown }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toContain(unknown);
    const dup = time(fx, '1');
    await expect(approveEntries({ dataverse: dv, publisher }, { entries: [dup, dup] })).rejects.toBeInstanceOf(ValidationError);
    expect(await actualsOf(fx.contract)).toHaveLength(0);
    expect(publisher.sent).toHaveLength(0);
  });

  it('publishes at most 100 actuals per message', async () => {
    const fx = await contract();
    const publisher = new RecordingPublisher();
    await approveEntries({ dataverse: dv, publisher }, { entries: Array.from({ length: 60 }, () => time(fx, '1')) });
    const sizes = publisher.sent.map((s) => (s.message.body as { actuals: unknown[] }).actuals.length);
    expect(sizes).toEqual([100, 20]);
    expect(new Set(publisher.sent.map((s) => s.message.messageId)).size).toBe(2);
  });
});

describe('backlog (ready to invoice)', () => {
  it('marks actuals and milestones ready and back, leaving ones already in the asked state alone', async () => {
    const fx = await contract();
    const result = await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [time(fx, '8'), time(fx, '2')] });
    const ids = result.entries.map((e) => e.unbilledActualId!);
    const ready = await setReadyToInvoice({ dataverse: dv }, { actualIds: ids, milestoneIds: [fx.golive], ready: true });
    expect(ready.actuals.every((a) => a.changed && a.billingStatus === BillingStatus.ReadyToInvoice)).toBe(true);
    expect((await dv.milestones.get(fx.contract, fx.golive))?.msdyn_invoicestatus).toBe(MilestoneStatus.Ready);

    const back = await setReadyToInvoice({ dataverse: dv }, { actualIds: [ids[0]!, ids[0]!], ready: false });
    expect(back.actuals).toHaveLength(1);
    expect((await dv.actuals.get(fx.contract, ids[0]!))?.msdyn_billingstatus).toBe(BillingStatus.UnbilledSalesCreated);
    expect((await dv.actuals.get(fx.contract, ids[1]!))?.msdyn_billingstatus).toBe(BillingStatus.ReadyToInvoice);
    const again = await setReadyToInvoice({ dataverse: dv }, { actualIds: [ids[1]!], ready: true });
    expect(again.actuals[0]!.changed).toBe(false);
  });

  it('refuses Adjusted, Unadjustable and cost actuals with 409 naming them, and writes nothing', async () => {
    const fx = await contract();
    const result = await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [time(fx, '8'), time(fx, '3')] });
    const [good, other] = result.entries.map((e) => e.unbilledActualId!);
    const adjusted = (await dv.actuals.get(fx.contract, other!))!;
    const { etag: _etag, ...plainAdjusted } = adjusted;
    await dv.actuals.upsert({ ...plainAdjusted, msdyn_adjustmentstatus: AdjustmentStatus.Adjusted });
    const unadjustable: Actual = { ...plainAdjusted, msdyn_actualid: randomUUID(), msdyn_adjustmentstatus: AdjustmentStatus.Unadjustable, msdyn_quantity: '-3', msdyn_amount: '-450.00' };
    await dv.actuals.createIfAbsent(unadjustable);
    const before = (await actualsOf(fx.contract)).map((a) => `${a.msdyn_actualid}:${a.etag}`).sort();

    const error = (await setReadyToInvoice({ dataverse: dv }, { actualIds: [good!, other!, unadjustable.msdyn_actualid, result.entries[0]!.costActualId], ready: true }).catch((e: unknown) => e)) as BusinessError;
    expect(error).toBeInstanceOf(BusinessError);
    expect(statusOf(error)).toBe(409);
    expect(error.message).toContain(`actual ${other} is Adjusted`);
    expect(error.message).toContain(`actual ${unadjustable.msdyn_actualid} is Unadjustable`);
    expect(error.message).toContain('not an unbilled sales actual');
    expect((await actualsOf(fx.contract)).map((a) => `${a.msdyn_actualid}:${a.etag}`).sort()).toEqual(before);

    const missing = randomUUID();
    const notFound = (await setReadyToInvoice({ dataverse: dv }, { actualIds: [good!, missing], ready: true }).catch((e: unknown) => e)) as NotFoundError;
    expect(notFound).toBeInstanceOf(NotFoundError);
    expect(notFound.message).toContain(missing);
    expect((await dv.actuals.get(fx.contract, good!))?.msdyn_billingstatus).toBe(BillingStatus.UnbilledSalesCreated);
  });
});

describe('proforma invoices', () => {
  it('creates a draft from every ready actual and milestone: one line per contract line, one ILD per transaction, statuses moved', async () => {
    const fx = await contract();
    const [a1, a2] = await approveReady(fx, [time(fx, '8'), { ...time(fx, '1', '245.50'), classification: 'Expense' }]);
    await approveEntries({ dataverse: dv, publisher: new RecordingPublisher() }, { entries: [time(fx, '5')] }); // not ready: stays out
    const view = await createProformaInvoice({ dataverse: dv, numbers, now: () => new Date('2026-11-20T10:00:00Z') }, fx.contract, { taxPercent: '19' });

    expect(view.invoice).toMatchObject({
      msdyn_projectinvoicestatus: InvoiceStatus.Draft,
      msdyn_invoicedate: '2026-11-20',
      customerid: fx.account,
      transactioncurrencyid: 'EUR',
      totalamount: '3945.50',
      totaltax: '749.65',
    });
    expect(view.invoice.invoicenumber).toMatch(/^PI-\d{6}$/);
    expect(view.lines).toHaveLength(2);
    expect(view.lines.find((l) => l.salesorderdetailid === fx.tm)).toMatchObject({ msdyn_billingmethod: BillingMethod.TimeAndMaterial, extendedamount: '1445.50', tax: '274.65' });
    expect(view.lines.find((l) => l.salesorderdetailid === fx.fp)).toMatchObject({ msdyn_billingmethod: BillingMethod.FixedPrice, extendedamount: '2500.00', tax: '475.00' });
    expect(view.details).toHaveLength(3);
    const milestoneDetail = view.details.find((d) => d.msdyn_milestone === fx.kickoff)!;
    expect(milestoneDetail).toMatchObject({ msdyn_transactionclassification: TransactionClass.Milestone, msdyn_quantity: '1', msdyn_amount: '2500.00' });
    expect(view.details.find((d) => d.msdyn_sourceactual === a1)).toMatchObject({ msdyn_quantity: '8', msdyn_price: '150.00', msdyn_amount: '1200.00', msdyn_tax: '228.00' });

    expect((await dv.actuals.get(fx.contract, a1!))?.msdyn_billingstatus).toBe(BillingStatus.CustomerInvoiceCreated);
    expect((await dv.actuals.get(fx.contract, a2!))?.msdyn_billingstatus).toBe(BillingStatus.CustomerInvoiceCreated);
    expect((await dv.milestones.get(fx.contract, fx.kickoff))?.msdyn_invoicestatus).toBe(MilestoneStatus.CustomerInvoiceCreated);

    const again = (await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, {}).catch((e: unknown) => e)) as BusinessError;
    expect(again).toBeInstanceOf(BusinessError);
    expect(statusOf(again)).toBe(409);
    expect(again.message).toContain('nothing ready to invoice');
    expect(await dv.invoices.query(odata`salesorderid eq ${fx.contract}`)).toHaveLength(1);
  });

  it('gives every invoice its own number, and a create interrupted before its claims is finished by the next request', async () => {
    const fx = await contract();
    const [a1, a2] = await approveReady(fx, [time(fx, '8'), time(fx, '4')]);
    const first = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, {});
    // Simulate a crash after the header was written but before the claims: the actuals are still Ready.
    for (const id of [a1!, a2!]) {
      const row = (await dv.actuals.get(fx.contract, id))!;
      const { etag: _e, ...rest } = row;
      await dv.actuals.upsert({ ...rest, msdyn_billingstatus: BillingStatus.ReadyToInvoice });
    }
    const resumed = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, {});
    expect(resumed.invoice.invoiceid).toBe(first.invoice.invoiceid);
    expect(resumed.invoice.invoicenumber).toBe(first.invoice.invoicenumber);
    expect((await dv.actuals.get(fx.contract, a1!))?.msdyn_billingstatus).toBe(BillingStatus.CustomerInvoiceCreated);
    expect(await dv.invoices.query(odata`salesorderid eq ${fx.contract}`)).toHaveLength(1);

    const fx2 = await contract();
    await approveReady(fx2, [time(fx2, '1')]);
    const other = await createProformaInvoice({ dataverse: dv, numbers }, fx2.contract, {});
    expect(other.invoice.invoicenumber).not.toBe(first.invoice.invoicenumber);
  });

  it('edits an ILD: quantity, price, billing type; amounts, tax and totals recomputed; class and milestones protected', async () => {
    const fx = await contract();
    const [a1] = await approveReady(fx, [time(fx, '8'), time(fx, '2')]);
    const view = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, { taxPercent: '19' });
    const ild = view.details.find((d) => d.msdyn_sourceactual === a1)!;
    const id = ild.msdyn_invoicelinetransactionid;

    const edited = await updateInvoiceLineDetail({ dataverse: dv }, view.invoice.invoiceid, id, { msdyn_quantity: '6', msdyn_price: '140.00' });
    expect(edited.detail).toMatchObject({ msdyn_quantity: '6', msdyn_price: '140.00', msdyn_amount: '840.00', msdyn_tax: '159.60' });
    expect(edited.invoice).toMatchObject({ totalamount: '3640.00', totaltax: '691.60' });
    expect(edited.lines.find((l) => l.salesorderdetailid === fx.tm)).toMatchObject({ extendedamount: '1140.00', tax: '216.60' });

    const nonChargeable = await updateInvoiceLineDetail({ dataverse: dv }, view.invoice.invoiceid, id, { msdyn_billingtype: BillingType.NonChargeable });
    expect(nonChargeable.detail).toMatchObject({ msdyn_amount: '0.00', msdyn_tax: '0.00' });
    const taxed = await updateInvoiceLineDetail({ dataverse: dv }, view.invoice.invoiceid, id, { msdyn_billingtype: BillingType.Chargeable, taxPercent: '7' });
    expect(taxed.detail).toMatchObject({ msdyn_amount: '840.00', msdyn_tax: '58.80' });

    const before = (await dv.invoiceLineDetails.get(view.invoice.invoiceid, id))!;
    const classChange = (await updateInvoiceLineDetail({ dataverse: dv }, view.invoice.invoiceid, id, { msdyn_transactionclassification: TransactionClass.Expense }).catch((e: unknown) => e)) as BusinessError;
    expect(statusOf(classChange)).toBe(409);
    expect(classChange.message).toContain('can never be changed');
    const milestone = view.details.find((d) => d.msdyn_milestone === fx.kickoff)!;
    const milestoneEdit = (await updateInvoiceLineDetail({ dataverse: dv }, view.invoice.invoiceid, milestone.msdyn_invoicelinetransactionid, { msdyn_price: '100.00' }).catch((e: unknown) => e)) as BusinessError;
    expect(statusOf(milestoneEdit)).toBe(409);
    expect(milestoneEdit.message).toContain('invoiced in full');
    expect((await dv.invoiceLineDetails.get(view.invoice.invoiceid, id))!.etag).toBe(before.etag);

    const missing = randomUUID();
    await expect(updateInvoiceLineDetail({ dataverse: dv }, view.invoice.invoiceid, missing, { msdyn_quantity: '1' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('keeps the tax rate when only the amount changes', () => {
    expect(rescaledTax('228.00', '1200.00', '900.00')).toBe('171.00');
    expect(rescaledTax('23.46', '123.45', '246.90')).toBe('46.91');
    expect(rescaledTax('0.00', '100.00', '50.00')).toBe('0.00');
  });

  it('deletes ILDs back to the backlog, adds manual ILDs, and refuses any change once the invoice is confirmed', async () => {
    const fx = await contract();
    const [a1] = await approveReady(fx, [time(fx, '8')]);
    const view = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, {});
    const inv = view.invoice.invoiceid;

    const ild = view.details.find((d) => d.msdyn_sourceactual === a1)!;
    const afterDelete = await deleteInvoiceLineDetail({ dataverse: dv }, inv, ild.msdyn_invoicelinetransactionid);
    expect(afterDelete.details).toHaveLength(1);
    expect(afterDelete.invoice.totalamount).toBe('2500.00');
    expect((await dv.actuals.get(fx.contract, a1!))?.msdyn_billingstatus).toBe(BillingStatus.ReadyToInvoice);
    const milestoneIld = view.details.find((d) => d.msdyn_milestone === fx.kickoff)!;
    const empty = await deleteInvoiceLineDetail({ dataverse: dv }, inv, milestoneIld.msdyn_invoicelinetransactionid);
    expect(empty.invoice.totalamount).toBe('0.00');
    expect((await dv.milestones.get(fx.contract, fx.kickoff))?.msdyn_invoicestatus).toBe(MilestoneStatus.Ready);

    const manualId = randomUUID();
    const manual = { msdyn_invoicelinetransactionid: manualId, msdyn_salescontractlineid: fx.fp, msdyn_transactionclassification: TransactionClass.Fee, msdyn_quantity: '1', msdyn_price: '350.00', msdyn_tax: '66.50' } as const;
    const added = await addInvoiceLineDetail({ dataverse: dv }, inv, manual);
    expect(added.created).toBe(true);
    expect(added.detail).toMatchObject({ msdyn_amount: '350.00', msdyn_tax: '66.50', msdyn_billingtype: BillingType.Chargeable, msdyn_documentdate: view.invoice.msdyn_invoicedate });
    expect(added.invoice).toMatchObject({ totalamount: '350.00', totaltax: '66.50' });
    expect((await addInvoiceLineDetail({ dataverse: dv }, inv, manual)).created).toBe(false);
    await expect(addInvoiceLineDetail({ dataverse: dv }, inv, { ...manual, msdyn_quantity: '2' })).rejects.toThrow(/already exists/);
    await expect(addInvoiceLineDetail({ dataverse: dv }, inv, { ...manual, msdyn_invoicelinetransactionid: randomUUID(), msdyn_salescontractlineid: randomUUID() })).rejects.toBeInstanceOf(NotFoundError);

    const stored = (await dv.invoices.get(inv, inv))!;
    const { etag: _e, ...rest } = stored;
    await dv.invoices.upsert({ ...rest, msdyn_projectinvoicestatus: InvoiceStatus.Confirmed });
    for (const attempt of [
      () => updateInvoiceLineDetail({ dataverse: dv }, inv, manualId, { msdyn_quantity: '2' }),
      () => deleteInvoiceLineDetail({ dataverse: dv }, inv, manualId),
      () => addInvoiceLineDetail({ dataverse: dv }, inv, { ...manual, msdyn_invoicelinetransactionid: randomUUID() }),
    ]) {
      const error = (await attempt().catch((e: unknown) => e)) as BusinessError;
      expect(error).toBeInstanceOf(BusinessError);
      expect(statusOf(error)).toBe(409);
      expect(error.message).toContain('Confirmed');
    }
    expect(await dv.invoiceLineDetails.listPartition(inv)).toHaveLength(1);
  });
});

describe('confirmation request', () => {
  it('sends one message with a deterministic id per unchanged invoice, refuses what the confirmation would refuse, and does nothing once confirmed', async () => {
    const fx = await contract();
    const [a1] = await approveReady(fx, [time(fx, '8')]);
    const view = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, {});
    const inv = view.invoice.invoiceid;
    const publisher = new RecordingPublisher();
    const now = () => new Date('2026-11-21T09:30:00Z');

    const queued = await requestInvoiceConfirmation({ dataverse: dv, publisher, now }, inv, { confirmedBy: 'pm@contoso' });
    expect(queued.status).toBe('Queued');
    await requestInvoiceConfirmation({ dataverse: dv, publisher, now }, inv, {});
    expect(publisher.sent).toHaveLength(2);
    expect(publisher.sent[0]!.queue).toBe('invoice-confirmations');
    expect(publisher.sent[0]!.message.body).toEqual({ invoiceId: inv, confirmedOn: '2026-11-21T09:30:00.000Z', confirmedBy: 'pm@contoso' });
    expect(publisher.sent[1]!.message.messageId).toBe(publisher.sent[0]!.message.messageId);

    // Once requested, the invoice takes no edit: the confirmation will confirm it as it stands.
    const ild = view.details.find((d) => d.msdyn_sourceactual === a1)!;
    const fenced = await updateInvoiceLineDetail({ dataverse: dv }, inv, ild.msdyn_invoicelinetransactionid, { msdyn_quantity: '7' }).catch((e: unknown) => e);
    expect(statusOf(fenced)).toBe(409);
    expect(String(fenced)).toContain('confirmation was requested');
    expect((await dv.invoiceLineDetails.get(inv, ild.msdyn_invoicelinetransactionid))?.msdyn_quantity).toBe('8');

    // A detail the confirmation would refuse: refused, nothing sent, and the fence is lifted so the
    // invoice can be corrected; asked again later, it is a new message.
    const stored = (await dv.invoiceLineDetails.get(inv, ild.msdyn_invoicelinetransactionid))!;
    const { etag: _e, ...rest } = stored;
    await dv.invoiceLineDetails.upsert({ ...rest, msdyn_billingtype: BillingType.NotAvailable });
    const refused = (await requestInvoiceConfirmation({ dataverse: dv, publisher, now }, inv, {}).catch((e: unknown) => e)) as BusinessError;
    expect(statusOf(refused)).toBe(409);
    expect(refused.message).toContain('Not Available');
    expect(publisher.sent).toHaveLength(2);
    expect((await dv.invoices.get(inv, inv))?.pi_confirmationrequestedon).toBeUndefined();
    await updateInvoiceLineDetail({ dataverse: dv }, inv, ild.msdyn_invoicelinetransactionid, { msdyn_billingtype: BillingType.Chargeable, msdyn_quantity: '7' });
    await requestInvoiceConfirmation({ dataverse: dv, publisher, now: () => new Date('2026-11-21T10:00:00Z') }, inv, {});
    expect(publisher.sent).toHaveLength(3);
    expect(publisher.sent[2]!.message.messageId).not.toBe(publisher.sent[0]!.message.messageId);

    // Confirmed: nothing to send. Posted or Paid: refused, as the confirmation itself refuses them.
    const header = (await dv.invoices.get(inv, inv))!;
    const { etag: _h, ...h } = header;
    await dv.invoices.upsert({ ...h, msdyn_projectinvoicestatus: InvoiceStatus.Confirmed });
    expect((await requestInvoiceConfirmation({ dataverse: dv, publisher, now }, inv, {})).status).toBe('AlreadyConfirmed');
    for (const status of [InvoiceStatus.Posted, InvoiceStatus.Paid]) {
      await dv.invoices.upsert({ ...h, msdyn_projectinvoicestatus: status });
      const posted = await requestInvoiceConfirmation({ dataverse: dv, publisher, now }, inv, {}).catch((e: unknown) => e);
      expect(statusOf(posted)).toBe(409);
      expect(String(posted)).toContain('only a Draft or In Review invoice can be confirmed');
    }
    expect(publisher.sent).toHaveLength(3);
    await expect(requestInvoiceConfirmation({ dataverse: dv, publisher, now }, randomUUID(), {})).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('trace and reconciliation', () => {
  async function confirmedInvoice() {
    const fx = await contract();
    await approveReady(fx, [time(fx, '8'), time(fx, '2')]);
    const view = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, { taxPercent: '10' });
    const inv = view.invoice;
    await dv.invoices.upsert({ ...inv, msdyn_projectinvoicestatus: InvoiceStatus.Confirmed, msdyn_confirmedon: '2026-11-21T10:00:00.000Z' });
    // The billed actuals a confirmation would create (only what the trace reads).
    const billed: Actual[] = view.details.map((d) => ({
      msdyn_actualid: deterministicGuid(inv.invoiceid, d.msdyn_invoicelinetransactionid, 'billed'),
      msdyn_transactiontypecode: TransactionType.BilledSales,
      msdyn_transactionclassification: d.msdyn_transactionclassification,
      msdyn_billingtype: d.msdyn_billingtype,
      msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
      msdyn_quantity: d.msdyn_quantity,
      msdyn_price: d.msdyn_price,
      msdyn_amount: d.msdyn_amount,
      transactioncurrencyid: 'EUR',
      msdyn_documentdate: d.msdyn_documentdate,
      msdyn_accountingdate: inv.msdyn_invoicedate,
      msdyn_project: d.msdyn_project,
      msdyn_salescontract: fx.contract,
      msdyn_salescontractlineid: d.msdyn_salescontractlineid,
      msdyn_accountcustomer: fx.account,
      msdyn_invoice: inv.invoiceid,
      msdyn_skipsync: false,
      msdyn_salestaxamount: d.msdyn_tax,
    }));
    await dv.actuals.createManyIfAbsent(billed);
    return { fx, inv, billed };
  }

  it('shows a draft as not confirmed, and a confirmed invoice whose F&O side differs as a Mismatch naming the difference', async () => {
    const fx = await contract();
    await approveReady(fx, [time(fx, '8')]);
    const draft = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract, {});
    const draftTrace = await traceInvoice({ dataverse: dv, finance: fo, errorLog }, draft.invoice.invoiceid);
    expect(draftTrace.stage).toBe('invoice');
    expect(draftTrace.steps.find((s) => s.step === 'confirmed')?.state).toBe('pending');
    expect(draftTrace.reconciliation.status).toBe('NotConfirmed');

    const { inv, billed } = await confirmedInvoice();
    const [b1, b2, b3] = billed;
    await fo.proposals.upsert({
      ProposalId: inv.invoicenumber,
      InvoiceId: inv.invoiceid,
      ContractId: inv.salesorderid,
      CustomerAccount: 'C-1',
      CurrencyCode: 'EUR',
      InvoiceDate: inv.msdyn_invoicedate,
      ExpectedLineCount: 3,
      ExpectedAmount: inv.totalamount,
      ImportedLineCount: 2,
      ImportedAmount: '1499.00',
      Status: 'Open',
    });
    const lineOf = (a: Actual, amount: string) => ({
      ProposalId: inv.invoicenumber,
      LineId: a.msdyn_actualid,
      ActualId: a.msdyn_actualid,
      ProjectId: a.msdyn_project,
      ContractLineId: a.msdyn_salescontractlineid,
      TransType: 'Hour' as const,
      LineProperty: 'Chargeable' as const,
      Quantity: a.msdyn_quantity,
      SalesPrice: a.msdyn_price,
      LineAmount: amount,
      SalesTaxAmount: a.msdyn_salestaxamount!,
      CurrencyCode: 'EUR',
    });
    await fo.proposalLines.upsertMany([lineOf(b1!, b1!.msdyn_amount), lineOf(b2!, '299.00')]);
    const stagingOf = (a: Actual, status: 'Imported' | 'Waiting', message?: string) => ({
      ActualId: a.msdyn_actualid,
      TransType: 'BilledSales' as const,
      TransactionClassification: 'Time' as const,
      BillingType: 'Chargeable' as const,
      Quantity: a.msdyn_quantity,
      UnitPrice: a.msdyn_price,
      Amount: a.msdyn_amount,
      TransactionCurrencyId: 'EUR',
      AccountingDate: a.msdyn_accountingdate,
      DocumentDate: a.msdyn_documentdate,
      ContractId: a.msdyn_salescontract,
      ContractLineId: a.msdyn_salescontractlineid,
      ProjectId: a.msdyn_project,
      InvoiceId: inv.invoiceid,
      ImportStatus: status,
      ...(message ? { ImportMessage: message } : {}),
    });
    await fo.staging.upsertMany([stagingOf(b1!, 'Imported'), stagingOf(b2!, 'Imported'), stagingOf(b3!, 'Waiting', "Project transaction hasn't been posted yet")]);

    const trace = await traceInvoice({ dataverse: dv, finance: fo, errorLog }, inv.invoiceid);
    expect(trace.stage).toBe('actualsStaged');
    expect(trace.steps.find((s) => s.step === 'linesImported')).toMatchObject({ state: 'waiting' });
    expect(trace.steps.find((s) => s.step === 'linesImported')?.detail).toContain("hasn't been posted yet");
    expect(trace.staging.counts).toMatchObject({ Imported: 2, Waiting: 1 });
    const r = trace.reconciliation;
    expect(r.status).toBe('Mismatch');
    expect(r.differences).toEqual([{ actualId: b2!.msdyn_actualid, field: 'amount', dataverse: b2!.msdyn_amount, finance: '299.00' }]);
    expect(r.missingInFinance).toEqual([{ actualId: b3!.msdyn_actualid, amount: b3!.msdyn_amount, reason: "staging row Waiting: Project transaction hasn't been posted yet" }]);
    expect(r.problems.join(' ')).toContain('299.00');
  });

  it('reports an invoice whose every billed actual has its line as Matched, and lists open errors that name it', async () => {
    const { inv, billed } = await confirmedInvoice();
    await fo.proposals.upsert({
      ProposalId: inv.invoicenumber,
      InvoiceId: inv.invoiceid,
      ContractId: inv.salesorderid,
      CustomerAccount: 'C-1',
      CurrencyCode: 'EUR',
      InvoiceDate: inv.msdyn_invoicedate,
      ExpectedLineCount: billed.length,
      ExpectedAmount: inv.totalamount,
      ImportedLineCount: billed.length,
      ImportedAmount: inv.totalamount,
      Status: 'Open',
    });
    await fo.proposalLines.upsertMany(
      billed.map((a) => ({
        ProposalId: inv.invoicenumber,
        LineId: a.msdyn_actualid,
        ActualId: a.msdyn_actualid,
        ProjectId: a.msdyn_project,
        ContractLineId: a.msdyn_salescontractlineid,
        TransType: 'Hour' as const,
        LineProperty: 'Chargeable' as const,
        Quantity: a.msdyn_quantity,
        SalesPrice: a.msdyn_price,
        LineAmount: a.msdyn_amount,
        SalesTaxAmount: a.msdyn_salestaxamount!,
        CurrencyCode: 'EUR',
      })),
    );
    await errorLog.record({ source: 'syncInvoiceProposal', category: 'Business', message: 'something about this invoice', reference: inv.invoicenumber });
    const trace = await traceInvoice({ dataverse: dv, finance: fo, errorLog }, inv.invoiceid);
    expect(trace.reconciliation.status).toBe('Matched');
    expect(trace.reconciliation.rows.every((row) => row.state === 'Matched')).toBe(true);
    expect(trace.steps.find((s) => s.step === 'linesImported')?.state).toBe('done');
    expect(trace.steps.find((s) => s.step === 'posted')?.state).toBe('pending');
    expect(trace.errors.map((e) => e.Message)).toEqual(['something about this invoice']);
    await expect(traceInvoice({ dataverse: dv, finance: fo, errorLog }, randomUUID())).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('operations views', () => {
  it('lists errors by source and status, and counts invoices, ready actuals, staging rows and open errors', async () => {
    const source = `testSource${randomUUID().slice(0, 8)}`;
    await errorLog.record({ source, category: 'Validation', message: 'bad message 1' });
    await errorLog.record({ source, category: 'Business', message: 'bad message 2' });
    const listed = await listErrors({ errorLog }, { source, status: 'Open' });
    expect(listed.count).toBe(2);
    expect(listed.errors.map((e) => e.Message).sort()).toEqual(['bad message 1', 'bad message 2']);
    expect((await listErrors({ errorLog }, { source, status: 'Resolved' })).count).toBe(0);

    const board = await dashboard({ dataverse: dv, finance: fo, errorLog });
    expect(board.errors.bySource[source]).toBe(2);
    expect(board.errors.open).toBeGreaterThanOrEqual(2);
    const draftCount = (await dv.invoices.query()).filter((i) => i.msdyn_projectinvoicestatus === InvoiceStatus.Draft).length;
    expect(board.invoices.Draft).toBe(draftCount);
    const readyCount = (await dv.actuals.query(odata`msdyn_billingstatus eq ${BillingStatus.ReadyToInvoice}`)).length;
    expect(board.backlog.readyActuals).toBe(readyCount);
    expect(board.staging.Waiting).toBe((await fo.staging.query(odata`ImportStatus eq ${'Waiting'}`)).length);
  });
});
