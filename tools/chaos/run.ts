/**
 * One chaos run: start the system (three processes), seed, drive the workload while the fuzz and
 * the faults run one after the other, release the late copies, let the system settle, check the
 * invariants, and gather everything the report shows. Used by `npm run chaos` (main.ts) and by
 * tests/e2e/chaos.test.ts.
 *
 * Settling: the run waits (within its budget) until, twice in a row and at least two import
 * periods apart, no contract queue holds a message, the broker holds no pending copy, the host
 * runs no invocation, the import has no Pending staging row and the Waiting count stands still,
 * and no followed invoice moved in between. "Time to settle" is measured from the end of the last
 * fault or the last new invoice, whichever came later.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { TableClient } from '@azure/data-tables';
import { readFileSync } from 'node:fs';
import { deterministicGuid } from '../../shared/core/ids';
import { ERROR_TABLE } from '../../shared/operations/errorLogStore';
import { checkInvariants, type InvariantReport } from './checker';
import { inject, type FaultName, type FaultRecord } from './faults';
import { judgeQueueFuzz, runRouteFuzz, sendQueueFuzz, type QueueFuzzCase, type RouteFuzzCase } from './fuzz';
import type { ChaosPlan } from './options';
import { sleep } from './processes';
import { ChaosSystem, Unreachable, type Answer5xx, type Artifacts } from './system';
import { Workload, type Finding, type InvoiceRecord } from './workload';

export interface ChaosRunOptions {
  plan: ChaosPlan;
  artifacts: Artifacts;
  /** Folder of this run (Azurite data, host logs, broker snapshots). */
  workDir: string;
  log: (line: string) => void;
}

export interface ErrorRowSummary {
  total: number;
  byCategory: Record<string, number>;
  bySource: Record<string, number>;
  /** MessageId -> rows. */
  byMessageId: Map<string, number>;
}

export interface ChaosResult {
  runId: string;
  startedAt: string;
  finishedAt: string;
  plan: ChaosPlan;
  faults: FaultRecord[];
  phases: { name: string; startedAtS: number; seconds: number }[];
  messages: { sentByClients: number; byQueue: Record<string, number>; copiesDelivered: number; copiesDropped: number; lateDelivered: number; lateDropped: number; fuzz: number; brokerRestored: number };
  http: { answers: number; byClass: Record<string, number>; fuzz5xx: Answer5xx[]; workload5xxDuringFaults: Answer5xx[]; workload5xxOutsideFaults: Answer5xx[] };
  invoices: { expected: number; posted: number; created: number; notPosted: InvoiceRecord[]; all: InvoiceRecord[] };
  invariants: InvariantReport | { error: string };
  /** Every message dead-lettered during the run; `inQueue`: still in its dead-letter queue at the end (else a handler of the app received it). */
  deadLetters: { queue: string; messageId: string; reason?: string; description?: string; deliveryCount?: number; enqueuedAt?: string; inQueue: boolean; errorRow: boolean }[];
  errorRows: { total: number; byCategory: Record<string, number>; bySource: Record<string, number> };
  fuzz: { queues: QueueFuzzCase[]; routes: RouteFuzzCase[] };
  findings: Finding[];
  host: { starts: number; unexpectedExits: string[]; healthFailures: string[]; failedInvocations: Record<string, number>; logs: string[] };
  settle: { settled: boolean; seconds: number; last: string; samples?: string[] };
  staging: Record<string, number>;
  notes: string[];
}

/** Every row of integrationErrors, a few columns (read directly, whatever the row's schema). */
export async function readErrorRows(connectionString: string): Promise<ErrorRowSummary> {
  const client = TableClient.fromConnectionString(connectionString, ERROR_TABLE, { allowInsecureConnection: true });
  const out: ErrorRowSummary = { total: 0, byCategory: {}, bySource: {}, byMessageId: new Map() };
  try {
    for await (const e of client.listEntities<{ Category?: string; MessageId?: string }>({ queryOptions: { select: ['PartitionKey', 'Category', 'MessageId'] } })) {
      out.total += 1;
      const cat = String(e.Category ?? '?');
      out.byCategory[cat] = (out.byCategory[cat] ?? 0) + 1;
      const src = String(e.partitionKey ?? '?');
      out.bySource[src] = (out.bySource[src] ?? 0) + 1;
      if (typeof e.MessageId === 'string') out.byMessageId.set(e.MessageId, (out.byMessageId.get(e.MessageId) ?? 0) + 1);
    }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
  return out;
}

/** A draft invoice with ILDs on the fuzz contract (never confirmed): the target of the route fuzz. */
async function fuzzTarget(work: Workload, fx: Workload['contracts'][number], runId: string): Promise<{ invoiceId: string; detailId: string }> {
  const line = fx.tmLine!.salesorderdetailid;
  const approval = await work.call('approve', 'POST', 'dataverse/approvals', {
    entries: [0, 1].map((i) => ({ entryId: deterministicGuid('chaos-fuzz-target', runId, String(i)), contractLineId: line, classification: 'Time', quantity: '2', price: '10.00', documentDate: '2026-02-02' })),
  });
  if (approval.status !== 201) throw new Error(`fuzz target: approvals answered ${approval.status}: ${approval.text.slice(0, 300)}`);
  const ids = (approval.body.entries as { unbilledActualId?: string }[]).map((e) => e.unbilledActualId).filter((x): x is string => !!x);
  await work.call('ready', 'POST', 'dataverse/actuals/ready', { actualIds: ids, ready: true, contractId: fx.contract.salesorderid });
  const created = await work.call('createInvoice', 'POST', `dataverse/contracts/${fx.contract.salesorderid}/invoices`, {}, { idempotencyKey: randomUUID() });
  if (created.status !== 201) throw new Error(`fuzz target: create invoice answered ${created.status}: ${created.text.slice(0, 300)}`);
  return { invoiceId: created.body.invoice.invoiceid as string, detailId: created.body.details[0].msdyn_invoicelinetransactionid as string };
}

export async function runChaos(options: ChaosRunOptions): Promise<ChaosResult> {
  const { plan, log } = options;
  const runId = randomUUID();
  const t0 = Date.now();
  const budgetEnd = t0 + plan.budgetMs;
  const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1);
  const phases: ChaosResult['phases'] = [];
  let phaseStart = Date.now();
  let phaseName = '';
  const phase = (name: string) => {
    const now = Date.now();
    if (phaseName) phases.push({ name: phaseName, startedAtS: Math.round((phaseStart - t0) / 100) / 10, seconds: Math.round((now - phaseStart) / 100) / 10 });
    phaseName = name;
    phaseStart = now;
    if (name) log(`[chaos ${elapsed()} s] ${name}`);
  };
  const notes: string[] = [];
  const fuzzPrefix = `chaos-fuzz-${runId.slice(0, 8)}-`;

  phase('starting Azurite, the broker and the Functions host (three processes)');
  const sys = await ChaosSystem.start({
    artifacts: options.artifacts,
    workDir: options.workDir,
    importEverySeconds: plan.importEverySeconds,
    duplicateWindowMs: plan.duplicateWindowMs,
    duplicates: plan.duplicates ? { afterMs: plan.copyAfterMs, jitterMs: plan.copyJitterMs, lateEvery: 10, skipPrefix: fuzzPrefix } : null,
    log,
  });
  const faults: FaultRecord[] = [];
  const unexpectedExits: string[] = [];
  const healthFailures: string[] = [];
  let stopWatch = false;
  const work = new Workload(sys, runId, log, budgetEnd - plan.reserve.settleUntil);
  let queueFuzz: QueueFuzzCase[] = [];
  let routeFuzz: RouteFuzzCase[] = [];
  let settle: ChaosResult['settle'] = { settled: false, seconds: 0, last: '' };
  let staging: Record<string, number> = {};
  let invariants: ChaosResult['invariants'] = { error: 'not run' };
  let deadLetters: ChaosResult['deadLetters'] = [];
  let errorRows: ErrorRowSummary = { total: 0, byCategory: {}, bySource: {}, byMessageId: new Map() };
  const killing = () => [...sys.activeFaults].some((f) => f.startsWith('host-kill'));

  // The host stays up unless a fault kills it: a host that exits on its own is recorded and started again.
  const watcher = (async () => {
    let watched = sys.host;
    while (!stopWatch) {
      const h = sys.host;
      if (h && h !== watched) watched = h;
      if (watched && !watched.running() && !killing() && sys.host === watched) {
        const why = await watched.exited;
        unexpectedExits.push(`${new Date().toISOString()} ${why}; errors: ${watched.errors().slice(-3).join(' | ').slice(0, 800)}`);
        log(`  ${why} without a fault killing it: starting a new host`);
        try {
          await sys.startHost();
        } catch (error) {
          unexpectedExits.push(`restart failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      } else if (h && !killing()) {
        const sentAt = Date.now();
        try {
          const r = await sys.http('GET', 'health', undefined, { purpose: 'harness', timeoutMs: 60_000, host: h });
          if (r.status >= 500 && sys.faultsBetween(sentAt, Date.now()).length === 0) healthFailures.push(`${new Date().toISOString()} GET health answered ${r.status} with no fault active: ${r.text.slice(0, 300)}`);
        } catch (error) {
          if (!killing() && h.running() && sys.host === h && sys.faultsBetween(sentAt, Date.now()).length === 0) {
            healthFailures.push(`${new Date().toISOString()} GET health on ${h.label}: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
      }
      await sleep(3_000);
    }
  })();

  let workloadDone: Promise<void> = Promise.resolve();
  let workloadDoneAt = Date.now();
  let faultsEnd = Date.now();
  try {
    phase('seeding contracts and exchange rates (master data, written to the tables)');
    const contractsNeeded = plan.contracts + plan.storms + (plan.probes ? 1 : 0) + 1;
    await work.seed(contractsNeeded);
    const fuzzContract = work.contracts[contractsNeeded - 1]!;

    phase(`workload: ${plan.contracts} contract(s), a round every ${plan.roundEverySeconds} s on each (at most ${plan.rounds}), ${plan.storms} storm contract(s)${plan.probes ? ', probes' : ''}; faults and fuzz meanwhile`);
    const lastStart = budgetEnd - plan.reserve.lastRound;
    workloadDone = work.run({ contracts: plan.contracts, rounds: plan.rounds, roundEveryMs: plan.roundEverySeconds * 1000, storms: plan.storms, probes: plan.probes, lastStart }, (line) => log(`  ${line}`)).finally(() => {
      workloadDoneAt = Date.now();
    });

    if (plan.fuzzQueues) {
      phase('fuzz: malformed messages on every queue');
      queueFuzz = await sendQueueFuzz(sys, runId, fuzzPrefix);
      log(`  sent ${queueFuzz.filter((c) => c.sent).length} of ${queueFuzz.length} malformed messages${queueFuzz.some((c) => !c.sent) ? ` (not sent: ${queueFuzz.filter((c) => !c.sent).map((c) => `${c.queue}/${c.name}: ${c.sendError ?? ''}`.slice(0, 200)).join('; ')})` : ''}`);
    }
    if (plan.fuzzRoutes) {
      phase('fuzz: malformed requests on every route');
      const target = await fuzzTarget(work, fuzzContract, runId);
      routeFuzz = await runRouteFuzz(sys, { contract: fuzzContract, ...target }, log);
      log(`  ${routeFuzz.length} requests: ${routeFuzz.filter((c) => c.verdict === 'ok').length} ok, ${routeFuzz.filter((c) => c.verdict === 'host 404 (no route matched)').length} host 404, ${routeFuzz.filter((c) => c.verdict !== 'ok' && c.verdict !== 'host 404 (no route matched)').length} not ok`);
    }

    for (const [i, name] of plan.faults.entries()) {
      if (Date.now() > budgetEnd - plan.reserve.lastFault - (name === 'storage-down-long' ? plan.durations.storageLongMs : 0)) {
        faults.push({ name, startedAt: new Date().toISOString(), detail: 'not injected: the time budget would be exceeded', skipped: true });
        log(`  fault ${name} left out: not enough time left in the budget`);
        continue;
      }
      if (i > 0) await sleep(plan.gapMs);
      phase(`fault ${i + 1}/${plan.faults.length}: ${name}`);
      const rec = await inject(sys, name as FaultName, plan.durations, log);
      log(`  ${rec.detail || rec.error || ''} (${rec.seconds ?? 0} s)`);
      faults.push(rec);
    }
    faultsEnd = Date.now();

    phase('waiting for the workload to finish');
    const followUntil = budgetEnd - plan.reserve.followUntil;
    await Promise.race([workloadDone, sleep(Math.max(0, followUntil - Date.now()))]);
    while (work.following > 0 && Date.now() < followUntil) await sleep(1_000);

    if (plan.duplicates) {
      phase('late copies: every 10th message delivered again, after its invoice was posted');
      const released = await sys.broker.releaseLate().catch((e: unknown) => {
        notes.push(`releasing late copies failed: ${e instanceof Error ? e.message : String(e)}`);
        return 0;
      });
      log(`  ${released} late copies released`);
    }

    phase('settling');
    const settleStarted = Date.now();
    const settleUntil = budgetEnd - plan.reserve.settleUntil;
    let quietSince: number | undefined;
    let quietProgress = -1;
    let quietWaiting = -1;
    let last = '';
    const samples: string[] = [];
    while (Date.now() < settleUntil) {
      const [status, depths, stats, dash] = await Promise.all([
        sys.broker.status().catch(() => undefined),
        sys.queueDepths().catch(() => undefined),
        sys.host?.backgroundInFlight().catch(() => undefined),
        sys.http('GET', 'dashboard', undefined, { purpose: 'harness', timeoutMs: 30_000 }).catch(() => undefined),
      ]);
      const inQueues = depths ? Object.values(depths).reduce((a, b) => a + b, 0) : -1;
      staging = (dash?.status === 200 ? (dash.body.staging as Record<string, number>) : undefined) ?? {};
      const pending = staging.Pending ?? -1;
      const waiting = staging.Waiting ?? -1;
      const busy = Object.entries(depths ?? {}).filter(([, n]) => n > 0).map(([q, n]) => `${q} ${n}`);
      last = `queues ${inQueues}${busy.length ? ` (${busy.join(', ')})` : ''}, pending copies ${status?.pendingCopies ?? '?'} (late ${status?.lateHeld ?? '?'}), queue/timer invocations running ${stats ?? '?'}, staging Pending ${pending} Waiting ${waiting} Error ${staging.Error ?? '?'}, invoices followed ${work.following}`;
      const quiet = inQueues === 0 && status?.pendingCopies === 0 && status.lateHeld === 0 && stats === 0 && pending === 0;
      samples.push(`${elapsed()} s ${quiet ? 'quiet' : 'busy'} (progress ${work.progress}): ${last}`);
      if (!quiet) {
        quietSince = undefined;
      } else if (quietSince === undefined || work.progress !== quietProgress || waiting !== quietWaiting) {
        quietSince = Date.now();
        quietProgress = work.progress;
        quietWaiting = waiting;
      } else if (Date.now() - quietSince >= 2 * plan.importEverySeconds * 1000 + 1_000 && (work.following === 0 || Date.now() - quietSince >= 20_000)) {
        settle = { settled: true, seconds: Math.round((Date.now() - Math.max(faultsEnd, workloadDoneAt)) / 100) / 10, last, samples };
        break;
      }
      await sleep(2_000);
    }
    if (!settle.settled) settle = { settled: false, seconds: Math.round((Date.now() - Math.max(faultsEnd, workloadDoneAt)) / 100) / 10, last, samples };
    log(`  ${settle.settled ? `settled ${settle.seconds} s after the last fault and the last new invoice` : `did not settle within ${Math.round((Date.now() - settleStarted) / 1000)} s`}: ${last}`);
    work.stop();
    await Promise.race([work.followed(), sleep(10_000)]);
    await Promise.race([workloadDone, sleep(5_000)]);

    phase('checking: invariants, dead letters, error rows, fuzz outcomes');
    stopWatch = true;
    const peeked = await sys.deadLetters().catch((e: unknown) => {
      notes.push(`reading the dead-letter queues failed: ${e instanceof Error ? e.message : String(e)}`);
      return [];
    });
    // Every message dead-lettered during the run: what the broker reported (a dead-letter handler of
    // the app may have received it from the dead-letter queue since) and what the queues still hold.
    const dead = new Map<string, Omit<ChaosResult['deadLetters'][number], 'errorRow'>>();
    for (const e of sys.broker.counters.deadLettered) {
      if (e.messageId === undefined) continue;
      const d: Omit<ChaosResult['deadLetters'][number], 'errorRow'> = { queue: e.queue, messageId: e.messageId, deliveryCount: e.deliveryCount, enqueuedAt: e.enqueuedAt, inQueue: false };
      if (e.reason !== undefined) d.reason = e.reason;
      if (e.description !== undefined) d.description = e.description;
      dead.set(`${e.queue}|${e.messageId}`, d);
    }
    for (const p of peeked) dead.set(`${p.queue}|${p.messageId}`, { ...dead.get(`${p.queue}|${p.messageId}`), ...p, inQueue: true });
    const dlq = [...dead.values()];
    try {
      invariants = await checkInvariants({ dataverse: sys.dataverse, finance: sys.finance, errorLog: sys.errorLog, deadLetters: async () => dlq });
    } catch (error) {
      invariants = { error: `the invariant checker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}` };
    }
    errorRows = await readErrorRows(sys.storage.connectionString);
    deadLetters = dlq.map((d) => ({ ...d, errorRow: errorRows.byMessageId.has(d.messageId) }));
    const inDlq = new Set(dlq.map((d) => d.messageId));
    judgeQueueFuzz(queueFuzz, errorRows.byMessageId, inDlq);
    // The final state of every expected invoice, as the Dataverse side shows it.
    for (const rec of work.invoices.values()) {
      if (!rec.expected || rec.postedAt) continue;
      try {
        const v = await sys.http('GET', `dataverse/invoices/${rec.invoiceId}`, undefined, { purpose: 'harness', timeoutMs: 30_000 });
        if (v.status === 200 && v.body.invoice?.msdyn_projectinvoicestatus === 192350004) rec.postedAt = new Date().toISOString();
        else if (v.status === 200) rec.state = `${rec.state}; finally status ${String(v.body.invoice?.msdyn_projectinvoicestatus)}`;
      } catch (error) {
        if (!(error instanceof Unreachable)) throw error;
      }
    }
  } finally {
    stopWatch = true;
    await watcher.catch(() => undefined);
    phase('stopping every process');
    work.stop();
    const stopNotes = await sys.stop();
    notes.push(...stopNotes);
    phase('');
  }

  const brokerCounters = sys.broker.counters;
  const all = [...work.invoices.values()];
  const expected = all.filter((r) => r.expected);
  const fiveXx = sys.answers.fiveXx;
  const failedInvocations: Record<string, number> = {};
  for (const file of sys.hostLogs) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/Executed 'Functions\.([^']+)' \(Failed/g)) failedInvocations[m[1]!] = (failedInvocations[m[1]!] ?? 0) + 1;
  }
  return {
    runId,
    startedAt: new Date(t0).toISOString(),
    finishedAt: new Date().toISOString(),
    plan,
    faults,
    phases,
    messages: {
      sentByClients: Object.values(brokerCounters.accepted).reduce((a, b) => a + b, 0),
      byQueue: brokerCounters.accepted,
      copiesDelivered: brokerCounters.copies.early.kept,
      copiesDropped: brokerCounters.copies.early.dropped,
      lateDelivered: brokerCounters.copies.late.kept,
      lateDropped: brokerCounters.copies.late.dropped,
      fuzz: queueFuzz.filter((c) => c.sent).length,
      brokerRestored: brokerCounters.restored,
    },
    http: {
      answers: sys.answers.total,
      byClass: sys.answers.byClass,
      fuzz5xx: fiveXx.filter((a) => a.purpose === 'fuzz'),
      workload5xxDuringFaults: fiveXx.filter((a) => a.purpose !== 'fuzz' && a.faults.length > 0),
      workload5xxOutsideFaults: fiveXx.filter((a) => a.purpose !== 'fuzz' && a.faults.length === 0),
    },
    invoices: { expected: expected.length, posted: expected.filter((r) => r.postedAt).length, created: all.length, notPosted: expected.filter((r) => !r.postedAt), all },
    invariants,
    deadLetters,
    errorRows: { total: errorRows.total, byCategory: errorRows.byCategory, bySource: errorRows.bySource },
    fuzz: { queues: queueFuzz, routes: routeFuzz },
    findings: work.findings,
    host: { starts: sys.hostStarts, unexpectedExits, healthFailures, failedInvocations, logs: sys.hostLogs.map((f) => path.relative(process.cwd(), f)) },
    settle,
    staging,
    notes: [...notes, ...work.notes],
  };
}
