/**
 * What each console page shows, gathered from both sides and the error log through the stores'
 * named queries and the operations use cases (trace, dashboard, error list), and the query strings
 * the pages take (zod). Pure data: the pages (pages.ts) turn it into HTML.
 */
import { z } from 'zod';
import { byKey, mapLimit } from '../../core/collections';
import { NotFoundError, ValidationError } from '../../core/errors';
import { describeZodError, guid } from '../../core/fields';
import { labelOf } from '../../core/labels';
import { InvoiceStatus } from '../../core/options';
import { withoutEtag } from '../../core/stored';
import type { DataverseStore } from '../../dataverse/dataverseStore';
import { previewConfirmation, type ConfirmationPreview } from '../../dataverse/invoices/confirmationPreview';
import { viewOf, type InvoiceView } from '../../dataverse/invoices/invoiceView';
import type { Account, Actual, Contract, ContractLine, Invoice, StoredMilestone } from '../../dataverse/records';
import { EDITABLE_INVOICE_STATUSES } from '../../dataverse/rules/invoiceRules';
import type { FinanceStore } from '../../finance/financeStore';
import { listProposals } from '../../finance/proposals';
import type { StagingRow } from '../../finance/records';
import { dashboard, type Dashboard } from '../dashboard';
import { errorsQuerySchema, listErrors, type ErrorsPage } from '../errorList';
import type { ErrorLog } from '../errorLogStore';
import { IMPORT_FROM_STAGING } from '../importRuns';
import type { JobRuns, JobRunView } from '../jobRunStore';
import { traceInvoice, type InvoiceTrace } from '../trace';

export interface ConsoleDeps {
  dataverse: Pick<
    DataverseStore,
    | 'loadInvoice'
    | 'billedActualsOfInvoice'
    | 'invoiceCountsByStatus'
    | 'readyActualCount'
    | 'readyMilestoneCount'
    | 'invoicePage'
    | 'invoicesCorrecting'
    | 'accountList'
    | 'contractList'
    | 'readyActuals'
    | 'readyMilestones'
    | 'invoices'
    | 'contracts'
    | 'accounts'
    | 'contractLines'
    | 'milestones'
    | 'actualsOfContractNamed'
  >;
  finance: Pick<
    FinanceStore,
    'proposals' | 'proposalLines' | 'stagingRowsOfInvoice' | 'customerInvoices' | 'proposalCountsByStatus' | 'stagingCountsByStatus' | 'stagingRowsByStatus' | 'proposalsByStatus'
  >;
  errorLog: Pick<ErrorLog, 'openErrorsFor' | 'openCountsBySource' | 'openCountsByCategory' | 'page'>;
  jobRuns: Pick<JobRuns, 'lastRuns'>;
  now?: () => Date;
}

/** Pickers and names read at most this many accounts and contracts. */
const PICKER_LIMIT = 500;
/** Rows per page of the invoice list. */
export const INVOICES_PER_PAGE = 25;
/** Staging rows read per status on the staging page. */
export const STAGING_ROWS_READ = 2_000;
/** Backlog items listed. */
export const BACKLOG_ROWS_READ = 500;

/** A query string as an object, without the function key and without empty form fields. */
export function queryObject(entries: Iterable<[string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k === 'code' || v.trim() === '') continue;
    out[k] = v.trim();
  }
  return out;
}

function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, string>, help: string): z.infer<S> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new ValidationError(`The query is not valid: ${describeZodError(parsed.error)}. ${help}`);
  return parsed.data as z.infer<S>;
}

const STATUS_BY_LABEL: Record<string, number> = {
  Draft: InvoiceStatus.Draft,
  'In Review': InvoiceStatus.InReview,
  Confirmed: InvoiceStatus.Confirmed,
  Paid: InvoiceStatus.Paid,
  Posted: InvoiceStatus.Posted,
};
export const INVOICE_STATUS_LABELS = Object.keys(STATUS_BY_LABEL);

export const invoicesQuerySchema = z.strictObject({
  /** An invoice number or its beginning (PI-0001), or an invoice id. */
  q: z.string().max(100).regex(/^[^\u0000-\u001f]*$/, { message: 'must be printable text' }).optional(),
  status: z.enum(['Draft', 'In Review', 'Confirmed', 'Paid', 'Posted'], { message: 'must be Draft, In Review, Confirmed, Paid or Posted' }).optional(),
  customer: guid.optional(),
  contract: guid.optional(),
  page: z.string().min(1).max(2_000).optional(),
});
export type InvoicesQuery = z.infer<typeof invoicesQuerySchema>;

export const stagingQuerySchema = z.strictObject({
  status: z.enum(['Waiting', 'Error', 'Pending', 'Imported'], { message: 'must be Waiting, Error, Pending or Imported' }).optional(),
});
export const proposalsQuerySchema = z.strictObject({
  status: z.enum(['Open', 'Posted'], { message: 'must be Open or Posted' }).optional(),
});
export { errorsQuerySchema };

// ---- overview --------------------------------------------------------------------------------

export interface OverviewData {
  board: Dashboard;
  readyMilestones: number;
  errorsByCategory: Record<string, number>;
  deadLetters: number;
  importRuns: { last?: JobRunView; lastWithWork?: JobRunView };
}

export async function overviewData(deps: ConsoleDeps): Promise<OverviewData> {
  const [board, readyMilestones, byCategory, importRuns] = await Promise.all([
    dashboard(deps),
    deps.dataverse.readyMilestoneCount(),
    deps.errorLog.openCountsByCategory(),
    deps.jobRuns.lastRuns(IMPORT_FROM_STAGING),
  ]);
  const errorsByCategory: Record<string, number> = { Validation: 0, Business: 0, Transient: 0, DeadLetter: 0 };
  for (const [category, n] of byCategory) errorsByCategory[category] = n;
  return { board, readyMilestones, errorsByCategory, deadLetters: errorsByCategory.DeadLetter ?? 0, importRuns };
}

// ---- invoices --------------------------------------------------------------------------------

export interface InvoiceListRow {
  invoice: Invoice;
  customer?: string;
  contract?: string;
}

export interface InvoiceListData {
  query: InvoicesQuery;
  rows: InvoiceListRow[];
  next?: string;
  accounts: Account[];
  contracts: Contract[];
}

async function names(deps: ConsoleDeps): Promise<{ accounts: Account[]; contracts: Contract[] }> {
  const [accounts, contracts] = await Promise.all([deps.dataverse.accountList(PICKER_LIMIT), deps.dataverse.contractList(PICKER_LIMIT)]);
  return {
    accounts: accounts.map((a) => withoutEtag(a)).sort(byKey((a) => a.name)),
    contracts: contracts.map((c) => withoutEtag(c)).sort(byKey((c) => c.ordernumber)),
  };
}

export async function invoiceListData(deps: ConsoleDeps, rawQuery: Record<string, string>): Promise<InvoiceListData> {
  const query = parseQuery(invoicesQuerySchema, rawQuery, 'Use ?q=<invoice number or its beginning, or an invoice id>&status=Draft|In Review|Confirmed|Paid|Posted&customer=<account id>&contract=<contract id>.');
  const q = query.q?.trim();
  const byId = q !== undefined && guid.safeParse(q.toLowerCase()).success ? q.toLowerCase() : undefined;
  const [page, picked] = await Promise.all([
    deps.dataverse.invoicePage(
      {
        ...(query.status !== undefined ? { status: STATUS_BY_LABEL[query.status]! } : {}),
        ...(query.customer !== undefined ? { customerId: query.customer } : {}),
        ...(query.contract !== undefined ? { contractId: query.contract } : {}),
        ...(byId !== undefined ? { invoiceId: byId } : q ? { numberPrefix: q.toUpperCase() } : {}),
      },
      INVOICES_PER_PAGE,
      query.page,
    ),
    names(deps),
  ]);
  const accountName = new Map(picked.accounts.map((a) => [a.accountid, a.name]));
  const contractName = new Map(picked.contracts.map((c) => [c.salesorderid, `${c.ordernumber} ${c.name}`]));
  const rows = page.rows
    .map((r) => withoutEtag(r))
    .sort(byKey((i) => i.invoicenumber))
    .map((invoice) => {
      const row: InvoiceListRow = { invoice };
      const customer = accountName.get(invoice.customerid);
      const contract = contractName.get(invoice.salesorderid);
      if (customer !== undefined) row.customer = customer;
      if (contract !== undefined) row.contract = contract;
      return row;
    });
  return { query, rows, ...(page.continuationToken ? { next: page.continuationToken } : {}), ...picked };
}

// ---- one invoice -----------------------------------------------------------------------------

export interface RelatedInvoice {
  invoiceId: string;
  invoicenumber: string;
  status: string;
  totalamount: string;
}

export interface InvoicePageData {
  view: InvoiceView;
  status: string;
  account?: Account;
  contract?: Contract;
  contractLines: Map<string, ContractLine>;
  trace: InvoiceTrace;
  /** The invoice this one corrects. */
  corrects?: RelatedInvoice;
  /** The invoices that correct this one. */
  correctedBy: RelatedInvoice[];
  /** Draft or In Review: what confirming it would do. */
  preview?: ConfirmationPreview;
}

function related(invoice: Invoice): RelatedInvoice {
  return { invoiceId: invoice.invoiceid, invoicenumber: invoice.invoicenumber, status: labelOf.invoiceStatus(invoice.msdyn_projectinvoicestatus), totalamount: invoice.totalamount };
}

export async function invoicePageData(deps: ConsoleDeps, invoiceId: string): Promise<InvoicePageData> {
  const loaded = await deps.dataverse.loadInvoice(invoiceId);
  if (!loaded) throw new NotFoundError(`Invoice ${invoiceId} was not found.`, invoiceId);
  const invoice = loaded.invoice;
  const editable = EDITABLE_INVOICE_STATUSES.includes(invoice.msdyn_projectinvoicestatus);
  const correctedId = invoice.msdyn_correctedinvoice;
  const [trace, account, contract, contractLines, corrected, correcting, preview] = await Promise.all([
    traceInvoice(deps, invoiceId),
    deps.dataverse.accounts.get(invoice.customerid, invoice.customerid),
    deps.dataverse.contracts.get(invoice.salesorderid, invoice.salesorderid),
    deps.dataverse.contractLines.listPartition(invoice.salesorderid),
    correctedId === undefined ? Promise.resolve(undefined) : deps.dataverse.invoices.get(correctedId, correctedId),
    deps.dataverse.invoicesCorrecting(invoiceId),
    editable ? previewConfirmation({ dataverse: deps.dataverse, ...(deps.now ? { now: deps.now } : {}) }, invoiceId) : Promise.resolve(undefined),
  ]);
  const data: InvoicePageData = {
    view: viewOf(loaded),
    status: labelOf.invoiceStatus(invoice.msdyn_projectinvoicestatus),
    contractLines: new Map(contractLines.map((l) => [l.salesorderdetailid, withoutEtag(l)])),
    trace,
    correctedBy: correcting.map((c) => related(withoutEtag(c))).sort(byKey((c) => c.invoicenumber)),
  };
  if (account) data.account = withoutEtag(account);
  if (contract) data.contract = withoutEtag(contract);
  if (correctedId !== undefined) data.corrects = corrected ? related(withoutEtag(corrected)) : { invoiceId: correctedId, invoicenumber: '(not found)', status: 'unknown', totalamount: '' };
  if (preview) data.preview = preview;
  return data;
}

// ---- errors ----------------------------------------------------------------------------------

export interface ErrorsPageData {
  query: z.infer<typeof errorsQuerySchema>;
  page: ErrorsPage;
  /** Sources with open errors, for the filter. */
  sources: string[];
}

export async function errorsPageData(deps: ConsoleDeps, rawQuery: Record<string, string>): Promise<ErrorsPageData> {
  const query = parseQuery(errorsQuerySchema, rawQuery, 'Use ?source=<function name>&category=Validation|Business|Transient|DeadLetter&status=Open|Resolved|Replayed.');
  const [page, bySource] = await Promise.all([listErrors(deps, { ...query, top: query.top ?? 50 }), deps.errorLog.openCountsBySource()]);
  const sources = [...new Set([...bySource.keys(), ...(query.source ? [query.source] : [])])].sort();
  return { query, page, sources };
}

// ---- staging ---------------------------------------------------------------------------------

export interface StagingGroup {
  status: StagingRow['ImportStatus'];
  reason: string;
  rows: StagingRow[];
}

export interface StagingPageData {
  status?: StagingRow['ImportStatus'];
  counts: Record<string, number>;
  groups: StagingGroup[];
  /** Statuses whose rows were cut at STAGING_ROWS_READ. */
  truncated: string[];
}

export async function stagingPageData(deps: ConsoleDeps, rawQuery: Record<string, string>): Promise<StagingPageData> {
  const query = parseQuery(stagingQuerySchema, rawQuery, 'Use ?status=Waiting|Error|Pending|Imported.');
  const statuses: StagingRow['ImportStatus'][] = query.status ? [query.status] : ['Waiting', 'Error'];
  const [countRows, ...perStatus] = await Promise.all([deps.finance.stagingCountsByStatus(), ...statuses.map((s) => deps.finance.stagingRowsByStatus(s, STAGING_ROWS_READ))]);
  const counts: Record<string, number> = { Pending: 0, Waiting: 0, Imported: 0, Error: 0 };
  for (const [status, n] of countRows) counts[status] = n;
  const groups: StagingGroup[] = [];
  const truncated: string[] = [];
  statuses.forEach((status, i) => {
    const rows = (perStatus[i] ?? []).map((r) => withoutEtag(r));
    if (rows.length >= STAGING_ROWS_READ) truncated.push(status);
    const byReason = new Map<string, StagingRow[]>();
    for (const row of rows) {
      const reason = row.ImportMessage?.trim() || '(no reason given)';
      let list = byReason.get(reason);
      if (!list) byReason.set(reason, (list = []));
      list.push(row);
    }
    for (const [reason, list] of [...byReason].sort((a, b) => b[1].length - a[1].length || (a[0] < b[0] ? -1 : 1))) {
      groups.push({ status, reason, rows: list.sort(byKey((r) => `${r.ContractId}/${r.ActualId}`)) });
    }
  });
  return { ...(query.status ? { status: query.status } : {}), counts, groups, truncated };
}

// ---- proposals and backlog ---------------------------------------------------------------------

export type ProposalsPageData = Awaited<ReturnType<typeof listProposals>> & { status?: 'Open' | 'Posted' };

export async function proposalsPageData(deps: ConsoleDeps, rawQuery: Record<string, string>): Promise<ProposalsPageData> {
  const query = parseQuery(proposalsQuerySchema, rawQuery, 'Use ?status=Open|Posted.');
  const list = await listProposals(deps, query.status ?? null);
  return { ...list, ...(query.status ? { status: query.status } : {}) };
}

export interface BacklogPageData {
  actuals: Actual[];
  milestones: StoredMilestone[];
  contracts: Map<string, Contract>;
  readyActuals: number;
  readyMilestones: number;
}

export async function backlogPageData(deps: ConsoleDeps): Promise<BacklogPageData> {
  const [actuals, milestones, readyActuals, readyMilestones] = await Promise.all([
    deps.dataverse.readyActuals(BACKLOG_ROWS_READ),
    deps.dataverse.readyMilestones(BACKLOG_ROWS_READ),
    deps.dataverse.readyActualCount(),
    deps.dataverse.readyMilestoneCount(),
  ]);
  const contractIds = [...new Set([...actuals.map((a) => a.msdyn_salescontract), ...milestones.map((m) => m.salesorderid)])];
  const found = await mapLimit(contractIds, 8, (id) => deps.dataverse.contracts.get(id, id));
  const contracts = new Map(found.filter((c): c is NonNullable<typeof c> => c !== undefined).map((c) => [c.salesorderid, withoutEtag(c)]));
  return {
    actuals: actuals.map((a) => withoutEtag(a)).sort(byKey((a) => `${a.msdyn_salescontract}/${a.msdyn_documentdate}/${a.msdyn_actualid}`)),
    milestones: milestones.map((m) => withoutEtag(m)).sort(byKey((m) => `${m.salesorderid}/${m.msdyn_milestonedate}`)),
    contracts,
    readyActuals,
    readyMilestones,
  };
}
