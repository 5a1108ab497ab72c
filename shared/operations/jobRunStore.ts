/**
 * What the timer jobs did last (`integrationJobRuns` in IntegrationTables): per job one row for the
 * last run and one for the last run that found work, so the console can say when the import last
 * ran and what it did. PartitionKey = the job's function name; RowKey = `last` or `lastWithWork`.
 * Writing it never fails the job (the caller logs a failed write and goes on).
 */
import { z } from 'zod';
import { TableStore } from '../storage/tableStore';

/** How the store reaches IntegrationTables: whatever the storage kit's TableStore takes (a connection string, or an identity). */
type Access = ConstructorParameters<typeof TableStore>[0];

export const JOB_RUN_TABLE = 'integrationJobRuns';

export const jobRunSchema = z.object({
  Job: z.string().min(1),
  Slot: z.enum(['last', 'lastWithWork']),
  RunId: z.string(),
  StartedAt: z.string(),
  DurationMs: z.number().int().nonnegative(),
  /** One line saying what the run did. */
  Summary: z.string(),
  /** The run's counters as JSON (numbers by name). */
  Counts: z.string(),
});
export type JobRun = z.infer<typeof jobRunSchema>;

export interface JobRunView {
  job: string;
  runId: string;
  startedAt: string;
  durationMs: number;
  summary: string;
  counts: Record<string, number>;
}

const countsSchema = z.record(z.string(), z.number());

function viewOf(row: JobRun): JobRunView {
  let counts: Record<string, number> = {};
  try {
    const parsed = countsSchema.safeParse(JSON.parse(row.Counts));
    if (parsed.success) counts = parsed.data;
  } catch {
    // a row written by hand: no counts shown
  }
  return { job: row.Job, runId: row.RunId, startedAt: row.StartedAt, durationMs: row.DurationMs, summary: row.Summary, counts };
}

export class JobRuns {
  private readonly store: TableStore<JobRun>;

  constructor(access: Access) {
    this.store = new TableStore(access, JOB_RUN_TABLE, jobRunSchema, (r) => ({ partitionKey: r.Job, rowKey: r.Slot }), { partitionKey: 'Job', rowKey: 'Slot' });
  }

  /** Record a run: always the `last` row, and the `lastWithWork` row when it found work. */
  async record(run: { job: string; runId: string; startedAt: string; durationMs: number; summary: string; counts: Record<string, number>; foundWork: boolean }): Promise<void> {
    const row = (slot: JobRun['Slot']): JobRun => ({
      Job: run.job,
      Slot: slot,
      RunId: run.runId,
      StartedAt: run.startedAt,
      DurationMs: Math.max(0, Math.round(run.durationMs)),
      Summary: run.summary.slice(0, 2_000),
      Counts: JSON.stringify(run.counts),
    });
    await this.store.upsert(row('last'));
    if (run.foundWork) await this.store.upsert(row('lastWithWork'));
  }

  /** The last run and the last run with work of a job (either absent when it never ran). */
  async lastRuns(job: string): Promise<{ last?: JobRunView; lastWithWork?: JobRunView }> {
    const [last, lastWithWork] = await Promise.all([this.store.get(job, 'last'), this.store.get(job, 'lastWithWork')]);
    return { ...(last ? { last: viewOf(last) } : {}), ...(lastWithWork ? { lastWithWork: viewOf(lastWithWork) } : {}) };
  }
}
