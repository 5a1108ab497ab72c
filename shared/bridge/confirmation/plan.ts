/**
 * Confirmation of a proforma invoice (domain.md step 6) as a pure function: no I/O, no clock,
 * no randomness. `planConfirmation` turns the invoice, its lines and ILDs and the records they
 * point at into everything the confirmation writes and publishes; the use case persists the plan
 * (create-if-absent / ETag-guarded) and publishes `proposal` and `actualsToPublish`.
 *
 * DECISIONS (where domain.md and contract.md are silent)
 *
 * Ids and order
 * - Every new actual has id deterministicGuid(invoiceId, ildId, role), roles in `ConfirmationRole`
 *   ("billed", "unbilled", "unbilled-reversal", "adjustment-reversal", "remainder-unbilled",
 *   "remainder-unbilled-reversal", "remainder-billed"). A redelivery recomputes the same ids.
 * - Output order: ILDs by id (lowercase GUID, code-unit order), then roles in this order:
 *   adjustment-reversal, unbilled, unbilled-reversal, billed, remainder-unbilled,
 *   remainder-unbilled-reversal, remainder-billed. Lines by invoicedetailid. The input order
 *   does not matter.
 *
 * What each kind of ILD produces (all new actuals: accounting date = the invoice date
 * (msdyn_invoicedate); contract = the invoice's contract; customer = the invoice's customer;
 * currency = the ILD's, which must be the invoice's)
 * - Unchanged ILD (quantity, price and billing type equal to its source actual's; compared as decimals):
 *     unbilled-reversal  UnbilledSales, negative copy of the source (quantity and amount negated,
 *                        same price, class, billing type, project, contract line, document date),
 *                        reversedactual = source, skip-sync TRUE
 *     billed             BilledSales equal to the ILD, invoice = invoiceid, unbilledactual = source,
 *                        skip-sync false
 *     source actual      billing status -> Customer Invoice Posted
 * - Changed ILD (quantity, price or billing type differ):
 *     adjustment-reversal  negative copy of the source, adjustment status Unadjustable,
 *                          reversedactual = source, skip-sync FALSE (F&O reverses what it posted)
 *     unbilled             UnbilledSales as edited: the ILD's class, billing type, quantity, price,
 *                          amount (0.00 for Non Chargeable / Complimentary), document date; synced
 *     unbilled-reversal    negative copy of "unbilled", reversedactual = it, skip-sync TRUE
 *     billed               BilledSales equal to the ILD, unbilledactual = "unbilled", synced
 *     when ILD quantity < source quantity, remainder = source qty - ILD qty:
 *     remainder-unbilled   UnbilledSales, Non Chargeable, quantity = remainder, price = the SOURCE
 *                          actual's price (the rate the work was recorded at), amount 0.00, document
 *                          date of the source; synced
 *     remainder-unbilled-reversal  its negative copy, skip-sync TRUE
 *     remainder-billed     BilledSales, Non Chargeable, quantity = remainder, same price, amount 0.00,
 *                          tax 0.00, unbilledactual = "remainder-unbilled", synced
 *     source actual        adjustment status -> Adjusted, billing status -> Customer Invoice Posted
 * - Milestone ILD (msdyn_milestone set, class Milestone): billed, class Milestone, the ILD's billing
 *   type, quantity 1, price = amount = the milestone amount (the ILD amount must equal it), no
 *   unbilledactual; the milestone -> Customer invoice posted.
 * - Manual ILD (no source actual, no milestone; class Time/Expense/Material/Fee): the billing
 *   method is the invoice line's msdyn_billingmethod (the contract line, when given, must agree).
 *   T&M: unbilled (synced) + unbilled-reversal (skip-sync) + billed (unbilledactual = unbilled).
 *   Fixed price: billed only, no unbilledactual.
 *
 * Fields
 * - Billing status: every new actual is Customer Invoice Posted (unbilled, reversals, billed), and
 *   every existing actual the confirmation touches ends Customer Invoice Posted too.
 * - Adjustment status: only adjustment-reversal (Unadjustable) and the adjusted source (Adjusted).
 * - msdyn_invoice: ONLY billed sales actuals carry it; unbilled actuals and reversals never do.
 * - msdyn_unbilledactual: only on billed sales actuals, and only when they bill an unbilled actual.
 * - msdyn_reversedactual: only on reversals.
 * - msdyn_salestaxamount: on billed sales actuals = the ILD's tax (2 decimals; 0.00 on
 *   remainder-billed), so F&O proposal lines carry tax. Other new actuals do not carry it.
 * - Skip-sync: TRUE only for invoicing reversals ("unbilled-reversal",
 *   "remainder-unbilled-reversal"); everything else syncs. `actualsToPublish` = new actuals with
 *   skip-sync false. Updated (existing) actuals are not republished.
 * - Document date: the ILD's for actuals made from the ILD; a reversal copies the document date of
 *   the actual it reverses; the remainder uses the source actual's.
 * - F&O-written fields (voucher, posting date, accounting amount, ...) are never copied onto new actuals.
 * - Amounts are 2-decimal strings (money.amount); quantities and prices keep the strings they come
 *   from (negated with money.negate; the remainder is formatted with money.quantity).
 *
 * Totals and proposal
 * - Line extendedamount / tax = sums of its ILDs' amounts / taxes (a line without ILDs: 0.00).
 * - Invoice totalamount / totaltax = sums over all ILDs. The ILD amount is trusted as stored but must
 *   equal quantity x price (Chargeable), 0 (Non Chargeable, Complimentary) or the milestone amount.
 * - proposal: proposalId = invoicenumber, expectedLineCount = number of billed sales actuals
 *   (remainder-billed included: each becomes a proposal line), expectedAmount / expectedTax = their
 *   sums (equal to totalamount / totaltax by construction), customerAccount = account.accountnumber.
 *
 * Refusals (ConfirmationRefused, nothing planned): status not Draft/In Review; no ILDs; an ILD with
 * a missing source actual, a source that is not Unbilled Sales, is Adjusted/Unadjustable or not in
 * Customer Invoice Created; class differing from the source's; a milestone ILD whose milestone is
 * missing or not Customer invoice created; amount mismatch; billing type Not Available; and records
 * that do not belong together (other invoice/contract/customer/currency, unknown invoice line,
 * duplicate ILD ids, two ILDs on one source actual or one milestone).
 *
 * Resume (`input.resume`): re-planning an invoice whose confirmation was partly or fully written
 * (redelivery after a crash, or a repeat confirmation). Then a source actual already in exactly
 * the state this plan gives it (Customer Invoice Posted, Adjusted iff the ILD changed), a milestone
 * already Customer invoice posted, and an invoice already Confirmed (keeping its msdyn_confirmedon)
 * are accepted, and the plan equals the first one (same ids, same records), so create-if-absent
 * writes and deterministic message ids make re-applying it harmless. Off by default.
 */
import type { InvoiceProposalMessage } from '../messages';
import type {
  Account,
  Actual,
  Contract,
  ContractLine,
  Invoice,
  InvoiceLine,
  InvoiceLineDetail,
  Milestone,
} from '../../dataverse/records';
import { deterministicGuid } from '../../core/ids';
import { amount, dec, type Dec, eq, extend, negate, quantity } from '../../core/money';
import {
  AdjustmentStatus,
  BillingMethod,
  BillingStatus,
  BillingType,
  InvoiceStatus,
  MilestoneStatus,
  TransactionClass,
  TransactionType,
} from '../../core/options';
import { labelOf } from '../../core/labels';
import { ConfirmationRefusalCode as Code, ConfirmationRefused } from './refusals';

export { ConfirmationRefusalCode, ConfirmationRefused } from './refusals';

export interface ConfirmationInput {
  invoice: Invoice;
  lines: InvoiceLine[];
  details: InvoiceLineDetail[];
  /** The unbilled actuals the ILDs came from (msdyn_sourceactual), by id. */
  sourceActuals: ReadonlyMap<string, Actual>;
  /** Milestones of milestone ILDs, by id. */
  milestones: ReadonlyMap<string, Milestone>;
  contract: Contract;
  contractLines: ReadonlyMap<string, ContractLine>;
  account: Account;
  /** ISO timestamp. */
  confirmedOn: string;
  /** Re-plan a confirmation that may already be partly or fully written (see the file comment). */
  resume?: boolean;
}

export interface ConfirmationPlan {
  /** Status Confirmed, msdyn_confirmedon, totalamount/totaltax recomputed from the ILDs. */
  invoice: Invoice;
  /** extendedamount/tax recomputed per line from its ILDs. */
  lines: InvoiceLine[];
  /** Every actual created, with deterministic ids. */
  newActuals: Actual[];
  /** Existing actuals with their changed fields applied (full records). */
  updatedActuals: Actual[];
  updatedMilestones: Milestone[];
  /** The new actuals that are not skip-sync, in the same stable order as newActuals. */
  actualsToPublish: Actual[];
  proposal: InvoiceProposalMessage;
}

export const ConfirmationRole = {
  AdjustmentReversal: 'adjustment-reversal',
  Unbilled: 'unbilled',
  UnbilledReversal: 'unbilled-reversal',
  Billed: 'billed',
  RemainderUnbilled: 'remainder-unbilled',
  RemainderUnbilledReversal: 'remainder-unbilled-reversal',
  RemainderBilled: 'remainder-billed',
} as const;
export type ConfirmationRole = (typeof ConfirmationRole)[keyof typeof ConfirmationRole];

/** The id of the actual a confirmation creates for an ILD in a role (e.g. its billed sales actual). */
export function confirmationActualId(invoiceId: string, detailId: string, role: ConfirmationRole): string {
  return deterministicGuid(invoiceId, detailId, role);
}

/** Confirmation is allowed only from Draft or In Review. */
export function canConfirm(status: number): { ok: true } | { ok: false; reason: string } {
  if (status === InvoiceStatus.Draft || status === InvoiceStatus.InReview) return { ok: true };
  const already =
    status === InvoiceStatus.Confirmed ? ' It is already confirmed; a repeat confirmation changes nothing.' : '';
  return {
    ok: false,
    reason: `the invoice is ${labelOf.invoiceStatus(status)}; only a Draft or In Review invoice can be confirmed.${already}`,
  };
}

// ---------------------------------------------------------------------------------------------

/** What every new actual of this invoice shares. */
interface Frame {
  invoiceId: string;
  contractId: string;
  customerId: string;
  accountingDate: string;
}

/** The money and placement of an actual to create. */
interface Spec {
  cls: TransactionClass;
  billingType: BillingType;
  quantity: string;
  price: string;
  amount: string;
  currency: string;
  documentDate: string;
  project: string;
  contractLine: string;
}

function specOfDetail(ild: InvoiceLineDetail): Spec {
  return {
    cls: ild.msdyn_transactionclassification,
    billingType: ild.msdyn_billingtype,
    quantity: ild.msdyn_quantity,
    price: ild.msdyn_price,
    amount: amt(ild.msdyn_amount),
    currency: ild.transactioncurrencyid,
    documentDate: ild.msdyn_documentdate,
    project: ild.msdyn_project,
    contractLine: ild.msdyn_salescontractlineid,
  };
}

/** A new actual of the confirmation as the spec describes it (Customer Invoice Posted, synced). */
function newActual(f: Frame, ildId: string, role: ConfirmationRole, s: Spec, type: TransactionType): Actual {
  return {
    msdyn_actualid: confirmationActualId(f.invoiceId, ildId, role),
    msdyn_transactiontypecode: type,
    msdyn_transactionclassification: s.cls,
    msdyn_billingtype: s.billingType,
    msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
    msdyn_quantity: s.quantity,
    msdyn_price: s.price,
    msdyn_amount: s.amount,
    transactioncurrencyid: s.currency,
    msdyn_documentdate: s.documentDate,
    msdyn_accountingdate: f.accountingDate,
    msdyn_project: s.project,
    msdyn_salescontract: f.contractId,
    msdyn_salescontractlineid: s.contractLine,
    msdyn_accountcustomer: f.customerId,
    msdyn_skipsync: false,
  };
}

function newUnbilled(f: Frame, ildId: string, role: ConfirmationRole, s: Spec): Actual {
  return newActual(f, ildId, role, s, TransactionType.UnbilledSales);
}

/** The billed sales actual: carries the invoice, the ILD's tax and the unbilled actual it bills (if any). */
function newBilled(f: Frame, ildId: string, role: ConfirmationRole, s: Spec, unbilledActualId: string | undefined, tax: string): Actual {
  const billed: Actual = { ...newActual(f, ildId, role, s, TransactionType.BilledSales), msdyn_invoice: f.invoiceId, msdyn_salestaxamount: tax };
  if (unbilledActualId !== undefined) billed.msdyn_unbilledactual = unbilledActualId;
  return billed;
}

/** A negative copy of `of`: quantity and amount negated, same price; never carries msdyn_invoice. */
function reversalOf(
  f: Frame,
  ildId: string,
  role: ConfirmationRole,
  of: Actual,
  skipSync: boolean,
  adjustment?: AdjustmentStatus,
): Actual {
  const reversal: Actual = {
    msdyn_actualid: confirmationActualId(f.invoiceId, ildId, role),
    msdyn_transactiontypecode: of.msdyn_transactiontypecode,
    msdyn_transactionclassification: of.msdyn_transactionclassification,
    msdyn_billingtype: of.msdyn_billingtype,
    msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
    msdyn_quantity: negate(of.msdyn_quantity),
    msdyn_price: of.msdyn_price,
    msdyn_amount: amt(negate(of.msdyn_amount)),
    transactioncurrencyid: of.transactioncurrencyid,
    msdyn_documentdate: of.msdyn_documentdate,
    msdyn_accountingdate: f.accountingDate,
    msdyn_project: of.msdyn_project,
    msdyn_salescontract: of.msdyn_salescontract,
    msdyn_salescontractlineid: of.msdyn_salescontractlineid,
    msdyn_accountcustomer: of.msdyn_accountcustomer,
    msdyn_reversedactual: of.msdyn_actualid,
    msdyn_skipsync: skipSync,
  };
  if (adjustment !== undefined) reversal.msdyn_adjustmentstatus = adjustment;
  return reversal;
}

function byId<T>(key: (t: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}

/** Decimal equality, skipping the decimal parse when the strings are identical (the common case). */
function same(a: string, b: string): boolean {
  return a === b || eq(a, b);
}

const TWO_DECIMALS = /^-?\d+\.\d\d$/;
/** money.amount, skipping the decimal round trip for strings already in amount form. */
function amt(value: string): string {
  return TWO_DECIMALS.test(value) && value !== '-0.00' ? value : amount(value);
}

function isZeroAmountBillingType(t: BillingType): boolean {
  return t === BillingType.NonChargeable || t === BillingType.Complimentary;
}

// ---------------------------------------------------------------------------------------------

export function planConfirmation(input: ConfirmationInput): ConfirmationPlan {
  const { invoice, account, contract } = input;
  const resume = input.resume === true;
  const inv = `Invoice ${invoice.invoicenumber}`;
  const refuse = (code: Code, message: string, detailId?: string): never => {
    throw new ConfirmationRefused(code, `${inv}: ${message}`, detailId);
  };

  // Header --------------------------------------------------------------------------------------
  const resumingConfirmed = resume && invoice.msdyn_projectinvoicestatus === InvoiceStatus.Confirmed;
  if (!resumingConfirmed) {
    const allowed = canConfirm(invoice.msdyn_projectinvoicestatus);
    if (!allowed.ok) refuse(Code.InvoiceStatus, allowed.reason);
  }
  const confirmedOn =
    resumingConfirmed && invoice.msdyn_confirmedon !== undefined ? invoice.msdyn_confirmedon : input.confirmedOn;
  if (Number.isNaN(Date.parse(confirmedOn))) {
    refuse(Code.InconsistentInput, `the confirmation time "${confirmedOn}" is not an ISO-8601 timestamp.`);
  }
  if (contract.salesorderid !== invoice.salesorderid) {
    refuse(
      Code.InconsistentInput,
      `it belongs to contract ${invoice.salesorderid}, but contract ${contract.salesorderid} was supplied.`,
    );
  }
  if (account.accountid !== invoice.customerid) {
    refuse(
      Code.InconsistentInput,
      `its customer is ${invoice.customerid}, but account ${account.accountid} was supplied.`,
    );
  }
  if (input.details.length === 0) {
    refuse(Code.NoDetails, 'it has no invoice line details; add at least one transaction before confirming.');
  }

  // Lines ---------------------------------------------------------------------------------------
  interface LineTotals {
    line: InvoiceLine;
    amount: Dec;
    tax: Dec;
  }
  const lineTotals = new Map<string, LineTotals>();
  for (const line of input.lines) {
    if (line.invoiceid !== invoice.invoiceid) {
      refuse(Code.InconsistentInput, `invoice line ${line.invoicedetailid} belongs to invoice ${line.invoiceid}.`);
    }
    if (lineTotals.has(line.invoicedetailid)) {
      refuse(Code.InconsistentInput, `invoice line ${line.invoicedetailid} was supplied twice.`);
    }
    lineTotals.set(line.invoicedetailid, { line, amount: dec(0), tax: dec(0) });
  }

  // ILDs ----------------------------------------------------------------------------------------
  const frame: Frame = {
    invoiceId: invoice.invoiceid,
    contractId: invoice.salesorderid,
    customerId: invoice.customerid,
    accountingDate: invoice.msdyn_invoicedate,
  };
  const details = [...input.details].sort(byId((d) => d.msdyn_invoicelinetransactionid));
  const seenDetails = new Set<string>();
  const seenSources = new Map<string, string>();
  const seenMilestones = new Map<string, string>();

  const newActuals: Actual[] = [];
  const updatedActuals: Actual[] = [];
  const updatedMilestones: Milestone[] = [];
  let totalAmount = dec(0);
  let totalTax = dec(0);

  for (const ild of details) {
    const id = ild.msdyn_invoicelinetransactionid;
    const ildRef = `invoice line detail ${id} (${labelOf.transactionClass(ild.msdyn_transactionclassification)})`;
    const no = (code: Code, message: string): never => refuse(code, `${ildRef} ${message}`, id);

    // Belonging together.
    if (seenDetails.has(id)) no(Code.InconsistentInput, 'was supplied twice.');
    seenDetails.add(id);
    if (ild.msdyn_invoice !== invoice.invoiceid) no(Code.InconsistentInput, `belongs to invoice ${ild.msdyn_invoice}.`);
    const totals = lineTotals.get(ild.msdyn_invoicelineid);
    if (totals === undefined) {
      return no(Code.InconsistentInput, `is on invoice line ${ild.msdyn_invoicelineid}, which is not on the invoice.`);
    }
    if (totals.line.salesorderdetailid !== ild.msdyn_salescontractlineid) {
      no(
        Code.InconsistentInput,
        `names contract line ${ild.msdyn_salescontractlineid}, but its invoice line is for contract line ${totals.line.salesorderdetailid}.`,
      );
    }
    const contractLine = input.contractLines.get(ild.msdyn_salescontractlineid);
    if (contractLine !== undefined && contractLine.msdyn_billingmethod !== totals.line.msdyn_billingmethod) {
      no(
        Code.InconsistentInput,
        `is on an invoice line whose billing method differs from its contract line ${contractLine.salesorderdetailid}.`,
      );
    }
    if (ild.transactioncurrencyid !== invoice.transactioncurrencyid) {
      no(
        Code.InconsistentInput,
        `is in ${ild.transactioncurrencyid}, but the invoice is in ${invoice.transactioncurrencyid}.`,
      );
    }
    if (ild.msdyn_billingtype === BillingType.NotAvailable) {
      no(
        Code.BillingTypeNotInvoiceable,
        'has billing type Not Available, which cannot be invoiced; set it to Chargeable, Non Chargeable or Complimentary, or delete it.',
      );
    }

    const tax = amt(ild.msdyn_tax);
    const f = frame;

    if (ild.msdyn_milestone !== undefined || ild.msdyn_transactionclassification === TransactionClass.Milestone) {
      // Milestone ILD ----------------------------------------------------------------------------
      if (ild.msdyn_milestone === undefined) {
        return no(Code.MilestoneMissing, 'has class Milestone but names no milestone.');
      }
      if (ild.msdyn_transactionclassification !== TransactionClass.Milestone) {
        no(Code.ClassChanged, `names milestone ${ild.msdyn_milestone} but its class is not Milestone.`);
      }
      if (ild.msdyn_sourceactual !== undefined) {
        no(Code.InconsistentInput, `names both milestone ${ild.msdyn_milestone} and actual ${ild.msdyn_sourceactual}.`);
      }
      const milestone = input.milestones.get(ild.msdyn_milestone);
      if (milestone === undefined) {
        return no(Code.MilestoneMissing, `bills milestone ${ild.msdyn_milestone}, which was not found.`);
      }
      const earlier = seenMilestones.get(milestone.msdyn_contractlinescheduleofvalueid);
      if (earlier !== undefined) no(Code.InconsistentInput, `bills milestone ${ild.msdyn_milestone}, as does ILD ${earlier}.`);
      seenMilestones.set(milestone.msdyn_contractlinescheduleofvalueid, id);
      const status = milestone.msdyn_invoicestatus;
      const fresh = status === MilestoneStatus.CustomerInvoiceCreated;
      const applied = resume && status === MilestoneStatus.CustomerInvoicePosted;
      if (!fresh && !applied) {
        no(
          Code.MilestoneNotInvoiceable,
          `bills milestone "${milestone.msdyn_name}" (${ild.msdyn_milestone}), whose status is ${labelOf.milestoneStatus(status)}; only a milestone in status Customer invoice created can be invoiced.`,
        );
      }
      if (!eq(ild.msdyn_amount, milestone.msdyn_amount)) {
        no(
          Code.AmountMismatch,
          `has amount ${ild.msdyn_amount}, but milestone "${milestone.msdyn_name}" is for ${amount(milestone.msdyn_amount)}; a milestone is invoiced in full.`,
        );
      }
      const milestoneAmount = amount(milestone.msdyn_amount);
      newActuals.push(
        newBilled(
          f,
          id,
          ConfirmationRole.Billed,
          { ...specOfDetail(ild), quantity: '1', price: milestoneAmount, amount: milestoneAmount },
          undefined,
          tax,
        ),
      );
      updatedMilestones.push({ ...milestone, msdyn_invoicestatus: MilestoneStatus.CustomerInvoicePosted });
    } else {
      // Amount check for everything priced by quantity x price.
      const expected = isZeroAmountBillingType(ild.msdyn_billingtype)
        ? '0.00'
        : extend(ild.msdyn_quantity, ild.msdyn_price);
      if (!same(ild.msdyn_amount, expected)) {
        const why =
          expected === '0.00' && isZeroAmountBillingType(ild.msdyn_billingtype)
            ? `it is ${labelOf.billingType(ild.msdyn_billingtype)}, so its amount must be 0.00`
            : `quantity ${ild.msdyn_quantity} x price ${ild.msdyn_price} = ${expected}`;
        no(Code.AmountMismatch, `has amount ${ild.msdyn_amount}, but ${why}; correct the detail before confirming.`);
      }

      if (ild.msdyn_sourceactual !== undefined) {
        // ILD from an unbilled actual ------------------------------------------------------------
        const sourceId = ild.msdyn_sourceactual;
        const source = input.sourceActuals.get(sourceId);
        if (source === undefined) {
          return no(Code.SourceActualMissing, `came from actual ${sourceId}, which was not found.`);
        }
        const earlier = seenSources.get(sourceId);
        if (earlier !== undefined) no(Code.InconsistentInput, `came from actual ${sourceId}, as did ILD ${earlier}.`);
        seenSources.set(sourceId, id);
        if (source.msdyn_transactiontypecode !== TransactionType.UnbilledSales) {
          no(
            Code.SourceActualNotInvoiceable,
            `came from actual ${sourceId}, which is a ${labelOf.transactionType(source.msdyn_transactiontypecode)} actual, not an unbilled sales actual.`,
          );
        }
        if (source.msdyn_transactionclassification !== ild.msdyn_transactionclassification) {
          no(
            Code.ClassChanged,
            `has class ${labelOf.transactionClass(ild.msdyn_transactionclassification)}, but its actual ${sourceId} is ${labelOf.transactionClass(source.msdyn_transactionclassification)}; the transaction class cannot be changed. Delete the detail and add a manual one instead.`,
          );
        }
        if (source.msdyn_salescontract !== invoice.salesorderid) {
          no(Code.InconsistentInput, `came from actual ${sourceId} of another contract (${source.msdyn_salescontract}).`);
        }
        const changed =
          !same(ild.msdyn_quantity, source.msdyn_quantity) ||
          !same(ild.msdyn_price, source.msdyn_price) ||
          ild.msdyn_billingtype !== source.msdyn_billingtype;

        const fresh =
          source.msdyn_billingstatus === BillingStatus.CustomerInvoiceCreated &&
          source.msdyn_adjustmentstatus === undefined;
        const applied =
          resume &&
          source.msdyn_billingstatus === BillingStatus.CustomerInvoicePosted &&
          source.msdyn_adjustmentstatus === (changed ? AdjustmentStatus.Adjusted : undefined);
        if (!fresh && !applied) {
          if (source.msdyn_adjustmentstatus !== undefined) {
            no(
              Code.SourceActualNotInvoiceable,
              `came from actual ${sourceId}, which is ${labelOf.adjustmentStatus(source.msdyn_adjustmentstatus)} and cannot be invoiced; delete the detail.`,
            );
          }
          no(
            Code.SourceActualNotInvoiceable,
            `came from actual ${sourceId}, whose billing status is ${labelOf.billingStatus(source.msdyn_billingstatus)}; only actuals in status Customer Invoice Created (on this draft invoice) can be invoiced.`,
          );
        }

        const billedSpec = specOfDetail(ild);
        if (!changed) {
          newActuals.push(reversalOf(f, id, ConfirmationRole.UnbilledReversal, source, true));
          newActuals.push(newBilled(f, id, ConfirmationRole.Billed, billedSpec, sourceId, tax));
          updatedActuals.push({ ...source, msdyn_billingstatus: BillingStatus.CustomerInvoicePosted });
        } else {
          newActuals.push(
            reversalOf(f, id, ConfirmationRole.AdjustmentReversal, source, false, AdjustmentStatus.Unadjustable),
          );
          const unbilled = newUnbilled(f, id, ConfirmationRole.Unbilled, billedSpec);
          newActuals.push(unbilled);
          newActuals.push(reversalOf(f, id, ConfirmationRole.UnbilledReversal, unbilled, true));
          newActuals.push(newBilled(f, id, ConfirmationRole.Billed, billedSpec, unbilled.msdyn_actualid, tax));

          const remainder = dec(source.msdyn_quantity).minus(dec(ild.msdyn_quantity));
          if (remainder.greaterThan(0)) {
            const remainderSpec: Spec = {
              cls: source.msdyn_transactionclassification,
              billingType: BillingType.NonChargeable,
              quantity: quantity(remainder),
              price: source.msdyn_price,
              amount: '0.00',
              currency: source.transactioncurrencyid,
              documentDate: source.msdyn_documentdate,
              project: source.msdyn_project,
              contractLine: source.msdyn_salescontractlineid,
            };
            const remainderUnbilled = newUnbilled(f, id, ConfirmationRole.RemainderUnbilled, remainderSpec);
            newActuals.push(remainderUnbilled);
            newActuals.push(reversalOf(f, id, ConfirmationRole.RemainderUnbilledReversal, remainderUnbilled, true));
            newActuals.push(
              newBilled(
                f,
                id,
                ConfirmationRole.RemainderBilled,
                remainderSpec,
                remainderUnbilled.msdyn_actualid,
                '0.00',
              ),
            );
          }
          updatedActuals.push({
            ...source,
            msdyn_billingstatus: BillingStatus.CustomerInvoicePosted,
            msdyn_adjustmentstatus: AdjustmentStatus.Adjusted,
          });
        }
      } else {
        // Manual ILD -----------------------------------------------------------------------------
        const spec = specOfDetail(ild);
        if (totals.line.msdyn_billingmethod === BillingMethod.TimeAndMaterial) {
          const unbilled = newUnbilled(f, id, ConfirmationRole.Unbilled, spec);
          newActuals.push(unbilled);
          newActuals.push(reversalOf(f, id, ConfirmationRole.UnbilledReversal, unbilled, true));
          newActuals.push(newBilled(f, id, ConfirmationRole.Billed, spec, unbilled.msdyn_actualid, tax));
        } else {
          newActuals.push(newBilled(f, id, ConfirmationRole.Billed, spec, undefined, tax));
        }
      }
    }

    const ildAmount = dec(ild.msdyn_amount);
    const ildTax = dec(ild.msdyn_tax);
    totals.amount = totals.amount.plus(ildAmount);
    totals.tax = totals.tax.plus(ildTax);
    totalAmount = totalAmount.plus(ildAmount);
    totalTax = totalTax.plus(ildTax);
  }

  // Results -------------------------------------------------------------------------------------
  const lines = [...lineTotals.values()]
    .sort(byId((t) => t.line.invoicedetailid))
    .map((t) => ({ ...t.line, extendedamount: amount(t.amount), tax: amount(t.tax) }));

  const confirmedInvoice: Invoice = {
    ...invoice,
    msdyn_projectinvoicestatus: InvoiceStatus.Confirmed,
    msdyn_confirmedon: confirmedOn,
    totalamount: amount(totalAmount),
    totaltax: amount(totalTax),
  };

  let billedCount = 0;
  let billedAmount = dec(0);
  let billedTax = dec(0);
  for (const a of newActuals) {
    if (a.msdyn_transactiontypecode !== TransactionType.BilledSales) continue;
    billedCount += 1;
    billedAmount = billedAmount.plus(dec(a.msdyn_amount));
    billedTax = billedTax.plus(dec(a.msdyn_salestaxamount ?? '0'));
  }
  const expectedAmount = amount(billedAmount);
  const expectedTax = amount(billedTax);
  if (expectedAmount !== confirmedInvoice.totalamount || expectedTax !== confirmedInvoice.totaltax) {
    // Cannot happen: every ILD amount/tax is validated and billed exactly once. A bug, not a refusal.
    throw new Error(
      `${inv}: billed actuals total ${expectedAmount} (tax ${expectedTax}) but the invoice totals ${confirmedInvoice.totalamount} (tax ${confirmedInvoice.totaltax})`,
    );
  }

  const proposal: InvoiceProposalMessage = {
    proposalId: invoice.invoicenumber,
    invoiceId: invoice.invoiceid,
    contractId: invoice.salesorderid,
    customerId: invoice.customerid,
    customerAccount: account.accountnumber,
    currencyCode: invoice.transactioncurrencyid,
    invoiceDate: invoice.msdyn_invoicedate,
    expectedLineCount: billedCount,
    expectedAmount,
    expectedTax,
    confirmedOn,
  };

  return {
    invoice: confirmedInvoice,
    lines,
    newActuals,
    updatedActuals,
    updatedMilestones,
    actualsToPublish: newActuals.filter((a) => !a.msdyn_skipsync),
    proposal,
  };
}
