/**
 * Issue 14's races on the Dataverse side, on a real Azurite: a new invoice never reuses an
 * invoice id, an item is never on two editable invoices, edits never reach an invoice whose
 * confirmation started, and rows written with the contract's columns alone read back whole.
 */
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirmProformaInvoice, ConfirmationStep } from '../../../shared/bridge/confirmProformaInvoice';
import { MalformedRowError } from '../../../shared/storage/tableStore';
import { TableStore } from '../../../shared/storage/tableStore';
import { BillingStatus, InvoiceStatus, MilestoneStatus, TransactionClass, TransactionType } from '../../../shared/core/options';
import { DataverseStore } from '../../../shared/dataverse/dataverseStore';
import { setReadyToInvoice } from '../../../shared/dataverse/backlog';
import { createProformaInvoice, requestedInvoiceId } from '../../../shared/dataverse/invoices/createInvoice';
import { addInvoiceLineDetail, deleteInvoiceLineDetail, updateInvoiceLineDetail } from '../../../shared/dataverse/invoices/editInvoice';
import { sequenceInvoiceNumbers, type InvoiceNumbers } from '../../../shared/dataverse/invoices/numbers';
import { requestInvoiceConfirmation } from '../../../shared/dataverse/invoices/requestConfirmation';
import { confirmationActualId } from '../../../shared/dataverse/rules/confirmation/plan';
import { TableSequenceStore } from '../../../shared/storage/sequences';
import { statusOf } from '../../../shared/triggers/http';
import { startAzurite, type LocalAzurite } from '../../../tools/azurite';
import { seedActuals, seedContract, seedMilestones, type ContractFixture } from '../../kit/fixtures/dataverse';
import { RecordingPublisher } from '../../kit/publisher';

let azurite: LocalAzurite;
let dv: DataverseStore;
let numbers: InvoiceNumbers;

beforeAll(async () => {
  azurite = await startAzurite();
  dv = new DataverseStore(azurite.connectionString);
  numbers = sequenceInvoiceNumbers(new TableSequenceStore(azurite.connectionString));
});
afterAll(async () => {
  await azurite?.stop();
});

async function contractWithReady(count: number, key?: string): Promise<{ fx: ContractFixture; ids: string[] }> {
  const fx = await seedContract(dv, key === undefined ? {} : { key });
  const actuals = await seedActuals(dv, fx, Array.from({ length: count }, () => ({ quantity: '2', price: '100.00' })));
  return { fx, ids: actuals.map((a) => a.msdyn_actualid) };
}

/** Every item named by ILDs of the contract's editable invoices, with the invoices naming it. */
async function itemsOnEditableInvoices(contractId: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const inv of await dv.invoicesOfContract(contractId)) {
    if (inv.msdyn_projectinvoicestatus !== InvoiceStatus.Draft && inv.msdyn_projectinvoicestatus !== InvoiceStatus.InReview) continue;
    for (const d of await dv.invoiceLineDetails.listPartition(inv.invoiceid)) {
      const item = d.msdyn_sourceactual ?? d.msdyn_milestone;
      if (item) out.set(item, [...(out.get(item) ?? []), inv.invoiceid]);
    }
  }
  return out;
}

const confirm = (invoiceId: string, afterStep?: (s: string) => void) =>
  confirmProformaInvoice({ dataverse: dv, publisher: new RecordingPublisher(), ...(afterStep ? { afterStep } : {}) }, { invoiceId, confirmedOn: '2026-11-30T12:00:00.000Z' });

describe('a new invoice never reuses an invoice id (issue 14, item 1)', () => {
  it('the reported case: after A left the first invoice and it was confirmed with a fee, a new request makes a new draft with A', async () => {
    const { fx, ids } = await contractWithReady(1);
    const [a] = ids;
    const first = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract.salesorderid, {});
    const aDetail = first.details.find((d) => d.msdyn_sourceactual === a)!;
    await deleteInvoiceLineDetail({ dataverse: dv }, first.invoice.invoiceid, aDetail.msdyn_invoicelinetransactionid);
    expect((await dv.actuals.get(fx.contract.salesorderid, a!))?.msdyn_billingstatus).toBe(BillingStatus.ReadyToInvoice);
    await addInvoiceLineDetail({ dataverse: dv }, first.invoice.invoiceid, {
      msdyn_salescontractlineid: fx.tmLine!.salesorderdetailid,
      msdyn_transactionclassification: TransactionClass.Fee,
      msdyn_quantity: '1',
      msdyn_price: '50.00',
    });
    await confirm(first.invoice.invoiceid);
    const confirmed = (await dv.loadInvoice(first.invoice.invoiceid))!;
    expect(confirmed.invoice.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);

    const second = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract.salesorderid, {});
    expect(second.invoice.invoiceid).not.toBe(first.invoice.invoiceid);
    expect(second.invoice.invoicenumber).not.toBe(first.invoice.invoicenumber);
    expect(second.details.map((d) => d.msdyn_sourceactual)).toEqual([a]);
    // The confirmed invoice is untouched: one fee detail, totals equal to it.
    const after = (await dv.loadInvoice(first.invoice.invoiceid))!;
    expect(after.details).toHaveLength(1);
    expect(after.invoice.totalamount).toBe('50.00');
    expect((await dv.actuals.get(fx.contract.salesorderid, a!))?.msdyn_billingstatus).toBe(BillingStatus.CustomerInvoiceCreated);
  });

  it('the same request sent again (same idempotency key) answers the same invoice; another key makes another one', async () => {
    const { fx } = await contractWithReady(2);
    const contractId = fx.contract.salesorderid;
    const id = requestedInvoiceId(contractId, 'click-1');
    expect(requestedInvoiceId(contractId, 'click-1')).toBe(id);
    const first = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {}, id);
    const again = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {}, id);
    expect(again.invoice).toEqual(first.invoice);
    await expect(createProformaInvoice({ dataverse: dv, numbers }, contractId, {}, requestedInvoiceId(contractId, 'click-2'))).rejects.toThrow(/nothing ready to invoice/);
  });
});

describe('claims are exclusive (issue 14, item 3)', () => {
  it('a create that read the backlog before another create claimed the same actual does not put it on a second draft', async () => {
    const { fx, ids } = await contractWithReady(1);
    const contractId = fx.contract.salesorderid;
    const [a] = ids;
    // Request X reads the backlog {A}, then stalls; meanwhile B is marked ready and request Y puts A and B on its draft.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const stalled = new Promise<void>((r) => (reached = r));
    const slow = Object.create(dv, {
      readyBacklog: {
        value: async (id: string) => {
          const backlog = await dv.readyBacklog(id);
          reached();
          await gate;
          return backlog;
        },
      },
    }) as DataverseStore;
    const x = createProformaInvoice({ dataverse: slow, numbers }, contractId, {}).catch((e: unknown) => e);
    await stalled;
    const [b] = await seedActuals(dv, fx, [{ quantity: '1', price: '10.00', billingStatus: BillingStatus.UnbilledSalesCreated }], 50);
    await setReadyToInvoice({ dataverse: dv }, { actualIds: [b!.msdyn_actualid], ready: true, contractId });
    const y = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    expect(y.details.map((d) => d.msdyn_sourceactual).sort()).toEqual([a, b!.msdyn_actualid].sort());
    release();
    const xResult = await x;
    expect(statusOf(xResult)).toBe(409);
    const items = await itemsOnEditableInvoices(contractId);
    expect([...items.values()].filter((invoices) => invoices.length > 1)).toEqual([]);
    expect(items.get(a!)).toEqual([y.invoice.invoiceid]);
  });

  it('many creates at once over one backlog put every ready actual on exactly one draft', async () => {
    const { fx, ids } = await contractWithReady(40);
    const contractId = fx.contract.salesorderid;
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => createProformaInvoice({ dataverse: dv, numbers }, contractId, {}).catch((e: unknown) => e)));
    const made = outcomes.filter((o): o is Awaited<ReturnType<typeof createProformaInvoice>> => !(o instanceof Error));
    expect(made.length).toBeGreaterThanOrEqual(1);
    for (const refused of outcomes.filter((o) => o instanceof Error)) expect(statusOf(refused)).toBe(409);
    const items = await itemsOnEditableInvoices(contractId);
    expect([...items.keys()].sort()).toEqual([...ids].sort());
    expect([...items.values()].every((invoices) => invoices.length === 1)).toBe(true);
    for (const id of ids) expect((await dv.actuals.get(contractId, id))?.msdyn_billingstatus).toBe(BillingStatus.CustomerInvoiceCreated);
  });

  it('the backlog refuses to take back an actual while an invoice is being made of it', async () => {
    const { fx, ids } = await contractWithReady(1);
    const contractId = fx.contract.salesorderid;
    await dv.claimItems(contractId, [{ itemId: ids[0]!, kind: 'Actual' }], requestedInvoiceId(contractId), new Date());
    const refused = await setReadyToInvoice({ dataverse: dv }, { actualIds: ids, ready: false, contractId }).catch((e: unknown) => e);
    expect(statusOf(refused)).toBe(409);
    expect(String(refused)).toContain('being put on it right now');
  });

  it('a claim whose invoice was never written is released after a while, and the actual can be invoiced again', async () => {
    const { fx, ids } = await contractWithReady(1);
    const contractId = fx.contract.salesorderid;
    await dv.claimItems(contractId, [{ itemId: ids[0]!, kind: 'Actual' }], requestedInvoiceId(contractId), new Date(Date.now() - 10 * 60_000));
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    expect(view.details.map((d) => d.msdyn_sourceactual)).toEqual(ids);
  });
});

describe('the confirmation fences the details it confirms (issue 14, item 2)', () => {
  it('once requested, PATCH, POST and DELETE of details are refused; a confirmation that crashed is finished with the details it planned', async () => {
    const { fx, ids } = await contractWithReady(2);
    const contractId = fx.contract.salesorderid;
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    const invoiceId = view.invoice.invoiceid;
    const [d1, d2] = view.details;
    await requestInvoiceConfirmation({ dataverse: dv, publisher: new RecordingPublisher() }, invoiceId, {});
    await expect(confirm(invoiceId, (s) => {
      if (s === ConfirmationStep.NewActuals) throw new Error('crash after the new actuals');
    })).rejects.toThrow(/crash/);

    const edits = [
      () => updateInvoiceLineDetail({ dataverse: dv }, invoiceId, d1!.msdyn_invoicelinetransactionid, { msdyn_quantity: '1' }),
      () => deleteInvoiceLineDetail({ dataverse: dv }, invoiceId, d2!.msdyn_invoicelinetransactionid),
      () => addInvoiceLineDetail({ dataverse: dv }, invoiceId, { msdyn_salescontractlineid: fx.tmLine!.salesorderdetailid, msdyn_transactionclassification: TransactionClass.Fee, msdyn_quantity: '1', msdyn_price: '5.00' }),
    ];
    for (const edit of edits) {
      const refused = await edit().catch((e: unknown) => e);
      expect(statusOf(refused)).toBe(409);
      expect(String(refused)).toContain('confirmation was requested');
    }

    await confirm(invoiceId); // the redelivery
    const done = (await dv.loadInvoice(invoiceId))!;
    expect(done.invoice.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
    expect(done.details).toHaveLength(2);
    for (const d of done.details) {
      const billed = await dv.actuals.get(contractId, confirmationActualId(invoiceId, d.msdyn_invoicelinetransactionid, 'billed'));
      expect(billed).toMatchObject({ msdyn_transactiontypecode: TransactionType.BilledSales, msdyn_quantity: d.msdyn_quantity, msdyn_amount: d.msdyn_amount });
    }
    for (const id of ids) expect((await dv.actuals.get(contractId, id))?.msdyn_billingstatus).toBe(BillingStatus.CustomerInvoicePosted);
    expect(await dv.claimsOfContract(contractId)).toEqual([]);
  });

  it('a confirmation that crashed right after writing the invoice releases its claims on the redelivery', async () => {
    const { fx } = await contractWithReady(3);
    const contractId = fx.contract.salesorderid;
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    const invoiceId = view.invoice.invoiceid;
    expect((await dv.claimsOfContract(contractId)).map((c) => c.InvoiceId)).toEqual([invoiceId, invoiceId, invoiceId]);
    await expect(confirm(invoiceId, (s) => {
      if (s === ConfirmationStep.Invoice) throw new Error('crash after the invoice');
    })).rejects.toThrow(/crash/);
    expect((await dv.loadInvoice(invoiceId))!.invoice.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
    expect(await dv.claimsOfContract(contractId)).toHaveLength(3);
    await confirm(invoiceId); // the redelivery: already Confirmed
    expect(await dv.claimsOfContract(contractId)).toEqual([]);
  });

  it('publishes before it releases the claims: a crash after the publish leaves them to the redelivery', async () => {
    const { fx } = await contractWithReady(3);
    const contractId = fx.contract.salesorderid;
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    const invoiceId = view.invoice.invoiceid;
    await expect(confirm(invoiceId, (s) => {
      if (s === ConfirmationStep.ActualsPublished) throw new Error('crash after the publish');
    })).rejects.toThrow(/crash/);
    expect(await dv.claimsOfContract(contractId)).toHaveLength(3);
    await confirm(invoiceId); // the redelivery: already Confirmed
    expect(await dv.claimsOfContract(contractId)).toEqual([]);
  });

  it("releases only the confirmed invoice's claims, in transactions rather than a request per item", async () => {
    const { fx, ids } = await contractWithReady(250);
    const contractId = fx.contract.salesorderid;
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    const other = '0d9c2a4e-5b1f-4c3e-9a7d-2f6b8e1c4a90';
    await dv.claimItems(contractId, [{ itemId: '7f3e9b2a-1c4d-4e5f-8a6b-9c0d1e2f3a4b', kind: 'Actual' }], other, new Date());
    const deletes = { single: 0 };
    const deleteIfMatch = dv.invoiceClaims.deleteIfMatch.bind(dv.invoiceClaims);
    dv.invoiceClaims.deleteIfMatch = async (...args) => {
      deletes.single++;
      return deleteIfMatch(...args);
    };
    try {
      await confirm(view.invoice.invoiceid);
    } finally {
      dv.invoiceClaims.deleteIfMatch = deleteIfMatch;
    }
    expect(deletes.single).toBe(0);
    expect((await dv.claimsOfContract(contractId)).map((c) => c.InvoiceId)).toEqual([other]);
    for (const id of ids) expect((await dv.actuals.get(contractId, id))?.msdyn_billingstatus).toBe(BillingStatus.CustomerInvoicePosted);
  });

  it('a repeated confirmation request while the confirmation is halfway written is the same request, and the fence stays', async () => {
    const { fx } = await contractWithReady(2);
    const contractId = fx.contract.salesorderid;
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    const invoiceId = view.invoice.invoiceid;
    const [d1, d2] = view.details;
    await updateInvoiceLineDetail({ dataverse: dv }, invoiceId, d1!.msdyn_invoicelinetransactionid, { msdyn_quantity: '1' });
    const first = await requestInvoiceConfirmation({ dataverse: dv, publisher: new RecordingPublisher() }, invoiceId, {});
    // The confirmation has invoiced the sources (one of them Adjusted) but not yet the invoice.
    await expect(confirm(invoiceId, (s) => {
      if (s === ConfirmationStep.SourceActuals) throw new Error('crash after the sources');
    })).rejects.toThrow(/crash/);
    const fencedAt = (await dv.invoices.get(invoiceId, invoiceId))!.pi_confirmationrequestedon;
    expect(fencedAt).toBeDefined();

    const again = await requestInvoiceConfirmation({ dataverse: dv, publisher: new RecordingPublisher() }, invoiceId, {});
    expect(again).toMatchObject({ status: 'Queued', messageId: first.messageId });
    expect((await dv.invoices.get(invoiceId, invoiceId))!.pi_confirmationrequestedon).toBe(fencedAt);
    const edit = await deleteInvoiceLineDetail({ dataverse: dv }, invoiceId, d2!.msdyn_invoicelinetransactionid).catch((e: unknown) => e);
    expect(statusOf(edit)).toBe(409);

    await confirm(invoiceId); // the redelivery finishes it
    expect((await dv.loadInvoice(invoiceId))!.invoice.msdyn_projectinvoicestatus).toBe(InvoiceStatus.Confirmed);
    expect(await dv.claimsOfContract(contractId)).toEqual([]);
  });

  it('an edit that read a detail before the fence cannot write it after', async () => {
    const { fx } = await contractWithReady(1);
    const view = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract.salesorderid, {});
    const invoiceId = view.invoice.invoiceid;
    const before = (await dv.invoiceLineDetails.listPartition(invoiceId))[0]!;
    await expect(confirm(invoiceId, (s) => {
      if (s === ConfirmationStep.Fenced) throw new Error('crash after the fence');
    })).rejects.toThrow(/crash/);
    const { etag, ...detail } = before;
    expect(await dv.invoiceLineDetails.replaceIfMatch({ ...detail, msdyn_quantity: '1', msdyn_amount: '100.00' }, etag)).toBeUndefined();
    await confirm(invoiceId);
    expect((await dv.loadInvoice(invoiceId))!.invoice.totalamount).toBe('200.00');
  });

  it('a refused confirmation lifts the fence so the invoice can be corrected', async () => {
    const { fx, ids } = await contractWithReady(1);
    const contractId = fx.contract.salesorderid;
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    const invoiceId = view.invoice.invoiceid;
    await requestInvoiceConfirmation({ dataverse: dv, publisher: new RecordingPublisher() }, invoiceId, {});
    // The source actual left its invoice state behind the confirmation's back: it refuses.
    const source = (await dv.actuals.get(contractId, ids[0]!))!;
    const { etag: _e, ...rest } = source;
    await dv.actuals.upsert({ ...rest, msdyn_billingstatus: BillingStatus.ReadyToInvoice });
    await expect(confirm(invoiceId)).rejects.toThrow(/Customer Invoice Created/);
    expect((await dv.invoices.get(invoiceId, invoiceId))?.pi_confirmationrequestedon).toBeUndefined();
    await deleteInvoiceLineDetail({ dataverse: dv }, invoiceId, view.details[0]!.msdyn_invoicelinetransactionid);
    expect((await dv.loadInvoice(invoiceId))!.details).toHaveLength(0);
  });
});

describe('rows are read by the contract columns (issue 14, item 6)', () => {
  it('a milestone written without the salesorderid column (the partition key holds it) is invoiced', async () => {
    const fx = await seedContract(dv);
    const contractId = fx.contract.salesorderid;
    const contractColumns = new TableStore(
      azurite.connectionString,
      'dvMilestones',
      z.object({ contract: z.string(), msdyn_contractlinescheduleofvalueid: z.string(), msdyn_contractlineid: z.string(), msdyn_name: z.string(), msdyn_amount: z.string(), msdyn_invoicestatus: z.number(), msdyn_milestonedate: z.string() }),
      (r) => ({ partitionKey: r.contract, rowKey: r.msdyn_contractlinescheduleofvalueid }),
    );
    const [shape] = await seedMilestones(dv, fx, [{ amount: '1234.00' }]);
    await dv.milestones.delete(contractId, shape!.msdyn_contractlinescheduleofvalueid);
    const { salesorderid: _c, ...columns } = shape!;
    await contractColumns.upsert({ ...columns, contract: contractId });
    // The extra `contract` column is not a contract column either: readers ignore it.
    const view = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {});
    expect(view.invoice.totalamount).toBe('1234.00');
    expect((await dv.milestones.get(contractId, shape!.msdyn_contractlinescheduleofvalueid))?.msdyn_invoicestatus).toBe(MilestoneStatus.CustomerInvoiceCreated);
  });

  it('a stored row that breaks its schema is a Business error naming the table, the keys and the field', async () => {
    const { fx, ids } = await contractWithReady(1);
    const contractId = fx.contract.salesorderid;
    const loose = new TableStore(azurite.connectionString, 'dvActuals', z.object({ msdyn_salescontract: z.string(), msdyn_actualid: z.string(), msdyn_amount: z.string() }), (r) => ({
      partitionKey: r.msdyn_salescontract,
      rowKey: r.msdyn_actualid,
    }));
    await loose.mergeFields({ partitionKey: contractId, rowKey: ids[0]! }, { msdyn_amount: 'twelve' });
    const error = await createProformaInvoice({ dataverse: dv, numbers }, contractId, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedRowError);
    expect(statusOf(error)).toBe(409);
    expect(String(error)).toContain(`dvActuals row ${contractId}/${ids[0]} is malformed: msdyn_amount`);
  });
});

describe('a confirmation request racing an edit (found by the chaos harness)', () => {
  it('answers that the invoice changed, not a rule, when a detail is deleted while the rules are checked', async () => {
    const { fx } = await contractWithReady(2);
    const draft = await createProformaInvoice({ dataverse: dv, numbers }, fx.contract.salesorderid, {});
    const victim = draft.details[0]!;
    // The request has read the invoice and its details; the deletion lands before it reads the actuals.
    const racing = new Proxy(dv, {
      get(target, prop, receiver) {
        if (prop === 'actualsOfContractNamed') {
          return async (contractId: string, ids: ReadonlySet<string>, ilds: number) => {
            await deleteInvoiceLineDetail({ dataverse: dv }, draft.invoice.invoiceid, victim.msdyn_invoicelinetransactionid);
            return target.actualsOfContractNamed(contractId, ids, ilds);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const publisher = new RecordingPublisher();
    const refused = await requestInvoiceConfirmation({ dataverse: racing, publisher }, draft.invoice.invoiceid, {}).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(refused?.message).toContain('was changed by someone else while its confirmation was checked');
    expect(statusOf(refused)).toBe(409);
    expect(publisher.sent).toEqual([]);
    // Asked again, it goes through with the detail that is left.
    const queued = await requestInvoiceConfirmation({ dataverse: dv, publisher }, draft.invoice.invoiceid, {});
    expect(queued.status).toBe('Queued');
  });
});
