import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  confirmationActualReads,
  CONFIRMATION_READS_BY_KEY_PER_ILD,
  DEFAULT_PARAMS,
  loadsOf,
  memoryPerIld,
  predictPhase,
  predictScenarios,
  tableKeysOf,
  tableOpsOf,
  TABLE_KEYS,
  PHASE_PROFILES,
  pointReadsOf,
  loadOf,
  withTier,
  workloadLimits,
  type ModelParams,
  type PhaseLoad,
} from '../../../tools/bench/model';
import { isResultsCommand, modelReport, parseResultsArgs, ResultsUsageError } from '../../../tools/bench/resultsCli';
import { SHARDS_PER_CONTRACT, STAGING_WORK_SHARDS } from '../../../shared/finance/import/shards';
import { ACTUALS_LISTED_PER_ILD, ACTUALS_LISTING_FLOOR, actualsListingLimit, DataverseTableNames } from '../../../shared/dataverse/dataverseStore';
import { approvalIndexBucket } from '../../../shared/dataverse/records';
import { newestResultsFile, parseBenchResults, type BenchResults } from '../../../tools/bench/results';

const ONE = { contracts: 1, invoices: 1, projects: 1 };
const MB = 1024 * 1024;

function load(over: Partial<PhaseLoad> & Pick<PhaseLoad, 'phase' | 'tables'>): PhaseLoad {
  return { scenario: 'C 100', ilds: 100, measuredSeconds: 1, shape: ONE, invocations: {}, ...over };
}

function params(over: { deployment?: Partial<ModelParams['deployment']>; assumptions?: Partial<ModelParams['assumptions']> } = {}): ModelParams {
  return {
    limits: DEFAULT_PARAMS.limits,
    deployment: { ...DEFAULT_PARAMS.deployment, ...over.deployment },
    assumptions: { ...DEFAULT_PARAMS.assumptions, ...over.assumptions },
  };
}

describe('tableOpsOf', () => {
  it('adds the reads and deletes the benchmark cannot see to the writes it counted, per partition', () => {
    const l = load({ phase: 'confirmation', tables: { dvActuals: 300, dvInvoices: 1 } });
    const ops = tableOpsOf(l, PHASE_PROFILES.confirmation, DEFAULT_PARAMS.assumptions);
    const by = new Map(ops.map((t) => [t.table, t]));
    // 300 written + the contract's partition read whole (2 actuals per ILD)
    expect(by.get('dvActuals')).toMatchObject({ writes: 300, reads: 200, deletes: 0, ops: 500, partitions: 1, hottest: 500 });
    // the ILDs read twice: the listing, and the RowKey scan for details added under the fence
    expect(by.get('dvInvoiceLineDetails')).toMatchObject({ reads: 200, ops: 200 });
    expect(by.get('dvInvoiceClaims')).toMatchObject({ reads: 100, deletes: 100, ops: 200 });
    expect(by.get('dvInvoices')).toMatchObject({ writes: 1, partitions: 1, hottest: 1 });
    expect(ops[0]?.table).toBe('dvActuals');
  });

  it('spreads per-contract tables over the contracts, shards by actual over their eight partitions, and shards by contract over two per contract, eight at most', () => {
    const l = load({ phase: 'proposal + billed sync', ilds: 1000, shape: { contracts: 10, invoices: 10, projects: 10 }, tables: { foActualsStaging: 1000, foStagingWork: 1000, foVoucherReservations: 1000 } });
    const by = new Map(tableOpsOf(l, PHASE_PROFILES['proposal + billed sync'], DEFAULT_PARAMS.assumptions).map((t) => [t.table, t]));
    expect(by.get('foActualsStaging')).toMatchObject({ partitions: 10, hottest: 100 });
    expect(by.get('foStagingWork')).toMatchObject({ partitions: 8, hottest: 125 });
    expect(by.get('foVoucherReservations')).toMatchObject({ partitions: 8, hottest: 125 });
    // One contract: its index entries are all in its two shards.
    const one = load({ phase: 'proposal + billed sync', ilds: 1000, tables: { foStagingWork: 1000, foVoucherReservations: 1000 } });
    const byOne = new Map(tableOpsOf(one, PHASE_PROFILES['proposal + billed sync'], DEFAULT_PARAMS.assumptions).map((t) => [t.table, t]));
    expect(byOne.get('foStagingWork')).toMatchObject({ partitions: 2, hottest: 500 });
    expect(byOne.get('foVoucherReservations')).toMatchObject({ partitions: 8, hottest: 125 });
  });

  it("places the import's shards as the code does", () => {
    expect(TABLE_KEYS.foStagingWork!.scheme).toEqual({ by: 'contractShards', partitions: STAGING_WORK_SHARDS, perContract: SHARDS_PER_CONTRACT });
    expect(TABLE_KEYS.foVoucherReservations!.scheme).toEqual({ by: 'fixed', partitions: STAGING_WORK_SHARDS });
  });

  it('lets reads go free when asked', () => {
    const l = load({ phase: 'confirmation', tables: { dvActuals: 300 } });
    const [actuals] = tableOpsOf(l, PHASE_PROFILES.confirmation, params({ assumptions: { readWeight: 0 } }).assumptions);
    expect(actuals).toMatchObject({ table: 'dvActuals', reads: 200, ops: 300 });
  });

  it('treats a table it does not know as spread, and says so', () => {
    expect(tableKeysOf('somethingNew').key).toContain('not in the model');
    const [t] = tableOpsOf(load({ phase: 'mystery', tables: { somethingNew: 50 } }), undefined, DEFAULT_PARAMS.assumptions);
    expect(t).toMatchObject({ partitions: 50, hottest: 1 });
  });
});

describe('predictPhase', () => {
  it('bounds one big confirmation by its own invocation: its tables one after another at 2,000 entities/s', () => {
    const p = predictPhase(load({ phase: 'confirmation', tables: { dvActuals: 300, dvInvoices: 1 } }));
    // dvActuals 500 + ILDs 200 (read twice) + claims 200 + the header 1 (at most 1 in its partition)
    // = 901 ops, 0.4505 s, plus 8 serial round trips of 10 ms
    expect(p.invocation?.seconds).toBeCloseTo(0.4505 + 0.08, 6);
    expect(p.binding.resource).toBe('invocation');
    expect(p.seconds).toBeCloseTo(0.5305, 6);
    const partition = p.bounds.find((b) => b.resource === 'partition');
    expect(partition?.seconds).toBeCloseTo(0.25, 6);
    expect(partition?.detail).toContain('dvActuals');
    expect(p.bounds.find((b) => b.resource === 'account')?.seconds).toBeCloseTo(901 / 20_000, 6);
    expect(p.invocation).toMatchObject({ fn: 'confirmProformaInvoice', count: 1, limitSeconds: 600, limitName: 'functionTimeout' });
    expect(p.timerWaitSeconds).toBe(0);
  });

  it('prices Service Bus by tier: 3 operations a message, 1,000 credits/s on Standard, 2,000 per Premium unit', () => {
    const l = load({
      scenario: 'B',
      phase: 'confirmation + sync',
      ilds: 1000,
      shape: { contracts: 1000, invoices: 1000, projects: 1000 },
      tables: { dvActuals: 3000 },
      invocations: { confirmProformaInvoice: 1000, syncActuals: 1000, syncInvoiceProposal: 1000, createProformaInvoice: 7 },
    });
    const sb = (p: ModelParams) => predictPhase(l, p).bounds.find((b) => b.resource === 'serviceBus')?.seconds;
    expect(predictPhase(l).messages).toBe(3000);
    expect(sb(DEFAULT_PARAMS)).toBeCloseTo(9, 6);
    expect(sb(withTier(DEFAULT_PARAMS, { tier: 'Premium', messagingUnits: 1 }))).toBeCloseTo(4.5, 6);
    expect(sb(withTier(DEFAULT_PARAMS, { tier: 'Premium', messagingUnits: 4 }))).toBeCloseTo(1.125, 6);
    expect(predictPhase(l).binding.resource).toBe('serviceBus');
  });

  it('serializes number reservations on the one counter, fewer with blocks of numbers', () => {
    const l = load({ scenario: 'B', phase: 'invoice creation', ilds: 2000, shape: { contracts: 100, invoices: 100, projects: 100 }, tables: { dvActuals: 2000, integrationSequences: 101 } });
    const seq = (p: ModelParams) => predictPhase(l, p).bounds.find((b) => b.resource === 'sequence')?.seconds;
    // 100 numbers at 20 ms a counter write: one each (a lone caller every time), 10 a write, or
    // the default 16 a write (the calls waiting in one process share a transaction): 7 writes.
    expect(seq(params({ assumptions: { sequenceBlock: 1 } }))).toBeCloseTo(2, 6);
    expect(seq(params({ assumptions: { sequenceBlock: 10 } }))).toBeCloseTo(0.2, 6);
    expect(seq(DEFAULT_PARAMS)).toBeCloseTo(0.14, 6);
  });

  it('runs many invocations in waves of instances x maxConcurrentCalls', () => {
    const l = load({ scenario: 'B', phase: 'posting', ilds: 50, shape: { contracts: 5, invoices: 5, projects: 5 }, tables: { foProjectTransactions: 50 } });
    const p = predictPhase(l, params({ deployment: { maxInstances: 1, maxConcurrentCalls: 2 } }));
    const inv = p.invocation!;
    expect(inv.count).toBe(5);
    expect(p.bounds.find((b) => b.resource === 'scaleOut')?.seconds).toBeCloseTo(3 * inv.seconds, 9);
  });

  it('adds half the timer period before an import phase, and knows an HTTP call must answer in 230 s', () => {
    expect(predictPhase(load({ phase: 'import (proposal lines)', tables: { foProposalLines: 100 } })).timerWaitSeconds).toBe(30);
    expect(predictPhase(load({ phase: 'invoice creation', tables: { dvActuals: 100 } })).invocation).toMatchObject({ limitSeconds: 230, trigger: 'http' });
  });

  it('takes the message lock renewal as the limit of a queue function when it is shorter than the timeout', () => {
    const p = predictPhase(load({ phase: 'posting', tables: {} }), params({ deployment: { lockRenewalSeconds: 300 } }));
    expect(p.invocation).toMatchObject({ limitSeconds: 300, limitName: 'message lock renewal' });
  });

  it('still bounds a phase it has no profile for by storage, without an invocation', () => {
    const p = predictPhase(load({ phase: 'something new', tables: { dvActuals: 4000 } }));
    expect(p.profiled).toBe(false);
    expect(p.invocation).toBeUndefined();
    expect(p.seconds).toBeCloseTo(2, 6);
  });
});

describe('memoryPerIld', () => {
  it('fits base and bytes per ILD through the sizes', () => {
    const at = (ilds: number) => ({ ilds, bytes: 200 * MB + ilds * 20 * 1024 });
    const m = memoryPerIld([at(1_000), at(11_000), at(51_000)]);
    expect(m?.bytesPerIld).toBeCloseTo(20 * 1024, 6);
    expect(m?.baseBytes).toBeCloseTo(200 * MB, 0);
  });

  it('needs two sizes and a growing line', () => {
    expect(memoryPerIld([{ ilds: 10, bytes: 1 }])).toBeUndefined();
    expect(memoryPerIld([{ ilds: 10, bytes: 5 }, { ilds: 20, bytes: 4 }])).toBeUndefined();
  });
});

// ---- a small results document, with what the benchmark writes ------------------------------------------------

function phase(scenario: string, name: string, ilds: number, tables: Record<string, number>, functions: Record<string, number> = {}, peakMb?: number) {
  return {
    scenario,
    phase: name,
    ilds,
    seconds: 1,
    entities: Object.values(tables).reduce((a, b) => a + b, 0),
    tables,
    functions: Object.fromEntries(Object.entries(functions).map(([fn, n]) => [fn, { invocations: n, failed: 0, busyMs: 10 * n }])),
    ...(peakMb !== undefined ? { peakRssBytes: peakMb * MB } : {}),
  };
}

function results(): BenchResults {
  return parseBenchResults({
    schema: 'project-invoicing-bench/v1',
    startedAt: '2026-12-01T10:00:00.000Z',
    commit: 'abc1234',
    machine: { cpus: 2, cpuModel: 'test', totalMemoryBytes: 1, node: 'v20', platform: 'linux-x64' },
    options: { quick: true, scenarios: ['B', 'C'], sizes: { aIlds: 0, bInvoices: 10, bIldsPerInvoice: 10, cSizes: [1000, 2000] }, baselineCap: 25000 },
    storage: { maxBatch: 100, writeConcurrency: 8 },
    phases: [
      phase('B', 'invoice creation', 100, { dvActuals: 100, dvInvoiceLineDetails: 100, dvInvoices: 10, integrationSequences: 11 }, { createProformaInvoice: 10 }),
      phase('C 1,000', 'confirmation', 1000, { dvActuals: 3000, dvInvoices: 1 }, {}, 220),
      phase('C 2,000', 'confirmation', 2000, { dvActuals: 6000, dvInvoices: 1 }, {}, 240),
    ],
    totals: [],
    scaling: [
      { ilds: 1000, seconds: 4, entities: 3001, msPerIld: 4, ratio: 2, peakRssBytes: 220 * MB, growth: 1 },
      { ilds: 2000, seconds: 8, entities: 6001, msPerIld: 4, ratio: 2, peakRssBytes: 240 * MB, growth: 1 },
    ],
    problems: [],
  });
}

describe('workloadLimits', () => {
  it('extrapolates the largest confirmation to its timeout and the measured memory to the instance', () => {
    const w = workloadLimits(results());
    // C 2,000: dvActuals 6,000 + 4,000 read, ILDs 4,000 (read twice), claims 4,000, header 1: 18,001 ops
    // at 2,000/s; 80 ms fixed
    const perIld = 9.0005 / 2000;
    const confirmation = w.lineLimits.find((l) => l.what.startsWith('confirmation'));
    expect(confirmation?.maxIlds).toBe(Math.floor((600 - 0.08) / perIld));
    // 20 MB more for 1,000 more ILDs: 20 KB per ILD over a 200 MB base, in 2,048 MB
    const memory = w.lineLimits.find((l) => l.what.startsWith('memory'));
    expect(memory?.maxIlds).toBe(Math.floor(((2048 - 200) * MB) / ((20 * MB) / 1000)));
    expect(w.maxLinesPerInvoice).toBe(memory);
  });

  it('finds what bounds the invoices per hour of many small invoices', () => {
    const w = workloadLimits(results(), params({ assumptions: { sequenceBlock: 1 } }));
    // 10 numbers one after another at 20 ms: 0.2 s for 10 invoices, 180,000 an hour
    const sequence = w.invoices?.capacities.find((c) => c.what.startsWith('number sequences'));
    expect(sequence?.perHour).toBeCloseTo(180_000, 6);
    // Shared counter writes (16 numbers a write by default): the 10 numbers take one write.
    const grouped = workloadLimits(results()).invoices?.capacities.find((c) => c.what.startsWith('number sequences'));
    expect(grouped?.perHour).toBeCloseTo(1_800_000, 6);
    expect(w.invoices?.linesPerInvoice).toBe(10);
    expect(w.invoices?.perHour).toBe(Math.min(...(w.invoices?.capacities ?? []).map((c) => c.perHour)));
  });

  it("bounds a confirmation's reads of its contract's actuals by the invoice, not by the contract's history", () => {
    expect(actualsListingLimit(20)).toBe(ACTUALS_LISTING_FLOOR);
    expect(actualsListingLimit(10_000)).toBe(ACTUALS_LISTED_PER_ILD * 10_000);
    // Within the bound (every benchmark contract: two actuals per ILD) the whole partition is listed.
    expect(confirmationActualReads(10_000, 20_000)).toBe(20_000);
    // Beyond it: the bound, then the plan's actuals by key, whatever the history holds.
    expect(confirmationActualReads(20, 1_000_000)).toBe(ACTUALS_LISTING_FLOOR + CONFIRMATION_READS_BY_KEY_PER_ILD * 20);
    expect(confirmationActualReads(20, 10_000_000)).toBe(confirmationActualReads(20, 1_000_000));
  });

  it('predicts per scenario in the order of the results', () => {
    const s = predictScenarios(loadsOf(results()));
    expect(s.map((x) => x.scenario)).toEqual(['B', 'C 1,000', 'C 2,000']);
    expect(s[2]?.seconds).toBeCloseTo(9.0005 + 0.08, 6);
  });
});

describe('results files and the command line', () => {
  it('refuses a document that is not a result, naming the field', () => {
    expect(() => parseBenchResults({ schema: 'project-invoicing-bench/v1', startedAt: 'x' }, 'f.json')).toThrow(/f\.json is not a benchmark result: options/);
  });

  it('finds the newest results file and ignores the host logs and charts', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-model-'));
    for (const name of ['bench-2026-01-01T00-00-00Z.json', 'bench-2026-02-01T00-00-00Z.json', 'bench-2026-03-01T00-00-00Z-host.log', 'bench-2026-03-01T00-00-00Z.svg']) {
      writeFileSync(path.join(dir, name), '{}');
    }
    expect(newestResultsFile(dir)).toBe(path.join(dir, 'bench-2026-02-01T00-00-00Z.json'));
    expect(newestResultsFile(path.join(dir, 'missing'))).toBeUndefined();
  });

  it('parses --model azure with its settings', () => {
    expect(isResultsCommand(['--model', 'azure'])).toBe(true);
    expect(isResultsCommand(['--quick'])).toBe(false);
    const cmd = parseResultsArgs(['--model', 'azure', 'x.json', '--accounts', 'per-side', '--sequence-block=20', '--reads', 'free', '--instances', '200']);
    expect(cmd).toMatchObject({ mode: 'model', file: 'x.json' });
    expect(cmd.params.deployment).toMatchObject({ storageAccounts: 'perSide', maxInstances: 200 });
    expect(cmd.params.assumptions).toMatchObject({ sequenceBlock: 20, readWeight: 0 });
    expect(() => parseResultsArgs(['--model', 'gcp'])).toThrow(ResultsUsageError);
    expect(() => parseResultsArgs(['--model', 'azure', '--instances', '0'])).toThrow(ResultsUsageError);
  });

  it('prints the scenarios, the phases and the largest workload', () => {
    const text = modelReport(results(), 'f.json', DEFAULT_PARAMS);
    expect(text).toContain('Predicted time per scenario');
    expect(text).toContain('Premium 4 MU');
    expect(text).toContain('C 2,000');
    expect(text).toContain('Lines per invoice: about');
    expect(text).toContain('Invoices per hour');
  });
});

describe('hidden writes', () => {
  it('adds the claims invoice creation writes only while the benchmark does not count them', () => {
    const a = DEFAULT_PARAMS.assumptions;
    const unseen = tableOpsOf(load({ phase: 'invoice creation', tables: { dvActuals: 100 } }), PHASE_PROFILES['invoice creation'], a);
    expect(unseen.find((t) => t.table === 'dvInvoiceClaims')?.writes).toBe(100);
    const counted = tableOpsOf(load({ phase: 'invoice creation', tables: { dvActuals: 100, dvInvoiceClaims: 100 } }), PHASE_PROFILES['invoice creation'], a);
    expect(counted.find((t) => t.table === 'dvInvoiceClaims')?.writes).toBe(100);
  });
});

describe('measured point reads', () => {
  it('takes the point reads per table from the requests Azurite served, not the kinds without a table or the benchmark own', () => {
    expect(pointReadsOf({ 'point read dvActuals': 9_978, 'query dvActuals': 20, transaction: 100, 'point read dvInvoices': 3, 'bench point read dvActuals': 7 })).toEqual({ dvActuals: 9_978, dvInvoices: 3 });
  });

  it('replaces the profile estimate of point reads with the count, and adds point reads the profile does not know', () => {
    const a = DEFAULT_PARAMS.assumptions;
    const profile = PHASE_PROFILES['backlog ready'];
    // Without counts (an older results file): one point read per ILD, estimated.
    const estimated = tableOpsOf(load({ phase: 'backlog ready', ilds: 1000, tables: { dvActuals: 1000 } }), profile, a);
    expect(estimated.find((t) => t.table === 'dvActuals')).toMatchObject({ writes: 1000, reads: 1000 });
    // With counts: what was measured, on every table.
    const measured = tableOpsOf(load({ phase: 'backlog ready', ilds: 1000, tables: { dvActuals: 1000 }, pointReads: { dvActuals: 950, dvContracts: 2 } }), profile, a);
    expect(measured.find((t) => t.table === 'dvActuals')).toMatchObject({ writes: 1000, reads: 950, ops: 1950 });
    expect(measured.find((t) => t.table === 'dvContracts')).toMatchObject({ writes: 0, reads: 2 });
  });

  it('keeps the estimates of what queries read, which the counts do not give', () => {
    const a = DEFAULT_PARAMS.assumptions;
    const ops = tableOpsOf(load({ phase: 'confirmation', tables: { dvActuals: 300 }, pointReads: { dvInvoices: 2 } }), PHASE_PROFILES.confirmation, a);
    expect(ops.find((t) => t.table === 'dvActuals')).toMatchObject({ reads: 200 });
    expect(ops.find((t) => t.table === 'dvInvoiceLineDetails')).toMatchObject({ reads: 200 });
    expect(ops.find((t) => t.table === 'dvInvoices')).toMatchObject({ reads: 2 });
  });

  it('reads them from a result phase with usage, and leaves them out of one without', () => {
    const base = { scenario: 'A', phase: 'backlog ready', ilds: 10, seconds: 1, entities: 10, tables: { dvActuals: 10 } };
    expect(loadOf({ ...base, usage: { wallSeconds: 1, hostCpuSeconds: 1, requests: { 'point read dvActuals': 10 } } }, ONE).pointReads).toEqual({ dvActuals: 10 });
    expect(loadOf(base, ONE).pointReads).toBeUndefined();
  });
});

describe('the approval index', () => {
  it('is placed as the store keys it: sixteen partitions by the first hex digit of the actual id, on the Dataverse side', () => {
    expect(TABLE_KEYS[DataverseTableNames.approvalIndex]).toMatchObject({ account: 'dataverse', scheme: { by: 'fixed', partitions: 16 } });
    const digits = new Set(Array.from({ length: 16 }, (_, i) => approvalIndexBucket(`${i.toString(16)}0000000-0000-4000-8000-000000000000`)));
    expect(digits.size).toBe(16);
  });

  it('spreads an approval over the index partitions and its contract', () => {
    const p = predictPhase(load({ scenario: 'A', phase: 'approvals + actuals sync', ilds: 1000, tables: { dvActuals: 2000, dvApprovalIndex: 2000 } }));
    expect(p.tables.find((t) => t.table === 'dvApprovalIndex')).toMatchObject({ partitions: 16, hottest: 125 });
    expect(p.hottest?.table).toBe('dvActuals');
    expect(p.invocation?.ops).toBe(4000);
  });
});
