/**
 * The invariant checker: reads both sides' tables and reports every place where the money is not
 * right, with the keys a person needs to find it. What each invariant means, what it counts as
 * "checked" and the keys of its violations: docs/invariants.md. The command: tools/checkInvariants.ts.
 *
 * It reads through the stores' tables only (partitions found with one-column scans, then read one
 * at a time, a few at once), so memory holds maps of ids and a few partitions' rows, not whole tables:
 * - dvActuals and foActualsStaging contract by contract (both are partitioned by contract), with
 *   the invoices of that contract and their ILDs;
 * - foProjectTransactions project by project and foProposalLines proposal by proposal, kept as
 *   maps id -> (partition, amount);
 * - foLedgerEntries voucher by voucher.
 * The checker writes nothing. It expects a quiet system (queues drained, import run): a message
 * still on its way shows as a violation until it is applied.
 */
import { mapLimit } from '../core/collections';
import { amount, dec, eq, negate, sum, type Dec } from '../core/money';
import { AdjustmentStatus, InvoiceStatus, TransactionType } from '../core/options';
import type { Stored } from '../core/stored';
import type { DataverseStore } from '../dataverse/dataverseStore';
import type { Actual, Invoice, InvoiceLineDetail } from '../dataverse/records';
import { confirmationActualId } from '../dataverse/rules/confirmation/plan';
import { correctiveFigures } from '../dataverse/rules/correctionRules';
import type { FinanceStore } from '../finance/financeStore';
import type { CustomerInvoice, Proposal, StagingRow } from '../finance/records';
import type { TableStore } from '../storage/tableStore';
import { toStagingRow } from '../finance/rules/stagingMap';
import type { ErrorLog } from './errorLogStore';

export type InvariantName =
  | 'actualOnOneEditableInvoice' // every unbilled actual (and milestone) is named by ILDs of at most one Draft/In Review invoice
  | 'actualBilledOnce' // every unbilled actual is billed at most once, net of corrections (billed reversals)
  | 'confirmedInvoiceMatchesBilled' // every Confirmed or Posted invoice: each ILD has its billed sales actual, totals match, no billed actual without an ILD
  | 'syncedActualStaged' // every actual with msdyn_skipsync false has exactly one staging row with the values toStagingRow gives
  | 'postedRowHasTransaction' // every Imported cost/unbilled row has exactly one project transaction with its amount; every Imported billed row is a line of its proposal
  | 'voucherBalances' // every voucher's ledger entries sum to 0.00
  | 'postedProposalHasCustomerInvoice' // every Posted proposal has exactly one customer invoice matching its lines
  | 'deadLetterHasErrorRow'; // every dead-lettered message has an integrationErrors row with its MessageId

export interface InvariantViolation {
  invariant: InvariantName;
  keys: Record<string, string>;
  detail: string;
}

export interface DeadLetteredMessage {
  queue: string;
  messageId: string;
  enqueuedAt?: string;
  reason?: string;
}

export interface InvariantReport {
  checkedAt: string;
  /** How many items each invariant looked at (so "0 violations" can be told from "nothing checked"). */
  checked: Record<InvariantName, number>;
  violations: InvariantViolation[];
}

export interface InvariantDeps {
  dataverse: DataverseStore;
  finance: FinanceStore;
  errorLog: ErrorLog;
  /** Messages in the contract queues' dead-letter queues; omit to skip that invariant. */
  deadLetters?: () => Promise<DeadLetteredMessage[]>;
}

/** Every invariant, in the order reports list them. */
export const INVARIANTS: readonly InvariantName[] = [
  'actualOnOneEditableInvoice',
  'actualBilledOnce',
  'confirmedInvoiceMatchesBilled',
  'syncedActualStaged',
  'postedRowHasTransaction',
  'voucherBalances',
  'postedProposalHasCustomerInvoice',
  'deadLetterHasErrorRow',
];

/** Partitions read at once. */
const CONCURRENCY = 8;
/** Contracts checked at once (each holds its actuals and staging rows in memory). */
const CONTRACT_CONCURRENCY = 4;

const EDITABLE = new Set<number>([InvoiceStatus.Draft, InvoiceStatus.InReview]);
/** Statuses after confirmation: the billed actuals must be there (Paid comes after Posted). */
const CONFIRMED = new Set<number>([InvoiceStatus.Confirmed, InvoiceStatus.Posted, InvoiceStatus.Paid]);

/** The state one run collects. */
class Findings {
  readonly checked: Record<InvariantName, number> = Object.fromEntries(INVARIANTS.map((n) => [n, 0])) as Record<InvariantName, number>;
  readonly violations: InvariantViolation[] = [];

  count(invariant: InvariantName, n = 1): void {
    this.checked[invariant] += n;
  }

  add(invariant: InvariantName, keys: Record<string, string>, detail: string): void {
    this.violations.push({ invariant, keys, detail });
  }

  sorted(): InvariantViolation[] {
    const rank = (n: InvariantName) => INVARIANTS.indexOf(n);
    const text = (v: InvariantViolation) => JSON.stringify(v.keys);
    return [...this.violations].sort((a, b) => rank(a.invariant) - rank(b.invariant) || (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
  }
}

/** What the finance tables hold, as maps of ids (read before the contracts). */
interface FinanceIndex {
  /** foProjectTransactions per TransId: where, how many, the amount of the first. */
  transactions: Map<string, { projectIds: string[]; amount: string }>;
  /** foProposalLines per LineId: the proposals holding it and the amount of the first. */
  lines: Map<string, { proposalIds: string[]; amount: string }>;
  proposals: Stored<Proposal>[];
  /** The first proposal (by id) of each Dataverse invoice. */
  proposalOfInvoice: Map<string, string>;
  /** Sums of each proposal's lines. */
  lineSums: Map<string, { count: number; amount: Dec; tax: Dec }>;
}

/** What the contract passes collect for the checks that span contracts. */
interface Crossing {
  /** foActualsStaging rows per ActualId, over all partitions (every staging partition is read). */
  stagingCount: Map<string, number>;
  /** Actuals with skip-sync false: id -> contract. */
  synced: Map<string, string>;
  /** What is wrong with a synced actual's staging row, by actual id (reported once all partitions are read). */
  stagingProblems: Map<string, { contractId: string; problems: string[]; missing: boolean }>;
  /** Unbilled actual id -> the positive billed sales actuals naming it in msdyn_unbilledactual. */
  billedFor: Map<string, string[]>;
  /** Billed sales actuals that a billed reversal points at (msdyn_reversedactual). */
  reversedBilled: Set<string>;
  /** Unbilled actual or milestone id -> the Draft / In Review invoices whose ILDs name it. */
  editableActual: Map<string, Set<string>>;
  editableMilestone: Map<string, Set<string>>;
}

export async function checkInvariants(deps: InvariantDeps): Promise<InvariantReport> {
  const checkedAt = new Date().toISOString();
  const found = new Findings();
  const { dataverse: dv, finance: fo } = deps;

  const [index, invoices, contractIds, milestoneCount] = await Promise.all([
    financeIndex(fo),
    dv.invoices.query(),
    contractsToCheck(deps),
    dv.milestones.count(),
  ]);
  const crossing: Crossing = {
    stagingCount: new Map(),
    synced: new Map(),
    stagingProblems: new Map(),
    billedFor: new Map(),
    reversedBilled: new Set(),
    editableActual: new Map(),
    editableMilestone: new Map(),
  };
  const invoicesOf = new Map<string, Stored<Invoice>[]>();
  for (const invoice of invoices) {
    contractIds.add(invoice.salesorderid);
    push(invoicesOf, invoice.salesorderid, invoice);
  }

  await mapLimit([...contractIds].sort(), CONTRACT_CONCURRENCY, (contractId) => checkContract(deps, contractId, invoicesOf.get(contractId) ?? [], index, crossing, found));
  found.count('actualOnOneEditableInvoice', milestoneCount);
  checkCrossing(crossing, found);
  checkPostedProposals(await fo.customerInvoices.query(), index, found);
  await checkVouchers(fo, found);
  if (deps.deadLetters) await checkDeadLetters(deps.errorLog, await deps.deadLetters(), found);

  return { checkedAt, checked: found.checked, violations: found.sorted() };
}

// ---- reading ------------------------------------------------------------------------------------

/** Every contract that has actuals or staging rows (the partitions of both tables). */
async function contractsToCheck(deps: InvariantDeps): Promise<Set<string>> {
  const [actuals, staging] = await Promise.all([partitionsOf(deps.dataverse.actuals, 'msdyn_salescontract'), partitionsOf(deps.finance.staging, 'ContractId')]);
  return new Set([...actuals, ...staging]);
}

/**
 * The partitions of a table whose rows carry their partition key in `column` as well: that one
 * column is read. A row may lack the column (it is then taken from the key when the row is parsed);
 * should any do, the whole table is read once to find their partitions.
 */
async function partitionsOf<T, K extends keyof T & string>(table: Pick<TableStore<T>, 'countBy' | 'query'>, column: K): Promise<string[]> {
  const counts = await table.countBy(column);
  const out = new Set<string>();
  for (const key of counts.keys()) if (key !== 'none') out.add(key);
  if (counts.has('none')) for (const row of await table.query()) out.add(String(row[column]));
  return [...out].sort();
}

async function financeIndex(fo: FinanceStore): Promise<FinanceIndex> {
  const transactions = new Map<string, { projectIds: string[]; amount: string }>();
  const lines = new Map<string, { proposalIds: string[]; amount: string }>();
  const lineSums = new Map<string, { count: number; amount: Dec; tax: Dec }>();

  const [projects, proposals] = await Promise.all([
    partitionsOf(fo.projectTransactions, 'ProjectId'),
    fo.proposals.query(),
  ]);
  await mapLimit(projects, CONCURRENCY, async (projectId) => {
    for (const t of await fo.projectTransactions.listPartition(projectId)) {
      const seen = transactions.get(t.TransId);
      if (seen) seen.projectIds.push(t.ProjectId);
      else transactions.set(t.TransId, { projectIds: [t.ProjectId], amount: t.Amount });
    }
  });
  await mapLimit(proposals, CONCURRENCY, async (proposal) => {
    const sums = { count: 0, amount: dec(0), tax: dec(0) };
    for (const line of await fo.proposalLines.listPartition(proposal.ProposalId)) {
      sums.count++;
      sums.amount = sums.amount.plus(dec(line.LineAmount));
      sums.tax = sums.tax.plus(dec(line.SalesTaxAmount));
      const seen = lines.get(line.LineId);
      if (seen) seen.proposalIds.push(line.ProposalId);
      else lines.set(line.LineId, { proposalIds: [line.ProposalId], amount: line.LineAmount });
    }
    lineSums.set(proposal.ProposalId, sums);
  });
  const proposalOfInvoice = new Map<string, string>();
  for (const p of [...proposals].sort((a, b) => (a.ProposalId < b.ProposalId ? -1 : a.ProposalId > b.ProposalId ? 1 : 0))) {
    if (!proposalOfInvoice.has(p.InvoiceId)) proposalOfInvoice.set(p.InvoiceId, p.ProposalId);
  }
  return { transactions, lines, proposals, proposalOfInvoice, lineSums };
}

// ---- one contract: its actuals, staging rows, invoices and ILDs ---------------------------------

async function checkContract(
  deps: InvariantDeps,
  contractId: string,
  invoices: readonly Stored<Invoice>[],
  index: FinanceIndex,
  crossing: Crossing,
  found: Findings,
): Promise<void> {
  const read = invoices.filter((i) => EDITABLE.has(i.msdyn_projectinvoicestatus) || CONFIRMED.has(i.msdyn_projectinvoicestatus));
  const [actuals, staging, details] = await Promise.all([
    deps.dataverse.actuals.listPartition(contractId),
    deps.finance.staging.listPartition(contractId),
    mapLimit(read, CONCURRENCY, (invoice) => deps.dataverse.invoiceLineDetails.listPartition(invoice.invoiceid)),
  ]);
  const actualById = new Map(actuals.map((a) => [a.msdyn_actualid, a] as const));
  const billedOf = new Map<string, Actual[]>();
  for (const a of actuals) if (a.msdyn_transactiontypecode === TransactionType.BilledSales && a.msdyn_invoice !== undefined) push(billedOf, a.msdyn_invoice, a);

  collectBilling(actuals, crossing, found);
  read.forEach((invoice, i) => {
    const ilds = details[i] ?? [];
    if (EDITABLE.has(invoice.msdyn_projectinvoicestatus)) collectEditable(invoice, ilds, crossing);
    else checkConfirmedInvoice(invoice, ilds, billedOf.get(invoice.invoiceid) ?? [], actualById, found);
  });
  collectStaged(contractId, actuals, staging, crossing, found);
  checkImportedRows(staging, index, found);
}

/** Unbilled actuals (actualBilledOnce, actualOnOneEditableInvoice count them) and who bills them. */
function collectBilling(actuals: readonly Actual[], crossing: Crossing, found: Findings): void {
  for (const a of actuals) {
    if (a.msdyn_transactiontypecode === TransactionType.UnbilledSales && a.msdyn_reversedactual === undefined) {
      found.count('actualBilledOnce');
      found.count('actualOnOneEditableInvoice');
    }
    if (a.msdyn_transactiontypecode !== TransactionType.BilledSales) continue;
    if (a.msdyn_reversedactual !== undefined) crossing.reversedBilled.add(a.msdyn_reversedactual);
    else if (a.msdyn_unbilledactual !== undefined) push(crossing.billedFor, a.msdyn_unbilledactual, a.msdyn_actualid);
  }
}

function collectEditable(invoice: Invoice, details: readonly InvoiceLineDetail[], crossing: Crossing): void {
  for (const d of details) {
    if (d.msdyn_originalbilledactual !== undefined) continue; // a corrective ILD holds no backlog item
    if (d.msdyn_sourceactual !== undefined) add(crossing.editableActual, d.msdyn_sourceactual, invoice.invoiceid);
    if (d.msdyn_milestone !== undefined) add(crossing.editableMilestone, d.msdyn_milestone, invoice.invoiceid);
  }
}

/** confirmedInvoiceMatchesBilled for one Confirmed, Posted or Paid invoice. */
function checkConfirmedInvoice(
  invoice: Invoice,
  details: readonly InvoiceLineDetail[],
  billed: readonly Actual[],
  actualById: ReadonlyMap<string, Actual>,
  found: Findings,
): void {
  found.count('confirmedInvoiceMatchesBilled');
  const invoiceKeys = { invoiceId: invoice.invoiceid, invoiceNumber: invoice.invoicenumber };
  const report = (keys: Record<string, string>, detail: string) => found.add('confirmedInvoiceMatchesBilled', { ...invoiceKeys, ...keys }, `Invoice ${invoice.invoicenumber}: ${detail}`);

  const behindIld = new Set<string>();
  const remainders = new Set<string>();
  if (invoice.msdyn_correctedinvoice !== undefined) checkCorrectiveDetails(invoice, details, actualById, behindIld, report);
  else checkOrdinaryDetails(invoice, details, actualById, behindIld, remainders, report);

  const billedAmount = amount(sum(billed.map((b) => b.msdyn_amount)));
  const billedTax = amount(sum(billed.map((b) => b.msdyn_salestaxamount ?? '0')));
  if (!eq(billedAmount, invoice.totalamount) || !eq(billedTax, invoice.totaltax)) {
    report(
      {},
      `its ${billed.length} billed sales actuals sum to ${billedAmount} + tax ${billedTax}, the invoice says ${amount(invoice.totalamount)} + tax ${amount(invoice.totaltax)}`,
    );
  }
  for (const b of billed) {
    if (behindIld.has(b.msdyn_actualid)) continue;
    if (remainders.has(b.msdyn_actualid)) {
      if (!dec(b.msdyn_amount).isZero()) report({ billedActualId: b.msdyn_actualid }, `remainder billed actual ${b.msdyn_actualid} has amount ${b.msdyn_amount}, not 0.00`);
      continue;
    }
    report({ billedActualId: b.msdyn_actualid }, `billed sales actual ${b.msdyn_actualid} (${b.msdyn_amount}) carries the invoice but no ILD of it is behind it`);
  }
}

type Report = (keys: Record<string, string>, detail: string) => void;

/** Each ILD of an ordinary invoice has its billed sales actual, equal to it. */
function checkOrdinaryDetails(invoice: Invoice, details: readonly InvoiceLineDetail[], actualById: ReadonlyMap<string, Actual>, behindIld: Set<string>, remainders: Set<string>, report: Report): void {
  for (const d of [...details].sort((a, b) => (a.msdyn_invoicelinetransactionid < b.msdyn_invoicelinetransactionid ? -1 : 1))) {
    const detailId = d.msdyn_invoicelinetransactionid;
    const billedId = confirmationActualId(invoice.invoiceid, detailId, 'billed');
    behindIld.add(billedId);
    remainders.add(confirmationActualId(invoice.invoiceid, detailId, 'remainder-billed'));
    const keys = { detailId, billedActualId: billedId };
    const b = actualById.get(billedId);
    if (!b) {
      report(keys, `ILD ${detailId} has no billed sales actual ${billedId}`);
      continue;
    }
    const problems: string[] = [];
    if (b.msdyn_transactiontypecode !== TransactionType.BilledSales) problems.push(`transaction type is ${b.msdyn_transactiontypecode}, not Billed Sales`);
    if (b.msdyn_invoice !== invoice.invoiceid) problems.push(`msdyn_invoice is ${b.msdyn_invoice ?? 'empty'}`);
    if (!eq(b.msdyn_quantity, d.msdyn_quantity)) problems.push(`quantity ${b.msdyn_quantity}, ILD ${d.msdyn_quantity}`);
    if (!eq(b.msdyn_amount, d.msdyn_amount)) problems.push(`amount ${b.msdyn_amount}, ILD ${d.msdyn_amount}`);
    if (b.msdyn_salestaxamount === undefined || !eq(b.msdyn_salestaxamount, d.msdyn_tax)) problems.push(`tax ${b.msdyn_salestaxamount ?? 'missing'}, ILD ${d.msdyn_tax}`);
    if (problems.length) report(keys, `billed sales actual ${billedId} of ILD ${detailId} differs: ${problems.join('; ')}`);
  }
}

/**
 * Each corrective ILD that credits something has the reversal of the billed line it corrects
 * (its negative, on this invoice), that line is Adjusted, and a kept quantity is billed again.
 */
function checkCorrectiveDetails(invoice: Invoice, details: readonly InvoiceLineDetail[], actualById: ReadonlyMap<string, Actual>, behindIld: Set<string>, report: Report): void {
  for (const d of [...details].sort((a, b) => (a.msdyn_invoicelinetransactionid < b.msdyn_invoicelinetransactionid ? -1 : 1))) {
    const detailId = d.msdyn_invoicelinetransactionid;
    const originalId = d.msdyn_originalbilledactual;
    const original = originalId === undefined ? undefined : actualById.get(originalId);
    if (originalId === undefined || !original) {
      report({ detailId }, `corrective ILD ${detailId} corrects ${originalId ?? 'no billed actual'}, which is not there`);
      continue;
    }
    const figures = correctiveFigures(original, d.msdyn_quantity);
    if (dec(figures.credited).isZero()) continue;
    const problems: string[] = [];
    if (original.msdyn_adjustmentstatus !== AdjustmentStatus.Adjusted) problems.push(`the billed line ${originalId} it corrects is not Adjusted`);
    const reversalId = confirmationActualId(invoice.invoiceid, detailId, 'credit-reversal');
    behindIld.add(reversalId);
    const reversal = actualById.get(reversalId);
    if (!reversal) problems.push(`its reversal ${reversalId} is missing`);
    else if (!eq(reversal.msdyn_amount, negate(original.msdyn_amount)) || !eq(reversal.msdyn_salestaxamount ?? '0', negate(original.msdyn_salestaxamount ?? '0')) || reversal.msdyn_invoice !== invoice.invoiceid) {
      problems.push(`its reversal ${reversalId} (${reversal.msdyn_amount}, tax ${reversal.msdyn_salestaxamount ?? 'missing'}) is not the negative of ${originalId} (${original.msdyn_amount}, tax ${original.msdyn_salestaxamount ?? 'missing'}) on this invoice`);
    }
    if (!dec(figures.kept).isZero()) {
      const rebilledId = confirmationActualId(invoice.invoiceid, detailId, 'billed');
      behindIld.add(rebilledId);
      const rebilled = actualById.get(rebilledId);
      if (!rebilled) problems.push(`the kept quantity's billed actual ${rebilledId} is missing`);
      else if (!eq(rebilled.msdyn_quantity, figures.kept) || !eq(rebilled.msdyn_amount, figures.keptAmount)) problems.push(`the kept quantity's billed actual ${rebilledId} bills ${rebilled.msdyn_quantity} for ${rebilled.msdyn_amount}, not ${figures.kept} for ${figures.keptAmount}`);
    }
    if (problems.length) report({ detailId, originalBilledActualId: originalId }, `corrective ILD ${detailId}: ${problems.join('; ')}`);
  }
}

/** syncedActualStaged for the actuals of one contract (reported by `checkCrossing`, once every staging row is counted). */
function collectStaged(contractId: string, actuals: readonly Actual[], staging: readonly StagingRow[], crossing: Crossing, found: Findings): void {
  for (const row of staging) crossing.stagingCount.set(row.ActualId, (crossing.stagingCount.get(row.ActualId) ?? 0) + 1);
  const rowOf = new Map(staging.map((r) => [r.ActualId, r] as const));
  for (const actual of actuals) {
    if (actual.msdyn_skipsync) continue;
    found.count('syncedActualStaged');
    const actualId = actual.msdyn_actualid;
    crossing.synced.set(actualId, contractId);
    const row = rowOf.get(actualId);
    const mapped = toStagingRow(actual);
    let problems: string[];
    if (!mapped.ok) problems = [`cannot be staged (${mapped.reason})${row ? ', yet a staging row exists' : ''}`];
    else if (!row) problems = [];
    else problems = stagingDifferences(mapped.row, row);
    if (problems.length || (!row && mapped.ok)) crossing.stagingProblems.set(actualId, { contractId, problems, missing: !row && mapped.ok });
  }
}

function reportStaged(crossing: Crossing, found: Findings): void {
  for (const [actualId, contractId] of crossing.synced) {
    const rows = crossing.stagingCount.get(actualId) ?? 0;
    const known = crossing.stagingProblems.get(actualId);
    const problems = [...(known?.problems ?? [])];
    if (known?.missing) problems.push(rows > 0 ? `no staging row in partition ${contractId}; ${rows} in other partitions` : 'no foActualsStaging row');
    else if (rows > 1) problems.unshift(`${rows} staging rows with this ActualId (partitions other than ${contractId} hold the rest)`);
    if (problems.length) found.add('syncedActualStaged', { contractId, actualId }, `Actual ${actualId}: ${problems.join('; ')}`);
  }
}

const TEXT_FIELDS = [
  'TransType',
  'TransactionClassification',
  'BillingType',
  'AdjustmentStatus',
  'TransactionCurrencyId',
  'AccountingDate',
  'DocumentDate',
  'ContractId',
  'ContractLineId',
  'ProjectId',
  'InvoiceId',
  'UnbilledActualId',
  'ReversedActualId',
] as const satisfies readonly (keyof StagingRow)[];
const DECIMAL_FIELDS = ['Quantity', 'UnitPrice', 'Amount', 'SalesTaxAmount'] as const satisfies readonly (keyof StagingRow)[];

/** "Field: staging X, actual gives Y" for each mapped field that differs (decimals compared as numbers). */
export function stagingDifferences(expected: StagingRow, stored: StagingRow): string[] {
  const out: string[] = [];
  const shown = (v: string | undefined) => (v === undefined ? 'empty' : v);
  for (const field of TEXT_FIELDS) {
    // Staging is an import journal, written when the actual is synced: an actual that a
    // confirmation marks Adjusted afterwards keeps its row as synced (F&O learns of the adjustment
    // from the adjustment reversal, which is synced), so that difference is not a violation.
    if (field === 'AdjustmentStatus' && expected.AdjustmentStatus === 'Adjusted' && stored.AdjustmentStatus === undefined) continue;
    if (expected[field] !== stored[field]) out.push(`${field}: staging ${shown(stored[field])}, actual gives ${shown(expected[field])}`);
  }
  for (const field of DECIMAL_FIELDS) {
    const want = expected[field];
    const have = stored[field];
    const same = want === undefined || have === undefined ? want === have : eq(want, have);
    if (!same) out.push(`${field}: staging ${shown(have)}, actual gives ${shown(want)}`);
  }
  return out;
}

/** postedRowHasTransaction for the staging rows of one contract. */
function checkImportedRows(staging: readonly StagingRow[], index: FinanceIndex, found: Findings): void {
  for (const row of staging) {
    if (row.ImportStatus !== 'Imported') continue;
    found.count('postedRowHasTransaction');
    const base = { contractId: row.ContractId, actualId: row.ActualId };
    if (row.TransType !== 'BilledSales') {
      const keys = { ...base, projectId: row.ProjectId };
      const t = index.transactions.get(row.ActualId);
      const what = `Imported ${row.TransType} row ${row.ActualId}`;
      if (!t) found.add('postedRowHasTransaction', keys, `${what} has no project transaction`);
      else if (t.projectIds.length > 1) found.add('postedRowHasTransaction', keys, `${what} has ${t.projectIds.length} project transactions (projects ${t.projectIds.join(', ')})`);
      else if (t.projectIds[0] !== row.ProjectId) found.add('postedRowHasTransaction', keys, `${what}: its project transaction is in project ${t.projectIds[0]}, the row says ${row.ProjectId}`);
      else if (!eq(t.amount, row.Amount)) found.add('postedRowHasTransaction', keys, `${what}: amount ${row.Amount}, its project transaction ${t.amount}`);
      continue;
    }
    const proposalId = row.InvoiceProposalId || (row.InvoiceId === undefined ? undefined : index.proposalOfInvoice.get(row.InvoiceId));
    const keys = { ...base, proposalId: proposalId ?? '' };
    const what = `Imported billed sales row ${row.ActualId}`;
    const line = index.lines.get(row.ActualId);
    if (proposalId === undefined) found.add('postedRowHasTransaction', keys, `${what} names no proposal and its invoice ${row.InvoiceId ?? '(none)'} has none`);
    else if (!line || !line.proposalIds.includes(proposalId)) {
      found.add('postedRowHasTransaction', keys, `${what} is not a line of proposal ${proposalId}${line ? ` (it is a line of ${line.proposalIds.join(', ')})` : ''}`);
    } else if (line.proposalIds.length > 1) found.add('postedRowHasTransaction', keys, `${what} is a line of ${line.proposalIds.length} proposals: ${line.proposalIds.join(', ')}`);
    else if (!eq(line.amount, row.Amount)) found.add('postedRowHasTransaction', keys, `${what}: amount ${row.Amount}, its line of proposal ${proposalId} ${line.amount}`);
  }
}

// ---- across contracts -----------------------------------------------------------------------------

function checkCrossing(crossing: Crossing, found: Findings): void {
  reportStaged(crossing, found);
  for (const [actualId, invoiceIds] of crossing.editableActual) {
    if (invoiceIds.size > 1) {
      const ids = [...invoiceIds].sort();
      found.add('actualOnOneEditableInvoice', { actualId, invoiceIds: ids.join(',') }, `Actual ${actualId} is on ${ids.length} Draft/In Review invoices: ${ids.join(', ')}`);
    }
  }
  for (const [milestoneId, invoiceIds] of crossing.editableMilestone) {
    if (invoiceIds.size > 1) {
      const ids = [...invoiceIds].sort();
      found.add('actualOnOneEditableInvoice', { milestoneId, invoiceIds: ids.join(',') }, `Milestone ${milestoneId} is on ${ids.length} Draft/In Review invoices: ${ids.join(', ')}`);
    }
  }
  for (const [unbilledActualId, billed] of crossing.billedFor) {
    const standing = billed.filter((id) => !crossing.reversedBilled.has(id)).sort();
    if (standing.length > 1) {
      found.add(
        'actualBilledOnce',
        { unbilledActualId, billedActualIds: standing.join(',') },
        `Unbilled actual ${unbilledActualId} is billed ${standing.length} times (billed sales actuals ${standing.join(', ')}, none reversed)`,
      );
    }
  }
}

/** postedProposalHasCustomerInvoice. */
function checkPostedProposals(customerInvoices: readonly CustomerInvoice[], index: FinanceIndex, found: Findings): void {
  const byProposal = new Map<string, CustomerInvoice[]>();
  for (const c of customerInvoices) push(byProposal, c.ProposalId, c);
  for (const proposal of index.proposals) {
    if (proposal.Status !== 'Posted') continue;
    found.count('postedProposalHasCustomerInvoice');
    const proposalId = proposal.ProposalId;
    const civs = byProposal.get(proposalId) ?? [];
    const what = `Posted proposal ${proposalId}`;
    if (civs.length !== 1) {
      found.add(
        'postedProposalHasCustomerInvoice',
        { proposalId },
        civs.length === 0 ? `${what} has no customer invoice` : `${what} has ${civs.length} customer invoices: ${civs.map((c) => c.InvoiceId).join(', ')}`,
      );
      continue;
    }
    const civ = civs[0]!;
    const sums = index.lineSums.get(proposalId) ?? { count: 0, amount: dec(0), tax: dec(0) };
    const problems: string[] = [];
    if (!eq(civ.InvoiceAmount, sums.amount)) problems.push(`InvoiceAmount ${civ.InvoiceAmount}, its ${sums.count} lines sum to ${amount(sums.amount)}`);
    if (!eq(civ.SalesTaxAmount, sums.tax)) problems.push(`SalesTaxAmount ${civ.SalesTaxAmount}, its lines' tax sums to ${amount(sums.tax)}`);
    if (proposal.CustomerInvoiceId !== civ.InvoiceId) problems.push(`the proposal's CustomerInvoiceId is ${proposal.CustomerInvoiceId ?? 'empty'}`);
    if (problems.length) found.add('postedProposalHasCustomerInvoice', { proposalId, customerInvoiceId: civ.InvoiceId }, `${what}, customer invoice ${civ.InvoiceId}: ${problems.join('; ')}`);
  }
}

/** voucherBalances: one voucher (partition) at a time. */
async function checkVouchers(fo: FinanceStore, found: Findings): Promise<void> {
  const vouchers = await partitionsOf(fo.ledgerEntries, 'Voucher');
  await mapLimit(vouchers, CONCURRENCY, async (voucher) => {
    const entries = await fo.ledgerEntries.listPartition(voucher);
    if (!entries.length) return; // deleted since it was counted
    found.count('voucherBalances');
    const total = sum(entries.map((e) => e.Amount));
    if (!total.isZero()) found.add('voucherBalances', { voucher }, `Voucher ${voucher}: its ${entries.length} ledger entries sum to ${amount(total)}, not 0.00`);
  });
}

/** deadLetterHasErrorRow. */
async function checkDeadLetters(errorLog: ErrorLog, messages: readonly DeadLetteredMessage[], found: Findings): Promise<void> {
  found.count('deadLetterHasErrorRow', messages.length);
  if (!messages.length) return;
  // One read of the error log's MessageId column.
  const logged = new Set<string>();
  for (const id of await errorLog.messageIds()) logged.add(id);
  for (const m of messages) {
    if (logged.has(m.messageId)) continue;
    const why = m.reason ? ` (dead-letter reason: ${m.reason})` : '';
    found.add('deadLetterHasErrorRow', { queue: m.queue, messageId: m.messageId }, `Message ${m.messageId} in the dead-letter queue of ${m.queue}${why} has no integrationErrors row`);
  }
}

// ---- helpers ----------------------------------------------------------------------------------------

function push<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
