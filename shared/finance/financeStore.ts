/**
 * The F&O side's tables (contract.md, "F&O side"), each a TableStore with the contract's keys.
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
} from './records';
import { TableStore } from '../storage/tableStore';

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

export class FinanceTables {
  readonly proposals;
  readonly proposalLines;
  readonly staging;
  readonly projectTransactions;
  readonly customerInvoices;
  readonly ledgerEntries;
  readonly exchangeRates;

  /** connectionString: kept for stores of the same account built elsewhere (e.g. the staging work index). */
  constructor(readonly connectionString: string) {
    const n = FinanceTableNames;
    this.proposals = new TableStore(connectionString, n.proposals, proposalSchema, (r) => ({ partitionKey: r.ProposalId, rowKey: r.ProposalId }));
    this.proposalLines = new TableStore(connectionString, n.proposalLines, proposalLineSchema, (r) => ({ partitionKey: r.ProposalId, rowKey: r.LineId }));
    this.staging = new TableStore(connectionString, n.staging, stagingRowSchema, (r) => ({ partitionKey: r.ContractId, rowKey: r.ActualId }));
    this.projectTransactions = new TableStore(connectionString, n.projectTransactions, projectTransactionSchema, (r) => ({
      partitionKey: r.ProjectId,
      rowKey: r.TransId,
    }));
    this.customerInvoices = new TableStore(connectionString, n.customerInvoices, customerInvoiceSchema, (r) => ({ partitionKey: r.InvoiceId, rowKey: r.InvoiceId }));
    this.ledgerEntries = new TableStore(connectionString, n.ledgerEntries, ledgerEntrySchema, (r) => ({ partitionKey: r.Voucher, rowKey: ledgerRowKey(r.LineNumber) }));
    this.exchangeRates = new TableStore(connectionString, n.exchangeRates, exchangeRateSchema, (r) => ({
      partitionKey: `${r.FromCurrency}-${r.ToCurrency}`,
      rowKey: r.ValidFrom,
    }));
  }

  all(): TableStore<unknown>[] {
    return [this.proposals, this.proposalLines, this.staging, this.projectTransactions, this.customerInvoices, this.ledgerEntries, this.exchangeRates] as TableStore<unknown>[];
  }

  /** Every rate, for a run that converts many rows (the table is small: one row per pair and date). */
  async allRates(): Promise<ExchangeRate[]> {
    return (await this.exchangeRates.query()).map(({ etag: _etag, ...rate }) => rate);
  }
}
