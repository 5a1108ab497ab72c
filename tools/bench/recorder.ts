/**
 * Records a scenario's phases: wall time, the host's peak RSS (the host process samples itself),
 * the host's CPU time (read before and after), then (at a quiet point, before later phases
 * rewrite the same rows) the entities each phase wrote with Azurite's CPU time and requests over
 * the phase's exact span, and at the end of the scenario the storage baseline of each phase (with
 * Azurite's CPU time for it).
 */
import { scaleBaseline, storageBetween, usageBetween, type PhaseMeasure } from './figures';
import { executionsBetween } from './hostProtocol';
import type { Progress } from './progress';
import { measureBaseline } from './storage';
import type { BenchSystem } from './system';

export interface PhaseEnd {
  /** Epoch ms the phase's goal was first observed (default: when the body returned). */
  endedAt?: number;
  /**
   * The phase ended when the pipeline went quiet (seen by polling, a few hundred ms late): its
   * time is cut back to its last table write, which is when its work was done.
   */
  endsAtLastWrite?: boolean;
  note?: string;
}

interface Pending {
  measure: PhaseMeasure;
  from: Date;
  to: Date;
  endsAtLastWrite: boolean;
}

/** The host's CPU counter at one moment. */
interface Snapshot {
  at: number;
  hostCpuMicros: number;
}

export class PhaseRecorder {
  readonly #pending: Pending[] = [];
  readonly #measures: PhaseMeasure[] = [];
  #lastEnd: number | undefined;
  #lastSnapshot: Snapshot | undefined;

  constructor(
    readonly scenario: string,
    private readonly system: BenchSystem,
    private readonly progress: Progress,
  ) {}

  /**
   * Time one phase. Its entities are counted right after it unless `countLater` (the next phase
   * starts at once and writes other rows, e.g. the sync after a confirmation): then at the next
   * count. Counting goes by each row's last write, so a later phase must not rewrite a row
   * before it is counted. A `chained` phase is the continuation of the previous one (the sync
   * after a confirmation): it starts when the previous one ended, so no write falls between them.
   */
  async run(phase: string, ilds: number, body: () => Promise<PhaseEnd | void>, options: { countLater?: boolean; chained?: boolean } = {}): Promise<void> {
    this.progress.phase(`${this.scenario} | ${phase}`);
    const peakBefore = await this.system.host.mark();
    const before = await this.system.host.stats();
    // A chained phase began when the previous one ended: its host CPU counts from there.
    const from = options.chained && this.#lastSnapshot ? this.#lastSnapshot : { at: Date.now(), hostCpuMicros: before.cpuMicros };
    const startedAt = options.chained && this.#lastEnd !== undefined ? this.#lastEnd : Date.now();
    const end = (await body()) ?? {};
    const endedAt = Math.max(startedAt, end.endedAt ?? Date.now());
    this.#lastEnd = endedAt;
    const { peakRss: peakDuring } = await this.system.host.mark();
    // A chained phase began before this call: the previous window's peak belongs to it too.
    const peakRss = options.chained ? Math.max(peakDuring, peakBefore.peakRss) : peakDuring;
    const after = await this.system.host.stats();
    const to: Snapshot = { at: Date.now(), hostCpuMicros: after.cpuMicros };
    this.#lastSnapshot = to;
    const measure: PhaseMeasure = {
      scenario: this.scenario,
      phase,
      ilds,
      seconds: (endedAt - startedAt) / 1000,
      entities: 0,
      tables: {},
      peakRssBytes: peakRss,
      functions: executionsBetween(before.executions, after.executions),
      // Azurite's part is read for the phase's exact span when its entities are counted.
      usage: usageBetween({ before: from.hostCpuMicros, after: to.hostCpuMicros }, to.at - from.at),
    };
    if (end.note !== undefined) measure.note = end.note;
    this.#pending.push({ measure, from: new Date(startedAt), to: new Date(endedAt + 1), endsAtLastWrite: end.endsAtLastWrite === true });
    this.#measures.push(measure);
    this.progress.log(`  ${this.scenario} | ${phase}: ${measure.seconds.toFixed(2)} s${end.note ? ` (${end.note})` : ''}`);
    if (!options.countLater) await this.count();
  }

  /** Count the entities of the phases recorded since the last count (call while the pipeline is quiet). */
  async count(): Promise<void> {
    if (this.#pending.length === 0) return;
    this.progress.phase(`${this.scenario} | counting entities written`);
    const pending = this.#pending.splice(0);
    const counts = await this.system.countWritten(pending.map((p) => ({ from: p.from, to: p.to })));
    pending.forEach((p, i) => {
      const count = counts[i];
      p.measure.entities = count?.total ?? 0;
      p.measure.tables = count?.tables ?? {};
      if (p.endsAtLastWrite && count?.lastWriteAt !== undefined) {
        p.measure.seconds = Math.min(p.measure.seconds, Math.max(0, (count.lastWriteAt - p.from.getTime()) / 1000));
      }
    });
    // Azurite's CPU and requests over each phase's own span (after the cut to its last write): the
    // benchmark's goal checks after the end (table scans, some of them) stay out of it.
    const spans = pending.flatMap((p) => [p.from.getTime(), p.from.getTime() + p.measure.seconds * 1000]);
    const usages = await this.system.storageUsageAt(spans);
    pending.forEach((p, i) => {
      const start = usages?.[2 * i];
      const end = usages?.[2 * i + 1];
      if (start && end && p.measure.usage) Object.assign(p.measure.usage, storageBetween(start, end));
    });
  }

  /**
   * The storage baseline of each phase: Azurite writing as many entities as the phase wrote (same
   * instance, 100-entity transactions). With a cap (the default), Azurite is measured once per
   * scenario, writing as many entities as the largest phase wrote but at most `cap`, and each
   * phase's baseline is that rate times its entities (marked extrapolated unless it is the
   * measured count). Writing rate is linear in the count (a transaction costs the same whatever
   * came before), and one measurement per scenario instead of one per phase saves about a
   * minute and a half of a default run. Without a cap each phase gets its own full measurement.
   */
  async baselines(cap: number | undefined): Promise<void> {
    const measures = this.#measures.filter((m) => m.baseline === undefined);
    if (cap === undefined) {
      let i = 0;
      for (const m of measures) {
        i += 1;
        this.progress.phase(`${this.scenario} | baseline for ${m.phase} (${m.entities.toLocaleString('en-US')} entities)`);
        m.baseline = await measureBaseline(this.system.connectionString, m.entities, `${this.scenario}${i}`, undefined, () => this.system.storageUsage());
      }
      return;
    }
    const largest = Math.max(0, ...measures.map((m) => m.entities));
    if (largest === 0) return;
    const count = Math.min(largest, cap);
    this.progress.phase(`${this.scenario} | storage baseline (${count.toLocaleString('en-US')} entities)`);
    const calibration = await measureBaseline(this.system.connectionString, count, this.scenario, undefined, () => this.system.storageUsage());
    for (const m of measures) m.baseline = scaleBaseline(calibration, m.entities);
  }

  /** Add phases measured elsewhere (scenario C reusing scenario A's invoice phases). */
  adopt(measures: readonly PhaseMeasure[]): void {
    this.#measures.push(...measures);
  }

  measures(): PhaseMeasure[] {
    return [...this.#measures];
  }
}
