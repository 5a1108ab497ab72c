/**
 * Value maps Dataverse -> F&O (map "Project Operations integration actuals" and
 * "Project invoice proposal V2 (invoices)"), as pure functions used by syncActuals and
 * syncInvoiceProposal.
 *
 * Decisions:
 * - Quantity, price and amount are copied exactly as Dataverse sent them (already decimal
 *   strings validated by the actual schema); nothing is recomputed or re-rounded here.
 * - Every problem with one actual is reported at once (all unmapped fields in one reason).
 * - A refusal says what kind it is: `skipSync` (the caller skips the actual silently, it never
 *   reaches F&O), `unmapped` (an option value without an F&O counterpart) or `invalid`
 *   (a billed sales actual without the invoice it belongs to, which could never be imported).
 * - The row's InvoiceProposalId is not set here: an actual carries the invoice GUID (msdyn_invoice),
 *   not the invoice number. syncActuals sets it on billed rows from the Dataverse invoice's number;
 *   without it, import finds the proposal through InvoiceId (see rules/import.ts).
 */
import type { Actual } from '../../dataverse/records';
import type {
  LineProperty,
  Proposal,
  ProposalTransType,
  StagingClassification,
  StagingRow,
  StagingTransType,
} from '../records';
import type { InvoiceProposalMessage } from '../../messages';
import { amount } from '../../core/money';
import { AdjustmentStatus, BillingType, TransactionClass, TransactionType } from '../../core/options';

/** An option value (or F&O enum value) with no counterpart on the other side. */
export class UnmappedValueError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${field} has value ${JSON.stringify(value)}, which has no F&O mapping (expected one of ${expected})`);
    this.name = 'UnmappedValueError';
  }
}

type MapOf<V> = ReadonlyArray<readonly [number, V]>;

const TRANS_TYPES: MapOf<StagingTransType> = [
  [TransactionType.Cost, 'Cost'],
  [TransactionType.UnbilledSales, 'UnbilledSales'],
  [TransactionType.BilledSales, 'BilledSales'],
];
const CLASSES: MapOf<StagingClassification> = [
  [TransactionClass.Time, 'Time'],
  [TransactionClass.Expense, 'Expense'],
  [TransactionClass.Material, 'Material'],
  [TransactionClass.Milestone, 'Milestone'],
  [TransactionClass.Fee, 'Fee'],
];
const LINE_PROPERTIES: MapOf<LineProperty> = [
  [BillingType.Chargeable, 'Chargeable'],
  [BillingType.NonChargeable, 'NonChargeable'],
  [BillingType.Complimentary, 'Complimentary'],
  [BillingType.NotAvailable, 'NotAvailable'],
];
const ADJUSTMENT_STATUSES: MapOf<'Adjusted' | 'Unadjustable'> = [
  [AdjustmentStatus.Adjusted, 'Adjusted'],
  [AdjustmentStatus.Unadjustable, 'Unadjustable'],
];

function mapOption<V>(field: string, table: MapOf<V>, value: unknown): V {
  for (const [code, mapped] of table) if (code === value) return mapped;
  throw new UnmappedValueError(field, value, table.map(([code, mapped]) => `${String(mapped)} ${code}`).join(', '));
}

/** msdyn_transactiontypecode -> staging TransType. */
export function toStagingTransType(value: number): StagingTransType {
  return mapOption('msdyn_transactiontypecode', TRANS_TYPES, value);
}

/** msdyn_transactionclassification -> staging TransactionClassification. */
export function toStagingClassification(value: number): StagingClassification {
  return mapOption('msdyn_transactionclassification', CLASSES, value);
}

/** msdyn_billingtype -> LineProperty (staging BillingType, proposal line LineProperty). */
export function toLineProperty(value: number): LineProperty {
  return mapOption('msdyn_billingtype', LINE_PROPERTIES, value);
}

/** msdyn_adjustmentstatus -> staging AdjustmentStatus; absent stays absent. */
export function toStagingAdjustmentStatus(value: number | undefined): 'Adjusted' | 'Unadjustable' | undefined {
  if (value === undefined || value === null) return undefined;
  return mapOption('msdyn_adjustmentstatus', ADJUSTMENT_STATUSES, value);
}

const PROPOSAL_TRANS_TYPES: Readonly<Record<StagingClassification, ProposalTransType>> = {
  Time: 'Hour',
  Expense: 'Expense',
  Material: 'Item',
  Fee: 'Fee',
  Milestone: 'OnAccount',
};

/** Transaction class -> proposal line TransType (Time->Hour, Expense->Expense, Material->Item, Fee->Fee, Milestone->OnAccount). */
export function toProposalTransType(classification: StagingClassification): ProposalTransType {
  const mapped = Object.prototype.hasOwnProperty.call(PROPOSAL_TRANS_TYPES, classification)
    ? PROPOSAL_TRANS_TYPES[classification]
    : undefined;
  if (mapped === undefined) {
    throw new UnmappedValueError(
      'TransactionClassification',
      classification,
      Object.entries(PROPOSAL_TRANS_TYPES)
        .map(([from, to]) => `${from} (-> ${to})`)
        .join(', '),
    );
  }
  return mapped;
}

export type StagingRefusalKind = 'skipSync' | 'unmapped' | 'invalid';
export type StagingMapResult =
  | { ok: true; row: StagingRow }
  | { ok: false; kind: StagingRefusalKind; reason: string };

/**
 * One Dataverse actual as an F&O staging row (ImportStatus "Pending"), or a refusal:
 * skip-sync actuals (callers skip them), unmapped option values (every offending field named
 * with its value), and billed sales actuals without msdyn_invoice.
 */
export function toStagingRow(actual: Actual): StagingMapResult {
  if (actual.msdyn_skipsync === true) {
    return {
      ok: false,
      kind: 'skipSync',
      reason: `Actual ${actual.msdyn_actualid} has msdyn_skipsync = true; skip-sync actuals are not synchronized to F&O`,
    };
  }

  const problems: string[] = [];
  function attempt<V>(map: () => V): V | undefined {
    try {
      return map();
    } catch (error) {
      if (error instanceof UnmappedValueError) {
        problems.push(error.message);
        return undefined;
      }
      throw error;
    }
  }
  const transType = attempt(() => toStagingTransType(actual.msdyn_transactiontypecode));
  const classification = attempt(() => toStagingClassification(actual.msdyn_transactionclassification));
  const billingType = attempt(() => toLineProperty(actual.msdyn_billingtype));
  const adjustmentStatus = attempt(() => toStagingAdjustmentStatus(actual.msdyn_adjustmentstatus));
  if (problems.length > 0 || transType === undefined || classification === undefined || billingType === undefined) {
    return { ok: false, kind: 'unmapped', reason: `Actual ${actual.msdyn_actualid}: ${problems.join('; ')}` };
  }

  if (transType === 'BilledSales' && actual.msdyn_invoice === undefined) {
    return {
      ok: false,
      kind: 'invalid',
      reason: `Billed sales actual ${actual.msdyn_actualid} has no msdyn_invoice; it cannot become a line of an invoice proposal`,
    };
  }

  const row: StagingRow = {
    ActualId: actual.msdyn_actualid,
    TransType: transType,
    TransactionClassification: classification,
    BillingType: billingType,
    Quantity: actual.msdyn_quantity,
    UnitPrice: actual.msdyn_price,
    Amount: actual.msdyn_amount,
    TransactionCurrencyId: actual.transactioncurrencyid,
    AccountingDate: actual.msdyn_accountingdate,
    DocumentDate: actual.msdyn_documentdate,
    ContractId: actual.msdyn_salescontract,
    ContractLineId: actual.msdyn_salescontractlineid,
    ProjectId: actual.msdyn_project,
    ImportStatus: 'Pending',
  };
  if (adjustmentStatus !== undefined) row.AdjustmentStatus = adjustmentStatus;
  if (actual.msdyn_invoice !== undefined) row.InvoiceId = actual.msdyn_invoice;
  if (actual.msdyn_unbilledactual !== undefined) row.UnbilledActualId = actual.msdyn_unbilledactual;
  if (actual.msdyn_reversedactual !== undefined) row.ReversedActualId = actual.msdyn_reversedactual;
  if (actual.msdyn_salestaxamount !== undefined) row.SalesTaxAmount = actual.msdyn_salestaxamount;
  return { ok: true, row };
}

/**
 * The F&O proposal header for a confirmed invoice (message on `invoice-proposals`).
 * - Status "Open"; ExpectedLineCount / ExpectedAmount / ExpectedTax from the message (ExpectedAmount
 *   excludes tax: it is compared with the sum of line amounts, which exclude tax too; ExpectedTax
 *   with the sum of the lines' SalesTaxAmount).
 * - A corrective invoice's header (correctedProposalId / correctedInvoiceId) becomes a credit
 *   proposal: the same header plus CorrectedProposalId and CorrectedInvoiceId; its expected amount
 *   and tax may be negative or zero (the corrective invoice's totals).
 * - ImportedLineCount / ImportedAmount / ImportedTax of an existing header are kept (lines imported
 *   before the header arrived, or a redelivered message, stay counted); a new header starts at
 *   0 / "0.00" / "0.00". An existing header stored before tax was reconciled has no ImportedTax;
 *   it stays absent here (syncInvoiceProposal recounts it from the stored lines).
 * - A Posted proposal is returned unchanged (same object): posting is final.
 * - Throws when the existing header with that proposal id belongs to another invoice: the
 *   proposal id is the invoice number, so that is a conflict a person must resolve.
 */
export function proposalFromMessage(msg: InvoiceProposalMessage, existing?: Proposal): Proposal {
  if (existing !== undefined) {
    if (existing.ProposalId !== msg.proposalId) {
      throw new Error(`Existing proposal ${existing.ProposalId} given for message about proposal ${msg.proposalId}`);
    }
    if (existing.Status === 'Posted') return existing;
    if (existing.InvoiceId !== msg.invoiceId) {
      throw new Error(
        `Invoice proposal ${msg.proposalId} already belongs to invoice ${existing.InvoiceId}; ` +
          `the header of invoice ${msg.invoiceId} with the same invoice number is refused`,
      );
    }
  }
  const proposal: Proposal = {
    ProposalId: msg.proposalId,
    InvoiceId: msg.invoiceId,
    ContractId: msg.contractId,
    CustomerAccount: msg.customerAccount,
    CurrencyCode: msg.currencyCode,
    InvoiceDate: msg.invoiceDate,
    ExpectedLineCount: msg.expectedLineCount,
    ExpectedAmount: amount(msg.expectedAmount),
    ImportedLineCount: existing?.ImportedLineCount ?? 0,
    ImportedAmount: existing === undefined ? '0.00' : amount(existing.ImportedAmount),
    ExpectedTax: amount(msg.expectedTax),
    Status: 'Open',
  };
  const importedTax = existing === undefined ? '0.00' : existing.ImportedTax;
  if (importedTax !== undefined) proposal.ImportedTax = amount(importedTax);
  if (msg.correctedProposalId !== undefined) proposal.CorrectedProposalId = msg.correctedProposalId;
  if (msg.correctedInvoiceId !== undefined) proposal.CorrectedInvoiceId = msg.correctedInvoiceId;
  return proposal;
}

/** Whether a proposal is a credit proposal (the header of a corrective invoice). */
export function isCreditProposal(proposal: Pick<Proposal, 'CorrectedProposalId'>): boolean {
  return proposal.CorrectedProposalId !== undefined;
}
