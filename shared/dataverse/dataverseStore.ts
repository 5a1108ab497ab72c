/**
 * The Dataverse side's store (contract.md, "Dataverse side"): one typed table per dv* table with
 * the contract's keys, and the named queries and batched writes the use cases need. Filters,
 * batching and point-read fan-out live here, not in the use cases.
 */
import { chunk, mapLimit } from '../core/collections';
import { GUID } from '../core/fields';
import { BillingStatus, InvoiceStatus, MilestoneStatus, TransactionType } from '../core/options';
import { isMissing } from '../storage/storageErrors';
import { MAX_BATCH, odata, READ_CONCURRENCY, TableStore, type Stored, type TableAccess } from '../storage/tableStore';
import {
  accountSchema,
  approvalIndexSchema,
  actualSchema,
  contractLineSchema,
  contractSchema,
  currencySchema,
  invoiceLineDetailSchema,
  invoiceLineSchema,
  invoiceClaimSchema,
  invoiceSchema,
  storedMilestoneSchema,
  type Account,
  type Actual,
  type Contract,
  type ContractLine,
  type Currency,
  type Invoice,
  type InvoiceClaim,
  type InvoiceLine,
  type InvoiceLineDetail,
  type StoredMilestone,
  type ApprovalIndexRow,
  approvalIndexBucket,
} from './records';

export const DataverseTableNames = {
  accounts: 'dvAccounts',
  contracts: 'dvContracts',
  contractLines: 'dvContractLines',
  milestones: 'dvMilestones',
  actuals: 'dvActuals',
  invoices: 'dvInvoices',
  invoiceLines: 'dvInvoiceLines',
  invoiceLineDetails: 'dvInvoiceLineDetails',
  invoiceClaims: 'dvInvoiceClaims',
  currencies: 'dvCurrencies',
  approvalIndex: 'dvApprovalIndex',
} as const;

/** An invoice as stored with its lines and ILDs. */
export interface StoredInvoice {
  invoice: Stored<Invoice>;
  lines: Stored<InvoiceLine>[];
  details: Stored<InvoiceLineDetail>[];
}

/** Fields to merge into one existing actual. */
export interface ActualPatch {
  contractId: string;
  actualId: string;
  fields: Partial<Actual>;
}

export interface ActualPatchResult {
  /** Actuals written (those already carrying the same fields are not counted). */
  updated: number;
  /** Actuals that already carried these fields. */
  unchanged: number;
  /** Patches whose actual is not in dvActuals under that contract. */
  unknown: ActualPatch[];
  groups: number;
  /** Groups written as one transaction without reading each actual. */
  optimisticGroups: number;
}

/** Contract groups (one partition, <= 100 actuals: one transaction) applied at once. */
const ACCOUNTING_GROUP_CONCURRENCY = 8;

function differs(actual: Actual, fields: Partial<Actual>): boolean {
  return Object.entries(fields).some(([k, v]) => (actual as Record<string, unknown>)[k] !== v);
}

/** Ids per cross-partition query: `RowKey eq 'a' or RowKey eq 'b' ...` stays well under URL limits. */
const IDS_PER_QUERY = 15;
/** Cross-partition id queries in flight at once. */
const QUERY_CONCURRENCY = 4;

/**
 * How many of its contract's actuals a confirmation (and its dry run and preview) lists before it
 * reads the rest by key: the larger of ACTUALS_LISTING_FLOOR and ACTUALS_LISTED_PER_ILD per ILD.
 * The plan needs the source actuals of the ILDs (and the originals a correction corrects) and the
 * actuals the plan creates (present when an earlier delivery got that far): about three per ILD.
 * A contract whose history is within the bound is listed whole, a page of 1,000 per request (every
 * contract of the benchmark: two actuals per ILD); a longer history stops the listing there, so
 * the read does not grow with the contract's past, and the ids the plan needs that were not listed
 * are read by key (docs/decisions/confirmation-delivery.md, "How much of the contract it reads").
 */
export const ACTUALS_LISTING_FLOOR = 5_000;
export const ACTUALS_LISTED_PER_ILD = 10;

export function actualsListingLimit(ilds: number): number {
  return Math.max(ACTUALS_LISTING_FLOOR, ACTUALS_LISTED_PER_ILD * ilds);
}

/** Read by key the ids `actuals` (a bounded listing of the contract) does not hold, and add those found. */
export async function addByKey(
  dv: { actualsOfContractByIds(contractId: string, ids: Iterable<string>): Promise<Map<string, Stored<Actual>>> },
  contractId: string,
  actuals: Map<string, Stored<Actual>>,
  ids: Iterable<string>,
): Promise<void> {
  const wanted = [...ids].filter((id) => !actuals.has(id));
  if (wanted.length) for (const [id, row] of await dv.actualsOfContractByIds(contractId, wanted)) actuals.set(id, row);
}

export class DataverseStore {
  readonly accounts;
  readonly contracts;
  readonly contractLines;
  readonly milestones;
  readonly actuals;
  readonly invoices;
  readonly invoiceLines;
  readonly invoiceLineDetails;
  readonly invoiceClaims;
  readonly currencies;
  readonly approvalIndex;

  constructor(connectionString: TableAccess) {
    const n = DataverseTableNames;
    this.accounts = new TableStore(connectionString, n.accounts, accountSchema, (r) => ({ partitionKey: r.accountid, rowKey: r.accountid }), { rowKey: 'accountid' });
    this.contracts = new TableStore(connectionString, n.contracts, contractSchema, (r) => ({ partitionKey: r.salesorderid, rowKey: r.salesorderid }), { rowKey: 'salesorderid' });
    this.contractLines = new TableStore(connectionString, n.contractLines, contractLineSchema, (r) => ({
      partitionKey: r.salesorderid,
      rowKey: r.salesorderdetailid,
    }), { partitionKey: 'salesorderid', rowKey: 'salesorderdetailid' });
    this.milestones = new TableStore(connectionString, n.milestones, storedMilestoneSchema, (r) => ({
      partitionKey: r.salesorderid,
      rowKey: r.msdyn_contractlinescheduleofvalueid,
    }), { partitionKey: 'salesorderid', rowKey: 'msdyn_contractlinescheduleofvalueid' });
    this.actuals = new TableStore(connectionString, n.actuals, actualSchema, (r) => ({ partitionKey: r.msdyn_salescontract, rowKey: r.msdyn_actualid }), {
      partitionKey: 'msdyn_salescontract',
      rowKey: 'msdyn_actualid',
    });
    this.invoices = new TableStore(connectionString, n.invoices, invoiceSchema, (r) => ({ partitionKey: r.invoiceid, rowKey: r.invoiceid }), { rowKey: 'invoiceid' });
    this.invoiceLines = new TableStore(connectionString, n.invoiceLines, invoiceLineSchema, (r) => ({ partitionKey: r.invoiceid, rowKey: r.invoicedetailid }), {
      partitionKey: 'invoiceid',
      rowKey: 'invoicedetailid',
    });
    this.invoiceLineDetails = new TableStore(connectionString, n.invoiceLineDetails, invoiceLineDetailSchema, (r) => ({
      partitionKey: r.msdyn_invoice,
      rowKey: r.msdyn_invoicelinetransactionid,
    }), { partitionKey: 'msdyn_invoice', rowKey: 'msdyn_invoicelinetransactionid' });
    this.invoiceClaims = new TableStore(connectionString, n.invoiceClaims, invoiceClaimSchema, (r) => ({ partitionKey: r.ContractId, rowKey: r.ItemId }), {
      partitionKey: 'ContractId',
      rowKey: 'ItemId',
    });
    this.currencies = new TableStore(connectionString, n.currencies, currencySchema, (r) => ({ partitionKey: r.transactioncurrencyid, rowKey: r.transactioncurrencyid }), {
      rowKey: 'transactioncurrencyid',
    });
    this.approvalIndex = new TableStore(connectionString, n.approvalIndex, approvalIndexSchema, (r) => ({ partitionKey: r.Bucket, rowKey: r.ActualId }), {
      partitionKey: 'Bucket',
      rowKey: 'ActualId',
    });
  }

  /** Every table, for start-up creation and for tests that clear them. */
  all(): TableStore<unknown>[] {
    return [
      this.accounts,
      this.contracts,
      this.contractLines,
      this.milestones,
      this.actuals,
      this.invoices,
      this.invoiceLines,
      this.invoiceLineDetails,
      this.invoiceClaims,
      this.currencies,
      this.approvalIndex,
    ] as TableStore<unknown>[];
  }

  // ---- contracts and their records ---------------------------------------------------------

  /** Actuals of a contract (all, or those with the given ids), by id: one partition read. */
  async actualsOfContract(contractId: string, ids?: ReadonlySet<string>): Promise<Map<string, Stored<Actual>>> {
    const rows = await this.actuals.listPartition(contractId);
    const out = new Map<string, Stored<Actual>>();
    for (const row of rows) if (!ids || ids.has(row.msdyn_actualid)) out.set(row.msdyn_actualid, row);
    return out;
  }

  /**
   * A contract's actuals, listed up to `limit()` rows (asked before each page of at most 1,000):
   * those listed, by id, and whether the listing reached the end of the contract.
   */
  async actualsOfContractUpTo(contractId: string, limit: () => number): Promise<{ actuals: Map<string, Stored<Actual>>; complete: boolean }> {
    const { rows, complete } = await this.actuals.listPartitionUpTo(contractId, limit);
    return { actuals: new Map(rows.map((row) => [row.msdyn_actualid, row] as const)), complete };
  }

  /**
   * Actuals of one contract by id for the plan of an invoice of `ilds` ILDs: the partition listed up
   * to actualsListingLimit(ilds) (a page of 1,000 per request), the ids it did not reach read by key.
   */
  async actualsOfContractNamed(contractId: string, ids: ReadonlySet<string>, ilds: number): Promise<Map<string, Stored<Actual>>> {
    const out = new Map<string, Stored<Actual>>();
    if (!ids.size) return out;
    const { actuals, complete } = await this.actualsOfContractUpTo(contractId, () => actualsListingLimit(ilds));
    for (const id of ids) {
      const row = actuals.get(id);
      if (row) out.set(id, row);
    }
    if (!complete) await addByKey(this, contractId, out, ids);
    return out;
  }

  /** Actuals of one contract by id (point reads); ids the contract does not hold are absent. */
  async actualsOfContractByIds(contractId: string, ids: Iterable<string>): Promise<Map<string, Stored<Actual>>> {
    const found = await this.actuals.getMany([...ids].map((rowKey) => ({ partitionKey: contractId, rowKey })));
    return new Map([...found.values()].map((row) => [row.msdyn_actualid, row] as const));
  }

  /** The details of an invoice whose ids are not in `known`: only the RowKeys of the others are read. */
  async detailsOfInvoiceNotIn(invoiceId: string, known: { has(id: string): boolean }): Promise<Stored<InvoiceLineDetail>[]> {
    const ids: string[] = [];
    await this.invoiceLineDetails.scanRowKeys(odata`PartitionKey eq ${invoiceId}`, (id) => {
      if (!known.has(id)) ids.push(id);
      return true;
    });
    return [...(await this.invoiceLineDetails.getMany(ids.map((rowKey) => ({ partitionKey: invoiceId, rowKey })))).values()];
  }

  /**
   * The contract's billing backlog that is ready to invoice: unbilled sales actuals in billing
   * status Ready to Invoice and milestones in status Ready (the caller applies the rules).
   */
  async readyBacklog(contractId: string): Promise<{ actuals: Stored<Actual>[]; milestones: Stored<StoredMilestone>[] }> {
    const [actuals, milestones] = await Promise.all([
      this.actuals.query(
        odata`PartitionKey eq ${contractId} and msdyn_transactiontypecode eq ${TransactionType.UnbilledSales} and msdyn_billingstatus eq ${BillingStatus.ReadyToInvoice}`,
      ),
      this.milestones.query(odata`PartitionKey eq ${contractId} and msdyn_invoicestatus eq ${MilestoneStatus.Ready}`),
    ]);
    return { actuals, milestones };
  }

  /**
   * The sales actuals of some lines of a contract that count against a not-to-exceed limit: billed
   * sales (reversals included, so credits free the limit) and unbilled sales that are ready or on
   * an invoice. One partition query per line.
   */
  async salesCountingAgainstLimit(contractId: string, contractLineIds: readonly string[]): Promise<Stored<Actual>[]> {
    const perLine = await Promise.all(
      contractLineIds.map((lineId) =>
        this.actuals.query(
          odata`PartitionKey eq ${contractId} and msdyn_salescontractlineid eq ${lineId} and (msdyn_transactiontypecode eq ${TransactionType.BilledSales} or (msdyn_transactiontypecode eq ${TransactionType.UnbilledSales} and (msdyn_billingstatus eq ${BillingStatus.ReadyToInvoice} or msdyn_billingstatus eq ${BillingStatus.CustomerInvoiceCreated})))`,
        ),
      ),
    );
    return perLine.flat();
  }

  /** Every invoice of a contract (any status). */
  invoicesOfContract(contractId: string): Promise<Stored<Invoice>[]> {
    return this.invoices.query(odata`salesorderid eq ${contractId}`);
  }

  /** Contract lines by id, whatever their contract (one query per 15 ids). */
  contractLinesByIds(ids: readonly string[]): Promise<Stored<ContractLine>[]> {
    return byRowKeys(this.contractLines, ids);
  }

  /**
   * Actuals by id: point reads in the contract's partition when the contract is known, else a
   * search across contracts (one query per 15 ids, each a table scan on a large table). Unknown
   * ids are simply absent.
   */
  actualsByIds(ids: readonly string[], contractId?: string): Promise<Stored<Actual>[]> {
    return contractId === undefined ? byRowKeys(this.actuals, ids) : inPartition(this.actuals, contractId, ids);
  }

  /** Milestones by id, like actualsByIds. */
  milestonesByIds(ids: readonly string[], contractId?: string): Promise<Stored<StoredMilestone>[]> {
    return contractId === undefined ? byRowKeys(this.milestones, ids) : inPartition(this.milestones, contractId, ids);
  }

  /**
   * One actual by id when its contract is not known (a Dataverse message over the size limit
   * names only the id): a search across contracts (a RowKey query, a table scan on a large
   * table), so it is kept for that rare case. Undefined when dvActuals does not hold it.
   */
  async actualById(actualId: string): Promise<Stored<Actual> | undefined> {
    const [found] = await byRowKeys(this.actuals, [actualId]);
    return found;
  }

  /**
   * Index every stored actual (dvApprovalIndex: its contract, by its id), for actuals stored before
   * the approvals wrote the index: their keys only, in pages of 1,000 across every contract, index
   * rows created if absent (a row that exists is left as it is). Safe to run again, and beside
   * running approvals. Keys that are not GUIDs (no approval makes them) are skipped and counted.
   */
  async indexStoredActuals(onPage: (progress: { listed: number; created: number; skipped: number }) => void = () => undefined): Promise<{ listed: number; created: number; skipped: number }> {
    const progress = { listed: 0, created: 0, skipped: 0 };
    let continuationToken: string | undefined;
    // An index row of a stored actual is never taken over (its actual exists), so its time only
    // needs to be older than any approval still running.
    const indexedOn = new Date(0).toISOString();
    do {
      const page = await this.actuals.keysPage({ pageSize: 1_000, ...(continuationToken ? { continuationToken } : {}) });
      progress.listed += page.keys.length;
      const rows: ApprovalIndexRow[] = [];
      for (const k of page.keys) {
        if (GUID.test(k.partitionKey) && GUID.test(k.rowKey)) rows.push({ Bucket: approvalIndexBucket(k.rowKey), ActualId: k.rowKey, ContractId: k.partitionKey, IndexedOn: indexedOn });
        else progress.skipped++;
      }
      progress.created += (await this.approvalIndex.createManyIfAbsent(rows)).created;
      onPage({ ...progress });
      continuationToken = page.continuationToken;
    } while (continuationToken);
    return progress;
  }

  // ---- currencies (Dataverse's transactioncurrency) -------------------------------------------

  /** The currency a Dataverse currency reference (a transactioncurrency GUID) names: one point read. */
  currencyById(currencyId: string): Promise<Stored<Currency> | undefined> {
    return this.currencies.get(currencyId, currencyId);
  }

  // ---- invoices ------------------------------------------------------------------------------

  /**
   * The invoice with its lines and ILDs; undefined when the invoice does not exist.
   * `detailsFirst`: read the ILDs (with their ETags) before the header, so a header read without
   * the confirmation fence proves the ILDs were read before the fence too (edits use it).
   */
  async loadInvoice(invoiceId: string, options: { detailsFirst?: boolean } = {}): Promise<StoredInvoice | undefined> {
    if (options.detailsFirst) {
      const [lines, details] = await Promise.all([this.invoiceLines.listPartition(invoiceId), this.invoiceLineDetails.listPartition(invoiceId)]);
      const invoice = await this.invoices.get(invoiceId, invoiceId);
      return invoice && { invoice, lines, details };
    }
    const invoice = await this.invoices.get(invoiceId, invoiceId);
    if (!invoice) return undefined;
    const [lines, details] = await Promise.all([this.invoiceLines.listPartition(invoiceId), this.invoiceLineDetails.listPartition(invoiceId)]);
    return { invoice, lines, details };
  }

  /**
   * The proforma invoice number of each of these invoices that exists (point reads; unknown ids are
   * absent). The actuals sync names a billed row's proposal with it (finance/syncActuals.ts).
   */
  async invoiceNumbers(invoiceIds: readonly string[]): Promise<Map<string, string>> {
    const found = await this.invoices.getMany([...new Set(invoiceIds)].map((id) => ({ partitionKey: id, rowKey: id })));
    return new Map([...found.values()].map((invoice) => [invoice.invoiceid, invoice.invoicenumber] as const));
  }

  /** ILDs of an invoice that came from the given actual (used when an ILD is deleted). */
  detailsFromActual(invoiceId: string, actualId: string): Promise<Stored<InvoiceLineDetail>[]> {
    return this.invoiceLineDetails.query(odata`PartitionKey eq ${invoiceId} and msdyn_sourceactual eq ${actualId}`);
  }

  /** The billed sales actuals that carry this invoice (in its contract's partition). */
  billedActualsOfInvoice(contractId: string, invoiceId: string): Promise<Stored<Actual>[]> {
    return this.actuals.query(odata`PartitionKey eq ${contractId} and msdyn_invoice eq ${invoiceId} and msdyn_transactiontypecode eq ${TransactionType.BilledSales}`);
  }

  // ---- claims: which editable invoice holds a backlog item ------------------------------------

  /** The claims of a contract (items on editable invoices, or being put on one). */
  claimsOfContract(contractId: string): Promise<Stored<InvoiceClaim>[]> {
    return this.invoiceClaims.listPartition(contractId);
  }

  /**
   * Claim items for an invoice, create-if-absent: an item claimed by another invoice stays
   * theirs. Answers the items this invoice holds now (claimed by this call or before) and the
   * claims of others that were met.
   */
  async claimItems(
    contractId: string,
    items: ReadonlyArray<{ itemId: string; kind: InvoiceClaim['ItemKind'] }>,
    invoiceId: string,
    at: Date,
  ): Promise<{ held: Set<string>; others: Stored<InvoiceClaim>[] }> {
    const claimedOn = at.toISOString();
    const { existing } = await this.invoiceClaims.createManyIfAbsent(
      items.map((i) => ({ ContractId: contractId, ItemId: i.itemId, ItemKind: i.kind, InvoiceId: invoiceId, ClaimedOn: claimedOn })),
    );
    const held = new Set<string>();
    const others: Stored<InvoiceClaim>[] = [];
    for (const i of items) {
      const met = existing.get(`${contractId}/${i.itemId}`);
      if (met === undefined || met.InvoiceId === invoiceId) held.add(i.itemId);
      else others.push(met);
    }
    return { held, others };
  }

  /** Release claims of this invoice (a claim that another invoice holds now is left alone). */
  async releaseClaims(contractId: string, itemIds: readonly string[], invoiceId: string): Promise<void> {
    const found = await this.invoiceClaims.getMany(itemIds.map((id) => ({ partitionKey: contractId, rowKey: id })));
    await mapLimit(
      [...found.values()].filter((c) => c.InvoiceId === invoiceId),
      READ_CONCURRENCY,
      (c) => this.invoiceClaims.deleteIfMatch(c.ContractId, c.ItemId, c.etag),
    );
  }

  /**
   * Release every claim of an invoice that is no longer editable (Confirmed): one query of the
   * contract's claims for the invoice, deleted 100 per transaction. The deletes are not guarded
   * by ETags (a transaction's delete cannot carry one): nobody else writes these rows meanwhile,
   * since an item is claimed only while its claim row is absent and these rows are present until
   * this delete. A large invoice's release is some hundred requests, not two per item.
   */
  async releaseClaimsOfInvoice(contractId: string, invoiceId: string): Promise<number> {
    const claims = await this.invoiceClaims.query(odata`PartitionKey eq ${contractId} and InvoiceId eq ${invoiceId}`);
    await this.invoiceClaims.deleteMany(claims.map((c) => ({ partitionKey: c.ContractId, rowKey: c.ItemId })));
    return claims.length;
  }

  // ---- accounting details back (F&O -> Dataverse) -----------------------------------------

  /**
   * Merge fields into existing actuals, never creating one: grouped by contract partition, at
   * most 100 a group (one transaction each), a few groups at once.
   * - Optimistic (a first delivery): the group's first actual is point-read; when it exists and
   *   lacks its fields, the whole group is written as one Merge transaction (If-Match *) without
   *   reading the others: one read and one transaction per 100 actuals. Should one actual of the
   *   group be missing, the transaction fails whole (nothing applied) and the group goes exact.
   * - Exact (the first actual is missing or carries its fields already: a redelivery, an unknown
   *   actual): every actual is point-read and only those whose fields differ are written.
   */
  async mergeIntoActuals(patches: readonly ActualPatch[]): Promise<ActualPatchResult> {
    const byContract = new Map<string, ActualPatch[]>();
    for (const p of patches) {
      let list = byContract.get(p.contractId);
      if (!list) byContract.set(p.contractId, (list = []));
      list.push(p);
    }
    const groups = [...byContract.values()].flatMap((list) => chunk(list, MAX_BATCH));
    const applied = await mapLimit(groups, ACCOUNTING_GROUP_CONCURRENCY, (group) => this.mergeGroup(group));
    const result: ActualPatchResult = { updated: 0, unchanged: 0, unknown: [], groups: groups.length, optimisticGroups: 0 };
    for (const g of applied) {
      result.updated += g.updated;
      result.unchanged += g.unchanged;
      result.unknown.push(...g.unknown);
      if (g.optimistic) result.optimisticGroups++;
    }
    return result;
  }

  private async mergeGroup(group: ActualPatch[]): Promise<{ optimistic: boolean; updated: number; unchanged: number; unknown: ActualPatch[] }> {
    const patchOf = (p: ActualPatch) => ({ keys: { partitionKey: p.contractId, rowKey: p.actualId }, fields: p.fields });
    const first = group[0]!;
    const sample = await this.actuals.get(first.contractId, first.actualId);
    if (sample && differs(sample, first.fields)) {
      try {
        await this.actuals.mergeFieldsMany(group.map(patchOf), { missing: 'fail' });
        return { optimistic: true, updated: group.length, unchanged: 0, unknown: [] };
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    const found = await mapLimit(group, 16, (p) => (p === first ? Promise.resolve(sample) : this.actuals.get(p.contractId, p.actualId)));
    const writes: ActualPatch[] = [];
    const unknown: ActualPatch[] = [];
    let unchanged = 0;
    group.forEach((p, i) => {
      const actual = found[i];
      if (!actual) unknown.push(p);
      else if (!differs(actual, p.fields)) unchanged++;
      else writes.push(p);
    });
    await this.actuals.mergeFieldsMany(writes.map(patchOf), { missing: 'skip' });
    return { optimistic: false, updated: writes.length, unchanged, unknown };
  }

  // ---- counts --------------------------------------------------------------------------------

  /** Invoices per msdyn_projectinvoicestatus value (reads that one column). */
  invoiceCountsByStatus(): Promise<Map<string, number>> {
    return this.invoices.countBy('msdyn_projectinvoicestatus');
  }

  /** How many actuals are Ready to Invoice (reads that one column). */
  async readyActualCount(): Promise<number> {
    const counts = await this.actuals.countBy('msdyn_billingstatus', odata`msdyn_billingstatus eq ${BillingStatus.ReadyToInvoice}`);
    return [...counts.values()].reduce((a, b) => a + b, 0);
  }

  // ---- the console's lists (operations/console) ------------------------------------------------

  /**
   * One page of invoices in storage order (by invoice id) and the token of the next page. Filters
   * run in storage: status, customer, contract, and an invoice number prefix (a range on
   * invoicenumber) or an invoice id.
   */
  invoicePage(
    filter: { status?: number; customerId?: string; contractId?: string; numberPrefix?: string; invoiceId?: string },
    pageSize: number,
    continuationToken?: string,
  ): Promise<{ rows: Stored<Invoice>[]; continuationToken?: string }> {
    const parts: string[] = [];
    if (filter.invoiceId !== undefined) parts.push(odata`PartitionKey eq ${filter.invoiceId}`);
    if (filter.status !== undefined) parts.push(odata`msdyn_projectinvoicestatus eq ${filter.status}`);
    if (filter.customerId !== undefined) parts.push(odata`customerid eq ${filter.customerId}`);
    if (filter.contractId !== undefined) parts.push(odata`salesorderid eq ${filter.contractId}`);
    if (filter.numberPrefix !== undefined && filter.numberPrefix !== '') {
      // '~' sorts after every printable ASCII character: the range holds the numbers that start with the prefix.
      parts.push(odata`invoicenumber ge ${filter.numberPrefix} and invoicenumber lt ${`${filter.numberPrefix}~`}`);
    }
    return this.invoices.queryPage(parts.length ? parts.join(' and ') : undefined, { pageSize, ...(continuationToken ? { continuationToken } : {}) });
  }

  /** The invoices that correct an invoice (msdyn_correctedinvoice; the service filters dvInvoices). */
  invoicesCorrecting(invoiceId: string): Promise<Stored<Invoice>[]> {
    return this.invoices.query(odata`msdyn_correctedinvoice eq ${invoiceId}`);
  }

  /** Accounts, at most `top` (for pickers and names). */
  accountList(top: number): Promise<Stored<Account>[]> {
    return this.accounts.query(undefined, { top });
  }

  /** Contracts, at most `top` (for pickers and names). */
  contractList(top: number): Promise<Stored<Contract>[]> {
    return this.contracts.query(undefined, { top });
  }

  /** Unbilled sales actuals Ready to Invoice across contracts, at most `top` (the service filters dvActuals). */
  readyActuals(top: number): Promise<Stored<Actual>[]> {
    return this.actuals.query(odata`msdyn_transactiontypecode eq ${TransactionType.UnbilledSales} and msdyn_billingstatus eq ${BillingStatus.ReadyToInvoice}`, { top });
  }

  /** How many milestones are Ready (reads their keys only). */
  readyMilestoneCount(): Promise<number> {
    return this.milestones.count(odata`msdyn_invoicestatus eq ${MilestoneStatus.Ready}`);
  }

  /** Milestones Ready across contracts, at most `top`. */
  readyMilestones(top: number): Promise<Stored<StoredMilestone>[]> {
    return this.milestones.query(odata`msdyn_invoicestatus eq ${MilestoneStatus.Ready}`, { top });
  }

  // ---- the repair sweep (operations/reconcile.ts) -------------------------------------------

  /**
   * Invoices in status Confirmed whose msdyn_confirmedon is before `before` (ISO), at most `top`.
   * Table storage has no index on the status: the service filters the table, but only the
   * Confirmed ones travel, and Confirmed is the short stage between confirmation and posting.
   */
  confirmedInvoicesBefore(before: string, top: number): Promise<Stored<Invoice>[]> {
    return this.invoices.query(odata`msdyn_projectinvoicestatus eq ${InvoiceStatus.Confirmed} and msdyn_confirmedon lt ${before}`, { top });
  }

  /**
   * How many billed sales actuals of an invoice there are and how many lack their accounting
   * details (msdyn_externalreferenceid), in its contract's partition, reading that one column.
   */
  async billedAccountingOfInvoice(contractId: string, invoiceId: string): Promise<{ billed: number; withoutAccounting: number }> {
    const counts = await this.actuals.countBy(
      'msdyn_externalreferenceid',
      odata`PartitionKey eq ${contractId} and msdyn_invoice eq ${invoiceId} and msdyn_transactiontypecode eq ${TransactionType.BilledSales}`,
    );
    let billed = 0;
    for (const n of counts.values()) billed += n;
    return { billed, withoutAccounting: counts.get('none') ?? 0 };
  }
}

/** Rows whose RowKey is one of `ids`, whatever their partition (one query per 15 ids, a few in flight). */
async function byRowKeys<T>(store: TableStore<T>, ids: readonly string[]): Promise<Stored<T>[]> {
  const unique = [...new Set(ids)];
  const pages = await mapLimit(chunk(unique, IDS_PER_QUERY), QUERY_CONCURRENCY, (page) => store.query(page.map((id) => odata`RowKey eq ${id}`).join(' or ')));
  return pages.flat();
}

/** The rows of one partition with these RowKeys (point reads; unknown ids are simply absent). */
async function inPartition<T>(store: TableStore<T>, partitionKey: string, ids: readonly string[]): Promise<Stored<T>[]> {
  const found = await mapLimit(ids, READ_CONCURRENCY, (id) => store.get(partitionKey, id));
  return found.filter((row): row is Stored<T> => row !== undefined);
}
