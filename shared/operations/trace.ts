/**
 * The journey of one invoice across both sides, behind `GET api/invoices/{invoiceId}/trace`
 * (operations), with a reconciliation of the Dataverse billed actuals against the F&O proposal.
 *
 * STEPS (each { step, state, at?, detail }; state: done | pending | waiting | error)
 *   invoice        the proforma invoice exists (status, details, totals)
 *   confirmed      status Confirmed or later (at = msdyn_confirmedon); error when the confirmation
 *                  was refused (an open integration error names the invoice)
 *   headerSynced   the F&O invoice proposal (id = invoice number) exists
 *   actualsStaged  every billed sales actual of the invoice has its foActualsStaging row
 *   linesImported  the proposal's imported lines, amount and tax equal what it expects (the one
 *                  rule of finance/rules/completeness.ts); waiting when
 *                  billed rows wait (the row's ImportMessage), error when rows are in Error
 *   posted         the proposal is Posted (customer invoice, voucher, PostedOn)
 *   accountingBack every billed actual carries its voucher and the invoice is Posted with the
 *                  customer invoice number
 * `stage` names the last step done in this order.
 *
 * The reconciliation: reconciliation.ts.
 */
import type { Actual, Invoice } from '../dataverse/records';
import type { Proposal, ProposalLine, StagingRow } from '../finance/records';
import { labelOf } from '../core/labels';
import { isComplete } from '../finance/rules/completeness';
import { InvoiceStatus } from '../core/options';
import type { DataverseStore } from '../dataverse/dataverseStore';
import type { ErrorLog, ErrorRow } from './errorLogStore';
import type { FinanceStore } from '../finance/financeStore';
import { NotFoundError } from '../core/errors';
import { byKey } from '../core/collections';
import { withoutEtag } from '../core/stored';
import { reconcileInvoice, type Reconciliation } from './reconciliation';

export type { Reconciliation, ReconciliationRow } from './reconciliation';

export type StepState = 'done' | 'pending' | 'waiting' | 'error';
export interface TraceStep {
  step: 'invoice' | 'confirmed' | 'headerSynced' | 'actualsStaged' | 'linesImported' | 'posted' | 'accountingBack';
  state: StepState;
  at?: string;
  detail: string;
}

export interface InvoiceTrace {
  invoiceId: string;
  invoicenumber: string;
  contractId: string;
  currency: string;
  invoiceStatus: string;
  stage: TraceStep['step'];
  steps: TraceStep[];
  staging: { counts: Record<string, number>; notImported: { actualId: string; transType: string; importStatus: string; importMessage?: string }[] };
  reconciliation: Reconciliation;
  errors: Pick<ErrorRow, 'Source' | 'Category' | 'Message' | 'OccurredAt' | 'Reference' | 'MessageId'>[];
}

export interface TraceDeps {
  dataverse: Pick<DataverseStore, 'loadInvoice' | 'billedActualsOfInvoice'>;
  finance: Pick<FinanceStore, 'proposals' | 'proposalLines' | 'stagingRowsOfInvoice' | 'customerInvoices'>;
  errorLog: Pick<ErrorLog, 'openErrorsFor'>;
}

const NOT_IMPORTED_SHOWN = 50;

function latest(values: (string | undefined)[]): string | undefined {
  return values.filter((v): v is string => v !== undefined).sort().at(-1);
}

export async function traceInvoice(deps: TraceDeps, invoiceId: string): Promise<InvoiceTrace> {
  const { dataverse, finance } = deps;
  const loaded = await dataverse.loadInvoice(invoiceId);
  if (!loaded) throw new NotFoundError(`Invoice ${invoiceId} was not found.`, invoiceId);
  const invoice: Invoice = withoutEtag(loaded.invoice);
  const contractId = invoice.salesorderid;
  const proposalId = invoice.invoicenumber;

  const [billedRows, proposalRow, lineRows, stagingRows, errorRows] = await Promise.all([
    dataverse.billedActualsOfInvoice(contractId, invoiceId),
    finance.proposals.get(proposalId, proposalId),
    finance.proposalLines.listPartition(proposalId),
    finance.stagingRowsOfInvoice(contractId, invoiceId),
    deps.errorLog.openErrorsFor([invoiceId, proposalId]),
  ]);
  const billed: Actual[] = billedRows.map((r) => withoutEtag(r)).sort(byKey((a) => a.msdyn_actualid));
  // A proposal with this number that belongs to another invoice is not this invoice's.
  const proposal: Proposal | undefined = proposalRow && proposalRow.InvoiceId === invoiceId ? withoutEtag(proposalRow) : undefined;
  const lines: ProposalLine[] = proposal ? lineRows.map((r) => withoutEtag(r)) : [];
  const staging: StagingRow[] = stagingRows.map((r) => withoutEtag(r));
  const customerInvoice = proposal?.CustomerInvoiceId ? await finance.customerInvoices.get(proposal.CustomerInvoiceId, proposal.CustomerInvoiceId) : undefined;

  const status = invoice.msdyn_projectinvoicestatus;
  const confirmed = status === InvoiceStatus.Confirmed || status === InvoiceStatus.Posted || status === InvoiceStatus.Paid;
  const stagingById = new Map(staging.map((r) => [r.ActualId, r]));
  const lineById = new Map(lines.map((l) => [l.LineId, l]));

  // Staging counts over the invoice's billed rows.
  const counts: Record<string, number> = { Pending: 0, Waiting: 0, Imported: 0, Error: 0, notStaged: 0 };
  for (const a of billed) {
    const row = stagingById.get(a.msdyn_actualid);
    counts[row ? row.ImportStatus : 'notStaged'] = (counts[row ? row.ImportStatus : 'notStaged'] ?? 0) + 1;
  }
  const notImported = staging
    .filter((r) => r.ImportStatus !== 'Imported')
    .sort(byKey((r) => r.ActualId))
    .slice(0, NOT_IMPORTED_SHOWN)
    .map((r) => ({ actualId: r.ActualId, transType: r.TransType, importStatus: r.ImportStatus, ...(r.ImportMessage ? { importMessage: r.ImportMessage } : {}) }));

  // Steps ----------------------------------------------------------------------------------------
  const steps: TraceStep[] = [];
  steps.push({
    step: 'invoice',
    state: 'done',
    detail: `${labelOf.invoiceStatus(status)} proforma invoice ${proposalId}: ${loaded.details.length} detail(s) on ${loaded.lines.length} line(s), total ${invoice.totalamount} ${invoice.transactioncurrencyid}, tax ${invoice.totaltax}`,
  });
  const confirmErrors = errorRows.filter((e) => e.Source === 'confirmProformaInvoice');
  steps.push(
    confirmed
      ? { step: 'confirmed', state: 'done', ...(invoice.msdyn_confirmedon ? { at: invoice.msdyn_confirmedon } : {}), detail: `confirmed; ${billed.length} billed sales actual(s) created` }
      : confirmErrors.length
        ? { step: 'confirmed', state: 'error', at: confirmErrors[0]!.OccurredAt, detail: `the confirmation was refused: ${confirmErrors[0]!.Message}` }
        : { step: 'confirmed', state: 'pending', detail: 'not confirmed yet (POST /api/dataverse/invoices/{invoiceId}/confirm; the confirmation runs on the invoice-confirmations queue)' },
  );
  steps.push(
    proposal
      ? {
          step: 'headerSynced',
          state: 'done',
          detail:
            `${proposal.CorrectedProposalId === undefined ? 'invoice proposal' : 'credit proposal'} ${proposal.ProposalId} expects ${proposal.ExpectedLineCount} line(s), ` +
            `${proposal.ExpectedAmount} ${proposal.CurrencyCode}${proposal.ExpectedTax !== undefined ? `, tax ${proposal.ExpectedTax}` : ''}` +
            (proposal.CorrectedProposalId === undefined ? '' : `; it corrects invoice proposal ${proposal.CorrectedProposalId}`),
        }
      : proposalRow
        ? { step: 'headerSynced', state: 'error', detail: `invoice proposal ${proposalId} exists but belongs to invoice ${proposalRow.InvoiceId}` }
        : { step: 'headerSynced', state: 'pending', detail: confirmed ? `invoice proposal ${proposalId} not in F&O yet (queue invoice-proposals)` : 'waits for the confirmation' },
  );
  const staged = billed.length - (counts.notStaged ?? 0);
  steps.push(
    !confirmed
      ? { step: 'actualsStaged', state: 'pending', detail: 'waits for the confirmation' }
      : staged === billed.length
        ? { step: 'actualsStaged', state: 'done', detail: `${staged} of ${billed.length} billed actual(s) in foActualsStaging` }
        : { step: 'actualsStaged', state: 'pending', detail: `${staged} of ${billed.length} billed actual(s) in foActualsStaging (queue actuals)` },
  );
  const complete = proposal !== undefined && isComplete(proposal);
  const errorRowsOfInvoice = staging.filter((r) => r.ImportStatus === 'Error');
  const waitingRows = staging.filter((r) => r.ImportStatus === 'Waiting');
  const importedAt = latest(staging.map((r) => r.ImportedOn));
  const importedDetail = proposal
    ? `${proposal.ImportedLineCount} of ${proposal.ExpectedLineCount} line(s), ${proposal.ImportedAmount} of ${proposal.ExpectedAmount} ${proposal.CurrencyCode}` +
      (proposal.ExpectedTax !== undefined ? `, tax ${proposal.ImportedTax ?? '(not counted)'} of ${proposal.ExpectedTax}` : '')
    : `${counts.Imported ?? 0} of ${billed.length} billed row(s) imported`;
  steps.push(
    complete
      ? { step: 'linesImported', state: 'done', ...(importedAt ? { at: importedAt } : {}), detail: importedDetail }
      : errorRowsOfInvoice.length
        ? { step: 'linesImported', state: 'error', detail: `${importedDetail}; ${errorRowsOfInvoice.length} row(s) in Error: ${errorRowsOfInvoice[0]!.ImportMessage ?? 'no reason given'}` }
        : waitingRows.length
          ? { step: 'linesImported', state: 'waiting', detail: `${importedDetail}; ${waitingRows.length} row(s) waiting: ${waitingRows[0]!.ImportMessage ?? 'no reason given'}` }
          : { step: 'linesImported', state: 'pending', detail: confirmed ? `${importedDetail}; waits for Import from staging` : 'waits for the confirmation' },
  );
  const posted = proposal?.Status === 'Posted';
  steps.push(
    posted
      ? {
          step: 'posted',
          state: 'done',
          ...(proposal?.PostedOn ? { at: proposal.PostedOn } : {}),
          detail:
            `${proposal?.CorrectedProposalId === undefined ? 'customer invoice' : 'credit note'} ${proposal?.CustomerInvoiceId ?? '?'}, voucher ${proposal?.Voucher ?? '?'}` +
            (customerInvoice?.CorrectedInvoiceId !== undefined ? `, crediting customer invoice ${customerInvoice.CorrectedInvoiceId}` : ''),
        }
      : {
          step: 'posted',
          state: 'pending',
          detail: complete
            ? `ready to post (POST /api/finance/proposals/${proposalId}/post)${proposal?.CorrectedProposalId !== undefined ? ` once the invoice proposal it corrects, ${proposal.CorrectedProposalId}, is posted` : ''}`
            : 'the proposal can be posted once it is complete',
        },
  );
  const withVoucher = billed.filter((a) => a.msdyn_externalreferenceid !== undefined).length;
  const back = posted && billed.length > 0 && withVoucher === billed.length && status === InvoiceStatus.Posted;
  steps.push(
    back
      ? {
          step: 'accountingBack',
          state: 'done',
          ...(latest(billed.map((a) => a.msdyn_postingdate)) ? { at: latest(billed.map((a) => a.msdyn_postingdate)) } : {}),
          detail: `${withVoucher} of ${billed.length} billed actual(s) carry their voucher; invoice Posted as ${invoice.msdyn_customerinvoicenumber ?? '?'}`,
        }
      : { step: 'accountingBack', state: 'pending', detail: `${withVoucher} of ${billed.length} billed actual(s) carry their voucher; invoice ${labelOf.invoiceStatus(status)}` },
  );
  let stage: TraceStep['step'] = 'invoice';
  for (const s of steps) {
    if (s.state !== 'done') break;
    stage = s.step;
  }

  return {
    invoiceId,
    invoicenumber: proposalId,
    contractId,
    currency: invoice.transactioncurrencyid,
    invoiceStatus: labelOf.invoiceStatus(status),
    stage,
    steps,
    staging: { counts, notImported },
    reconciliation: reconcileInvoice(invoice, confirmed, billed, proposal, lines, lineById, stagingById, customerInvoice ? withoutEtag(customerInvoice) : undefined),
    errors: errorRows
      .map((e) => ({ Source: e.Source, Category: e.Category, Message: e.Message, OccurredAt: e.OccurredAt, ...(e.Reference ? { Reference: e.Reference } : {}), ...(e.MessageId ? { MessageId: e.MessageId } : {}) }))
      .sort((a, b) => (a.OccurredAt < b.OccurredAt ? 1 : -1)),
  };
}
