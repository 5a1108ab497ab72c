/**
 * `GET api/dashboard`: counts that tell whether the integration is healthy at a glance.
 *   { invoices: { Draft: n, "In Review": n, Confirmed: n, Posted: n, ... },
 *     backlog: { readyActuals: n }, proposals: { Open: n, Posted: n },
 *     staging: { Pending: n, Waiting: n, Imported: n, Error: n },
 *     errors: { open: n, bySource: { confirmProformaInvoice: n, ... } } }
 * Cheap by construction: each count reads only the one column it counts, never whole rows.
 */
import { labelOf } from '../core/labels';
import type { DataverseStore } from '../dataverse/dataverseStore';
import type { FinanceStore } from '../finance/financeStore';
import type { ErrorLog } from './errorLogStore';

export interface Dashboard {
  invoices: Record<string, number>;
  backlog: { readyActuals: number };
  proposals: Record<string, number>;
  staging: Record<string, number>;
  errors: { open: number; bySource: Record<string, number> };
}

export interface DashboardDeps {
  dataverse: Pick<DataverseStore, 'invoiceCountsByStatus' | 'readyActualCount'>;
  finance: Pick<FinanceStore, 'proposalCountsByStatus' | 'stagingCountsByStatus'>;
  errorLog: Pick<ErrorLog, 'openCountsBySource'>;
}

export async function dashboard(deps: DashboardDeps): Promise<Dashboard> {
  const [invoices, readyActuals, proposals, staging, errors] = await Promise.all([
    deps.dataverse.invoiceCountsByStatus(),
    deps.dataverse.readyActualCount(),
    deps.finance.proposalCountsByStatus(),
    deps.finance.stagingCountsByStatus(),
    deps.errorLog.openCountsBySource(),
  ]);
  const invoiceCounts: Record<string, number> = {};
  for (const [value, n] of invoices) invoiceCounts[labelOf.invoiceStatus(Number(value))] = n;
  const stagingCounts: Record<string, number> = { Pending: 0, Waiting: 0, Imported: 0, Error: 0 };
  for (const [value, n] of staging) stagingCounts[value] = n;
  const proposalCounts: Record<string, number> = { Open: 0, Posted: 0 };
  for (const [value, n] of proposals) proposalCounts[value] = n;
  const bySource: Record<string, number> = {};
  let open = 0;
  for (const [source, n] of errors) {
    bySource[source] = n;
    open += n;
  }
  return { invoices: invoiceCounts, backlog: { readyActuals }, proposals: proposalCounts, staging: stagingCounts, errors: { open, bySource } };
}
