/**
 * The benchmark's figures (pure: no I/O, unit-tested): what one phase measured, the derived
 * rates and ratios, the rows of the printed tables and the JSON document kept in bench-results/.
 *
 * Definitions
 * - entities written: distinct table entities (every table of the run but the baseline's) whose
 *   Timestamp falls inside the phase; a row written twice in one phase counts once.
 * - baseline: Azurite writing that many entities of similar size in 100-entity transactions,
 *   WRITE_CONCURRENCY in flight (shared/storage/tables.ts), on the same machine and instance.
 * - ratio to baseline: pipeline seconds / baseline seconds (1.0 = as fast as storage can write;
 *   4.0 = four times slower than the storage limit).
 * - storage work: Azurite's CPU seconds in the phase / Azurite's CPU seconds in the baseline for
 *   as many entities. Azurite is one Node process, so its CPU time is the work the phase's
 *   requests cost it; when it equals the ratio, the phase waited on nothing but the storage.
 * - storage share: storage work / ratio (1.0 = storage-bound; lower = the pipeline's own time).
 */
import type { StorageUsage } from './writeCounter';

export interface BaselineMeasure {
  /** Entities the baseline actually wrote (fewer than the phase when capped). */
  written: number;
  /** Seconds for the phase's number of entities (measured, or extrapolated from `written`). */
  seconds: number;
  extrapolated: boolean;
  /** Azurite's CPU seconds for the phase's number of entities (measured with `seconds`, scaled alike). */
  storageCpuSeconds?: number;
}

/** What the processes did while a phase ran. */
export interface PhaseUsage {
  /** Wall seconds the host's CPU was counted over: from the phase's start until it was seen done (a little past its end). */
  wallSeconds: number;
  /** CPU seconds of the Functions host process. */
  hostCpuSeconds: number;
  /**
   * CPU seconds of the Azurite process over the phase's own seconds (read from samples every
   * 50 ms once its end is known; absent when the counter did not answer).
   */
  storageCpuSeconds?: number;
  /** Requests Azurite served, by kind (writeCounter.ts, `requestKind`); absent with storageCpuSeconds. */
  requests?: Record<string, number>;
}

export interface PhaseMeasure {
  /** "A", "B", "C 10,000". */
  scenario: string;
  phase: string;
  /** ILDs the phase works for (for the time-per-ILD figure). */
  ilds: number;
  seconds: number;
  entities: number;
  /** Entities written per table. */
  tables: Record<string, number>;
  baseline?: BaselineMeasure;
  /** Peak resident set size of the Functions host process during the phase. */
  peakRssBytes?: number;
  /** Host invocations that finished during the phase, per function: how many, and their summed duration. */
  functions?: Record<string, { invocations: number; failed: number; busyMs: number }>;
  /** CPU and requests of the host and of Azurite during the phase. */
  usage?: PhaseUsage;
  /** Anything worth knowing (import runs needed, figures reused from another scenario). */
  note?: string;
}

export interface PhaseFigures extends PhaseMeasure {
  entitiesPerSecond: number | null;
  ratio: number | null;
  msPerIld: number | null;
  /** Azurite's CPU in the phase over its CPU in the baseline for as many entities. */
  storageWork: number | null;
  /** Azurite's CPU seconds over the phase's seconds (can pass 1: a process's CPU time includes its helper threads). */
  storageBusy: number | null;
  /** The host's CPU seconds (counted until the phase was seen done) over the phase's seconds. */
  hostBusy: number | null;
}

/** Below this a phase is a blip (its work was done by the time it began): no rate, no ratio. */
export const MIN_SECONDS = 0.05;

export function rate(count: number, seconds: number): number | null {
  if (!(seconds >= MIN_SECONDS) || !Number.isFinite(seconds)) return null;
  return count / seconds;
}

export function ratioToBaseline(seconds: number, baseline: BaselineMeasure | undefined): number | null {
  if (!baseline || !(baseline.seconds > 0) || !(seconds >= MIN_SECONDS)) return null;
  return seconds / baseline.seconds;
}

/**
 * Below this a phase gets no CPU figures: Azurite's are read from samples 50 ms apart, so each end
 * of a shorter phase can be off by a fifth of it or more.
 */
export const MIN_USAGE_SECONDS = 0.5;

/** CPU seconds over a phase's seconds, or null when the CPU is missing or the phase too short for it. */
function busy(cpuSeconds: number | undefined, seconds: number): number | null {
  if (cpuSeconds === undefined || !(seconds >= MIN_USAGE_SECONDS)) return null;
  return cpuSeconds / seconds;
}

export function storageWorkOf(usage: PhaseUsage | undefined, baseline: BaselineMeasure | undefined, seconds: number): number | null {
  const spent = usage?.storageCpuSeconds;
  const reference = baseline?.storageCpuSeconds;
  if (spent === undefined || reference === undefined || !(reference > 0) || !(seconds >= MIN_USAGE_SECONDS)) return null;
  return spent / reference;
}

export function figuresOf(m: PhaseMeasure): PhaseFigures {
  return {
    ...m,
    entitiesPerSecond: rate(m.entities, m.seconds),
    ratio: ratioToBaseline(m.seconds, m.baseline),
    msPerIld: m.ilds > 0 && m.seconds >= 0 ? (m.seconds * 1000) / m.ilds : null,
    storageWork: storageWorkOf(m.usage, m.baseline, m.seconds),
    storageBusy: busy(m.usage?.storageCpuSeconds, m.seconds),
    hostBusy: busy(m.usage?.hostCpuSeconds, m.seconds),
  };
}

/** Azurite's CPU seconds and requests by kind between two of its counter's readings (only the kinds that grew). */
export function storageBetween(before: StorageUsage, after: StorageUsage): { storageCpuSeconds: number; requests: Record<string, number> } {
  const requests: Record<string, number> = {};
  for (const [kind, n] of Object.entries(after.requests)) {
    const d = n - (before.requests[kind] ?? 0);
    if (d > 0) requests[kind] = d;
  }
  return { storageCpuSeconds: Math.max(0, after.cpuMicros - before.cpuMicros) / 1e6, requests };
}

/** The host's usage between two readings of its CPU counter (µs), `wallMs` apart; Azurite's part is added by `storageBetween`. */
export function usageBetween(host: { before: number; after: number }, wallMs: number): PhaseUsage {
  return { wallSeconds: wallMs / 1000, hostCpuSeconds: Math.max(0, host.after - host.before) / 1e6 };
}

/** Requests by kind without the table ("point read dvActuals" -> "point read"), the benchmark's own left out, largest first. */
export function requestsByKind(requests: Readonly<Record<string, number>>): [string, number][] {
  const out = new Map<string, number>();
  for (const [name, n] of Object.entries(requests)) {
    if (name.startsWith('bench ')) continue;
    const kind = ['point read', 'single write', 'query'].find((k) => name === k || name.startsWith(`${k} `)) ?? name;
    out.set(kind, (out.get(kind) ?? 0) + n);
  }
  return [...out].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** The largest request kinds with their tables ("point read dvActuals"), the benchmark's own left out. */
export function topRequests(requests: Readonly<Record<string, number>>, n: number): [string, number][] {
  return Object.entries(requests)
    .filter(([name]) => !name.startsWith('bench '))
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n);
}

/** Phases farther than this from the baseline get a line saying what bounds them (the issue's own threshold). */
export const EXPLAIN_ABOVE_RATIO = 1.2;

/**
 * What held a phase back, in one line: "storage" when Azurite's work explains at least three
 * quarters of the ratio (the requests themselves cost that much) or Azurite was busy at least 85%
 * of the phase, else "host CPU" when the host was busy at least 80% of it, else "waiting" (message
 * hops, polls, concurrency limits). Null without the figures.
 *
 * (Storage work / ratio is Azurite's busy share in the phase over its busy share in the baseline.
 * A Node process's CPU time includes its helper threads (garbage collection, I/O), so the
 * baseline's share can pass 100%: a phase can keep Azurite's one JavaScript thread saturated with a
 * lower share, hence the second test.)
 */
export function boundOf(f: Pick<PhaseFigures, 'ratio' | 'storageWork' | 'storageBusy' | 'hostBusy'>): 'storage' | 'host CPU' | 'waiting' | null {
  if (f.ratio === null || f.storageWork === null) return null;
  if (f.storageWork >= 0.75 * f.ratio || (f.storageBusy !== null && f.storageBusy >= 0.85)) return 'storage';
  if (f.hostBusy !== null && f.hostBusy >= 0.8) return 'host CPU';
  return 'waiting';
}

/** The explanation printed for one phase: its bound, Azurite's work and busy share, the host's, and the requests. */
export function boundLine(f: PhaseFigures): string | undefined {
  const bound = boundOf(f);
  if (bound === null || f.ratio === null || f.storageWork === null) return undefined;
  const pct = (x: number | null) => (x === null ? '-' : `${Math.round(x * 100)}%`);
  const requests = f.usage?.requests ?? {};
  const kinds = requestsByKind(requests);
  const total = kinds.reduce((a, [, n]) => a + n, 0);
  const per = f.ilds > 0 ? ` (${(total / f.ilds).toFixed(1)} per ILD)` : '';
  const top = topRequests(requests, 3).map(([name, n]) => `${name} ${formatInt(n)}`);
  const own = Object.entries(requests).reduce((a, [name, n]) => (name.startsWith('bench ') ? a + n : a), 0);
  return (
    `${f.scenario} ${f.phase}, ${formatRatio(f.ratio)}: ${bound}. Azurite worked ${f.storageWork.toFixed(2)}x the baseline's CPU for these entities ` +
    `(${Math.round((f.storageWork / f.ratio) * 100)}% of the ratio; Azurite busy ${pct(f.storageBusy)}, host busy ${pct(f.hostBusy)}); ` +
    `${formatInt(total)} requests${per}: ${kinds.map(([k, n]) => `${formatInt(n)} ${k}`).join(', ')}${top.length ? `; most: ${top.join(', ')}` : ''}` +
    (own > 0 ? `; and ${formatInt(own)} of the benchmark's probes` : '')
  );
}

/** Baseline seconds for `entities`, measured on `written` of them in `seconds` (linear beyond). */
export function extrapolateBaseline(entities: number, written: number, seconds: number, storageCpuSeconds?: number): BaselineMeasure {
  const factor = written >= entities || written <= 0 ? 1 : entities / written;
  const out: BaselineMeasure = { written, seconds: seconds * factor, extrapolated: factor !== 1 };
  if (storageCpuSeconds !== undefined) out.storageCpuSeconds = storageCpuSeconds * factor;
  return out;
}

/** A phase's baseline from one measurement: its rate (and Azurite's CPU per entity) applied to the phase's entity count. */
export function scaleBaseline(measured: BaselineMeasure, entities: number): BaselineMeasure {
  if (measured.written <= 0) return { written: 0, seconds: 0, extrapolated: false };
  const factor = entities / measured.written;
  const out: BaselineMeasure = { written: measured.written, seconds: measured.seconds * factor, extrapolated: entities !== measured.written };
  if (measured.storageCpuSeconds !== undefined) out.storageCpuSeconds = measured.storageCpuSeconds * factor;
  return out;
}

/**
 * The storage limit a measure was compared with, in entities per second (its entities over its
 * baseline seconds); null without a baseline. For a total line it is the scenario's rate.
 */
export function baselineRate(m: Pick<PhaseMeasure, 'entities' | 'baseline'>): number | null {
  return m.baseline && m.baseline.seconds > 0 ? m.entities / m.baseline.seconds : null;
}

/** One "total" line per scenario: sums of seconds, entities and baseline; the highest peak RSS. */
export function totalOf(scenario: string, phases: readonly PhaseMeasure[], label = 'total'): PhaseMeasure {
  const mine = phases.filter((p) => p.scenario === scenario);
  const tables: Record<string, number> = {};
  for (const p of mine) for (const [t, n] of Object.entries(p.tables)) tables[t] = (tables[t] ?? 0) + n;
  const withBaseline = mine.filter((p) => p.baseline !== undefined);
  const peaks = mine.map((p) => p.peakRssBytes).filter((v): v is number => v !== undefined);
  const total: PhaseMeasure = {
    scenario,
    phase: label,
    ilds: Math.max(0, ...mine.map((p) => p.ilds)),
    seconds: mine.reduce((a, p) => a + p.seconds, 0),
    entities: mine.reduce((a, p) => a + p.entities, 0),
    tables,
  };
  if (withBaseline.length > 0 && withBaseline.length === mine.length) {
    total.baseline = {
      written: withBaseline.reduce((a, p) => a + (p.baseline?.written ?? 0), 0),
      seconds: withBaseline.reduce((a, p) => a + (p.baseline?.seconds ?? 0), 0),
      extrapolated: withBaseline.some((p) => p.baseline?.extrapolated === true),
    };
    if (withBaseline.every((p) => p.baseline?.storageCpuSeconds !== undefined)) {
      total.baseline.storageCpuSeconds = withBaseline.reduce((a, p) => a + (p.baseline?.storageCpuSeconds ?? 0), 0);
    }
  }
  if (peaks.length > 0) total.peakRssBytes = Math.max(...peaks);
  const usages = mine.map((p) => p.usage);
  if (mine.length > 0 && usages.every((u): u is PhaseUsage => u !== undefined)) {
    const usage: PhaseUsage = { wallSeconds: usages.reduce((a, u) => a + u.wallSeconds, 0), hostCpuSeconds: usages.reduce((a, u) => a + u.hostCpuSeconds, 0) };
    if (usages.every((u) => u.storageCpuSeconds !== undefined && u.requests !== undefined)) {
      usage.storageCpuSeconds = usages.reduce((a, u) => a + (u.storageCpuSeconds ?? 0), 0);
      const requests: Record<string, number> = {};
      for (const u of usages) for (const [k, n] of Object.entries(u.requests ?? {})) requests[k] = (requests[k] ?? 0) + n;
      usage.requests = requests;
    }
    total.usage = usage;
  }
  return total;
}

// ---- formatting ---------------------------------------------------------------------------------

const DASH = '-';

export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatSeconds(s: number): string {
  return s < 10 ? s.toFixed(2) : s.toFixed(1);
}

export function formatRatio(r: number | null, extrapolated = false): string {
  if (r === null) return DASH;
  return `${extrapolated ? '~' : ''}${r.toFixed(r < 10 ? 2 : 1)}x`;
}

export function formatMb(bytes: number | undefined): string {
  return bytes === undefined ? DASH : formatInt(bytes / (1024 * 1024));
}

export const PHASE_TABLE_HEAD = ['scenario', 'phase', 'entities written', 'seconds', 'entities/s', 'ratio to baseline', 'storage work', 'peak RSS (MB)'];

export function phaseRow(f: PhaseFigures): string[] {
  return [
    f.scenario,
    f.phase,
    formatInt(f.entities),
    formatSeconds(f.seconds),
    f.entitiesPerSecond === null ? DASH : formatInt(f.entitiesPerSecond),
    formatRatio(f.ratio, f.baseline?.extrapolated === true),
    formatRatio(f.storageWork, f.baseline?.extrapolated === true),
    formatMb(f.peakRssBytes),
  ];
}

// ---- scaling (scenario C) -----------------------------------------------------------------------

export interface ScalingFigures {
  ilds: number;
  seconds: number;
  entities: number;
  msPerIld: number | null;
  ratio: number | null;
  peakRssBytes: number | undefined;
  /** Time per ILD relative to the smallest size (1.0 = linear cost). */
  growth: number | null;
  note?: string;
}

/** One scaling line per size, from each size's "total" measure (sizes in ascending order). */
export function scalingOf(totals: readonly { ilds: number; measure: PhaseMeasure }[]): ScalingFigures[] {
  const sorted = [...totals].sort((a, b) => a.ilds - b.ilds);
  const rows = sorted.map(({ ilds, measure }) => {
    const f = figuresOf({ ...measure, ilds });
    const row: ScalingFigures = {
      ilds,
      seconds: f.seconds,
      entities: f.entities,
      msPerIld: f.msPerIld,
      ratio: f.ratio,
      peakRssBytes: f.peakRssBytes,
      growth: null,
    };
    if (measure.note !== undefined) row.note = measure.note;
    return row;
  });
  const first = rows[0]?.msPerIld ?? null;
  for (const row of rows) row.growth = first !== null && first > 0 && row.msPerIld !== null ? row.msPerIld / first : null;
  return rows;
}

export const SCALING_TABLE_HEAD = ['ILDs', 'seconds', 'ms per ILD', 'growth per ILD', 'entities written', 'ratio to baseline', 'peak RSS (MB)'];

export function scalingRow(s: ScalingFigures): string[] {
  return [
    formatInt(s.ilds),
    formatSeconds(s.seconds),
    s.msPerIld === null ? DASH : s.msPerIld.toFixed(3),
    s.growth === null ? DASH : `${s.growth.toFixed(2)}x`,
    formatInt(s.entities),
    formatRatio(s.ratio),
    formatMb(s.peakRssBytes),
  ];
}

// ---- the slowest phase ----------------------------------------------------------------------------

/**
 * The phase farthest from the storage limit (highest ratio), else the longest one. Phases shorter
 * than a second or than 2 % of the run's phase time are left out: their ratio is mostly latency
 * (a poll, a message hop), not throughput.
 */
export function slowestPhase(phases: readonly PhaseFigures[]): PhaseFigures | undefined {
  const real = phases.filter((p) => p.phase !== 'total');
  const totalSeconds = real.reduce((a, p) => a + p.seconds, 0);
  const floor = Math.max(1, 0.02 * totalSeconds);
  const big = real.filter((p) => p.seconds >= floor);
  const candidates = big.length > 0 ? big : real;
  const withRatio = candidates.filter((p) => p.ratio !== null);
  const pool = withRatio.length > 0 ? withRatio : candidates;
  const key = (x: PhaseFigures) => (withRatio.length > 0 ? (x.ratio ?? 0) : x.seconds);
  let best: PhaseFigures | undefined;
  for (const p of pool) if (!best || key(p) > key(best)) best = p;
  return best;
}

// ---- the JSON document ------------------------------------------------------------------------------

export interface BenchDocument {
  schema: 'project-invoicing-bench/v1';
  startedAt: string;
  finishedAt: string;
  commit?: string;
  machine: { cpus: number; cpuModel: string; totalMemoryBytes: number; node: string; platform: string; hostNodeArguments: string };
  options: { quick: boolean; scenarios: string[]; sizes: unknown; baselineCap: number | null };
  storage: { maxBatch: number; writeConcurrency: number };
  phases: PhaseFigures[];
  totals: PhaseFigures[];
  scaling: ScalingFigures[];
  slowest?: { scenario: string; phase: string; ratio: number | null; seconds: number };
  problems: string[];
}

/** bench-2026-11-25T12-34-56Z.json: sortable, no characters a file system dislikes. */
export function resultFileName(at: Date): string {
  return `bench-${at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '-')}.json`;
}
