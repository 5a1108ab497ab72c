/**
 * `POST api/dataverse/approvals` (domain.md step 1): approve time, expense and material entries
 * into actuals (rules/approvalRules.ts), create them if absent and publish them to `actuals`. An
 * entry approved before, on any contract, is found through the approval index (dvApprovalIndex),
 * written before the actuals; a refused request leaves nothing behind. An entry sent with its
 * `entryId` can be sent again safely. Decisions: docs/decisions/proforma-invoices.md, "Approvals".
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { chunk, groupBy } from '../core/collections';
import { BusinessError, ConcurrencyConflict, NotFoundError, ValidationError } from '../core/errors';
import { guid } from '../core/fields';
import { deterministicGuid } from '../core/ids';
import { withoutEtag, type Stored } from '../core/stored';
import { MAX_RECORDS_PER_MESSAGE, Queues, type OutboundMessage, type Publisher } from '../messages';
import { keyOf, type TableStore } from '../storage/tableStore';
import { approvalIndexBucket, type Actual, type ApprovalIndexRow, type Contract, type ContractLine } from './records';
import { approvalActualId, approvalActuals, sameApprovalFacts } from './rules/approvalRules';
import { dateString, nonNegativeDecimal, positiveDecimal } from './rules/requestFields';

export { approvalActualId } from './rules/approvalRules';

export const MAX_ENTRIES_PER_APPROVAL = 1000;

export const approvalEntrySchema = z.strictObject({
  entryId: guid.optional(),
  contractLineId: guid,
  classification: z.enum(['Time', 'Expense', 'Material'], { message: 'must be "Time", "Expense" or "Material"' }),
  quantity: positiveDecimal,
  price: nonNegativeDecimal,
  costPrice: nonNegativeDecimal.optional(),
  documentDate: dateString,
  accountingDate: dateString.optional(),
  description: z.string().max(1000).optional(),
});
export type ApprovalEntry = z.infer<typeof approvalEntrySchema>;

export const approvalRequestSchema = z.strictObject({
  entries: z.array(approvalEntrySchema).min(1, { message: 'send at least one entry' }).max(MAX_ENTRIES_PER_APPROVAL, {
    message: `send at most ${MAX_ENTRIES_PER_APPROVAL} entries per request`,
  }),
});
export type ApprovalRequest = z.infer<typeof approvalRequestSchema>;

export interface ApprovedEntry {
  entryId: string;
  contractId: string;
  contractLineId: string;
  costActualId: string;
  /** Absent on a fixed-price line. */
  unbilledActualId?: string;
  description?: string;
}

export interface ApprovalResult {
  entries: ApprovedEntry[];
  actuals: Actual[];
  /** How many actuals were new (the rest existed from an earlier approval of the same entries). */
  created: number;
  messageIds: string[];
}

/** What approving needs of the Dataverse store. */
export interface ApprovalStore {
  contractLinesByIds(ids: readonly string[]): Promise<Stored<ContractLine>[]>;
  /** Actuals of one contract by id (point reads). */
  actualsByIds(ids: readonly string[], contractId: string): Promise<Stored<Actual>[]>;
  contracts: Pick<TableStore<Contract>, 'get'>;
  actuals: Pick<TableStore<Actual>, 'createManyIfAbsent'>;
  approvalIndex: Pick<TableStore<ApprovalIndexRow>, 'createManyIfAbsent' | 'replaceIfMatch' | 'deleteMany'>;
}

export interface ApprovalDeps {
  dataverse: ApprovalStore;
  publisher: Publisher;
  newId?: () => string;
  /** Clock of the index rows (tests move it to age a row left behind). */
  now?: () => Date;
}

/**
 * An index row whose actual was never written (its approval was refused after writing it, or
 * crashed before its actuals) may be taken over by an approval on another contract after this
 * long; a younger one may belong to an approval still running (an HTTP call answers within 230 s).
 */
export const STALE_APPROVAL_INDEX_MS = 5 * 60_000;

export async function approveEntries(deps: ApprovalDeps, request: ApprovalRequest): Promise<ApprovalResult> {
  const { dataverse } = deps;
  const newId = deps.newId ?? randomUUID;

  // Entry ids: given ones must be unique within the request.
  const entries = request.entries.map((e) => ({ ...e, entryId: e.entryId ?? newId() }));
  const seen = new Set<string>();
  for (const [i, e] of entries.entries()) {
    if (seen.has(e.entryId)) throw new ValidationError(`entries.${i}.entryId: entry ${e.entryId} appears more than once in the request; each entry is approved once.`);
    seen.add(e.entryId);
  }

  // Contract lines and their contracts; all must exist.
  const lineRows = await dataverse.contractLinesByIds(entries.map((e) => e.contractLineId));
  const lines = new Map<string, ContractLine>(lineRows.map((l) => [l.salesorderdetailid, withoutEtag(l)]));
  const missingLines = [...new Set(entries.map((e) => e.contractLineId).filter((id) => !lines.has(id)))];
  if (missingLines.length) {
    throw new NotFoundError(`Contract line${missingLines.length > 1 ? 's' : ''} ${missingLines.join(', ')} ${missingLines.length > 1 ? 'were' : 'was'} not found; approve entries only against existing contract lines.`);
  }
  const contracts = new Map<string, Contract>();
  for (const line of lines.values()) {
    if (contracts.has(line.salesorderid)) continue;
    const contract = await dataverse.contracts.get(line.salesorderid, line.salesorderid);
    if (!contract) throw new NotFoundError(`Contract ${line.salesorderid} of contract line ${line.salesorderdetailid} was not found.`, line.salesorderid);
    contracts.set(line.salesorderid, withoutEtag(contract));
  }

  // The actuals each entry makes.
  const approved: ApprovedEntry[] = [];
  const actuals: Actual[] = [];
  for (const e of entries) {
    const line = lines.get(e.contractLineId)!;
    const contract = contracts.get(line.salesorderid)!;
    const { cost, unbilled } = approvalActuals(e, line, contract);
    actuals.push(cost);
    const entry: ApprovedEntry = { entryId: e.entryId, contractId: contract.salesorderid, contractLineId: line.salesorderdetailid, costActualId: cost.msdyn_actualid };
    if (unbilled) {
      actuals.push(unbilled);
      entry.unbilledActualId = unbilled.msdyn_actualid;
    }
    if (e.description !== undefined) entry.description = e.description;
    approved.push(entry);
  }

  // An entry approved before must have been approved with the same values, on whatever contract:
  // its actuals would otherwise be written, and billed, in a second contract's partition. Each
  // actual's index row (dvApprovalIndex, keyed by the actual id) says which contract holds it. The
  // rows are created if absent before any actual is written: for new entries that is the whole
  // check (a transaction per index partition, no read), and of two approvals of one entry at once
  // each row is created by one only, so at most one passes (both are refused when each wins one of
  // the entry's rows). Only actuals whose row existed are read, in the contract it names.
  const now = (deps.now ?? (() => new Date()))();
  const indexRowOf = (a: Actual): ApprovalIndexRow => ({
    Bucket: approvalIndexBucket(a.msdyn_actualid),
    ActualId: a.msdyn_actualid,
    ContractId: a.msdyn_salescontract,
    IndexedOn: now.toISOString(),
  });
  const indexRows = actuals.map(indexRowOf);
  const indexed = await dataverse.approvalIndex.createManyIfAbsent(indexRows);
  const rowOf = (id: string) => indexed.existing.get(keyOf({ partitionKey: approvalIndexBucket(id), rowKey: id }));
  const existing = new Map<string, Actual>();
  const refusals: string[] = [];
  const takeOver: { row: ApprovalIndexRow; etag: string }[] = [];
  // Rows on this contract whose actuals are not there yet (an approval of the same entries that
  // stopped, or runs beside this one): written again once the actuals are, in case a refused
  // request that created them deletes them meanwhile.
  const reassert: ApprovalIndexRow[] = [];
  const before = actuals.filter((a) => rowOf(a.msdyn_actualid) !== undefined);
  for (const [contractId, ids] of groupBy(before, (a) => rowOf(a.msdyn_actualid)!.ContractId)) {
    for (const stored of await dataverse.actualsByIds(ids.map((a) => a.msdyn_actualid), contractId)) existing.set(stored.msdyn_actualid, withoutEtag(stored));
  }
  for (const a of before) {
    const row = rowOf(a.msdyn_actualid)!;
    if (existing.has(a.msdyn_actualid)) continue;
    if (row.ContractId === a.msdyn_salescontract) {
      reassert.push(indexRowOf(a));
      continue;
    }
    // Indexed on another contract, with no actual there: an approval still running, or one that
    // stopped after writing its index rows. Only the latter's rows may be taken over.
    if (now.getTime() - Date.parse(row.IndexedOn) > STALE_APPROVAL_INDEX_MS) takeOver.push({ row: { ...withoutEtag(row), ContractId: a.msdyn_salescontract, IndexedOn: now.toISOString() }, etag: row.etag });
    else refusals.push(`Entry ${entryOf(entries, a.msdyn_actualid)} is being approved on contract ${row.ContractId} right now (or that approval stopped less than ${STALE_APPROVAL_INDEX_MS / 60_000} minutes ago)`);
  }
  const conflicts = actuals.filter((a) => existing.has(a.msdyn_actualid) && !sameApprovalFacts(a, existing.get(a.msdyn_actualid)!));
  if (conflicts.length || refusals.length) {
    // Nothing of a refused request stays: the index rows it created go again.
    await dataverse.approvalIndex.deleteMany(indexRows.filter((r) => rowOf(r.ActualId) === undefined).map((r) => ({ partitionKey: r.Bucket, rowKey: r.ActualId })));
    const entryIds = [...new Set(conflicts.map((a) => entryOf(entries, a.msdyn_actualid)))];
    const parts = [
      ...(entryIds.length
        ? [`${entryIds.length > 1 ? 'Entries' : 'Entry'} ${entryIds.join(', ')} ${entryIds.length > 1 ? 'were' : 'was'} approved before with other values (quantity, price, class, contract line or date); an approval cannot be changed. Approve the correction as a new entry with its own entryId.`]
        : []),
      ...(refusals.length ? [`${[...new Set(refusals)].join('; ')}. Send it again once that approval has answered.`] : []),
    ];
    throw new BusinessError(`${parts.join(' ')} Nothing was changed.`);
  }
  for (const { row, etag } of takeOver) {
    if ((await dataverse.approvalIndex.replaceIfMatch(row, etag)) === undefined) {
      throw new ConcurrencyConflict(`Another approval took over the index row of actual ${row.ActualId} at the same moment; sending the request again is safe.`, row.ActualId);
    }
  }

  const written = await dataverse.actuals.createManyIfAbsent(actuals);
  if (reassert.length) await dataverse.approvalIndex.createManyIfAbsent(reassert);
  const storedOf = (a: Actual): Actual | undefined => {
    const found = written.existing.get(keyOf({ partitionKey: a.msdyn_salescontract, rowKey: a.msdyn_actualid }));
    return existing.get(a.msdyn_actualid) ?? (found && withoutEtag(found));
  };
  // An actual found only now, with other values: written at the same moment by an approval of the
  // same entry with other values, or written before the index existed. It is not published again
  // (its stored values went out when it was written) and its entry is refused below.
  const late = actuals.filter((a) => {
    const stored = storedOf(a);
    return stored !== undefined && !sameApprovalFacts(a, stored);
  });
  const lateIds = new Set(late.map((a) => a.msdyn_actualid));
  const publishing = actuals.filter((a) => !lateIds.has(a.msdyn_actualid));

  // Every actual is published, also those that existed: a retry after a crash between the write
  // and the publish must still deliver them. Same actuals in the same order -> same message ids.
  const messages: OutboundMessage[] = chunk(publishing, MAX_RECORDS_PER_MESSAGE).map((page) => ({
    messageId: deterministicGuid('approval-actuals', ...page.map((a) => a.msdyn_actualid)),
    body: { actuals: page },
    subject: 'approval',
  }));
  await deps.publisher.publish(Queues.actuals, messages);
  if (late.length) {
    const entryIds = [...new Set(late.map((a) => entryOf(entries, a.msdyn_actualid)))];
    throw new BusinessError(
      `${entryIds.length > 1 ? 'Entries' : 'Entry'} ${entryIds.join(', ')} ${entryIds.length > 1 ? 'were' : 'was'} approved at the same moment (or before) with other values; an approval cannot be changed, and ${entryIds.length > 1 ? 'they were' : 'it was'} left as stored. The other entries of this request were approved: send it again without ${entryIds.length > 1 ? 'these' : 'this one'} to see them.`,
    );
  }

  // Answer with what is stored (an entry approved before keeps its stored state).
  const answer = actuals.map((a) => storedOf(a) ?? a);
  return { entries: approved, actuals: answer, created: written.created, messageIds: messages.map((m) => m.messageId) };
}

/** The entry an actual of this request comes from, for messages. */
function entryOf(entries: readonly { entryId: string }[], actualId: string): string {
  return entries.find((e) => approvalActualId(e.entryId, 'cost') === actualId || approvalActualId(e.entryId, 'unbilled') === actualId)?.entryId ?? actualId;
}
