/**
 * Rules of the billing backlog (domain.md step 4), pure: which actuals and milestones may be
 * marked ready to invoice, or back to not ready.
 */
import { labelOf } from '../../core/labels';
import { BillingStatus, BillingType, MilestoneStatus, TransactionType } from '../../core/options';
import type { Actual, Milestone } from '../records';

/**
 * Why an actual cannot be marked ready or not ready, or undefined when it can: only chargeable
 * unbilled sales actuals that are not adjusted and not yet on an invoice.
 * (This project has no not-to-exceed limits yet, so no actual fails that check.)
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
