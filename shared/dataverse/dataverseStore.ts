/**
 * The Dataverse side's tables (contract.md, "Dataverse side"): each a TableStore with the
 * contract's keys, parsing rows through the domain's zod schemas.
 *
 * dvMilestones is partitioned by contract (salesorderid) but a milestone record names only its
 * contract line, so stored milestones carry `salesorderid` as one extra field.
 */
import { z } from 'zod';
import {
  accountSchema,
  actualSchema,
  contractLineSchema,
  contractSchema,
  invoiceLineDetailSchema,
  invoiceLineSchema,
  invoiceSchema,
  milestoneSchema,
  type Actual,
  type InvoiceLineDetail,
} from './records';
import { guid } from '../core/fields';
import { odata, TableStore } from '../storage/tableStore';

export const storedMilestoneSchema = milestoneSchema.extend({ salesorderid: guid });
export type StoredMilestone = z.infer<typeof storedMilestoneSchema>;

export const DataverseTableNames = {
  accounts: 'dvAccounts',
  contracts: 'dvContracts',
  contractLines: 'dvContractLines',
  milestones: 'dvMilestones',
  actuals: 'dvActuals',
  invoices: 'dvInvoices',
  invoiceLines: 'dvInvoiceLines',
  invoiceLineDetails: 'dvInvoiceLineDetails',
} as const;

export class DataverseTables {
  readonly accounts;
  readonly contracts;
  readonly contractLines;
  readonly milestones;
  readonly actuals;
  readonly invoices;
  readonly invoiceLines;
  readonly invoiceLineDetails;

  constructor(connectionString: string) {
    const n = DataverseTableNames;
    this.accounts = new TableStore(connectionString, n.accounts, accountSchema, (r) => ({ partitionKey: r.accountid, rowKey: r.accountid }));
    this.contracts = new TableStore(connectionString, n.contracts, contractSchema, (r) => ({ partitionKey: r.salesorderid, rowKey: r.salesorderid }));
    this.contractLines = new TableStore(connectionString, n.contractLines, contractLineSchema, (r) => ({
      partitionKey: r.salesorderid,
      rowKey: r.salesorderdetailid,
    }));
    this.milestones = new TableStore(connectionString, n.milestones, storedMilestoneSchema, (r) => ({
      partitionKey: r.salesorderid,
      rowKey: r.msdyn_contractlinescheduleofvalueid,
    }));
    this.actuals = new TableStore(connectionString, n.actuals, actualSchema, (r) => ({ partitionKey: r.msdyn_salescontract, rowKey: r.msdyn_actualid }));
    this.invoices = new TableStore(connectionString, n.invoices, invoiceSchema, (r) => ({ partitionKey: r.invoiceid, rowKey: r.invoiceid }));
    this.invoiceLines = new TableStore(connectionString, n.invoiceLines, invoiceLineSchema, (r) => ({ partitionKey: r.invoiceid, rowKey: r.invoicedetailid }));
    this.invoiceLineDetails = new TableStore(connectionString, n.invoiceLineDetails, invoiceLineDetailSchema, (r) => ({
      partitionKey: r.msdyn_invoice,
      rowKey: r.msdyn_invoicelinetransactionid,
    }));
  }

  /** Every table, for start-up creation and for tests that clear them. */
  all(): TableStore<unknown>[] {
    return [this.accounts, this.contracts, this.contractLines, this.milestones, this.actuals, this.invoices, this.invoiceLines, this.invoiceLineDetails] as TableStore<unknown>[];
  }

  /** Actuals of a contract with the given ids (one partition scan, not one read per id). */
  async actualsOfContract(contractId: string, ids?: ReadonlySet<string>): Promise<Map<string, Actual & { etag: string }>> {
    const rows = await this.actuals.listPartition(contractId);
    const out = new Map<string, Actual & { etag: string }>();
    for (const row of rows) if (!ids || ids.has(row.msdyn_actualid)) out.set(row.msdyn_actualid, row);
    return out;
  }

  /** The invoice with its lines and ILDs; undefined when the invoice does not exist. */
  async loadInvoice(invoiceId: string) {
    const invoice = await this.invoices.get(invoiceId, invoiceId);
    if (!invoice) return undefined;
    const [lines, details] = await Promise.all([this.invoiceLines.listPartition(invoiceId), this.invoiceLineDetails.listPartition(invoiceId)]);
    return { invoice, lines, details };
  }

  /** ILDs of an invoice that came from the given actual (used when an ILD is deleted). */
  async detailsFromActual(invoiceId: string, actualId: string): Promise<(InvoiceLineDetail & { etag: string })[]> {
    return this.invoiceLineDetails.query(odata`PartitionKey eq ${invoiceId} and msdyn_sourceactual eq ${actualId}`);
  }
}
