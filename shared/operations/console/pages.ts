/**
 * The console's pages as HTML: overview, invoices, one invoice (lines and details, the journey,
 * the reconciliation, its errors, its corrections, and on a Draft the confirmation preview),
 * backlog, proposals, staging and errors. Every value goes through the `html` template (html.ts),
 * which escapes it.
 */
import { labelOf } from '../../core/labels';
import { BillingMethod } from '../../core/options';
import type { ConfirmationPreview } from '../../dataverse/invoices/confirmationPreview';
import type { ReconciliationRow } from '../reconciliation';
import { listedReplayRefusal } from '../replay';
import type { ErrorView } from '../errorLogStore';
import type { TraceStep } from '../trace';
import type { BacklogPageData, ErrorsPageData, InvoiceListData, InvoicePageData, OverviewData, ProposalsPageData, RelatedInvoice, StagingPageData } from './consoleData';
import { INVOICE_STATUS_LABELS } from './consoleData';
import { html, joinMarkup, type Markup } from './html';
import { keyField, link, page, urlOf, type ConsoleContext } from './layout';

// ---- small parts -----------------------------------------------------------------------------

type Tone = 'ok' | 'bad' | 'warn' | 'idle';

function badge(text: string, tone: Tone = 'idle'): Markup {
  return html`<span class="badge ${tone}">${text}</span>`;
}

function toneOfState(state: string): Tone {
  switch (state) {
    case 'Matched':
    case 'done':
    case 'Imported':
    case 'Posted':
    case 'Resolved':
    case 'Confirmable':
    case 'Confirmed':
      return 'ok';
    case 'Mismatch':
    case 'Different':
    case 'error':
    case 'Error':
    case 'Open':
    case 'Refused':
    case 'DeadLetter':
      return 'bad';
    case 'Incomplete':
    case 'Missing':
    case 'waiting':
    case 'Waiting':
    case 'Replayed':
    case 'Pending':
      return 'warn';
    default:
      return 'idle';
  }
}

function stateBadge(state: string): Markup {
  return badge(state, toneOfState(state));
}

function table(head: Markup, rows: Markup[], empty: string, label?: string): Markup {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<div class="table-wrap"${label ? html` role="region" aria-label="${label}" tabindex="0"` : html``}><table><thead>${head}</thead><tbody>${rows}</tbody></table></div>`;
}

/** Rows shown per table on one page; a larger invoice's rest is in its JSON (the trace, the preview). */
export const ROWS_SHOWN = 500;

function capped<T>(items: readonly T[]): { shown: readonly T[]; more: number } {
  return items.length > ROWS_SHOWN ? { shown: items.slice(0, ROWS_SHOWN), more: items.length - ROWS_SHOWN } : { shown: items, more: 0 };
}

function moreNote(more: number, where: Markup): Markup {
  return more > 0 ? html`<p class="small muted">… and ${more} more, not shown here: ${where}.</p>` : html``;
}

function date(value: string | undefined): string {
  return value === undefined ? '' : value.length > 19 ? `${value.slice(0, 19).replace('T', ' ')} UTC` : value;
}

function invoiceLink(ctx: ConsoleContext, invoiceId: string, text: string): Markup {
  return link(ctx, `console/invoices/${encodeURIComponent(invoiceId)}`, {}, text);
}

function count(ctx: ConsoleContext, n: number | undefined, route: string, params: Record<string, string | undefined>): Markup {
  return link(ctx, route, params, String(n ?? 0));
}

// ---- overview --------------------------------------------------------------------------------

export function overviewPage(ctx: ConsoleContext, data: OverviewData): string {
  const { board } = data;
  const invoiceStatuses = [...new Set([...INVOICE_STATUS_LABELS, ...Object.keys(board.invoices)])];
  const totalInvoices = Object.values(board.invoices).reduce((a, b) => a + b, 0);
  const run = data.importRuns.last;
  const work = data.importRuns.lastWithWork;
  const sources = Object.entries(board.errors.bySource).sort((a, b) => b[1] - a[1]);
  const body = html`
<h1>Overview</h1>
<div class="cards">
  <section class="card" aria-labelledby="ov-invoices"><h2 id="ov-invoices">Proforma invoices</h2><dl>
    ${invoiceStatuses.map((s) => html`<dt>${s}</dt><dd data-count="invoices-${s}">${count(ctx, board.invoices[s], 'console/invoices', { status: s })}</dd>`)}
    <dt>All</dt><dd data-count="invoices-all">${count(ctx, totalInvoices, 'console/invoices', {})}</dd>
  </dl></section>
  <section class="card" aria-labelledby="ov-backlog"><h2 id="ov-backlog">Billing backlog</h2><dl>
    <dt>Actuals ready to invoice</dt><dd data-count="backlog-actuals">${count(ctx, board.backlog.readyActuals, 'console/backlog', {})}</dd>
    <dt>Milestones ready</dt><dd data-count="backlog-milestones">${count(ctx, data.readyMilestones, 'console/backlog', {})}</dd>
  </dl></section>
  <section class="card" aria-labelledby="ov-proposals"><h2 id="ov-proposals">F&amp;O invoice proposals</h2><dl>
    <dt>Open</dt><dd data-count="proposals-Open">${count(ctx, board.proposals.Open, 'console/proposals', { status: 'Open' })}</dd>
    <dt>Posted</dt><dd data-count="proposals-Posted">${count(ctx, board.proposals.Posted, 'console/proposals', { status: 'Posted' })}</dd>
  </dl></section>
  <section class="card" aria-labelledby="ov-staging"><h2 id="ov-staging">Actuals staging</h2><dl>
    ${['Pending', 'Waiting', 'Imported', 'Error'].map((s) => html`<dt>${s}</dt><dd data-count="staging-${s}">${count(ctx, board.staging[s], 'console/staging', { status: s })}</dd>`)}
  </dl></section>
  <section class="card" aria-labelledby="ov-errors"><h2 id="ov-errors">Open errors</h2><dl>
    ${Object.entries(data.errorsByCategory).map(([c, n]) => html`<dt>${c}</dt><dd data-count="errors-${c}">${count(ctx, n, 'console/errors', { status: 'Open', category: c })}</dd>`)}
    <dt>All open</dt><dd data-count="errors-open">${count(ctx, board.errors.open, 'console/errors', { status: 'Open' })}</dd>
  </dl>
  ${sources.length ? html`<h3>By source</h3><dl>${sources.map(([s, n]) => html`<dt>${s}</dt><dd>${count(ctx, n, 'console/errors', { status: 'Open', source: s })}</dd>`)}</dl>` : html``}
  </section>
  <section class="card" aria-labelledby="ov-dead"><h2 id="ov-dead">Dead letters</h2><dl>
    <dt>Open dead-lettered messages</dt><dd data-count="dead-letters">${count(ctx, data.deadLetters, 'console/errors', { status: 'Open', category: 'DeadLetter' })}</dd>
  </dl></section>
</div>
<h2>Import from staging</h2>
<div class="kv" data-section="import-runs">
  <dt>Last run</dt><dd data-import="last">${run ? html`${date(run.startedAt)} (${run.durationMs} ms): ${run.summary}` : html`<span class="muted">no run recorded yet</span>`}</dd>
  <dt>Last run that found work</dt><dd data-import="last-with-work">${work ? html`${date(work.startedAt)} (${work.durationMs} ms): ${work.summary}` : html`<span class="muted">none recorded yet</span>`}</dd>
</div>`;
  return page(ctx, 'overview', 'Overview', body);
}

// ---- invoices --------------------------------------------------------------------------------

export function invoicesPage(ctx: ConsoleContext, data: InvoiceListData): string {
  const q = data.query;
  const filters = { q: q.q, status: q.status, customer: q.customer, contract: q.contract };
  const option = (value: string, text: string, selected: string | undefined) => html`<option value="${value}"${value === selected ? html` selected` : html``}>${text}</option>`;
  const rows = data.rows.map(
    ({ invoice, customer, contract }) => html`<tr>
<td>${invoiceLink(ctx, invoice.invoiceid, invoice.invoicenumber)}${invoice.msdyn_correctedinvoice ? html` <span class="badge">correction</span>` : html``}<div class="small muted">${invoice.name}</div></td>
<td>${customer ?? invoice.customerid}</td>
<td>${contract ?? invoice.salesorderid}</td>
<td>${stateBadge(labelOf.invoiceStatus(invoice.msdyn_projectinvoicestatus))}</td>
<td class="num">${invoice.totalamount}</td>
<td class="num">${invoice.totaltax}</td>
<td>${invoice.transactioncurrencyid}</td>
<td>${invoice.msdyn_invoicedate}</td>
<td>${date(invoice.msdyn_confirmedon)}</td>
<td>${invoice.msdyn_customerinvoicedate ?? ''}${invoice.msdyn_customerinvoicenumber ? html`<div class="small muted">${invoice.msdyn_customerinvoicenumber}</div>` : html``}</td>
</tr>`,
  );
  const body = html`
<h1>Invoices</h1>
<form class="filters" method="get" action="${urlOf({ ...ctx, code: undefined }, 'console/invoices')}" role="search">
  ${keyField(ctx)}
  <label>Number or id<input type="search" name="q" value="${q.q ?? ''}" placeholder="PI-0000" maxlength="100"></label>
  <label>Status<select name="status">${option('', 'any', q.status)}${INVOICE_STATUS_LABELS.map((s) => option(s, s, q.status))}</select></label>
  <label>Customer<select name="customer">${option('', 'any', q.customer)}${data.accounts.map((a) => option(a.accountid, `${a.name} (${a.accountnumber})`, q.customer))}</select></label>
  <label>Contract<select name="contract">${option('', 'any', q.contract)}${data.contracts.map((c) => option(c.salesorderid, `${c.ordernumber} ${c.name}`, q.contract))}</select></label>
  <button type="submit">Search</button>
</form>
${table(
  html`<tr><th>Number</th><th>Customer</th><th>Contract</th><th>Status</th><th class="num">Total</th><th class="num">Tax</th><th>Currency</th><th>Invoice date</th><th>Confirmed</th><th>Posted</th></tr>`,
  rows,
  'No invoice matches.',
  'Invoices',
)}
<div class="pager">
  ${q.page ? link(ctx, 'console/invoices', filters, 'First page') : html``}
  ${data.next ? link(ctx, 'console/invoices', { ...filters, page: data.next }, 'Next page') : html``}
</div>
<p class="small muted">Pages of ${data.rows.length ? 'up to 25' : '25'} invoices in storage order (by invoice id), each page sorted by number. The number search matches the beginning of the number.</p>`;
  return page(ctx, 'invoices', 'Invoices', body);
}

// ---- one invoice -----------------------------------------------------------------------------

const STEP_LABELS: Record<TraceStep['step'], string> = {
  invoice: 'Proforma invoice',
  confirmed: 'Confirmed',
  headerSynced: 'Proposal synced',
  actualsStaged: 'Actuals staged',
  linesImported: 'Lines imported',
  posted: 'Posted',
  accountingBack: 'Accounting back',
};

function relatedLinks(ctx: ConsoleContext, items: RelatedInvoice[]): Markup {
  return joinMarkup(
    items.map((c) => html`${invoiceLink(ctx, c.invoiceId, c.invoicenumber)} ${stateBadge(c.status)} <span class="small muted">${c.totalamount}</span>`),
    html`, `,
  );
}

function reconciliationSection(ctx: ConsoleContext, data: InvoicePageData): Markup {
  const r = data.trace.reconciliation;
  const cur = data.trace.currency;
  const diffFields = new Map<string, Set<string>>();
  for (const d of r.differences) {
    let set = diffFields.get(d.actualId);
    if (!set) diffFields.set(d.actualId, (set = new Set()));
    set.add(d.field);
  }
  const cell = (row: ReconciliationRow, field: string, value: string | undefined) => {
    const bad = diffFields.get(row.actualId)?.has(field) === true || (row.state === 'Missing' && (field === 'amount' || field === 'tax'));
    return html`<td class="num${bad ? html` bad` : html``}">${value ?? '—'}</td>`;
  };
  const recRows = capped(r.rows);
  const rows = recRows.shown.map(
    (row, i) => html`<tr class="${row.state === 'Different' ? 'diff' : row.state === 'Missing' ? 'missing' : ''}" data-actual="${row.actualId}" data-state="${row.state}">
<td class="num">${i + 1}</td><td class="mono">${row.actualId}</td><td>${row.classification}</td>${cell(row, 'quantity', row.quantity)}
<td class="num">${row.dataverseAmount}</td>${cell(row, 'amount', row.financeAmount)}<td class="num">${row.dataverseTax}</td>${cell(row, 'tax', row.financeTax)}
<td>${row.importStatus ? stateBadge(row.importStatus) : html`<span class="muted">not staged</span>`}</td><td class="mono">${row.voucher ?? ''}</td>
<td>${stateBadge(row.state)}${row.note ? html`<div class="small">${row.note}</div>` : html``}</td></tr>`,
  );
  if (r.rows.length) {
    rows.push(html`<tr class="total"><td></td><td>Total</td><td></td><td></td><td class="num">${r.dataverse.billedAmount}</td><td class="num">${r.finance.linesAmount}</td><td class="num">${r.dataverse.billedTax}</td><td class="num">${r.finance.linesTax}</td><td></td><td></td><td>${stateBadge(r.status)}</td></tr>`);
  }
  const f = r.finance;
  const totals = [
    html`<tr><td>Dataverse proforma invoice</td><td class="num"></td><td class="num">${r.dataverse.invoiceTotal}</td><td class="num">${r.dataverse.invoiceTax}</td></tr>`,
    html`<tr><td>Dataverse billed sales actuals</td><td class="num">${r.dataverse.billedActuals}</td><td class="num">${r.dataverse.billedAmount}</td><td class="num">${r.dataverse.billedTax}</td></tr>`,
    html`<tr><td>F&amp;O proposal ${f.proposalId ?? ''}, expected</td><td class="num">${f.expectedLineCount ?? '—'}</td><td class="num">${f.expectedAmount ?? '—'}</td><td class="num">${f.expectedTax ?? '—'}</td></tr>`,
    html`<tr><td>F&amp;O proposal, imported</td><td class="num">${f.importedLineCount ?? '—'}</td><td class="num">${f.importedAmount ?? '—'}</td><td class="num">${f.importedTax ?? '—'}</td></tr>`,
    html`<tr><td>F&amp;O proposal lines</td><td class="num">${f.lines}</td><td class="num">${f.linesAmount}</td><td class="num">${f.linesTax}</td></tr>`,
    ...(f.customerInvoice
      ? [html`<tr><td>F&amp;O customer invoice ${f.customerInvoice.id}${f.customerInvoice.correctedInvoiceId ? html` (credits ${f.customerInvoice.correctedInvoiceId})` : html``}</td><td class="num"></td><td class="num">${f.customerInvoice.invoiceAmount}</td><td class="num">${f.customerInvoice.salesTaxAmount}</td></tr>`]
      : []),
  ];
  if (r.status === 'NotConfirmed') {
    return html`
<section aria-labelledby="inv-reconciliation">
<h2 id="inv-reconciliation">Reconciliation <span data-reconciliation="${r.status}">${stateBadge('Not confirmed')}</span></h2>
<p class="muted">Nothing is expected in F&amp;O before the invoice is confirmed.</p>
</section>`;
  }
  return html`
<section aria-labelledby="inv-reconciliation">
<h2 id="inv-reconciliation">Reconciliation <span data-reconciliation="${r.status}">${stateBadge(r.status)}</span></h2>
${r.problems.length ? html`<div class="notice ${r.status === 'Mismatch' ? 'bad' : 'warn'}" data-section="problems"><strong>What differs or is missing</strong><ul>${r.problems.map((p) => html`<li>${p}</li>`)}</ul></div>` : html``}
${table(html`<tr><th></th><th class="num">Lines</th><th class="num">Amount (${cur})</th><th class="num">Tax</th></tr>`, totals, '', 'Totals on both sides')}
<h3>Per billed actual</h3>
${table(
  html`<tr><th class="num">#</th><th>Billed actual</th><th>Class</th><th class="num">Qty</th><th class="num">Dataverse</th><th class="num">F&amp;O line</th><th class="num">Tax DV</th><th class="num">Tax F&amp;O</th><th>Import</th><th>Voucher</th><th>State</th></tr>`,
  rows,
  data.trace.invoiceStatus === 'Draft' || data.trace.invoiceStatus === 'In Review' ? 'Not confirmed yet: no billed actuals.' : 'No billed actuals.',
  'Reconciliation per billed actual',
)}
${moreNote(recRows.more, link(ctx, `invoices/${encodeURIComponent(data.trace.invoiceId)}/trace`, {}, 'the trace as JSON'))}
${r.unexpectedInFinance.length ? html`<div class="notice bad"><strong>F&amp;O lines without a billed actual</strong><ul>${r.unexpectedInFinance.map((u) => html`<li><span class="mono">${u.lineId}</span> (${u.amount})</li>`)}</ul></div>` : html``}
</section>`;
}

function previewSection(ctx: ConsoleContext, preview: ConfirmationPreview): Markup {
  const head = html`<h2 id="inv-preview">What confirming will do <span data-preview="${preview.outcome}">${stateBadge(preview.outcome)}</span></h2>
<p class="small muted">Computed by the confirmation's own rules on what is stored now; nothing was written or sent. ${link(ctx, `dataverse/invoices/${encodeURIComponent(preview.invoiceId)}/confirmation-preview`, {}, 'As JSON')}</p>`;
  if (!preview.plan) {
    return html`<section aria-labelledby="inv-preview">${head}<div class="notice bad" data-section="refusals"><strong>Confirming would be refused:</strong><ul>${preview.refusals.map((r) => html`<li>${r.reason}${r.detailId ? html` <span class="small muted">(${r.code})</span>` : html``}</li>`)}</ul></div></section>`;
  }
  const plan = preview.plan;
  const c = plan.counts;
  const p = plan.proposal;
  const newShown = capped(plan.newActuals);
  const actualRows = newShown.shown.map(
    (n) => html`<tr><td class="mono small">${n.detailId ?? ''}</td><td>${n.kind}</td><td>${labelOf.transactionType(n.actual.msdyn_transactiontypecode)}</td><td>${labelOf.transactionClass(n.actual.msdyn_transactionclassification)}</td><td>${labelOf.billingType(n.actual.msdyn_billingtype)}</td>
<td class="num">${n.actual.msdyn_quantity}</td><td class="num">${n.actual.msdyn_price}</td><td class="num">${n.actual.msdyn_amount}</td><td class="num">${n.actual.msdyn_salestaxamount ?? ''}</td><td>${n.synced ? 'to F&O' : 'skip-sync'}</td><td class="mono small">${n.actual.msdyn_actualid}</td></tr>`,
  );
  const updatedShown = capped(plan.updatedActuals);
  const updatedRows = updatedShown.shown.map(
    (a) => html`<tr><td class="mono small">${a.msdyn_actualid}</td><td>${labelOf.transactionClass(a.msdyn_transactionclassification)}</td><td class="num">${a.msdyn_amount}</td><td>${labelOf.billingStatus(a.msdyn_billingstatus)}</td><td>${a.msdyn_adjustmentstatus === undefined ? '' : labelOf.adjustmentStatus(a.msdyn_adjustmentstatus)}</td></tr>`,
  );
  const milestoneRows = plan.updatedMilestones.map((m) => html`<tr><td>${m.msdyn_name}</td><td class="num">${m.msdyn_amount}</td><td>${labelOf.milestoneStatus(m.msdyn_invoicestatus)}</td></tr>`);
  return html`<section aria-labelledby="inv-preview">${head}
<p data-section="preview-counts">${c.newActuals} new actual(s): ${c.billed} billed, ${c.reversals} reversal(s), ${c.synced} sent to F&amp;O; ${c.updatedActuals} actual(s) and ${c.updatedMilestones} milestone(s) updated; invoice total ${plan.invoice.totalamount} + tax ${plan.invoice.totaltax} ${plan.invoice.transactioncurrencyid}.</p>
<h3>The proposal F&amp;O will receive</h3>
<dl class="kv" data-section="preview-proposal">
<dt>Proposal</dt><dd>${p.proposalId}${p.correctedProposalId ? html` (credit proposal correcting ${p.correctedProposalId})` : html``}</dd>
<dt>Customer account</dt><dd>${p.customerAccount}</dd>
<dt>Expected lines</dt><dd>${p.expectedLineCount}</dd>
<dt>Expected amount</dt><dd>${p.expectedAmount} ${p.currencyCode}</dd>
<dt>Expected tax</dt><dd>${p.expectedTax}</dd>
<dt>Invoice date</dt><dd>${p.invoiceDate}</dd>
</dl>
<h3>New actuals</h3>
${table(html`<tr><th>Detail</th><th>What</th><th>Type</th><th>Class</th><th>Billing type</th><th class="num">Qty</th><th class="num">Price</th><th class="num">Amount</th><th class="num">Tax</th><th>Sync</th><th>Actual id</th></tr>`, actualRows, 'None.', 'New actuals')}
${moreNote(newShown.more, link(ctx, `dataverse/invoices/${encodeURIComponent(preview.invoiceId)}/confirmation-preview`, {}, 'the preview as JSON'))}
<h3>Actuals updated</h3>
${table(html`<tr><th>Actual</th><th>Class</th><th class="num">Amount</th><th>Billing status after</th><th>Adjustment after</th></tr>`, updatedRows, 'None.', 'Actuals updated')}
${moreNote(updatedShown.more, link(ctx, `dataverse/invoices/${encodeURIComponent(preview.invoiceId)}/confirmation-preview`, {}, 'the preview as JSON'))}
${milestoneRows.length ? html`<h3>Milestones updated</h3>${table(html`<tr><th>Milestone</th><th class="num">Amount</th><th>Status after</th></tr>`, milestoneRows, '', 'Milestones updated')}` : html``}
</section>`;
}

function linesSection(ctx: ConsoleContext, data: InvoicePageData): Markup {
  const { view } = data;
  return joinMarkup(
    view.lines.map((line) => {
      const contractLine = data.contractLines.get(line.salesorderdetailid);
      const details = capped(view.details.filter((d) => d.msdyn_invoicelineid === line.invoicedetailid));
      const rows = details.shown.map(
        (d) => html`<tr data-detail="${d.msdyn_invoicelinetransactionid}"><td class="mono small">${d.msdyn_invoicelinetransactionid}</td><td>${labelOf.transactionClass(d.msdyn_transactionclassification)}</td><td>${labelOf.billingType(d.msdyn_billingtype)}</td>
<td class="num">${d.msdyn_quantity}</td><td class="num">${d.msdyn_price}</td><td class="num">${d.msdyn_amount}</td><td class="num">${d.msdyn_tax}</td><td>${d.msdyn_documentdate}</td>
<td class="small">${d.msdyn_sourceactual ? html`actual <span class="mono">${d.msdyn_sourceactual}</span>` : d.msdyn_milestone ? html`milestone <span class="mono">${d.msdyn_milestone}</span>` : d.msdyn_originalbilledactual ? html`corrects <span class="mono">${d.msdyn_originalbilledactual}</span>` : html`manual`}</td></tr>`,
      );
      return html`<h3>${contractLine?.productdescription ?? line.salesorderdetailid} <span class="small muted">${line.msdyn_billingmethod === BillingMethod.FixedPrice ? 'fixed price' : 'time and material'} · ${line.extendedamount} + tax ${line.tax}</span></h3>
${table(html`<tr><th>Detail</th><th>Class</th><th>Billing type</th><th class="num">Qty</th><th class="num">Price</th><th class="num">Amount</th><th class="num">Tax</th><th>Date</th><th>From</th></tr>`, rows, 'No details on this line.', 'Invoice line details')}
${moreNote(details.more, link(ctx, `dataverse/invoices/${encodeURIComponent(view.invoice.invoiceid)}`, {}, 'the invoice as JSON'))}`;
    }),
  );
}

export function invoicePage(ctx: ConsoleContext, data: InvoicePageData): string {
  const inv = data.view.invoice;
  const t = data.trace;
  const steps = t.steps.map(
    (s) => html`<li class="${s.state}" data-step="${s.step}" data-state="${s.state}"><span class="step">${STEP_LABELS[s.step]}</span> ${stateBadge(s.state)}${s.at ? html`<div class="small">${date(s.at)}</div>` : html``}<div class="detail">${s.detail}</div></li>`,
  );
  const errors = t.errors.map(
    (e) => html`<tr><td>${date(e.OccurredAt)}</td><td>${e.Source}</td><td>${stateBadge(e.Category)}</td><td>${e.Message}</td><td class="mono small">${e.MessageId ?? ''}</td></tr>`,
  );
  const waiting = t.staging.notImported.map(
    (r) => html`<tr><td class="mono small">${r.actualId}</td><td>${r.transType}</td><td>${stateBadge(r.importStatus)}</td><td>${r.importMessage ?? ''}</td></tr>`,
  );
  const body = html`
<h1>Invoice ${inv.invoicenumber} ${stateBadge(data.status)}</h1>
<dl class="kv" data-section="header">
<dt>Name</dt><dd data-field="name">${inv.name}</dd>
<dt>Customer</dt><dd>${data.account ? html`${data.account.name} <span class="muted">(${data.account.accountnumber})</span>` : inv.customerid}</dd>
<dt>Contract</dt><dd>${data.contract ? html`${link(ctx, 'console/invoices', { contract: data.contract.salesorderid }, `${data.contract.ordernumber} ${data.contract.name}`)}` : inv.salesorderid}</dd>
<dt>Invoice date</dt><dd>${inv.msdyn_invoicedate}</dd>
<dt>Total</dt><dd>${inv.totalamount} ${inv.transactioncurrencyid} + tax ${inv.totaltax}</dd>
<dt>Confirmed</dt><dd>${date(inv.msdyn_confirmedon) || html`<span class="muted">not yet</span>`}</dd>
<dt>Customer invoice</dt><dd>${inv.msdyn_customerinvoicenumber ? `${inv.msdyn_customerinvoicenumber} of ${inv.msdyn_customerinvoicedate ?? '?'}` : html`<span class="muted">not posted yet</span>`}</dd>
${data.corrects ? html`<dt>Corrects</dt><dd data-section="corrects">${relatedLinks(ctx, [data.corrects])}</dd>` : html``}
${data.correctedBy.length ? html`<dt>Corrected by</dt><dd data-section="corrected-by">${relatedLinks(ctx, data.correctedBy)}</dd>` : html``}
<dt>Id</dt><dd class="mono">${inv.invoiceid}</dd>
<dt>As JSON</dt><dd>${link(ctx, `invoices/${encodeURIComponent(inv.invoiceid)}/trace`, {}, 'trace')} · ${link(ctx, `dataverse/invoices/${encodeURIComponent(inv.invoiceid)}`, {}, 'invoice')}${t.reconciliation.finance.proposalId ? html` · ${link(ctx, `finance/proposals/${encodeURIComponent(t.reconciliation.finance.proposalId)}`, {}, 'F&O proposal')}` : html``}</dd>
</dl>
<h2>Journey</h2>
<ol class="timeline" data-section="journey">${steps}</ol>
${data.preview ? previewSection(ctx, data.preview) : html``}
${reconciliationSection(ctx, data)}
${waiting.length ? html`<h3>Staging rows not imported</h3>${table(html`<tr><th>Actual</th><th>Type</th><th>Status</th><th>Reason</th></tr>`, waiting, '', 'Staging rows not imported')}` : html``}
<section aria-labelledby="inv-errors"><h2 id="inv-errors">Open errors about this invoice</h2>
${table(html`<tr><th>Occurred</th><th>Source</th><th>Category</th><th>Message</th><th>Message id</th></tr>`, errors, 'None.', 'Open errors about this invoice')}
${errors.length ? html`<p>${link(ctx, 'console/errors', { status: 'Open' }, 'All open errors, with replay')}</p>` : html``}</section>
<section aria-labelledby="inv-lines"><h2 id="inv-lines">Lines and details</h2>
${linesSection(ctx, data)}</section>`;
  return page(ctx, 'invoices', `Invoice ${inv.invoicenumber}`, body);
}

// ---- errors ----------------------------------------------------------------------------------

function errorRow(ctx: ConsoleContext, e: ErrorView): Markup {
  const refusal = listedReplayRefusal(e);
  const replay = e.Status === 'Resolved'
    ? html``
    : refusal === undefined
      ? html`<form class="inline" method="post" action="${urlOf(ctx, `errors/${encodeURIComponent(e.Id)}/replay`)}" data-replay="${e.Id}"><button type="submit">Replay</button><span class="replay-result" role="status"></span></form>`
      : html`<span class="small muted" title="${refusal}">cannot replay</span>`;
  return html`<tr data-error="${e.Id}" data-status="${e.Status}">
<td>${date(e.OccurredAt)}</td><td>${e.Source}</td><td>${stateBadge(e.Category)}</td><td>${stateBadge(e.Status)}${e.ReplayCount ? html`<div class="small muted">replayed ${e.ReplayCount}×</div>` : html``}</td>
<td class="mono small">${e.Reference ?? ''}</td>
<td><div data-field="message">${e.Message}</div>${e.DeadLetterReason ? html`<div class="small">dead-lettered: ${e.DeadLetterReason}${e.DeadLetterDescription ? html` — ${e.DeadLetterDescription}` : html``}${e.DeliveryCount !== undefined ? html` (${e.DeliveryCount} deliveries)` : html``}</div>` : html``}
${e.Payload !== undefined ? html`<details><summary>Payload</summary><pre data-field="payload">${e.Payload}</pre></details>` : html``}</td>
<td class="mono small">${e.MessageId ?? ''}</td><td>${replay}</td></tr>`;
}

export function errorsPage(ctx: ConsoleContext, data: ErrorsPageData): string {
  const q = data.query;
  const filters = { source: q.source, category: q.category, status: q.status };
  const option = (value: string, text: string, selected: string | undefined) => html`<option value="${value}"${value === selected ? html` selected` : html``}>${text}</option>`;
  const body = html`
<h1>Integration errors</h1>
<form class="filters" method="get" action="${urlOf({ ...ctx, code: undefined }, 'console/errors')}">
  ${keyField(ctx)}
  <label>Source<select name="source">${option('', 'any', q.source)}${data.sources.map((s) => option(s, s, q.source))}</select></label>
  <label>Category<select name="category">${option('', 'any', q.category)}${['Validation', 'Business', 'Transient', 'DeadLetter'].map((c) => option(c, c, q.category))}</select></label>
  <label>Status<select name="status">${option('', 'any', q.status)}${['Open', 'Resolved', 'Replayed'].map((s) => option(s, s, q.status))}</select></label>
  <button type="submit">Filter</button>
</form>
${table(
  html`<tr><th>Occurred</th><th>Source</th><th>Category</th><th>Status</th><th>Reference</th><th>Reason</th><th>Message id</th><th></th></tr>`,
  data.page.errors.map((e) => errorRow(ctx, e)),
  'No error matches.',
  'Integration errors',
)}
<div class="pager">${q.continuationToken ? link(ctx, 'console/errors', filters, 'First page') : html``}${data.page.continuationToken ? link(ctx, 'console/errors', { ...filters, continuationToken: data.page.continuationToken }, 'Next page') : html``}</div>
<p class="small muted">Replay sends the message a row kept to its queue again (POST ${ctx.basePath}/errors/{errorId}/replay); the row turns Replayed, then Resolved once the message goes through. Validation errors cannot be replayed: the message itself is wrong.</p>`;
  return page(ctx, 'errors', 'Errors', body);
}

// ---- staging ---------------------------------------------------------------------------------

export function stagingPage(ctx: ConsoleContext, data: StagingPageData): string {
  const tabs = ['Waiting', 'Error', 'Pending', 'Imported'].map((s) =>
    s === data.status ? html`<strong>${s} (${data.counts[s] ?? 0})</strong>` : link(ctx, 'console/staging', { status: s }, `${s} (${data.counts[s] ?? 0})`),
  );
  const groups = data.groups.map((g) => {
    const rows = g.rows.map(
      (r) => html`<tr><td class="mono small">${r.ContractId}</td><td class="mono small">${r.ActualId}</td><td>${r.TransType}</td><td>${r.TransactionClassification}</td><td class="num">${r.Quantity}</td><td class="num">${r.Amount}</td><td>${r.TransactionCurrencyId}</td><td>${r.AccountingDate}</td>
<td>${r.InvoiceId ? invoiceLink(ctx, r.InvoiceId, r.InvoiceProposalId ?? r.InvoiceId) : ''}</td></tr>`,
    );
    return html`<section class="group" data-reason="${g.reason}"><h3>${stateBadge(g.status)} ${g.reason} <span class="muted">(${g.rows.length})</span></h3>
${table(html`<tr><th>Contract</th><th>Actual</th><th>Type</th><th>Class</th><th class="num">Qty</th><th class="num">Amount</th><th>Currency</th><th>Accounting date</th><th>Invoice</th></tr>`, rows, '', 'Staging rows')}</section>`;
  });
  const body = html`
<h1>Actuals staging</h1>
<p>${link(ctx, 'console/staging', {}, 'Waiting and Error')} · ${joinMarkup(tabs, html` · `)}</p>
${data.truncated.length ? html`<div class="notice warn">Only the first rows of ${data.truncated.join(', ')} were read.</div>` : html``}
${groups.length ? groups : html`<p class="muted">No staging row ${data.status ? html`is ${data.status}` : html`waits or is in error`}.</p>`}`;
  return page(ctx, 'staging', 'Staging', body);
}

// ---- proposals -------------------------------------------------------------------------------

export function proposalsPage(ctx: ConsoleContext, data: ProposalsPageData): string {
  const rows = data.proposals.map(
    (p) => html`<tr><td>${p.ProposalId}</td><td>${p.kind}</td><td>${stateBadge(p.Status)}</td><td>${invoiceLink(ctx, p.InvoiceId, 'invoice')}</td><td>${p.CustomerAccount}</td><td>${p.CurrencyCode}</td>
<td class="num">${p.ImportedLineCount} / ${p.ExpectedLineCount}</td><td class="num">${p.ImportedAmount} / ${p.ExpectedAmount}</td><td class="num">${p.ImportedTax ?? '—'} / ${p.ExpectedTax ?? '—'}</td>
<td>${p.reconciliation.complete ? badge('complete', 'ok') : badge('incomplete', 'warn')}</td><td>${p.CustomerInvoiceId ?? ''}</td><td>${date(p.PostedOn)}</td></tr>`,
  );
  const tabs = [link(ctx, 'console/proposals', {}, 'All'), link(ctx, 'console/proposals', { status: 'Open' }, 'Open'), link(ctx, 'console/proposals', { status: 'Posted' }, 'Posted')];
  const body = html`
<h1>F&amp;O invoice proposals${data.status ? html` · ${data.status}` : html``}</h1>
<p>${joinMarkup(tabs, html` · `)}</p>
${table(html`<tr><th>Proposal</th><th>Kind</th><th>Status</th><th>Dataverse</th><th>Customer</th><th>Currency</th><th class="num">Lines</th><th class="num">Amount</th><th class="num">Tax</th><th>Complete</th><th>Customer invoice</th><th>Posted</th></tr>`, rows, 'No proposal.', 'Proposals')}`;
  return page(ctx, 'proposals', 'Proposals', body);
}

// ---- backlog ---------------------------------------------------------------------------------

export function backlogPage(ctx: ConsoleContext, data: BacklogPageData): string {
  const contract = (id: string) => {
    const c = data.contracts.get(id);
    return c ? link(ctx, 'console/invoices', { contract: id }, `${c.ordernumber} ${c.name}`) : html`<span class="mono small">${id}</span>`;
  };
  const actuals = data.actuals.map(
    (a) => html`<tr><td>${contract(a.msdyn_salescontract)}</td><td class="mono small">${a.msdyn_actualid}</td><td>${labelOf.transactionClass(a.msdyn_transactionclassification)}</td><td>${labelOf.billingType(a.msdyn_billingtype)}</td><td class="num">${a.msdyn_quantity}</td><td class="num">${a.msdyn_price}</td><td class="num">${a.msdyn_amount}</td><td>${a.transactioncurrencyid}</td><td>${a.msdyn_documentdate}</td></tr>`,
  );
  const milestones = data.milestones.map((m) => html`<tr><td>${contract(m.salesorderid)}</td><td>${m.msdyn_name}</td><td class="num">${m.msdyn_amount}</td><td>${m.msdyn_milestonedate}</td></tr>`);
  const body = html`
<h1>Billing backlog: ready to invoice</h1>
<p>${data.readyActuals} actual(s) and ${data.readyMilestones} milestone(s) are ready; creating an invoice for a contract (POST ${ctx.basePath}/dataverse/contracts/{contractId}/invoices) takes them.</p>
<h2>Actuals</h2>
${table(html`<tr><th>Contract</th><th>Actual</th><th>Class</th><th>Billing type</th><th class="num">Qty</th><th class="num">Price</th><th class="num">Amount</th><th>Currency</th><th>Date</th></tr>`, actuals, 'No actual is ready to invoice.', 'Ready actuals')}
<h2>Milestones</h2>
${table(html`<tr><th>Contract</th><th>Milestone</th><th class="num">Amount</th><th>Date</th></tr>`, milestones, 'No milestone is ready.', 'Ready milestones')}`;
  return page(ctx, 'backlog', 'Backlog', body);
}

// ---- failures --------------------------------------------------------------------------------

export function failurePage(ctx: ConsoleContext, status: number, detail: string): string {
  const title = status === 404 ? 'Not found' : status === 400 ? 'Bad request' : status === 409 ? 'Conflict' : 'Something went wrong';
  return page(ctx, undefined, title, html`<h1>${title}</h1><div class="notice bad" data-status="${status}">${detail}</div><p>${link(ctx, 'console', {}, 'Back to the overview')}</p>`);
}
