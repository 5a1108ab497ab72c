/**
 * The benchmark's results file (bench-results/bench-<timestamp>.json, written by tools/bench.ts)
 * as the model and the chart read it back: parsed with zod, never cast, so an older or hand-edited
 * file fails with the field it lacks. Only what the readers use is declared; other fields are
 * dropped. Pure except `newestResultsFile`, which lists a folder.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const count = z.number().nonnegative();

const functionStatsSchema = z.object({
  invocations: count,
  failed: count.optional(),
  busyMs: count,
});

const baselineSchema = z.object({ written: count, seconds: count, extrapolated: z.boolean(), storageCpuSeconds: count.optional() });

const usageSchema = z.object({
  wallSeconds: count,
  hostCpuSeconds: count,
  storageCpuSeconds: count.optional(),
  requests: z.record(z.string(), count).optional(),
});

export const phaseResultSchema = z.object({
  scenario: z.string().min(1),
  phase: z.string().min(1),
  ilds: count,
  seconds: count,
  entities: count,
  tables: z.record(z.string(), count),
  functions: z.record(z.string(), functionStatsSchema).optional(),
  baseline: baselineSchema.optional(),
  peakRssBytes: count.optional(),
  ratio: z.number().nonnegative().nullable().optional(),
  usage: usageSchema.optional(),
  note: z.string().optional(),
});
export type PhaseResult = z.infer<typeof phaseResultSchema>;

export const scalingResultSchema = z.object({
  ilds: count,
  seconds: count,
  entities: count,
  msPerIld: z.number().nonnegative().nullable(),
  ratio: z.number().nonnegative().nullable(),
  peakRssBytes: count.optional(),
  growth: z.number().nonnegative().nullable(),
  note: z.string().optional(),
});
export type ScalingResult = z.infer<typeof scalingResultSchema>;

export const benchResultsSchema = z.object({
  schema: z.literal('project-invoicing-bench/v1'),
  startedAt: z.string().min(1),
  finishedAt: z.string().optional(),
  commit: z.string().optional(),
  machine: z
    .object({ cpus: count.optional(), cpuModel: z.string().optional(), node: z.string().optional(), totalMemoryBytes: count.optional(), hostNodeArguments: z.string().optional() })
    .optional(),
  options: z.object({
    quick: z.boolean(),
    scenarios: z.array(z.string()),
    sizes: z.object({
      aIlds: count,
      bInvoices: count,
      bIldsPerInvoice: count,
      cSizes: z.array(count),
    }),
  }),
  phases: z.array(phaseResultSchema),
  totals: z.array(phaseResultSchema),
  scaling: z.array(scalingResultSchema),
  problems: z.array(z.string()),
});
export type BenchResults = z.infer<typeof benchResultsSchema>;

/** Parse a results document; the error names the first field that does not fit. */
export function parseBenchResults(json: unknown, source = 'the results file'): BenchResults {
  const parsed = benchResultsSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length ? issue.path.join('.') : '(top level)';
  throw new Error(`${source} is not a benchmark result: ${where}: ${issue?.message ?? 'invalid'}`);
}

/** bench-<timestamp>.json, the JSON results only (not the host log). */
const RESULT_FILE = /^bench-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z\.json$/;

/** The newest results file of a folder (names sort by time), or undefined when there is none. */
export function newestResultsFile(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const newest = names.filter((n) => RESULT_FILE.test(n)).sort().at(-1);
  return newest === undefined ? undefined : path.join(dir, newest);
}
