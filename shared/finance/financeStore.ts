/**
 * The F&O side's store (contract.md, "F&O side"): one typed table per fo* table with the
 * contract's keys, and the named queries the use cases need (filters and paging live here).
 * foLedgerEntries rows are keyed by voucher and a zero-padded line number ("0001") so a
 * voucher's lines list in order.
 */
import {
  customerInvoiceSchema,
  exchangeRateSchema,
  ledgerEntrySchema,
  projectTransactionSchema,
  proposalLineSchema,
  proposalSchema,
  stagingRowSchema,
  type ExchangeRate,
  type Proposal,
  type ProjectTransaction,
  type ProposalLine,
  type StagingRow,
} from './records';
import { byKey, mapLimit } from '../core/collections';
import { odata, TableStore, type Keys, type Stored, type TableAccess } from '../storage/tableStore';

/** Listings in flight at once. */
const LISTING_CONCURRENCY = 8;

export const FinanceTableNames = {
  proposals: 'foProposals',
  proposalLines: 'foProposalLines',
  staging: 'foActualsStaging',
  projectTransactions: 'foProjectTransactions',
  customerInvoices: 'foCustomerInvoices',
  ledgerEntries: 'foLedgerEntries',
  exchangeRates: 'foExchangeRates',
} as const;

export function ledgerRowKey(lineNumber: number): string {
  return String(lineNumber).padStart(4, '0');
}

export class FinanceStore {
  readonly proposals;
  readonly proposalLines;
  readonly staging;
  readonly projectTransactions;
  readonly customerInvoices;
  readonly ledgerEntries;
  readonly exchangeRates;

  /** connectionString: kept for stores of the same account built elsewhere (e.g. the staging work index). */
  constructor(readonly connectionString: TableAccess) {
    const n = FinanceTableNames;
    this.proposals = new TableStore(connectionString, n.proposals, proposalSchema, (r) => ({ partitionKey: r.ProposalId, rowKey: r.ProposalId }), { rowKey: 'ProposalId' });
    this.proposalLines = new TableStore(connectionString, n.proposalLines, proposalLineSchema, (r) => ({ partitionKey: r.ProposalId, rowKey: r.LineId }), {
      partitionKey: 'ProposalId',
      rowKey: 'LineId',
    });
    this.staging = new TableStore(connectionString, n.staging, stagingRowSchema, (r) => ({ partitionKey: r.ContractId, rowKey: r.ActualId }), { partitionKey: 'ContractId', rowKey: 'ActualId' });
    this.projectTransactions = new TableStore(connectionString, n.projectTransactions, projectTransactionSchema, (r) => ({
      partitionKey: r.ProjectId,
      rowKey: r.TransId,
    }), { partitionKey: 'ProjectId', rowKey: 'TransId' });
    this.customerInvoices = new TableStore(connectionString, n.customerInvoices, customerInvoiceSchema, (r) => ({ partitionKey: r.InvoiceId, rowKey: r.InvoiceId }), { rowKey: 'InvoiceId' });
    this.ledgerEntries = new TableStore(connectionString, n.ledgerEntries, ledgerEntrySchema, (r) => ({ partitionKey: r.Voucher, rowKey: ledgerRowKey(r.LineNumber) }), { partitionKey: 'Voucher' });
    this.exchangeRates = new TableStore(connectionString, n.exchangeRates, exchangeRateSchema, (r) => ({
      partitionKey: `${r.FromCurrency}-${r.ToCurrency}`,
      rowKey: r.ValidFrom,
    }), { rowKey: 'ValidFrom' });
  }

  all(): TableStore<unknown>[] {
    return [this.proposals, this.proposalLines, this.staging, this.projectTransactions, this.customerInvoices, this.ledgerEntries, this.exchangeRates] as TableStore<unknown>[];
  }

  /** Every rate, for a run that converts many rows (the table is small: one row per pair and date). */
  async allRates(): Promise<ExchangeRate[]> {
    return (await this.exchangeRates.query()).map(({ etag: _etag, ...rate }) => rate);
  }

  /** Proposals, all or of one status, in id order. */
  async proposalsByStatus(status?: Proposal['Status']): Promise<Stored<Proposal>[]> {
    const rows = await this.proposals.query(status === undefined ? undefined : odata`Status eq ${status}`);
    return rows.sort(byKey((p) => p.ProposalId));
  }

  /** Credit proposals that correct a proposal (the headers of its corrective invoices), in id order. */
  async creditProposalsCorrecting(proposalId: string): Promise<Stored<Proposal>[]> {
    return (await this.proposals.query(odata`CorrectedProposalId eq ${proposalId}`)).sort(byKey((p) => p.ProposalId));
  }

  /** Proposals of a Dataverse invoice (normally one), in id order. */
  async proposalsOfInvoice(invoiceId: string): Promise<Stored<Proposal>[]> {
    return (await this.proposals.query(odata`InvoiceId eq ${invoiceId}`)).sort(byKey((p) => p.ProposalId));
  }

  /** Staging rows of a Dataverse invoice (its billed actuals and the rows created with them). */
  stagingRowsOfInvoice(contractId: string, invoiceId: string): Promise<Stored<StagingRow>[]> {
    return this.staging.query(odata`PartitionKey eq ${contractId} and InvoiceId eq ${invoiceId}`);
  }

  /** Billed staging rows of a Dataverse invoice that are not proposal lines yet. */
  billedRowsNotImported(contractId: string, invoiceId: string): Promise<Stored<StagingRow>[]> {
    return this.staging.query(odata`PartitionKey eq ${contractId} and InvoiceId eq ${invoiceId} and TransType eq ${'BilledSales'} and ImportStatus ne ${'Imported'}`);
  }

  /**
   * Which of the wanted unbilled actuals (by project) have a posted project transaction. A project
   * with `listFrom` or more ids to look up has its unbilled transactions listed once (paged,
   * RowKeys only) instead of read one by one; the listing stops once all its ids are found or after
   * `rowsPerId` rows per id (a long history), and the ids it did not reach are point-read like
   * those of smaller projects. A listing that ran to its end settles its ids (not found: not posted).
   */
  async postedUnbilledIds(wanted: ReadonlyMap<string, ReadonlySet<string>>, options: { listFrom: number; rowsPerId: number }): Promise<Set<string>> {
    const posted = new Set<string>();
    const reads: Keys[] = [];
    const listed: [string, ReadonlySet<string>][] = [];
    for (const [projectId, ids] of wanted) {
      if (ids.size >= options.listFrom) listed.push([projectId, ids]);
      else for (const actualId of ids) reads.push({ partitionKey: projectId, rowKey: actualId });
    }
    await mapLimit(listed, LISTING_CONCURRENCY, async ([projectId, ids]) => {
      let left = ids.size;
      let seen = 0;
      const budget = ids.size * options.rowsPerId;
      await this.projectTransactions.scanRowKeys(odata`PartitionKey eq ${projectId} and TransType eq ${'UnbilledSales'}`, (transId) => {
        if (ids.has(transId) && !posted.has(transId)) {
          posted.add(transId);
          left--;
        }
        return left > 0 && ++seen < budget;
      });
      if (left > 0 && seen >= budget) for (const actualId of ids) if (!posted.has(actualId)) reads.push({ partitionKey: projectId, rowKey: actualId });
    });
    for (const row of (await this.projectTransactions.getMany(reads)).values()) posted.add(row.TransId);
    return posted;
  }

  /** The proposal of each invoice (the first by id when several claim it), one query per invoice. */
  async proposalsOfInvoices(invoiceIds: Iterable<string>): Promise<Map<string, Stored<Proposal>>> {
    const out = new Map<string, Stored<Proposal>>();
    await mapLimit([...new Set(invoiceIds)], LISTING_CONCURRENCY, async (invoiceId) => {
      const first = (await this.proposalsOfInvoice(invoiceId))[0];
      if (first) out.set(invoiceId, first);
    });
    return out;
  }

  /** Unbilled sales transactions of a contract in one project, at most `top` rows. */
  unbilledTransactionsOf(projectId: string, contractId: string, top: number): Promise<Stored<ProjectTransaction>[]> {
    return this.projectTransactions.query(odata`PartitionKey eq ${projectId} and ContractId eq ${contractId} and TransType eq ${'UnbilledSales'}`, { top });
  }

  /**
   * The project transactions that proposal lines bill (their UnbilledActualId), stored as posted.
   * A project with `queryFrom` or more of them is read with one query (its unbilled transactions
   * of the contract, at most `rowsPerId` rows per transaction looked for, so a long history is not
   * read whole) instead of one point read each; whatever the query did not return is point-read,
   * so a missing transaction is simply absent from the answer.
   */
  async transactionsBilledBy(
    lines: ReadonlyArray<Pick<ProposalLine, 'UnbilledActualId' | 'ProjectId'>>,
    contractId: string,
    options: { queryFrom: number; rowsPerId: number },
  ): Promise<Stored<ProjectTransaction>[]> {
    const wanted = new Map<string, string>();
    for (const line of lines) if (line.UnbilledActualId !== undefined) wanted.set(line.UnbilledActualId, line.ProjectId);
    const perProject = new Map<string, Set<string>>();
    for (const [transId, projectId] of wanted) {
      let ids = perProject.get(projectId);
      if (!ids) perProject.set(projectId, (ids = new Set()));
      ids.add(transId);
    }
    const found = new Map<string, Stored<ProjectTransaction>>();
    const queried = [...perProject].filter(([, ids]) => ids.size >= options.queryFrom);
    await mapLimit(queried, 4, async ([projectId, ids]) => {
      for (const row of await this.unbilledTransactionsOf(projectId, contractId, ids.size * options.rowsPerId)) if (ids.has(row.TransId)) found.set(row.TransId, row);
    });
    const rest = [...wanted].filter(([transId]) => !found.has(transId)).map(([transId, projectId]) => ({ partitionKey: projectId, rowKey: transId }));
    for (const t of (await this.projectTransactions.getMany(rest, 16)).values()) found.set(t.TransId, t);
    return [...found.values()];
  }

  /** Proposals per Status (reads that one column). */
  proposalCountsByStatus(): Promise<Map<string, number>> {
    return this.proposals.countBy('Status');
  }

  /** Staging rows per ImportStatus (reads that one column). */
  stagingCountsByStatus(): Promise<Map<string, number>> {
    return this.staging.countBy('ImportStatus');
  }

  /** Staging rows in one ImportStatus across contracts, at most `top` (the service filters foActualsStaging). */
  stagingRowsByStatus(status: StagingRow['ImportStatus'], top: number): Promise<Stored<StagingRow>[]> {
    return this.staging.query(odata`ImportStatus eq ${status}`, { top });
  }

  // ---- the repair sweep (operations/reconcile.ts) -------------------------------------------

  /**
   * Proposals posted in [from, to) (PostedOn, ISO), at most `top`. Table storage has no index on
   * Status: the service filters foProposals (one row per invoice), but only the window's rows travel.
   */
  postedProposalsBetween(from: string, to: string, top: number): Promise<Stored<Proposal>[]> {
    return this.proposals.query(odata`Status eq ${'Posted'} and PostedOn ge ${from} and PostedOn lt ${to}`, { top });
  }

  /** The ActualIds of an invoice's billed staging rows (RowKeys only, in its contract's partition). */
  async billedStagingIdsOfInvoice(contractId: string, invoiceId: string): Promise<Set<string>> {
    const ids = new Set<string>();
    await this.staging.scanRowKeys(odata`PartitionKey eq ${contractId} and InvoiceId eq ${invoiceId} and TransType eq ${'BilledSales'}`, (id) => {
      ids.add(id);
      return true;
    });
    return ids;
  }
}
