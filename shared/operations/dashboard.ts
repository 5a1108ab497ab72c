/**
 * Operations views: `GET api/errors` (the integration error log) and `GET api/dashboard`
 * (counts that tell whether the integration is healthy at a glance).
 *
 * GET errors?source=<function name>&status=Open|Resolved&top=<1..1000, default 200>
 *   -> { count, errors: [ newest first ] } (ErrorLog.list).
 *
 * GET dashboard -> {
 *   invoices: { Draft: n, "In Review": n, Confirmed: n, Posted: n, ... },
 *   backlog: { readyActuals: n },
 *   proposals: { Open: n, Posted: n },
 *   staging: { Pending: n, Waiting: n, Imported: n, Error: n },
 *   errors: { open: n, bySource: { confirmProformaInvoice: n, ... } }
 * }
 * Cheap by construction: each count reads only the one column it counts (a projected query),
 * never whole rows.
 */
import { z } from 'zod';
import { labelOf } from '../bridge/confirmation/refusals';
import { BillingStatus } from '../core/options';
import type { DataverseTables } from '../dataverse/dataverseStore';
import type { ErrorLog, ErrorRow } from './errorLog';
import type { FinanceTables } from '../finance/financeStore';
import { odata, type TableStore } from '../storage/tableStore';

export const errorsQuerySchema = z.strictObject({
  source: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,99}$/, { message: 'must be a function name such as confirmProformaInvoice' })
    .optional(),
  status: z.enum(['Open', 'Resolved'], { message: 'must be Open or Resolved' }).optional(),
  top: z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number between 1 and 1000' })
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, { message: 'must be a whole number between 1 and 1000' })
    .optional(),
});
export type ErrorsQuery = z.infer<typeof errorsQuerySchema>;

export async function listErrors(deps: { errorLog: Pick<ErrorLog, 'list'> }, query: ErrorsQuery): Promise<{ count: number; errors: ErrorRow[] }> {
  const errors = await deps.errorLog.list({
    ...(query.source ? { source: query.source } : {}),
    ...(query.status ? { status: query.status } : {}),
    top: query.top ?? 200,
  });
  return { count: errors.length, errors };
}

/** How many rows have each value of one column (rows without it count as "none"). Reads only that column. */
export async function countBy(store: { ready(): Promise<void>; client: TableStore<unknown>['client'] }, column: string, filter?: string): Promise<Map<string, number>> {
  await store.ready();
  const counts = new Map<string, number>();
  const iterator = store.client.listEntities<Record<string, unknown>>({ queryOptions: { select: [column], ...(filter ? { filter } : {}) } });
  for await (const entity of iterator) {
    const value = entity[column];
    const key = typeof value === 'string' || typeof value === 'number' ? String(value) : 'none';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export interface Dashboard {
  invoices: Record<string, number>;
  backlog: { readyActuals: number };
  proposals: Record<string, number>;
  staging: Record<string, number>;
  errors: { open: number; bySource: Record<string, number> };
}

export async function dashboard(deps: { dataverse: DataverseTables; finance: FinanceTables; errorLog: Pick<ErrorLog, 'store'> }): Promise<Dashboard> {
  const { dataverse, finance } = deps;
  const [invoices, ready, proposals, staging, errors] = await Promise.all([
    countBy(dataverse.invoices, 'msdyn_projectinvoicestatus'),
    countBy(dataverse.actuals, 'msdyn_billingstatus', odata`msdyn_billingstatus eq ${BillingStatus.ReadyToInvoice}`),
    countBy(finance.proposals, 'Status'),
    countBy(finance.staging, 'ImportStatus'),
    countBy(deps.errorLog.store, 'Source', odata`Status eq ${'Open'}`),
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
  return {
    invoices: invoiceCounts,
    backlog: { readyActuals: [...ready.values()].reduce((a, b) => a + b, 0) },
    proposals: proposalCounts,
    staging: stagingCounts,
    errors: { open, bySource },
  };
}
