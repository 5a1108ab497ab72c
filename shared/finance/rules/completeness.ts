/**
 * When an invoice proposal is complete (domain.md step 9): its imported line count, amount AND
 * sales tax equal what its header expects. This is the one rule every place uses: the import's
 * counters and the proposals view (`reconcile`), the posting route and the posting itself
 * (`isComplete`, and `meetsExpectation` over the stored lines), the trace and the repair sweep.
 *
 * Proposals stored before tax was reconciled have no ExpectedTax: their tax is not checked (they
 * are complete on line count and amount, as they were when they were synchronized). A proposal
 * that expects tax but whose imported tax was never counted (ImportedTax absent) is not complete
 * until it is counted (the header sync and the import recount it from the stored lines).
 * Credit proposals follow the same rule with negative (or zero) figures.
 */
import type { Proposal } from '../records';
import { amount, dec, eq } from '../../core/money';

/** What a proposal holds or should hold: lines, their amount, their sales tax (undefined: not known). */
export interface ProposalTotals {
  lineCount: number;
  amount: string;
  tax?: string;
}

type Expectation = Pick<Proposal, 'ExpectedLineCount' | 'ExpectedAmount' | 'ExpectedTax'>;

/** Whether the header's expected tax is checked (absent on proposals stored before tax was reconciled). */
export function taxChecked(proposal: Pick<Proposal, 'ExpectedTax'>): boolean {
  return proposal.ExpectedTax !== undefined;
}

/** The header's imported counters as totals. */
export function importedTotals(proposal: Pick<Proposal, 'ImportedLineCount' | 'ImportedAmount' | 'ImportedTax'>): ProposalTotals {
  const totals: ProposalTotals = { lineCount: proposal.ImportedLineCount, amount: proposal.ImportedAmount };
  if (proposal.ImportedTax !== undefined) totals.tax = proposal.ImportedTax;
  return totals;
}

/**
 * THE completeness rule: `imported` has the line count and amount the header expects, and, when
 * the header expects a tax, that tax too.
 */
export function meetsExpectation(proposal: Expectation, imported: ProposalTotals): boolean {
  if (imported.lineCount !== proposal.ExpectedLineCount || !eq(imported.amount, proposal.ExpectedAmount)) return false;
  if (proposal.ExpectedTax === undefined) return true;
  return imported.tax !== undefined && eq(imported.tax, proposal.ExpectedTax);
}

/** Complete: the header's imported counters equal what it expects (`meetsExpectation`). */
export function isComplete(proposal: Proposal): boolean {
  return meetsExpectation(proposal, importedTotals(proposal));
}

/**
 * "expected 3 lines totalling 6533.33 EUR, imported 2 lines totalling 1533.33 EUR", followed, when
 * tax is checked, by "; sales tax expected 1240.00 EUR, imported 240.00 EUR". For refusals.
 */
export function describeShortfall(proposal: Expectation & Pick<Proposal, 'CurrencyCode'>, imported: ProposalTotals): string {
  const c = proposal.CurrencyCode;
  const base =
    `expected ${proposal.ExpectedLineCount} lines totalling ${amount(proposal.ExpectedAmount)} ${c}, ` +
    `imported ${imported.lineCount} lines totalling ${amount(imported.amount)} ${c}`;
  if (proposal.ExpectedTax === undefined) return base;
  return `${base}; sales tax expected ${amount(proposal.ExpectedTax)} ${c}, imported ${imported.tax === undefined ? '(not counted yet)' : `${amount(imported.tax)} ${c}`}`;
}

export interface Reconciliation {
  proposalId: string;
  expectedLineCount: number;
  importedLineCount: number;
  missingLineCount: number;
  expectedAmount: string;
  importedAmount: string;
  missingAmount: string;
  /** False for proposals stored before tax was reconciled (no expected tax): their tax is not checked. */
  taxChecked: boolean;
  expectedTax?: string;
  importedTax?: string;
  /** expectedTax - importedTax, when both are known. */
  missingTax?: string;
  complete: boolean;
}

/** Expected versus imported lines, amounts and tax of one proposal (the per-invoice reconciliation view). */
export function reconcile(proposal: Proposal): Reconciliation {
  const { ExpectedTax: expectedTax, ImportedTax: importedTax } = proposal;
  return {
    proposalId: proposal.ProposalId,
    expectedLineCount: proposal.ExpectedLineCount,
    importedLineCount: proposal.ImportedLineCount,
    missingLineCount: proposal.ExpectedLineCount - proposal.ImportedLineCount,
    expectedAmount: amount(proposal.ExpectedAmount),
    importedAmount: amount(proposal.ImportedAmount),
    missingAmount: amount(dec(proposal.ExpectedAmount).minus(dec(proposal.ImportedAmount))),
    taxChecked: taxChecked(proposal),
    ...(expectedTax !== undefined ? { expectedTax: amount(expectedTax) } : {}),
    ...(importedTax !== undefined ? { importedTax: amount(importedTax) } : {}),
    ...(expectedTax !== undefined && importedTax !== undefined ? { missingTax: amount(dec(expectedTax).minus(dec(importedTax))) } : {}),
    complete: isComplete(proposal),
  };
}
