/**
 * Reconciliation of one invoice: the Dataverse billed actuals against the F&O proposal, its lines
 * and its customer invoice (what `GET api/invoices/{invoiceId}/trace` shows under `reconciliation`).
 *
 * RECONCILIATION (status Matched | Incomplete | Mismatch | NotConfirmed)
 * - Per billed actual: its proposal line (LineId = ActualId) must exist with the same quantity,
 *   amount and tax; "missing" entries say why (the staging row's status and message, or "not
 *   staged"); proposal lines without a billed actual are "unexpected".
 * - Totals: invoice total = sum of billed actuals = proposal ExpectedAmount = ImportedAmount =
 *   sum of proposal lines (= customer invoice InvoiceAmount once posted); the same for tax
 *   (ExpectedTax, ImportedTax; not checked on proposals stored before tax was reconciled) and
 *   line counts. Amounts exclude tax, as on the proposal. A corrective invoice reconciles the same
 *   way against its credit proposal and credit note (negative figures).
 * - Mismatch: any difference or unexpected line, or totals that exist on both sides and differ.
 *   Incomplete: nothing contradicts, but something is still missing. Matched: all equal.
 */
import { labelOf } from '../core/labels';
import { amount, eq, sum } from '../core/money';
import type { Actual, Invoice } from '../dataverse/records';
import type { Proposal, ProposalLine, StagingRow } from '../finance/records';

export interface ReconciliationRow {
  actualId: string;
  classification: string;
  quantity: string;
  dataverseAmount: string;
  financeAmount?: string;
  dataverseTax: string;
  financeTax?: string;
  importStatus?: string;
  voucher?: string;
  state: 'Matched' | 'Missing' | 'Different';
  note?: string;
}

export interface Reconciliation {
  status: 'Matched' | 'Incomplete' | 'Mismatch' | 'NotConfirmed';
  dataverse: { invoiceTotal: string; invoiceTax: string; billedActuals: number; billedAmount: string; billedTax: string };
  finance: {
    proposalId?: string;
    proposalStatus?: string;
    expectedLineCount?: number;
    expectedAmount?: string;
    /** Absent on proposals stored before tax was reconciled. */
    expectedTax?: string;
    importedLineCount?: number;
    importedAmount?: string;
    importedTax?: string;
    /** A credit proposal: the proposal it corrects. */
    correctedProposalId?: string;
    lines: number;
    linesAmount: string;
    linesTax: string;
    customerInvoice?: { id: string; invoiceAmount: string; salesTaxAmount: string; totalAmount: string; accountingAmount: string; voucher: string; correctedInvoiceId?: string };
  };
  rows: ReconciliationRow[];
  missingInFinance: { actualId: string; amount: string; reason: string }[];
  unexpectedInFinance: { lineId: string; amount: string }[];
  differences: { actualId: string; field: string; dataverse: string; finance: string }[];
  /** One sentence per problem, for people. */
  problems: string[];
}

export function reconcileInvoice(
  invoice: Invoice,
  confirmed: boolean,
  billed: Actual[],
  proposal: Proposal | undefined,
  lines: ProposalLine[],
  lineById: Map<string, ProposalLine>,
  stagingById: Map<string, StagingRow>,
  customerInvoice: { InvoiceId: string; InvoiceAmount: string; SalesTaxAmount: string; TotalAmount: string; AccountingAmount: string; Voucher: string; CorrectedInvoiceId?: string } | undefined,
): Reconciliation {
  const billedAmount = amount(sum(billed.map((a) => a.msdyn_amount)));
  const billedTax = amount(sum(billed.map((a) => a.msdyn_salestaxamount ?? '0')));
  const rows: ReconciliationRow[] = [];
  const missingInFinance: Reconciliation['missingInFinance'] = [];
  const differences: Reconciliation['differences'] = [];
  const billedIds = new Set(billed.map((a) => a.msdyn_actualid));

  for (const a of billed) {
    const line = lineById.get(a.msdyn_actualid);
    const staged = stagingById.get(a.msdyn_actualid);
    const tax = amount(a.msdyn_salestaxamount ?? '0');
    const row: ReconciliationRow = {
      actualId: a.msdyn_actualid,
      classification: labelOf.transactionClass(a.msdyn_transactionclassification),
      quantity: a.msdyn_quantity,
      dataverseAmount: amount(a.msdyn_amount),
      dataverseTax: tax,
      state: 'Matched',
      ...(staged ? { importStatus: staged.ImportStatus } : {}),
      ...(a.msdyn_externalreferenceid ? { voucher: a.msdyn_externalreferenceid } : {}),
    };
    if (!line) {
      const reason = !staged
        ? 'not staged in F&O yet'
        : `staging row ${staged.ImportStatus}${staged.ImportMessage ? `: ${staged.ImportMessage}` : ''}`;
      missingInFinance.push({ actualId: a.msdyn_actualid, amount: row.dataverseAmount, reason });
      rows.push({ ...row, state: 'Missing', note: reason });
      continue;
    }
    row.financeAmount = amount(line.LineAmount);
    row.financeTax = amount(line.SalesTaxAmount);
    const diffs: Reconciliation['differences'] = [];
    if (!eq(line.Quantity, a.msdyn_quantity)) diffs.push({ actualId: a.msdyn_actualid, field: 'quantity', dataverse: a.msdyn_quantity, finance: line.Quantity });
    if (!eq(line.LineAmount, a.msdyn_amount)) diffs.push({ actualId: a.msdyn_actualid, field: 'amount', dataverse: row.dataverseAmount, finance: row.financeAmount });
    if (!eq(line.SalesTaxAmount, tax)) diffs.push({ actualId: a.msdyn_actualid, field: 'tax', dataverse: tax, finance: row.financeTax });
    if (line.CurrencyCode !== a.transactioncurrencyid) diffs.push({ actualId: a.msdyn_actualid, field: 'currency', dataverse: a.transactioncurrencyid, finance: line.CurrencyCode });
    differences.push(...diffs);
    rows.push(diffs.length ? { ...row, state: 'Different', note: diffs.map((d) => `${d.field} ${d.dataverse} vs ${d.finance}`).join('; ') } : row);
  }
  const unexpectedInFinance = lines.filter((l) => !billedIds.has(l.LineId)).map((l) => ({ lineId: l.LineId, amount: amount(l.LineAmount) }));
  const linesAmount = amount(sum(lines.map((l) => l.LineAmount)));
  const linesTax = amount(sum(lines.map((l) => l.SalesTaxAmount)));

  const problems: string[] = [];
  let contradiction = differences.length > 0 || unexpectedInFinance.length > 0;
  for (const d of differences) problems.push(`Billed actual ${d.actualId}: ${d.field} is ${d.dataverse} in Dataverse but ${d.finance} on the F&O proposal line.`);
  for (const u of unexpectedInFinance) problems.push(`F&O proposal line ${u.lineId} (${u.amount}) has no billed actual on this invoice in Dataverse.`);
  for (const m of missingInFinance) problems.push(`Billed actual ${m.actualId} (${m.amount}) has no F&O proposal line: ${m.reason}.`);
  if (confirmed && !eq(invoice.totalamount, billedAmount)) {
    contradiction = true;
    problems.push(`The invoice total ${invoice.totalamount} differs from the sum of its billed actuals ${billedAmount}.`);
  }
  if (confirmed && !eq(invoice.totaltax, billedTax)) {
    contradiction = true;
    problems.push(`The invoice tax ${invoice.totaltax} differs from the tax on its billed actuals ${billedTax}.`);
  }
  if (proposal) {
    if (!eq(proposal.ExpectedAmount, billedAmount) || proposal.ExpectedLineCount !== billed.length) {
      contradiction = true;
      problems.push(`The proposal expects ${proposal.ExpectedLineCount} line(s) for ${proposal.ExpectedAmount}, but Dataverse has ${billed.length} billed actual(s) for ${billedAmount}.`);
    }
    if (proposal.ExpectedTax !== undefined && !eq(proposal.ExpectedTax, billedTax)) {
      contradiction = true;
      problems.push(`The proposal expects tax ${proposal.ExpectedTax}, but the billed actuals in Dataverse carry tax ${billedTax}.`);
    }
    if (proposal.ImportedLineCount !== lines.length || !eq(proposal.ImportedAmount, linesAmount)) {
      contradiction = true;
      problems.push(`The proposal counts ${proposal.ImportedLineCount} imported line(s) for ${proposal.ImportedAmount}, but ${lines.length} line(s) for ${linesAmount} are stored.`);
    }
    if (proposal.ImportedTax !== undefined && !eq(proposal.ImportedTax, linesTax)) {
      contradiction = true;
      problems.push(`The proposal counts imported tax ${proposal.ImportedTax}, but its stored lines carry tax ${linesTax}.`);
    }
  } else if (confirmed) {
    problems.push(`No F&O invoice proposal ${invoice.invoicenumber} yet.`);
  }
  if (customerInvoice && (!eq(customerInvoice.InvoiceAmount, billedAmount) || !eq(customerInvoice.SalesTaxAmount, billedTax))) {
    contradiction = true;
    problems.push(`Customer invoice ${customerInvoice.InvoiceId} is for ${customerInvoice.InvoiceAmount} + tax ${customerInvoice.SalesTaxAmount}, but Dataverse billed ${billedAmount} + tax ${billedTax}.`);
  }

  const status: Reconciliation['status'] = !confirmed
    ? 'NotConfirmed'
    : contradiction
      ? 'Mismatch'
      : missingInFinance.length || !proposal || billed.length === 0
        ? 'Incomplete'
        : 'Matched';
  if (!confirmed) problems.unshift('The invoice is not confirmed yet: nothing is expected in F&O.');

  return {
    status,
    dataverse: { invoiceTotal: invoice.totalamount, invoiceTax: invoice.totaltax, billedActuals: billed.length, billedAmount, billedTax },
    finance: {
      ...(proposal
        ? {
            proposalId: proposal.ProposalId,
            proposalStatus: proposal.Status,
            expectedLineCount: proposal.ExpectedLineCount,
            expectedAmount: proposal.ExpectedAmount,
            ...(proposal.ExpectedTax !== undefined ? { expectedTax: proposal.ExpectedTax } : {}),
            importedLineCount: proposal.ImportedLineCount,
            importedAmount: proposal.ImportedAmount,
            ...(proposal.ImportedTax !== undefined ? { importedTax: proposal.ImportedTax } : {}),
            ...(proposal.CorrectedProposalId !== undefined ? { correctedProposalId: proposal.CorrectedProposalId } : {}),
          }
        : {}),
      lines: lines.length,
      linesAmount,
      linesTax,
      ...(customerInvoice
        ? {
            customerInvoice: {
              id: customerInvoice.InvoiceId,
              invoiceAmount: customerInvoice.InvoiceAmount,
              salesTaxAmount: customerInvoice.SalesTaxAmount,
              totalAmount: customerInvoice.TotalAmount,
              accountingAmount: customerInvoice.AccountingAmount,
              voucher: customerInvoice.Voucher,
              ...(customerInvoice.CorrectedInvoiceId !== undefined ? { correctedInvoiceId: customerInvoice.CorrectedInvoiceId } : {}),
            },
          }
        : {}),
    },
    rows,
    missingInFinance,
    unexpectedInFinance,
    differences,
    problems,
  };
}
