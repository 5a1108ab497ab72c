/**
 * Queue definitions: defaults, normalisation of partial inputs, and loading of the official
 * Service Bus emulator `Config.json` format (validated with zod, ISO-8601 durations).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from '../paths';

export interface QueueDefinition {
  name: string;
  lockDurationMs: number;
  maxDeliveryCount: number;
  defaultMessageTimeToLiveMs: number;
  deadLetteringOnMessageExpiration: boolean;
  requiresDuplicateDetection: boolean;
  duplicateDetectionHistoryTimeWindowMs: number;
}

export type QueueInput = { name: string } & Partial<Omit<QueueDefinition, 'name'>>;

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

export const QUEUE_DEFAULTS: Omit<QueueDefinition, 'name'> = {
  lockDurationMs: MINUTE,
  maxDeliveryCount: 10,
  defaultMessageTimeToLiveMs: 14 * DAY,
  deadLetteringOnMessageExpiration: false,
  requiresDuplicateDetection: false,
  duplicateDetectionHistoryTimeWindowMs: 10 * MINUTE,
};

/** Fills in defaults and checks the values a broker cannot work with. */
export function normalizeQueue(input: QueueInput): QueueDefinition {
  const def: QueueDefinition = { ...QUEUE_DEFAULTS, ...stripUndefined(input), name: input.name };
  if (!/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/.test(def.name) || def.name.includes('$')) {
    throw new Error(`Queue name "${def.name}" is not a valid Service Bus entity name`);
  }
  positive(def, 'lockDurationMs');
  positive(def, 'defaultMessageTimeToLiveMs');
  positive(def, 'duplicateDetectionHistoryTimeWindowMs');
  if (!Number.isInteger(def.maxDeliveryCount) || def.maxDeliveryCount < 1) {
    throw new Error(`Queue "${def.name}": maxDeliveryCount must be an integer >= 1 (got ${def.maxDeliveryCount})`);
  }
  return def;
}

function positive(def: QueueDefinition, key: 'lockDurationMs' | 'defaultMessageTimeToLiveMs' | 'duplicateDetectionHistoryTimeWindowMs'): void {
  const value = def[key];
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`Queue "${def.name}": ${key} must be a positive number of milliseconds (got ${value})`);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * ISO-8601 duration (`PT1M`, `PT20S`, `P14D`, `P1DT2H`, `PT0.5S`, `P2W`) to milliseconds.
 * Years and months are refused: their length is not fixed.
 */
export function parseIsoDuration(text: string): number | undefined {
  const m = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!m || text.trim() === 'P' || /T$/.test(text.trim())) return undefined;
  const [, w, d, h, min, s] = m;
  const ms = (Number(w ?? 0) * 7 * DAY) + Number(d ?? 0) * DAY + Number(h ?? 0) * 60 * MINUTE + Number(min ?? 0) * MINUTE + Number(s ?? 0) * 1000;
  return Math.round(ms);
}

const isoDuration = z.string().transform((text, ctx) => {
  const ms = parseIsoDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a positive ISO-8601 duration such as PT1M, PT30S or P14D` });
    return z.NEVER;
  }
  return ms;
});

const emptyForward = z
  .string()
  .refine((v) => v === '', { message: 'auto-forwarding is not supported by the local broker; leave it empty' })
  .optional();

const queueProperties = z.object({
  DeadLetteringOnMessageExpiration: z.boolean().optional(),
  DefaultMessageTimeToLive: isoDuration.optional(),
  DuplicateDetectionHistoryTimeWindow: isoDuration.optional(),
  ForwardDeadLetteredMessagesTo: emptyForward,
  ForwardTo: emptyForward,
  LockDuration: isoDuration.optional(),
  MaxDeliveryCount: z.number().int().min(1).optional(),
  RequiresDuplicateDetection: z.boolean().optional(),
  RequiresSession: z
    .boolean()
    .refine((v) => v === false, { message: 'sessions are not supported by the local broker; set it to false' })
    .optional(),
});

const emulatorConfig = z.object({
  UserConfig: z.object({
    Namespaces: z
      .array(
        z.object({
          Name: z.string().min(1),
          Queues: z.array(z.object({ Name: z.string().min(1), Properties: queueProperties.optional() })).default([]),
          Topics: z
            .array(z.unknown())
            .max(0, { message: 'topics are not supported by the local broker; leave the list empty' })
            .optional(),
        }),
      )
      .min(1),
    Logging: z.unknown().optional(),
  }),
});

/** Reads and validates an official-emulator `Config.json`; errors name the offending field. */
export function loadEmulatorConfig(filePath: string): QueueDefinition[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(filePath, 'utf8'));
  } catch (err) {
    throw new Error(`Cannot read Service Bus config ${filePath}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = emulatorConfig.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? formatPath(issue.path) : '(root)';
    throw new Error(`Invalid Service Bus config ${filePath}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const queues: QueueDefinition[] = [];
  const seen = new Set<string>();
  parsed.data.UserConfig.Namespaces.forEach((ns, n) => {
    ns.Queues.forEach((q, i) => {
      const key = q.Name.toLowerCase();
      if (seen.has(key)) {
        throw new Error(`Invalid Service Bus config ${filePath}: UserConfig.Namespaces[${n}].Queues[${i}].Name: queue "${q.Name}" is declared twice`);
      }
      seen.add(key);
      const p = q.Properties ?? {};
      try {
        queues.push(
          normalizeQueue({
            name: q.Name,
            lockDurationMs: p.LockDuration,
            maxDeliveryCount: p.MaxDeliveryCount,
            defaultMessageTimeToLiveMs: p.DefaultMessageTimeToLive,
            deadLetteringOnMessageExpiration: p.DeadLetteringOnMessageExpiration,
            requiresDuplicateDetection: p.RequiresDuplicateDetection,
            duplicateDetectionHistoryTimeWindowMs: p.DuplicateDetectionHistoryTimeWindow,
          }),
        );
      } catch (err) {
        throw new Error(`Invalid Service Bus config ${filePath}: UserConfig.Namespaces[${n}].Queues[${i}]: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  });
  return queues;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

/**
 * The config shipped next to this module. tsc does not copy the JSON into the tools' build
 * (dist-tools/tools/servicebus), so from there it is read in the source tree.
 */
export function defaultConfigFile(): string {
  const candidates = [join(__dirname, 'config.json'), join(REPO_ROOT, 'tools', 'servicebus', 'config.json')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

/** Config-file queues, then the explicit ones (same name, case-insensitive, overrides field by field). */
export function mergeQueues(fromFile: QueueDefinition[], extra: QueueInput[] = []): QueueDefinition[] {
  const byName = new Map<string, QueueDefinition>();
  for (const q of fromFile) byName.set(q.name.toLowerCase(), q);
  for (const q of extra) {
    const base = byName.get(q.name.toLowerCase());
    byName.set(q.name.toLowerCase(), normalizeQueue({ ...base, ...stripUndefined(q), name: q.name }));
  }
  return [...byName.values()];
}
