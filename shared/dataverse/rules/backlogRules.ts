/**
 * Rules of the billing backlog (domain.md step 4), pure: which actuals and milestones may be
 * marked ready to invoice, or back to not ready.
 */
import { labelOf } from '../../core/labels';
import { amount, dec, sum } from '../../core/money';
import { BillingStatus, BillingType, MilestoneStatus, TransactionType } from '../../core/options';
import type { Actual, ContractLine, Milestone } from '../records';

/**
 * Why an actual cannot be marked ready or not ready, or undefined when it can: only chargeable
 * unbilled sales actuals that are not adjusted and not yet on an invoice. (The not-to-exceed limit
 * of their contract lines is checked over all of them at once: notToExceedRefusal.)
 */
export function readyRefusal(actual: Actual): string | undefined {
  const id = actual.msdyn_actualid;
  if (actual.msdyn_adjustmentstatus !== undefined) {
    return `actual ${id} is ${labelOf.adjustmentStatus(actual.msdyn_adjustmentstatus)}`;
  }
  if (actual.msdyn_transactiontypecode !== TransactionType.UnbilledSales) {
    return `actual ${id} is a ${labelOf.transactionType(actual.msdyn_transactiontypecode)} actual, not an unbilled sales actual`;
  }
  if (actual.msdyn_billingtype !== BillingType.Chargeable) {
    return `actual ${id} is ${labelOf.billingType(actual.msdyn_billingtype)}, not chargeable`;
  }
  const status = actual.msdyn_billingstatus;
  const open = status === BillingStatus.UnbilledSalesCreated || status === BillingStatus.ReadyToInvoice;
  if (!open) {
    return `actual ${id} has billing status ${labelOf.billingStatus(status)} (already on an invoice or closed)`;
  }
  return undefined;
}

/** Why a milestone cannot be marked ready (or not ready), or undefined when it can. */
export function milestoneReadyRefusal(milestone: Milestone): string | undefined {
  const status = milestone.msdyn_invoicestatus;
  if (status === MilestoneStatus.NotReady || status === MilestoneStatus.Ready) return undefined;
  return `milestone "${milestone.msdyn_name}" (${milestone.msdyn_contractlinescheduleofvalueid}) is ${labelOf.milestoneStatus(status)}`;
}

/**
 * The not-to-exceed check of marking actuals ready (domain.md step 13): per contract line with a
 * limit, what is invoiced (billed sales, reversals included, so a credit frees the limit) plus what
 * is ready or on an invoice, plus what this request makes ready, may not pass the limit. Returns
 * one refusal per line over it, naming the limit, the amounts and the excess.
 */
export function notToExceedRefusal(
  line: ContractLine,
  counted: readonly Actual[],
  becomingReady: readonly Actual[],
): string | undefined {
  if (line.msdyn_notexceedamount === undefined) return undefined;
  const limit = dec(line.msdyn_notexceedamount);
  const already = sum(counted.filter((a) => a.msdyn_salescontractlineid === line.salesorderdetailid).map((a) => a.msdyn_amount));
  const adding = sum(becomingReady.map((a) => a.msdyn_amount));
  const total = already.plus(adding);
  if (!total.greaterThan(limit)) return undefined;
  return `contract line "${line.productdescription}" (${line.salesorderdetailid}) has a not-to-exceed limit of ${amount(limit)}: ${amount(already)} is invoiced or ready and these ${becomingReady.length} actual(s) add ${amount(adding)}, ${amount(total.minus(limit))} over the limit (${becomingReady.map((a) => a.msdyn_actualid).join(', ')})`;
}
