/**
 * What the confirmation plan of a stored invoice reads, loaded the one way the confirmation
 * request's dry run (requestConfirmation.ts) and the confirmation preview (confirmationPreview.ts)
 * both use: the contract, the customer account, the actuals the details come from or correct, the
 * milestones they bill, the contract lines, and for a corrective invoice the invoice it corrects.
 * The queue-side confirmation (bridge/confirmProformaInvoice.ts) reads the same records (and the
 * actuals a half-written run created, to resume it); a test compares the two. Both list the
 * contract's actuals only up to a bound set by the invoice's size and read the rest by key.
 */
import { BusinessError } from '../../core/errors';
import { withoutEtag, type Stored } from '../../core/stored';
import type { TableStore } from '../../storage/tableStore';
import type { StoredInvoice } from '../dataverseStore';
import type { Account, Actual, Contract, ContractLine, Invoice, Milestone, StoredMilestone } from '../records';
import type { ConfirmationInput } from '../rules/confirmation/plan';
import { correctionInputs } from './corrections';

/** What loading the plan's input needs of the Dataverse store. */
export interface ConfirmationInputStore {
  invoices: Pick<TableStore<Invoice>, 'get'>;
  contracts: Pick<TableStore<Contract>, 'get'>;
  accounts: Pick<TableStore<Account>, 'get'>;
  contractLines: Pick<TableStore<ContractLine>, 'listPartition'>;
  milestones: Pick<TableStore<StoredMilestone>, 'listPartition'>;
  /** The contract's actuals with these ids, for the plan of an invoice of `ilds` ILDs (listed up to a bound, the rest by key). */
  actualsOfContractNamed(contractId: string, ids: ReadonlySet<string>, ilds: number): Promise<Map<string, Stored<Actual>>>;
}

/**
 * The plan's input for an invoice as stored now. A missing contract or customer account is a
 * BusinessError naming it (the confirmation could not name the F&O customer).
 */
export async function loadConfirmationInput(dataverse: ConfirmationInputStore, loaded: StoredInvoice, confirmedOn: string): Promise<ConfirmationInput> {
  const inv = loaded.invoice;
  const contract = await dataverse.contracts.get(inv.salesorderid, inv.salesorderid);
  if (!contract) throw new BusinessError(`Invoice ${inv.invoicenumber}: its contract ${inv.salesorderid} no longer exists, so it cannot be confirmed.`, { reference: inv.invoicenumber });
  const account: Stored<Account> | undefined = await dataverse.accounts.get(inv.customerid, inv.customerid);
  if (!account) {
    throw new BusinessError(`Invoice ${inv.invoicenumber}: its customer account ${inv.customerid} does not exist, so no F&O customer account can be named. Create the account first.`, { reference: inv.invoicenumber });
  }
  const sourceIds = new Set(loaded.details.flatMap((d) => [d.msdyn_sourceactual, d.msdyn_originalbilledactual]).filter((id): id is string => id !== undefined));
  const [sources, milestoneRows, contractLines] = await Promise.all([
    dataverse.actualsOfContractNamed(inv.salesorderid, sourceIds, loaded.details.length),
    loaded.details.some((d) => d.msdyn_milestone !== undefined) ? dataverse.milestones.listPartition(inv.salesorderid) : Promise.resolve([]),
    dataverse.contractLines.listPartition(inv.salesorderid),
  ]);
  const correction = await correctionInputs(dataverse.invoices, inv, loaded.details, sources);
  return {
    ...correction,
    invoice: withoutEtag(inv),
    lines: loaded.lines.map(withoutEtag),
    details: loaded.details.map(withoutEtag),
    sourceActuals: new Map([...sources].map(([id, a]) => [id, withoutEtag(a)])),
    milestones: new Map<string, Milestone>(milestoneRows.map((m) => [m.msdyn_contractlinescheduleofvalueid, withoutEtag(m)])),
    contract: withoutEtag(contract),
    contractLines: new Map(contractLines.map((l) => [l.salesorderdetailid, withoutEtag(l)])),
    account: withoutEtag(account),
    confirmedOn,
  };
}
