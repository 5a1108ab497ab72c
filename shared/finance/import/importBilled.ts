/**
 * Import phase 2 (domain.md step 9): billed sales rows become proposal lines once their proposal
 * header exists and the unbilled transaction they bill is posted (by this run or before);
 * otherwise they wait with the exact reason. A credit proposal's billed sales reversals become
 * negative lines the same way (rules/import.ts, `decideBilled`). Lines are created if absent (LineId = ActualId);
 * each touched proposal's imported counters are then recomputed from its stored lines under the
 * header's ETag, so overlapping runs still count exactly. Why: docs/decisions/import-from-staging.md.
 */
import { mapLimit } from '../../core/collections';
import { withoutEtag, type Stored } from '../../core/stored';
import type { Proposal, ProposalLine, StagingRow } from '../records';
import { countersDiffer, decideBilled, proposalKey, reconcileFromLines } from '../rules/import';
import { readStaging, settle, type ImportFromStagingDeps, type Outcome, type RunContext } from './importRun';

/**
 * From this many unbilled transactions to look up in one project, its unbilled transactions are
 * listed instead of read one by one: one paged query instead of (at least) ten round trips, and
 * the listing is capped (LISTING_ROWS_PER_LOOKUP) so a long project history cannot make it
 * costlier than the reads it replaces by more than that factor.
 */
export const PROJECT_LISTING_THRESHOLD = 10;
/** A listing stops after this many rows per looked-up id (a huge project history) and the rest are read one by one. */
const LISTING_ROWS_PER_LOOKUP = 20;
/** Proposal recounts in flight at once (three round trips each). */
const RECOUNT_CONCURRENCY = 8;
const HEADER_ATTEMPTS = 20;

/** Import the billed rows of a run; `postedThisRun` are the unbilled actuals phase 1 posted. */
export async function importBilledRows(ctx: RunContext, billed: readonly StagingRow[], postedThisRun: ReadonlySet<string>): Promise<void> {
  const { deps, result, importedOn } = ctx;
  const { finance } = deps;
  const proposals = await resolveProposals(deps, billed);
  const unbilledPosted = await resolvePosted(deps, billed, postedThisRun, ctx.options.projectListingThreshold ?? PROJECT_LISTING_THRESHOLD);
  ctx.phase('resolveBilled');
  const outcomes: Outcome[] = [];
  const lines = new Map<string, { row: StagingRow; line: ProposalLine; update: Partial<StagingRow> }>();
  const touched = new Set<string>();
  const postedProposalRows: { row: StagingRow; proposal: Proposal; update: Partial<StagingRow> }[] = [];
  for (const row of billed) {
    const key = proposalKey(row);
    const proposal = key.by === 'ProposalId' ? proposals.byId.get(key.proposalId) : key.by === 'InvoiceId' ? proposals.byInvoice.get(key.invoiceId) : undefined;
    const decision = decideBilled(row, { proposal, unbilledPosted: (id) => unbilledPosted.has(id), importedOn });
    if (decision.kind === 'line') {
      lines.set(row.ActualId, { row, line: decision.line, update: decision.rowUpdate });
      touched.add(decision.line.ProposalId);
    } else if (decision.kind === 'error' && proposal?.Status === 'Posted') {
      postedProposalRows.push({ row, proposal, update: decision.rowUpdate });
    } else {
      if (decision.kind === 'waiting') result.waiting++;
      else result.errors++;
      outcomes.push({ kind: 'unfinished', row, update: decision.rowUpdate });
    }
  }
  // A row refused because its proposal is posted may be on it already (a stale index entry, or
  // its line was created just before a crash): then it counts as a line that existed.
  const linesOnPosted: StagingRow[] = [];
  const onPosted = await finance.proposalLines.getMany(postedProposalRows.map(({ row, proposal }) => ({ partitionKey: proposal.ProposalId, rowKey: row.ActualId })));
  for (const { row, proposal, update } of postedProposalRows) {
    if (onPosted.has(`${proposal.ProposalId}/${row.ActualId}`)) {
      linesOnPosted.push(row);
      outcomes.push({
        kind: 'imported',
        row,
        update: { ImportStatus: 'Imported', ImportMessage: `Imported as a line of invoice proposal ${proposal.ProposalId}`, InvoiceProposalId: proposal.ProposalId, ImportedOn: importedOn },
      });
    } else {
      result.errors++;
      outcomes.push({ kind: 'unfinished', row, update });
    }
  }
  ctx.phase('decideBilled');
  const created = await finance.proposalLines.createManyIfAbsent([...lines.values()].map((l) => l.line));
  result.linesCreated += created.created;
  ctx.phase('lines');
  await mapLimit([...touched], RECOUNT_CONCURRENCY, (id) => recountProposal(deps, id, proposals.stored.get(id)));
  ctx.phase('recount');

  // Lines that existed already: their staging row may be Imported (then it is left alone).
  const alreadyImported = new Set<string>();
  const existingRows = [...[...lines.values()].filter((l) => created.existing.has(`${l.line.ProposalId}/${l.line.LineId}`)).map((l) => l.row), ...linesOnPosted];
  if (existingRows.length) {
    const stored = await readStaging(ctx, existingRows);
    for (const row of existingRows) {
      if (stored.get(row.ActualId)?.ImportStatus === 'Imported') {
        alreadyImported.add(row.ActualId);
        result.cleaned++;
      }
    }
  }
  for (const l of lines.values()) outcomes.push({ kind: 'imported', row: l.row, update: l.update });
  result.linesImported += (await settle(ctx, outcomes, alreadyImported)).size;
  ctx.phase('settleBilled');
}

/** The proposals of the billed rows: by id, and by invoice (one query per distinct invoice). */
async function resolveProposals(deps: ImportFromStagingDeps, billed: readonly StagingRow[]) {
  const ids = new Set<string>();
  const invoices = new Set<string>();
  for (const row of billed) {
    const key = proposalKey(row);
    if (key.by === 'ProposalId') ids.add(key.proposalId);
    else if (key.by === 'InvoiceId') invoices.add(key.invoiceId);
  }
  const [found, ofInvoices] = await Promise.all([
    deps.finance.proposals.getMany([...ids].map((id) => ({ partitionKey: id, rowKey: id })), 8),
    deps.finance.proposalsOfInvoices(invoices),
  ]);
  const byId = new Map<string, Proposal>([...found.values()].map((p) => [p.ProposalId, withoutEtag(p)] as const));
  const byInvoice = new Map<string, Proposal>([...ofInvoices].map(([invoiceId, p]) => [invoiceId, withoutEtag(p)] as const));
  // As read, with their ETags: the recount after the lines are created starts from these.
  const stored = new Map<string, Stored<Proposal>>([...found.values(), ...ofInvoices.values()].map((p) => [p.ProposalId, p] as const));
  return { byId, byInvoice, stored };
}

/** Which unbilled actuals the billed rows bill have a posted project transaction (this run's, or stored). */
async function resolvePosted(deps: ImportFromStagingDeps, billed: readonly StagingRow[], postedThisRun: ReadonlySet<string>, threshold: number): Promise<Set<string>> {
  const wanted = new Map<string, Set<string>>();
  for (const row of billed) {
    const id = row.UnbilledActualId;
    if (id === undefined || postedThisRun.has(id)) continue;
    let ids = wanted.get(row.ProjectId);
    if (!ids) wanted.set(row.ProjectId, (ids = new Set()));
    ids.add(id);
  }
  const stored = await deps.finance.postedUnbilledIds(wanted, { listFrom: threshold, rowsPerId: LISTING_ROWS_PER_LOOKUP });
  return new Set([...postedThisRun, ...stored]);
}

/**
 * ImportedLineCount / ImportedAmount / ImportedTax of one proposal, recomputed from all its stored lines and
 * written under the ETag of the header read BEFORE the lines were listed: a line another run
 * creates after our listing is followed by that run's own recount, which either fails its ETag
 * against our write and re-reads, or comes after it. A posted proposal is never touched.
 * `readBefore`: the header as the caller read it before it created lines (the run's own read, which
 * saves a read); the first attempt starts from it, and a header changed since fails its ETag and is
 * read again.
 */
export async function recountProposal(deps: Pick<ImportFromStagingDeps, 'finance'>, proposalId: string, readBefore?: Stored<Proposal>): Promise<Proposal | undefined> {
  for (let attempt = 1; attempt <= HEADER_ATTEMPTS; attempt++) {
    const stored = attempt === 1 && readBefore !== undefined ? readBefore : await deps.finance.proposals.get(proposalId, proposalId);
    if (stored === undefined || stored.Status === 'Posted') return stored && withoutEtag(stored);
    const lines = (await deps.finance.proposalLines.listPartition(proposalId)).map((l) => withoutEtag(l));
    const header = withoutEtag(stored);
    const next = reconcileFromLines(header, lines);
    if (!countersDiffer(next, header)) return next;
    if ((await deps.finance.proposals.replaceIfMatch(next, stored.etag)) !== undefined) return next;
  }
  throw new Error(`Invoice proposal ${proposalId} kept changing while its imported counters were recomputed (${HEADER_ATTEMPTS} attempts)`);
}
