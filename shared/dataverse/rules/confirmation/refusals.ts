/**
 * Business refusals of the confirmation rules (domain.md step 6 and "What must be refused").
 * Pure: no I/O.
 */

/** Why a confirmation was refused; stable codes for callers and tests, the message is for people. */
export const ConfirmationRefusalCode = {
  /** The invoice is not Draft or In Review. */
  InvoiceStatus: 'InvoiceStatus',
  /** The invoice has no invoice line details. */
  NoDetails: 'NoDetails',
  /** The records handed in do not belong together (other invoice, other contract, missing line, duplicates). */
  InconsistentInput: 'InconsistentInput',
  /** An ILD names a source actual that was not found. */
  SourceActualMissing: 'SourceActualMissing',
  /** The source actual is not an unbilled sales actual in billing status Customer Invoice Created, or it is Adjusted/Unadjustable. */
  SourceActualNotInvoiceable: 'SourceActualNotInvoiceable',
  /** The ILD's transaction class differs from its source actual's (class is immutable). */
  ClassChanged: 'ClassChanged',
  /** A milestone ILD whose milestone is missing (or not named). */
  MilestoneMissing: 'MilestoneMissing',
  /** The milestone is not in status Customer invoice created. */
  MilestoneNotInvoiceable: 'MilestoneNotInvoiceable',
  /** The ILD amount is not quantity x price (chargeable), 0 (non-chargeable, complimentary) or the milestone amount. */
  AmountMismatch: 'AmountMismatch',
  /** The ILD's billing type cannot be invoiced (Not Available). */
  BillingTypeNotInvoiceable: 'BillingTypeNotInvoiceable',
  /** A corrective ILD that does not fit the billed line it corrects (quantity, price, billing type, class, line). */
  CorrectionInvalid: 'CorrectionInvalid',
} as const;
export type ConfirmationRefusalCode = (typeof ConfirmationRefusalCode)[keyof typeof ConfirmationRefusalCode];

/**
 * A business refusal: the confirmation can never succeed with this data, so the caller records it
 * (integrationErrors, category "Business") and completes the message. Nothing was planned.
 */
export class ConfirmationRefused extends Error {
  override readonly name = 'ConfirmationRefused';
  /** The message a person reads (same as `message`). */
  readonly reason: string;
  readonly code: ConfirmationRefusalCode;
  /** The ILD (msdyn_invoicelinetransactionid) the refusal is about, when it is about one. */
  readonly detailId: string | undefined;

  constructor(code: ConfirmationRefusalCode, reason: string, detailId?: string) {
    super(reason);
    this.reason = reason;
    this.code = code;
    this.detailId = detailId;
  }
}
