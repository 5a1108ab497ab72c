/**
 * What approving a time, expense or material entry makes (domain.md step 1), pure: a Cost actual,
 * and on a time-and-material line also a chargeable Unbilled Sales actual. Fixed-price lines are
 * billed through milestones, so they get the cost only.
 */
import { deterministicGuid } from '../../core/ids';
import { eq, extend } from '../../core/money';
import { BillingMethod, BillingStatus, BillingType, TransactionClass, TransactionType } from '../../core/options';
import type { Actual, Contract, ContractLine } from '../records';

/** An entry as approved: its id is what makes approving it again harmless. */
export interface ApprovedEntryInput {
  entryId: string;
  classification: 'Time' | 'Expense' | 'Material';
  quantity: string;
  /** Sales price per unit, in the contract's currency. */
  price: string;
  /** Cost per unit; the sales price when not given. */
  costPrice?: string;
  documentDate: string;
  /** The document date when not given. */
  accountingDate?: string;
}

export function approvalActualId(entryId: string, role: 'cost' | 'unbilled'): string {
  return deterministicGuid('approval', entryId, role);
}

const CLASS: Record<ApprovedEntryInput['classification'], TransactionClass> = {
  Time: TransactionClass.Time,
  Expense: TransactionClass.Expense,
  Material: TransactionClass.Material,
};

/**
 * The actuals of one entry on its contract line: the Cost actual (amount = quantity x cost price,
 * Chargeable on time and material, Non Chargeable on fixed price, no billing status) and, on a
 * time-and-material line, the Unbilled Sales actual (amount = quantity x price, Chargeable,
 * Unbilled Sales Created). Currency and customer from the contract, project from the line.
 */
export function approvalActuals(entry: ApprovedEntryInput, line: ContractLine, contract: Contract): { cost: Actual; unbilled?: Actual } {
  const timeAndMaterial = line.msdyn_billingmethod === BillingMethod.TimeAndMaterial;
  const common = {
    msdyn_transactionclassification: CLASS[entry.classification],
    msdyn_quantity: entry.quantity,
    transactioncurrencyid: contract.transactioncurrencyid,
    msdyn_documentdate: entry.documentDate,
    msdyn_accountingdate: entry.accountingDate ?? entry.documentDate,
    msdyn_project: line.msdyn_project,
    msdyn_salescontract: contract.salesorderid,
    msdyn_salescontractlineid: line.salesorderdetailid,
    msdyn_accountcustomer: contract.customerid,
    msdyn_skipsync: false,
  };
  const costPrice = entry.costPrice ?? entry.price;
  const cost: Actual = {
    ...common,
    msdyn_actualid: approvalActualId(entry.entryId, 'cost'),
    msdyn_transactiontypecode: TransactionType.Cost,
    msdyn_billingtype: timeAndMaterial ? BillingType.Chargeable : BillingType.NonChargeable,
    msdyn_price: costPrice,
    msdyn_amount: extend(entry.quantity, costPrice),
  };
  if (!timeAndMaterial) return { cost };
  const unbilled: Actual = {
    ...common,
    msdyn_actualid: approvalActualId(entry.entryId, 'unbilled'),
    msdyn_transactiontypecode: TransactionType.UnbilledSales,
    msdyn_billingtype: BillingType.Chargeable,
    msdyn_billingstatus: BillingStatus.UnbilledSalesCreated,
    msdyn_price: entry.price,
    msdyn_amount: extend(entry.quantity, entry.price),
  };
  return { cost, unbilled };
}

/** The money facts an entry makes: an entry approved again must make the same ones. */
export function sameApprovalFacts(a: Actual, b: Actual): boolean {
  return (
    a.msdyn_transactiontypecode === b.msdyn_transactiontypecode &&
    a.msdyn_transactionclassification === b.msdyn_transactionclassification &&
    a.msdyn_salescontractlineid === b.msdyn_salescontractlineid &&
    a.msdyn_documentdate === b.msdyn_documentdate &&
    eq(a.msdyn_quantity, b.msdyn_quantity) &&
    eq(a.msdyn_price, b.msdyn_price)
  );
}
