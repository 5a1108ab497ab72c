/**
 * `POST api/dataverse/actuals/ready` (domain.md step 4): mark unbilled actuals and milestones
 * Ready to Invoice, or back to not ready, all or nothing (rules/backlogRules.ts say which may
 * change). Writes are ETag-guarded; a record changed meanwhile fails the request with a
 * ConcurrencyConflict. Decisions: docs/decisions/proforma-invoices.md, "The backlog".
 */
import { z } from 'zod';
import { BusinessError, NotFoundError } from '../core/errors';
import { guid } from '../core/fields';
import { BillingStatus, MilestoneStatus } from '../core/options';
import { withoutEtag, type Stored } from '../core/stored';
import type { TableStore } from '../storage/tableStore';
import { replaceGuarded } from './guardedWrites';
import { healClaims, type ClaimStore } from './invoices/claims';
import type { Actual, ContractLine, StoredMilestone } from './records';
import { milestoneReadyRefusal, notToExceedRefusal, readyRefusal } from './rules/backlogRules';

export const MAX_IDS_PER_READY_REQUEST = 1000;

export const readyRequestSchema = z
  .strictObject({
    actualIds: z.array(guid).max(MAX_IDS_PER_READY_REQUEST, { message: `send at most ${MAX_IDS_PER_READY_REQUEST} ids` }).optional(),
    milestoneIds: z.array(guid).max(MAX_IDS_PER_READY_REQUEST, { message: `send at most ${MAX_IDS_PER_READY_REQUEST} ids` }).optional(),
    ready: z.boolean({ message: 'must be true (Ready to Invoice) or false (not ready)' }),
    contractId: guid.optional(),
  })
  .refine((r) => (r.actualIds?.length ?? 0) + (r.milestoneIds?.length ?? 0) > 0, {
    message: 'name at least one actual (actualIds) or milestone (milestoneIds)',
  });
export type ReadyRequest = z.infer<typeof readyRequestSchema>;

export interface ReadyResult {
  ready: boolean;
  actuals: { actualId: string; contractId: string; billingStatus: number; changed: boolean }[];
  milestones: { milestoneId: string; contractId: string; invoiceStatus: number; changed: boolean }[];
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

/** What marking ready needs of the Dataverse store. */
export interface BacklogStore extends ClaimStore {
  actualsByIds(ids: readonly string[], contractId?: string): Promise<Stored<Actual>[]>;
  milestonesByIds(ids: readonly string[], contractId?: string): Promise<Stored<StoredMilestone>[]>;
  actuals: ClaimStore['actuals'] & Pick<TableStore<Actual>, 'replaceAllIfMatch'>;
  milestones: ClaimStore['milestones'] & Pick<TableStore<StoredMilestone>, 'replaceAllIfMatch'>;
  contractLinesByIds(ids: readonly string[]): Promise<Stored<ContractLine>[]>;
  salesCountingAgainstLimit(contractId: string, contractLineIds: readonly string[]): Promise<Stored<Actual>[]>;
}

/**
 * Refusals of the not-to-exceed limits of the lines the actuals becoming ready are on: read only
 * for lines that carry a limit.
 */
async function limitRefusals(dataverse: BacklogStore, becomingReady: readonly Actual[]): Promise<string[]> {
  if (becomingReady.length === 0) return [];
  const lines = (await dataverse.contractLinesByIds([...new Set(becomingReady.map((a) => a.msdyn_salescontractlineid))])).filter((l) => l.msdyn_notexceedamount !== undefined);
  const refusals: string[] = [];
  for (const line of lines) {
    const counted = await dataverse.salesCountingAgainstLimit(line.salesorderid, [line.salesorderdetailid]);
    const refusal = notToExceedRefusal(
      withoutEtag(line),
      counted.map((a) => withoutEtag(a)),
      becomingReady.filter((a) => a.msdyn_salescontractlineid === line.salesorderdetailid && a.msdyn_salescontract === line.salesorderid),
    );
    if (refusal) refusals.push(refusal);
  }
  return refusals;
}

export async function setReadyToInvoice(deps: { dataverse: BacklogStore }, request: ReadyRequest): Promise<ReadyResult> {
  const { dataverse } = deps;
  const actualIds = [...new Set(request.actualIds ?? [])];
  const milestoneIds = [...new Set(request.milestoneIds ?? [])];

  const contractId = request.contractId;
  const [actualRows, milestoneRows] = await Promise.all([dataverse.actualsByIds(actualIds, contractId), dataverse.milestonesByIds(milestoneIds, contractId)]);
  const actuals = new Map(actualRows.map((a) => [a.msdyn_actualid, a]));
  const milestones = new Map(milestoneRows.map((m) => [m.msdyn_contractlinescheduleofvalueid, m]));

  const unknownActuals = actualIds.filter((id) => !actuals.has(id));
  const unknownMilestones = milestoneIds.filter((id) => !milestones.has(id));
  if (unknownActuals.length || unknownMilestones.length) {
    const parts: string[] = [];
    if (unknownActuals.length) parts.push(`${plural(unknownActuals.length, 'actual', 'actuals')} ${unknownActuals.join(', ')}`);
    if (unknownMilestones.length) parts.push(`${plural(unknownMilestones.length, 'milestone', 'milestones')} ${unknownMilestones.join(', ')}`);
    const where = contractId === undefined ? '' : ` in contract ${contractId}`;
    throw new NotFoundError(`Not found${where}: ${parts.join('; ')}. Nothing was changed.`);
  }

  // Items another invoice holds (or is being put on right now) are not the backlog's to change.
  const contracts = new Set([...actualRows.map((a) => a.msdyn_salescontract), ...milestoneRows.map((m) => m.salesorderid)]);
  const held = new Map<string, string>();
  for (const contract of contracts) for (const [item, invoice] of (await healClaims(dataverse, contract, '', new Date())).heldByOthers) held.set(item, invoice);
  const heldRefusal = (id: string, what: string) => (held.has(id) ? `${what} ${id} is on invoice ${held.get(id)!} (or being put on it right now)` : undefined);

  const refusals = [
    ...actualIds.map((id) => readyRefusal(actuals.get(id)!) ?? heldRefusal(id, 'actual')),
    ...milestoneIds.map((id) => milestoneReadyRefusal(milestones.get(id)!) ?? heldRefusal(id, 'milestone')),
  ].filter((r): r is string => r !== undefined);
  if (refusals.length) {
    throw new BusinessError(
      `Cannot mark ${request.ready ? 'ready to invoice' : 'not ready'}: ${refusals.join('; ')}. Only chargeable unbilled sales actuals that are not adjusted and not yet invoiced, and milestones that are not invoiced, can be marked. Nothing was changed.`,
    );
  }

  const actualTarget = request.ready ? BillingStatus.ReadyToInvoice : BillingStatus.UnbilledSalesCreated;
  if (request.ready) {
    const becomingReady = actualIds.map((id) => actuals.get(id)!).filter((a) => a.msdyn_billingstatus !== BillingStatus.ReadyToInvoice);
    const overLimit = await limitRefusals(dataverse, becomingReady);
    if (overLimit.length) {
      throw new BusinessError(`Cannot mark ready to invoice: ${overLimit.join('; ')}. Not-to-exceed failed: mark fewer actuals ready, or raise the limit. Nothing was changed.`);
    }
  }
  const milestoneTarget = request.ready ? MilestoneStatus.Ready : MilestoneStatus.NotReady;
  const actualUpdates = actualIds
    .map((id) => actuals.get(id)!)
    .filter((a) => a.msdyn_billingstatus !== actualTarget)
    .map((a) => ({ ...a, msdyn_billingstatus: actualTarget }));
  const milestoneUpdates = milestoneIds
    .map((id) => milestones.get(id)!)
    .filter((m) => m.msdyn_invoicestatus !== milestoneTarget)
    .map((m) => ({ ...m, msdyn_invoicestatus: milestoneTarget }));

  await replaceGuarded<Actual>(dataverse.actuals, actualUpdates, `${plural(actualUpdates.length, 'An actual', 'Some actuals')}`);
  await replaceGuarded<StoredMilestone>(dataverse.milestones, milestoneUpdates, `${plural(milestoneUpdates.length, 'A milestone', 'Some milestones')}`);

  const changedActuals = new Set(actualUpdates.map((a) => a.msdyn_actualid));
  const changedMilestones = new Set(milestoneUpdates.map((m) => m.msdyn_contractlinescheduleofvalueid));
  return {
    ready: request.ready,
    actuals: actualIds.map((id) => {
      const a = withoutEtag(actuals.get(id)!);
      return { actualId: id, contractId: a.msdyn_salescontract, billingStatus: actualTarget, changed: changedActuals.has(id) };
    }),
    milestones: milestoneIds.map((id) => {
      const m = withoutEtag(milestones.get(id)!);
      return { milestoneId: id, contractId: m.salesorderid, invoiceStatus: milestoneTarget, changed: changedMilestones.has(id) };
    }),
  };
}
