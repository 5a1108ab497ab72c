/**
 * `POST api/dataverse/approvals` (domain.md step 1): approve time, expense and material entries
 * into actuals (rules/approvalRules.ts), create them if absent and publish them to `actuals`.
 * Everything is checked before anything is written; an entry sent with its `entryId` can be sent
 * again safely. Decisions: docs/decisions/proforma-invoices.md, "Approvals".
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { chunk } from '../core/collections';
import { BusinessError, NotFoundError, ValidationError } from '../core/errors';
import { guid } from '../core/fields';
import { deterministicGuid } from '../core/ids';
import { withoutEtag, type Stored } from '../core/stored';
import { MAX_RECORDS_PER_MESSAGE, Queues, type OutboundMessage, type Publisher } from '../messages';
import type { TableStore } from '../storage/tableStore';
import type { Actual, Contract, ContractLine } from './records';
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
  actualsByIds(ids: readonly string[]): Promise<Stored<Actual>[]>;
  contracts: Pick<TableStore<Contract>, 'get'>;
  actuals: Pick<TableStore<Actual>, 'createManyIfAbsent'>;
}

export interface ApprovalDeps {
  dataverse: ApprovalStore;
  publisher: Publisher;
  newId?: () => string;
}

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

  // An entry approved before must have been approved with the same values. Looked up across
  // contracts on purpose: an entry approved before on a line of another contract has its actuals
  // in that contract's partition, and a contract-scoped lookup would miss them and write the same
  // actual ids a second time. (Queries of 15 ids each; an approval request is small.)
  const existing = new Map((await dataverse.actualsByIds(actuals.map((a) => a.msdyn_actualid))).map((a) => [a.msdyn_actualid, withoutEtag(a)]));
  const conflicts = actuals.filter((a) => existing.has(a.msdyn_actualid) && !sameApprovalFacts(a, existing.get(a.msdyn_actualid)!));
  if (conflicts.length) {
    const entryIds = [...new Set(conflicts.map((a) => entries.find((e) => approvalActualId(e.entryId, 'cost') === a.msdyn_actualid || approvalActualId(e.entryId, 'unbilled') === a.msdyn_actualid)?.entryId))];
    throw new BusinessError(
      `Entr${entryIds.length > 1 ? 'ies' : 'y'} ${entryIds.join(', ')} ${entryIds.length > 1 ? 'were' : 'was'} approved before with other values (quantity, price, class, contract line or date); an approval cannot be changed. Approve the correction as a new entry with its own entryId.`,
    );
  }

  const { created } = await dataverse.actuals.createManyIfAbsent(actuals);

  // Every actual is published, also those that existed: a retry after a crash between the write
  // and the publish must still deliver them. Same actuals in the same order -> same message ids.
  const messages: OutboundMessage[] = chunk(actuals, MAX_RECORDS_PER_MESSAGE).map((page) => ({
    messageId: deterministicGuid('approval-actuals', ...page.map((a) => a.msdyn_actualid)),
    body: { actuals: page },
    subject: 'approval',
  }));
  await deps.publisher.publish(Queues.actuals, messages);

  // Answer with what is stored (an entry approved before keeps its stored state).
  const answer = actuals.map((a) => existing.get(a.msdyn_actualid) ?? a);
  return { entries: approved, actuals: answer, created, messageIds: messages.map((m) => m.messageId) };
}
