/**
 * The scenarios. Each runs on a fresh system (system.ts) and records its phases (recorder.ts).
 *
 * A  one invoice of N ILDs through the whole story, every step through the app's own entry
 *    points: POST dataverse/approvals (N time/expense entries -> N cost + N unbilled actuals,
 *    published to `actuals`), sync to staging, import (run through the host's admin API) with the
 *    accounting details back, POST dataverse/actuals/ready, POST dataverse/contracts/{id}/invoices,
 *    then the invoice part below.
 * B  M contracts with K posted unbilled actuals each (seeded as import leaves them), M invoices
 *    created through the route, then the invoice part with all M confirmations sent at once and
 *    all M postings sent at once.
 * C  one invoice of N ILDs for each N of the series, seeded like B: the invoice part only, so the
 *    figures show how its cost grows with N. The size A ran at is not run again: A's invoice
 *    phases are the same work and are reported for it.
 *
 * The invoice part: confirmation (messages on `invoice-confirmations`; ends when every invoice is
 * Confirmed), proposal and billed sync (ends when quiet with every proposal and billed staging row
 * there), import of the proposal lines (ends when every proposal is complete), posting (messages on
 * `proposal-postings`; ends when every proposal is Posted), accounting details back (ends when
 * quiet with every invoice Posted and every billed actual carrying its voucher).
 *
 * When a route is missing (an older commit), the step is seeded directly and not timed; the
 * printed notes say so.
 */
import { z } from 'zod';
import type { Actual } from '../../shared/dataverse/records';
import { BillingStatus, InvoiceStatus, TransactionType } from '../../shared/core/options';
import { Queues } from '../../shared/messages';
import { chunk, mapLimit } from '../../shared/core/collections';
import { odata } from '../../shared/storage/tableStore';
import type { PhaseMeasure } from './figures';
import { countRows, lastWrite, proposalState, selectRows, settle, tableClient, waitUntil, type ProbeResult, type WaitEnv } from './probes';
import type { PhaseRecorder } from './recorder';
import {
  approvalRequest,
  approvedActuals,
  benchContract,
  draftInvoice,
  entrySpecs,
  EXCHANGE_RATES,
  INVOICE_DATE,
  POSTING_DATE,
  postedBacklog,
  TAX_PERCENT,
  type BenchContract,
} from './seed';
import type { BenchSystem, HttpReply } from './system';

export interface ScenarioEnv extends WaitEnv {
  label: string;
  baselineCap: number | undefined;
}

export interface ScenarioResult {
  label: string;
  measures: PhaseMeasure[];
  problems: string[];
  /** The scenario stopped before its end (its measures are the phases it finished). */
  failed?: boolean;
}

interface InvoiceRef {
  contractId: string;
  invoiceId: string;
  invoiceNumber: string;
}

const ROUTE_CONCURRENCY = 4;
/** Invoices created at once in B (500 people's clicks, 20 lines each: latency-bound, not storage-bound). */
const CREATE_CONCURRENCY = 16;

// ---- routes --------------------------------------------------------------------------------------

interface Routes {
  approvals: boolean;
  ready: boolean;
  createInvoice: boolean;
}

/** A route exists when the host answers anything but its own bare 404 (a route's 404 is problem+json). */
function routeAnswered(reply: HttpReply): boolean {
  return !(reply.status === 404 && !(reply.headers.get('content-type') ?? '').includes('json'));
}

async function probeRoutes(system: BenchSystem): Promise<Routes> {
  const unknownContract = '00000000-0000-4000-8000-000000000000';
  const [approvals, ready, createInvoice] = await Promise.all([
    system.http('POST', 'dataverse/approvals', {}),
    system.http('POST', 'dataverse/actuals/ready', {}),
    system.http('POST', `dataverse/contracts/${unknownContract}/invoices`, {}),
  ]);
  return { approvals: routeAnswered(approvals), ready: routeAnswered(ready), createInvoice: routeAnswered(createInvoice) };
}

function expectOk(reply: HttpReply, what: string): void {
  if (reply.status < 200 || reply.status > 299) {
    throw new Error(`${what} answered ${reply.status}: ${reply.text.slice(0, 600)}`);
  }
}

const createdInvoiceReply = z.object({
  invoice: z.object({ invoiceid: z.string(), invoicenumber: z.string(), salesorderid: z.string() }),
  details: z.array(z.unknown()),
});

async function createInvoiceThroughRoute(system: BenchSystem, contractId: string, expectedIlds: number): Promise<InvoiceRef> {
  const reply = await system.http('POST', `dataverse/contracts/${contractId}/invoices`, { invoiceDate: INVOICE_DATE, taxPercent: TAX_PERCENT });
  expectOk(reply, `POST dataverse/contracts/${contractId}/invoices`);
  const parsed = createdInvoiceReply.safeParse(reply.body);
  if (!parsed.success) throw new Error(`POST dataverse/contracts/${contractId}/invoices answered an unexpected body: ${parsed.error.message}`);
  if (parsed.data.details.length !== expectedIlds) {
    throw new Error(`the invoice created for contract ${contractId} has ${parsed.data.details.length} ILDs, expected ${expectedIlds}`);
  }
  return { contractId, invoiceId: parsed.data.invoice.invoiceid, invoiceNumber: parsed.data.invoice.invoicenumber };
}

// ---- seeding -------------------------------------------------------------------------------------

async function seedMasterData(system: BenchSystem, contracts: readonly BenchContract[]): Promise<void> {
  const dv = system.dataverse;
  await Promise.all([
    dv.accounts.upsertMany(contracts.map((c) => c.account)),
    dv.contracts.upsertMany(contracts.map((c) => c.contract)),
    dv.contractLines.upsertMany(contracts.flatMap((c) => c.lines)),
    system.finance.exchangeRates.upsertMany(EXCHANGE_RATES),
  ]);
}

/**
 * Contracts whose unbilled actuals are posted in F&O (as sync, import and accounting back leave
 * them) and Ready to Invoice; with `draft`, already on a seeded Draft invoice (no create route).
 */
async function seedPostedBacklog(system: BenchSystem, contracts: readonly BenchContract[], perContract: number, draft: boolean): Promise<InvoiceRef[]> {
  await seedMasterData(system, contracts);
  const importedOn = new Date().toISOString();
  const refs: InvoiceRef[] = [];
  const actuals: Actual[] = [];
  const staging: ReturnType<typeof postedBacklog>['staging'] = [];
  const transactions: ReturnType<typeof postedBacklog>['transactions'] = [];
  const drafts: ReturnType<typeof draftInvoice>[] = [];
  for (const [i, c] of contracts.entries()) {
    const { unbilled } = approvedActuals(c, entrySpecs(c, perContract));
    const backlog = postedBacklog(unbilled, draft ? BillingStatus.CustomerInvoiceCreated : BillingStatus.ReadyToInvoice, importedOn);
    actuals.push(...backlog.actuals);
    staging.push(...backlog.staging);
    transactions.push(...backlog.transactions);
    if (draft) {
      const inv = draftInvoice(c, `BENCH-${c.key}-${String(i + 1).padStart(5, '0')}`, backlog.actuals);
      drafts.push(inv);
      refs.push({ contractId: c.contract.salesorderid, invoiceId: inv.invoice.invoiceid, invoiceNumber: inv.invoice.invoicenumber });
    }
  }
  await system.dataverse.actuals.upsertMany(actuals);
  await system.finance.staging.upsertMany(staging);
  await system.finance.projectTransactions.upsertMany(transactions);
  if (draft) {
    await system.dataverse.invoiceLineDetails.upsertMany(drafts.flatMap((d) => d.details));
    await system.dataverse.invoiceLines.upsertMany(drafts.flatMap((d) => d.lines));
    await system.dataverse.invoices.upsertMany(drafts.map((d) => d.invoice));
  }
  return refs;
}

// ---- the invoice part (A, B, C) -------------------------------------------------------------------

/**
 * The invoice part. With one invoice, confirmation and sync (and posting and accounting back)
 * are separate phases: the sync starts only when the confirmation has written everything. With
 * many invoices confirmed at once, the sync of the first overlaps the confirmation of the last,
 * so each pair is one phase.
 */
async function invoicePart(env: ScenarioEnv, rec: PhaseRecorder, invoices: readonly InvoiceRef[], ilds: number): Promise<void> {
  const { system } = env;
  const cs = system.connectionString;
  const dvInvoices = tableClient(cs, system.dataverse.invoices.tableName);
  const dvActuals = tableClient(cs, system.dataverse.actuals.tableName);
  const proposals = tableClient(cs, system.finance.proposals.tableName);
  const staging = tableClient(cs, system.finance.staging.tableName);
  const m = invoices.length;
  const single = m === 1;
  const invoicesIn = async (status: number): Promise<number> => countRows(dvInvoices, odata`msdyn_projectinvoicestatus eq ${status}`);

  const confirm = async (): Promise<void> => {
    const confirmedOn = new Date().toISOString();
    await system.sendBatch(
      Queues.invoiceConfirmations,
      invoices.map((i) => ({ body: { invoiceId: i.invoiceId, confirmedOn, confirmedBy: 'bench' }, messageId: `bench-confirm-${i.invoiceId}` })),
    );
  };
  const allConfirmed = async (): Promise<ProbeResult> => {
    const n = await invoicesIn(InvoiceStatus.Confirmed);
    return n === m ? true : `${n} of ${m} invoices confirmed`;
  };
  const synced = async (): Promise<ProbeResult> => {
    const [confirmed, p, billed] = await Promise.all([invoicesIn(InvoiceStatus.Confirmed), countRows(proposals), countRows(staging, odata`TransType eq ${'BilledSales'}`)]);
    return confirmed === m && p === m && billed === ilds ? true : `${confirmed} of ${m} confirmed, ${p} proposals, ${billed} of ${ilds} billed rows in staging`;
  };
  if (single) {
    await rec.run('confirmation', ilds, async () => {
      await confirm();
      const seen = await waitUntil(env, 'confirmation', allConfirmed, 100);
      const written = await lastWrite(dvInvoices, odata`msdyn_projectinvoicestatus eq ${InvoiceStatus.Confirmed}`);
      return { endedAt: Math.min(seen, written ?? seen) };
    }, { countLater: true });
    await rec.run('proposal + billed sync', ilds, async () => ({ endedAt: await settle(env, 'proposal and billed actuals sync', synced), endsAtLastWrite: true }), { chained: true });
  } else {
    await rec.run('confirmation + sync', ilds, async () => {
      await confirm();
      return { endedAt: await settle(env, 'confirmation, proposal and billed actuals sync', synced), endsAtLastWrite: true };
    });
  }

  await rec.run('import (proposal lines)', ilds, async () => {
    const runs = await importUntil(env, async () => {
      const states = (await selectRows(proposals, undefined, ['ProposalId', 'ExpectedLineCount', 'ImportedLineCount', 'ExpectedAmount', 'ImportedAmount', 'ExpectedTax', 'ImportedTax', 'Status'])).map(proposalState);
      const complete = states.filter((s) => s.complete).length;
      return complete === m ? true : `${complete} of ${m} proposals complete`;
    });
    const endedAt = await settle(env, 'import of the proposal lines', async () => true);
    return { endedAt, note: runs > 1 ? `${runs} import runs` : undefined };
  });

  const post = async (): Promise<void> => {
    await system.sendBatch(
      Queues.proposalPostings,
      invoices.map((i) => ({ body: { proposalId: i.invoiceNumber, postingDate: POSTING_DATE }, messageId: `bench-post-${i.invoiceNumber}` })),
    );
  };
  const allPosted = async (): Promise<ProbeResult> => {
    const n = await countRows(proposals, odata`Status eq ${'Posted'}`);
    return n === m ? true : `${n} of ${m} proposals posted`;
  };
  const accountingBack = async (): Promise<ProbeResult> => {
    const posted = await invoicesIn(InvoiceStatus.Posted);
    if (posted !== m) return `${posted} of ${m} invoices Posted`;
    const billed = await selectRows(dvActuals, odata`msdyn_transactiontypecode eq ${TransactionType.BilledSales}`, ['msdyn_externalreferenceid']);
    const missing = billed.filter((r) => typeof r.msdyn_externalreferenceid !== 'string' || r.msdyn_externalreferenceid === '').length;
    return billed.length === ilds && missing === 0 ? true : `${billed.length - missing} of ${ilds} billed actuals with their voucher`;
  };
  if (single) {
    await rec.run('posting', ilds, async () => {
      await post();
      const seen = await waitUntil(env, 'posting', allPosted, 100);
      const written = await lastWrite(proposals, odata`Status eq ${'Posted'}`);
      return { endedAt: Math.min(seen, written ?? seen) };
    }, { countLater: true });
    await rec.run('accounting back', ilds, async () => ({ endedAt: await settle(env, 'accounting details back', accountingBack), endsAtLastWrite: true }), { chained: true });
  } else {
    await rec.run('posting + accounting back', ilds, async () => {
      await post();
      return { endedAt: await settle(env, 'posting and accounting details back', async () => ((await allPosted()) === true ? accountingBack() : allPosted())), endsAtLastWrite: true };
    });
  }
}

/** Run the import until `done` (at most 5 runs); returns the number of runs. */
async function importUntil(env: ScenarioEnv, done: () => Promise<ProbeResult>): Promise<number> {
  for (let runs = 1; ; runs += 1) {
    const outcome = await env.system.runImport({ timeoutMs: Math.max(1000, env.deadline - Date.now()) });
    if (outcome === 'Failed') throw new Error(`the import run failed: ${env.system.host.errors().slice(-3).join(' | ') || 'see the host log'}`);
    const verdict = await done();
    if (verdict === true) return runs;
    if (runs >= 5) throw new Error(`after ${runs} import runs: ${verdict}`);
    env.progress.detail(`import run ${runs}: ${verdict}; running again`);
  }
}

export async function problemsOf(system: BenchSystem): Promise<string[]> {
  const problems = system.host.errors().map((l) => `host: ${l}`);
  for (const e of await system.integrationErrors().catch(() => [])) problems.push(`integrationErrors ${e.Source} ${e.Category}: ${e.Message}`);
  return problems;
}

// ---- A -------------------------------------------------------------------------------------------

export async function scenarioA(env: ScenarioEnv, rec: PhaseRecorder, notes: string[], ilds: number): Promise<void> {
  const { system, progress } = env;
  const c = benchContract('A', 1);
  const contractId = c.contract.salesorderid;
  const cs = system.connectionString;
  const staging = tableClient(cs, system.finance.staging.tableName);
  const dvActuals = tableClient(cs, system.dataverse.actuals.tableName);
  progress.phase(`${env.label} | seeding the contract`);
  await seedMasterData(system, [c]);
  const routes = await probeRoutes(system);
  const entries = entrySpecs(c, ilds);
  const { cost, unbilled } = approvedActuals(c, entries);

  const stagingSynced = async (): Promise<ProbeResult> => {
    const n = await countRows(staging, odata`PartitionKey eq ${contractId}`);
    return n === 2 * ilds ? true : `${n} of ${2 * ilds} staging rows`;
  };
  if (routes.approvals) {
    await rec.run('approvals + actuals sync', ilds, async () => {
      await mapLimit(chunk(entries, 1000), ROUTE_CONCURRENCY, async (part) => expectOk(await system.http('POST', 'dataverse/approvals', approvalRequest(part)), 'POST dataverse/approvals'));
      return { endedAt: await settle(env, 'actuals sync', stagingSynced), endsAtLastWrite: true };
    });
  } else {
    notes.push('A: POST dataverse/approvals is not there; the approved actuals were seeded and sent to `actuals` directly');
    await system.dataverse.actuals.upsertMany([...cost, ...unbilled]);
    await rec.run('actuals sync', ilds, async () => {
      const all = [...cost, ...unbilled];
      await system.sendBatch(
        Queues.actuals,
        chunk(all, 100).map((part, i) => ({ body: { actuals: part }, messageId: `bench-actuals-${i}` })),
      );
      return { endedAt: await settle(env, 'actuals sync', stagingSynced), endsAtLastWrite: true };
    });
  }

  await rec.run('import + accounting back', ilds, async () => {
    const runs = await importUntil(env, async () => {
      const n = await countRows(staging, odata`PartitionKey eq ${contractId} and ImportStatus ne ${'Imported'}`);
      return n === 0 ? true : `${n} staging rows not imported yet`;
    });
    const endedAt = await settle(env, 'accounting details back', async () => {
      const rows = await selectRows(dvActuals, odata`PartitionKey eq ${contractId}`, ['msdyn_externalreferenceid']);
      const withVoucher = rows.filter((r) => typeof r.msdyn_externalreferenceid === 'string' && r.msdyn_externalreferenceid !== '').length;
      return withVoucher === 2 * ilds ? true : `${withVoucher} of ${2 * ilds} actuals with their voucher`;
    });
    return { endedAt, note: runs > 1 ? `${runs} import runs` : undefined };
  });

  const unbilledIds = unbilled.map((a) => a.msdyn_actualid);
  let invoice: InvoiceRef;
  if (routes.ready && routes.createInvoice) {
    await rec.run('backlog ready', ilds, async () => {
      await mapLimit(chunk(unbilledIds, 1000), ROUTE_CONCURRENCY, async (ids) =>
        expectOk(await system.http('POST', 'dataverse/actuals/ready', { contractId, actualIds: ids, ready: true }), 'POST dataverse/actuals/ready'),
      );
    });
    let created: InvoiceRef | undefined;
    await rec.run('invoice creation', ilds, async () => {
      created = await createInvoiceThroughRoute(system, contractId, ilds);
    });
    if (!created) throw new Error('no invoice was created');
    invoice = created;
  } else {
    notes.push('A: the backlog and invoice routes are not there; the Draft invoice was seeded directly');
    const stored = await system.dataverse.actualsOfContract(contractId, new Set(unbilledIds));
    const invoiced = unbilledIds.map((id) => {
      const row = stored.get(id);
      if (!row) throw new Error(`unbilled actual ${id} is missing`);
      const { etag: _etag, ...actual } = row;
      return { ...actual, msdyn_billingstatus: BillingStatus.CustomerInvoiceCreated };
    });
    const draft = draftInvoice(c, 'BENCH-A-00001', invoiced);
    await system.dataverse.actuals.upsertMany(invoiced);
    await system.dataverse.invoiceLineDetails.upsertMany(draft.details);
    await system.dataverse.invoiceLines.upsertMany(draft.lines);
    await system.dataverse.invoices.upsert(draft.invoice);
    invoice = { contractId, invoiceId: draft.invoice.invoiceid, invoiceNumber: draft.invoice.invoicenumber };
  }

  await invoicePart(env, rec, [invoice], ilds);
}

// ---- B and C -------------------------------------------------------------------------------------

/** M invoices of K ILDs each over M contracts with a posted, ready backlog. */
export async function scenarioInvoices(env: ScenarioEnv, rec: PhaseRecorder, notes: string[], key: string, invoices: number, perInvoice: number): Promise<void> {
  const { system, progress } = env;
  const contracts = Array.from({ length: invoices }, (_, i) => benchContract(`${key}-${i + 1}`, i + 1));
  progress.phase(`${env.label} | seeding ${invoices.toLocaleString('en-US')} x ${perInvoice.toLocaleString('en-US')} posted unbilled actuals`);
  const routes = await probeRoutes(system);
  let refs = await seedPostedBacklog(system, contracts, perInvoice, !routes.createInvoice);
  if (routes.createInvoice) {
    await rec.run('invoice creation', invoices * perInvoice, async () => {
      refs = await mapLimit(contracts, CREATE_CONCURRENCY, (c) => createInvoiceThroughRoute(system, c.contract.salesorderid, perInvoice));
    });
  } else {
    notes.push(`${env.label}: POST dataverse/contracts/{id}/invoices is not there; the Draft invoices were seeded directly`);
  }
  await invoicePart(env, rec, refs, invoices * perInvoice);
}

/** The phases from invoice creation to accounting back (scenario C's figures, the time-per-ILD guard). */
export const INVOICE_PHASES: ReadonlySet<string> = new Set([
  'invoice creation',
  'confirmation',
  'proposal + billed sync',
  'confirmation + sync',
  'import (proposal lines)',
  'posting',
  'accounting back',
  'posting + accounting back',
]);

/** Scenario C at a size scenario A already ran: A's invoice phases, relabelled. */
export function reuseInvoicePhases(fromA: readonly PhaseMeasure[], label: string): PhaseMeasure[] {
  return fromA.filter((m) => INVOICE_PHASES.has(m.phase)).map((m) => ({ ...m, scenario: label, note: m.note ? `${m.note}; from scenario A` : 'from scenario A' }));
}
