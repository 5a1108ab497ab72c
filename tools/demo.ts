/**
 * `npm run demo`: the whole story of one invoice, told through the public HTTP routes of the
 * running system (`npm start` in another terminal; base URL from DEMO_BASE_URL, default
 * http://localhost:7071; a function key, if the host wants one, from DEMO_FUNCTION_KEY).
 *
 *   1 health            GET  /api/health/details
 *   2 approve           POST /api/dataverse/approvals (time, an expense, fixed-price time)
 *   3 ready             POST /api/dataverse/actuals/ready
 *   4 proforma invoice  POST /api/dataverse/contracts/{contractId}/invoices (19 % tax)
 *   5 edit a detail     PATCH /api/dataverse/invoices/{invoiceId}/details/{detailId} (8 h -> 6 h)
 *   6 confirm           POST /api/dataverse/invoices/{invoiceId}/confirm (202, Location: trace)
 *   7 wait for import   GET  /api/invoices/{invoiceId}/trace until the proposal is complete
 *   8 post              POST /api/finance/proposals/{proposalId}/post
 *   9 wait for posting  GET  /api/invoices/{invoiceId}/trace until the accounting details are back
 * and a reconciliation table of the invoice across both sides. One progress line per step.
 *
 * Each run approves new entries (entry ids from a run id), so the demo can run again and again
 * against the same system. It uses the demo contract seeded by tools/demoData.ts (PRJ-1001, EUR).
 */
import { randomUUID } from 'node:crypto';
import Table from 'cli-table3';
import { z } from 'zod';
import { deterministicGuid } from '../shared/core/ids';
import { TransactionClass } from '../shared/core/options';
import { waitFor, WaitTimeout } from '../tests/kit/wait';
import { DEMO_IDS } from './demoData';
import { readLocalSettings } from './localSettings';
import { REPO_ROOT } from './paths';
import { traceSchema } from '../shared/operations/openapi/answers';

export interface DemoOptions {
  baseUrl: string;
  log?: (line: string) => void;
  /** How long to wait for the import and for the posting, each (default 5 minutes: the import job runs every minute). */
  timeoutMs?: number;
  pollMs?: number;
  functionKey?: string;
  /** Makes the entry ids of this run (default: random). */
  runId?: string;
}

/** The trace route's answer, by the schema the OpenAPI document is made from. */
export type DemoTrace = z.infer<typeof traceSchema>;

const approvalSchema = z.object({
  entries: z.array(z.object({ entryId: z.string(), costActualId: z.string(), unbilledActualId: z.string().optional() })),
  actuals: z.array(z.object({ msdyn_actualid: z.string() })),
});
const detailSchema = z.object({
  msdyn_invoicelinetransactionid: z.string(),
  msdyn_sourceactual: z.string().optional(),
  msdyn_quantity: z.string(),
  msdyn_amount: z.string(),
});
const invoiceViewSchema = z.object({
  invoice: z.object({ invoiceid: z.string(), invoicenumber: z.string(), totalamount: z.string(), totaltax: z.string(), transactioncurrencyid: z.string() }),
  lines: z.array(z.object({ invoicedetailid: z.string() })),
  details: z.array(detailSchema),
});
const healthSchema = z.object({ status: z.string(), version: z.string().optional(), checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })).optional() });

export interface DemoResult {
  invoiceId: string;
  invoicenumber: string;
  trace: DemoTrace;
  /** The reconciliation table as printed. */
  table: string;
}

class DemoError extends Error {}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** The demo's HTTP client: every call checked against its schema, errors a person can act on. */
function demoClient(options: DemoOptions) {
  const log = options.log ?? ((line: string) => console.log(line));
  const base = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? 5 * 60_000;
  const pollMs = options.pollMs ?? 1_000;

  async function call<S extends z.ZodType>(method: string, route: string, schema: S, body?: unknown, expected: number[] = [200]): Promise<{ status: number; body: z.infer<S>; headers: Headers }> {
    let response: Response;
    try {
      response = await fetch(`${base}/api/${route}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.functionKey ? { 'x-functions-key': options.functionKey } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new DemoError(`Nothing answers at ${base} (${error instanceof Error ? error.message : String(error)}). Start the system first: npm start (or set DEMO_BASE_URL).`);
    }
    const text = await response.text();
    let value: unknown = undefined;
    try {
      value = text ? JSON.parse(text) : undefined;
    } catch {
      value = text;
    }
    if (response.status === 401 && !expected.includes(401)) {
      throw new DemoError(
        `${method} /api/${route} answered 401: the host wants a function key. ${options.functionKey ? 'The key in DEMO_FUNCTION_KEY is not one of its keys' : 'Set DEMO_FUNCTION_KEY (npm start prints the local key; in Azure: az functionapp keys list)'}.`,
      );
    }
    if (!expected.includes(response.status)) {
      const detail = z.object({ detail: z.string() }).safeParse(value);
      throw new DemoError(`${method} /api/${route} answered ${response.status}: ${detail.success ? detail.data.detail : text.slice(0, 500)}`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new DemoError(`${method} /api/${route} answered something unexpected: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return { status: response.status, body: parsed.data as z.infer<S>, headers: response.headers };
  }

  /** Poll an invoice's trace until `done`, printing each new state; a failed step ends the wait. */
  async function traceUntil(invoiceId: string, what: string, done: (t: DemoTrace) => boolean): Promise<DemoTrace> {
    let last = '';
    try {
      return await waitFor(
        what,
        async () => {
          const trace = (await call('GET', `invoices/${invoiceId}/trace`, traceSchema)).body;
          if (done(trace)) return trace;
          const failed = trace.steps.find((s) => s.state === 'error');
          if (failed) throw new DemoError(`${failed.step} failed: ${failed.detail}`);
          const current = trace.steps.find((s) => s.state !== 'done');
          const line = current ? `${current.step}: ${current.state} - ${current.detail}` : trace.stage;
          if (line !== last) {
            log(`      ... ${line}`);
            last = line;
          }
          return undefined;
        },
        timeoutMs,
        pollMs,
      );
    } catch (error) {
      if (error instanceof WaitTimeout) throw new DemoError(`Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}; last state: ${last}`);
      throw error;
    }
  }

  return { log, base, call, traceUntil };
}

const isDone = (t: DemoTrace, name: string) => t.steps.some((s) => s.step === name && s.state === 'done');

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { log, base, call, traceUntil } = demoClient(options);
  const runId = options.runId ?? randomUUID();
  const total = 9;
  let n = 0;
  const step = (line: string) => log(`[${++n}/${total}] ${line}`);

  // 1. health (the details need a function key; GET health alone says only up or down)
  const health = await call('GET', 'health/details', healthSchema, undefined, [200, 503]);
  if (health.body.status !== 'Healthy') {
    const down = (health.body.checks ?? []).filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    throw new DemoError(`The system is not healthy: ${down.join('; ') || health.body.status}`);
  }
  step(`system at ${base} is healthy (version ${health.body.version ?? '?'})`);

  // 2. approve
  const date = today();
  const entryId = (k: string) => deterministicGuid('demo-run', runId, k);
  const approval = await call(
    'POST',
    'dataverse/approvals',
    approvalSchema,
    {
      entries: [
        { entryId: entryId('time-1'), contractLineId: DEMO_IDS.contosoConsulting, classification: 'Time', quantity: '8', price: '150.00', costPrice: '90.00', documentDate: date, description: 'Go-live rehearsal' },
        { entryId: entryId('time-2'), contractLineId: DEMO_IDS.contosoConsulting, classification: 'Time', quantity: '4', price: '150.00', costPrice: '90.00', documentDate: date, description: 'Key-user training' },
        { entryId: entryId('expense-1'), contractLineId: DEMO_IDS.contosoConsulting, classification: 'Expense', quantity: '1', price: '89.90', documentDate: date, description: 'Taxi to the customer' },
        { entryId: entryId('fixed-1'), contractLineId: DEMO_IDS.contosoFixedFee, classification: 'Time', quantity: '3', price: '0', costPrice: '80.00', documentDate: date, description: 'Steering committee' },
      ],
    },
    [201],
  ).catch((error: unknown) => {
    if (error instanceof DemoError && / 404: /.test(error.message)) {
      throw new DemoError(`${error.message} The demo contract is missing: npm start seeds it into an empty store (tools/demoData.ts).`);
    }
    throw error;
  });
  const unbilledIds = approval.body.entries.map((e) => e.unbilledActualId).filter((x): x is string => x !== undefined);
  step(`approved ${approval.body.entries.length} entries on contract PRJ-1001: ${approval.body.actuals.length} actuals (${approval.body.entries.length} cost, ${unbilledIds.length} unbilled sales), sent to F&O on queue actuals`);

  // 3. ready
  await call('POST', 'dataverse/actuals/ready', z.unknown(), { actualIds: unbilledIds, ready: true });
  step(`marked ${unbilledIds.length} unbilled actuals Ready to Invoice`);

  // 4. proforma invoice
  const created = await call('POST', `dataverse/contracts/${DEMO_IDS.contosoContract}/invoices`, invoiceViewSchema, { taxPercent: '19' }, [201]);
  const inv = created.body.invoice;
  step(
    `created proforma invoice ${inv.invoicenumber}: ${created.body.lines.length} line(s), ${created.body.details.length} detail(s), total ${inv.totalamount} ${inv.transactioncurrencyid} + tax ${inv.totaltax} (19 %)`,
  );

  // 5. edit one detail: 8 h -> 6 h (2 hours written off)
  const timeUnbilled = approval.body.entries[0]?.unbilledActualId;
  const detail = created.body.details.find((d) => d.msdyn_sourceactual === timeUnbilled);
  if (!detail) throw new DemoError(`The invoice has no detail for actual ${String(timeUnbilled)}`);
  const edited = await call('PATCH', `dataverse/invoices/${inv.invoiceid}/details/${detail.msdyn_invoicelinetransactionid}`, invoiceViewSchema, { msdyn_quantity: '6' });
  step(`edited a detail: ${detail.msdyn_quantity} h -> 6 h (2 h written off); invoice total now ${edited.body.invoice.totalamount} + tax ${edited.body.invoice.totaltax}`);

  // 6. confirm
  const confirmed = await call('POST', `dataverse/invoices/${inv.invoiceid}/confirm`, z.object({ status: z.string() }), { confirmedBy: 'demo' }, [202]);
  step(`confirmation requested (${confirmed.status}, ${confirmed.body.status}); follow it at ${confirmed.headers.get('location') ?? `/api/invoices/${inv.invoiceid}/trace`}`);

  // 7. wait for the import
  log('      waiting for the confirmation, the proposal header, the staging rows and Import from staging (a timer job)...');
  const imported = await traceUntil(inv.invoiceid, 'the import of the proposal lines', (t) => isDone(t, 'linesImported'));
  const f = imported.reconciliation.finance;
  step(`invoice proposal ${imported.invoicenumber} complete in F&O: ${f.importedLineCount ?? 0} of ${f.expectedLineCount ?? 0} lines, ${f.importedAmount ?? '?'} of ${f.expectedAmount ?? '?'} ${imported.currency}`);

  // 8. post
  const posting = await call('POST', `finance/proposals/${encodeURIComponent(imported.invoicenumber)}/post`, z.unknown(), {}, [200, 202]);
  step(`posting of proposal ${imported.invoicenumber} requested (${posting.status})`);

  // 9. wait for the accounting details
  const final = await traceUntil(inv.invoiceid, 'the posting and the accounting details', (t) => isDone(t, 'accountingBack'));
  const ci = final.reconciliation.finance.customerInvoice;
  step(`posted: customer invoice ${ci?.id ?? '?'} (${ci?.totalAmount ?? '?'} ${final.currency} incl. tax, ${ci?.accountingAmount ?? '?'} in the accounting currency), voucher ${ci?.voucher ?? '?'}; accounting details are back on ${final.reconciliation.dataverse.billedActuals} billed actuals`);

  const table = reconciliationTable(final);
  log('');
  log(table);
  log(`Reconciliation: ${final.reconciliation.status}${final.reconciliation.problems.length ? ` - ${final.reconciliation.problems.join(' ')}` : ''}`);
  return { invoiceId: inv.invoiceid, invoicenumber: final.invoicenumber, trace: final, table };
}

const correctionViewSchema = invoiceViewSchema.extend({
  invoiceId: z.string(),
  correctedInvoiceId: z.string(),
  details: z.array(detailSchema.extend({ msdyn_originalbilledactual: z.string(), msdyn_transactionclassification: z.number(), msdyn_price: z.string() })),
});

export interface CorrectionDemoOptions extends DemoOptions {
  /** Keep this many hours of the time detail that credits most (a partial credit); omitted: a full credit. */
  keepHours?: string;
}

export interface CorrectionDemoResult extends DemoResult {
  correctedInvoiceId: string;
}

/**
 * `npm run demo -- --correction`, after the story above: correct the posted invoice (domain.md
 * step 12) through the public routes.
 *
 *   1 corrective draft   POST  /api/dataverse/invoices/{invoiceId}/corrections (every billed line credited)
 *   2 keep a part        PATCH /api/dataverse/invoices/{correctiveId}/details/{detailId} (optional)
 *   3 confirm            POST  /api/dataverse/invoices/{correctiveId}/confirm
 *   4 wait for import    GET   /api/invoices/{correctiveId}/trace until the credit proposal is complete
 *   5 post               POST  /api/finance/proposals/{proposalId}/post: the credit note
 *   6 wait for posting   GET   /api/invoices/{correctiveId}/trace until the accounting details are back
 */
export async function runCorrectionDemo(options: CorrectionDemoOptions, originalInvoiceId: string): Promise<CorrectionDemoResult> {
  const { log, call, traceUntil } = demoClient(options);
  const total = 6;
  let n = 0;
  const step = (line: string) => log(`[correction ${++n}/${total}] ${line}`);

  const created = await call('POST', `dataverse/invoices/${originalInvoiceId}/corrections`, correctionViewSchema, {}, [201]);
  const inv = created.body.invoice;
  step(`created corrective invoice ${inv.invoicenumber} of ${originalInvoiceId}: ${created.body.details.length} billed line(s) credited in full, total ${inv.totalamount} ${inv.transactioncurrencyid} + tax ${inv.totaltax}`);

  let kept = 'nothing kept: a full credit';
  const time = created.body.details
    .filter((d) => d.msdyn_transactionclassification === TransactionClass.Time)
    .sort((a, b) => Number(a.msdyn_amount) - Number(b.msdyn_amount) || a.msdyn_invoicelinetransactionid.localeCompare(b.msdyn_invoicelinetransactionid))[0];
  if (options.keepHours !== undefined && time) {
    const edited = await call('PATCH', `dataverse/invoices/${inv.invoiceid}/details/${time.msdyn_invoicelinetransactionid}`, invoiceViewSchema, { msdyn_quantity: options.keepHours });
    kept = `kept ${options.keepHours} h of one time line (billed again on the correction); total now ${edited.body.invoice.totalamount} + tax ${edited.body.invoice.totaltax}`;
  }
  step(kept);

  const confirmed = await call('POST', `dataverse/invoices/${inv.invoiceid}/confirm`, z.object({ status: z.string() }), { confirmedBy: 'demo' }, [202]);
  step(`confirmation of the correction requested (${confirmed.status}, ${confirmed.body.status}): the billed lines become Adjusted, their reversals and the credited work go to F&O`);

  log('      waiting for the confirmation, the credit proposal and Import from staging (a timer job)...');
  const imported = await traceUntil(inv.invoiceid, 'the import of the credit proposal lines', (t) => isDone(t, 'linesImported'));
  const f = imported.reconciliation.finance;
  step(`credit proposal ${imported.invoicenumber} complete in F&O: ${f.importedLineCount ?? 0} of ${f.expectedLineCount ?? 0} lines, ${f.importedAmount ?? '?'} of ${f.expectedAmount ?? '?'} ${imported.currency}`);

  const posting = await call('POST', `finance/proposals/${encodeURIComponent(imported.invoicenumber)}/post`, z.unknown(), {}, [200, 202]);
  step(`posting of credit proposal ${imported.invoicenumber} requested (${posting.status})`);

  const final = await traceUntil(inv.invoiceid, 'the credit note and the accounting details', (t) => isDone(t, 'accountingBack'));
  const ci = final.reconciliation.finance.customerInvoice;
  step(`posted: credit note ${ci?.id ?? '?'} (${ci?.totalAmount ?? '?'} ${final.currency} incl. tax, ${ci?.accountingAmount ?? '?'} in the accounting currency), voucher ${ci?.voucher ?? '?'}`);

  const table = reconciliationTable(final);
  log('');
  log(table);
  log(`Reconciliation: ${final.reconciliation.status}${final.reconciliation.problems.length ? ` - ${final.reconciliation.problems.join(' ')}` : ''}`);
  return { invoiceId: inv.invoiceid, invoicenumber: final.invoicenumber, trace: final, table, correctedInvoiceId: originalInvoiceId };
}

/** The invoice across both sides: one row per billed actual, then the totals each side holds. */
export function reconciliationTable(trace: DemoTrace): string {
  const r = trace.reconciliation;
  const style = { head: [], border: [] };
  const lines = new Table({
    head: ['#', 'Billed actual', 'Class', 'Qty', 'Dataverse', 'F&O line', 'Tax DV', 'Tax F&O', 'Import', 'Voucher', 'State'],
    colAligns: ['right', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'left', 'left', 'left'],
    style: { ...style, compact: true },
  });
  r.rows.forEach((row, i) => {
    lines.push([i + 1, row.actualId.slice(0, 8), row.classification, row.quantity, row.dataverseAmount, row.financeAmount ?? '-', row.dataverseTax, row.financeTax ?? '-', row.importStatus ?? '-', row.voucher ?? '-', row.state]);
  });
  lines.push(['', 'Total', '', '', r.dataverse.billedAmount, r.finance.linesAmount, r.dataverse.billedTax, r.finance.linesTax, '', '', r.status]);

  const totals = new Table({ head: [`Invoice ${trace.invoicenumber} (${trace.currency})`, 'Lines', 'Amount', 'Tax'], colAligns: ['left', 'right', 'right', 'right'], style: { ...style, compact: true } });
  totals.push(['Dataverse proforma invoice', '', r.dataverse.invoiceTotal, r.dataverse.invoiceTax]);
  totals.push(['Dataverse billed sales actuals', r.dataverse.billedActuals, r.dataverse.billedAmount, r.dataverse.billedTax]);
  totals.push(['F&O proposal, expected', r.finance.expectedLineCount ?? '-', r.finance.expectedAmount ?? '-', '']);
  totals.push(['F&O proposal, imported', r.finance.importedLineCount ?? '-', r.finance.importedAmount ?? '-', '']);
  totals.push(['F&O proposal lines', r.finance.lines, r.finance.linesAmount, r.finance.linesTax]);
  const ci = r.finance.customerInvoice;
  totals.push([`F&O customer invoice ${ci?.id ?? '-'}`, '', ci?.invoiceAmount ?? '-', ci?.salesTaxAmount ?? '-']);
  return `${lines.toString()}\n${totals.toString()}`;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--correction');
  if (unknown.length) {
    console.error(`demo: unknown option ${unknown.join(' ')}. Usage: npm run demo [-- --correction]`);
    process.exit(2);
  }
  const baseUrl = process.env.DEMO_BASE_URL ?? 'http://localhost:7071';
  // The key: DEMO_FUNCTION_KEY, else (a local host) the key local.settings(.sample).json gives npm start.
  const functionKey = process.env.DEMO_FUNCTION_KEY || (/^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:|\/|$)/.test(baseUrl) ? Object.values(readLocalSettings(REPO_ROOT).functionKeys)[0] : undefined);
  const options: DemoOptions = { baseUrl, ...(functionKey ? { functionKey } : {}) };
  (async () => {
    const result = await runDemo(options);
    if (!args.includes('--correction')) return result.trace.reconciliation.status === 'Matched';
    console.log('');
    console.log(`Correcting invoice ${result.invoicenumber}: a corrective invoice credits it, keeping 2 h of one time line.`);
    const correction = await runCorrectionDemo({ ...options, keepHours: '2' }, result.invoiceId);
    return result.trace.reconciliation.status === 'Matched' && correction.trace.reconciliation.status === 'Matched';
  })().then(
    (matched) => {
      process.exitCode = matched ? 0 : 1;
    },
    (error: unknown) => {
      console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    },
  );
}
