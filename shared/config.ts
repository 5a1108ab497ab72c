/**
 * App settings (contract.md, "Settings"): one zod schema, parsed once per process.
 * A missing or malformed setting stops start-up with one line naming it.
 */
import { z } from 'zod';
import { Cron } from 'croner';

function connectionString(name: string) {
  return z
    .string({ error: `${name} is missing` })
    .trim()
    .min(1, { message: `${name} is empty` })
    .refine((s) => s === 'UseDevelopmentStorage=true' || /(AccountName|TableEndpoint|BlobEndpoint)=/i.test(s), {
      message: `${name} is not a storage connection string (expected UseDevelopmentStorage=true or AccountName=...;AccountKey=...)`,
    });
}

const ncrontab = z
  .string({ error: 'ImportFromStagingSchedule is missing' })
  .trim()
  .refine((s) => s.split(/\s+/).length === 6, {
    message: 'ImportFromStagingSchedule must be a 6-field NCRONTAB expression such as "0 */1 * * * *"',
  })
  .refine(
    (s) => {
      try {
        new Cron(s, { paused: true });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'ImportFromStagingSchedule is not a valid NCRONTAB expression' },
  );

/** The repair sweep's schedule when the ReconcileSchedule setting is not set (contract.md: every 15 minutes). */
export const DEFAULT_RECONCILE_SCHEDULE = '0 */15 * * * *';

/** An optional 6-field NCRONTAB setting, checked like ImportFromStagingSchedule (undefined when not set). */
function optionalNcrontab(name: string, example: string) {
  return z
    .string()
    .trim()
    .refine((s) => s.split(/\s+/).length === 6, { message: `${name} must be a 6-field NCRONTAB expression such as "${example}"` })
    .refine(
      (s) => {
        try {
          new Cron(s, { paused: true });
          return true;
        } catch {
          return false;
        }
      },
      { message: `${name} is not a valid NCRONTAB expression` },
    )
    .optional();
}

export const settingsSchema = z
  .object({
    AzureWebJobsStorage: connectionString('AzureWebJobsStorage'),
    ServiceBusConnection: z.string().trim().optional(),
    ServiceBusConnection__fullyQualifiedNamespace: z.string().trim().optional(),
    DataverseTables: connectionString('DataverseTables'),
    FinanceTables: connectionString('FinanceTables'),
    IntegrationTables: connectionString('IntegrationTables'),
    ImportFromStagingSchedule: ncrontab,
    /** The repair sweep's schedule (optional; DEFAULT_RECONCILE_SCHEDULE when not set). */
    ReconcileSchedule: optionalNcrontab('ReconcileSchedule', DEFAULT_RECONCILE_SCHEDULE),
    AccountingCurrency: z
      .string({ error: 'AccountingCurrency is missing' })
      .trim()
      .regex(/^[A-Z]{3}$/, { message: 'AccountingCurrency must be an ISO currency code such as USD' }),
    /**
     * Optional: the pauses (ms, comma-separated) before a queue message that failed on a passing
     * fault is retried inside its delivery; "none" for no retry in the delivery. Default
     * 500,1000,2000,4000,8000,15000 (about 30 s a delivery).
     */
    MessageRetryPausesMs: z
      .string()
      .trim()
      .regex(/^(none|\d{1,6}(\s*,\s*\d{1,6}){0,19})$/, { message: 'MessageRetryPausesMs must be up to 20 pauses in milliseconds such as "500,1000,2000", or "none"' })
      .optional(),
  })
  .superRefine((s, ctx) => {
    const cs = s.ServiceBusConnection;
    const fqns = s.ServiceBusConnection__fullyQualifiedNamespace;
    if (!cs && !fqns) {
      ctx.addIssue({
        code: 'custom',
        path: ['ServiceBusConnection'],
        message: 'ServiceBusConnection is missing (or set ServiceBusConnection__fullyQualifiedNamespace)',
      });
    } else if (cs && !/Endpoint=sb:\/\//i.test(cs)) {
      ctx.addIssue({
        code: 'custom',
        path: ['ServiceBusConnection'],
        message: 'ServiceBusConnection is not a Service Bus connection string (expected Endpoint=sb://...)',
      });
    }
  });

export type Settings = z.infer<typeof settingsSchema>;

/** The pauses of MessageRetryPausesMs (undefined: the adapter's default). */
export function retryPausesOf(settings: Settings): number[] | undefined {
  const value = settings.MessageRetryPausesMs;
  if (value === undefined) return undefined;
  return value === 'none' ? [] : value.split(',').map((p) => Number(p.trim()));
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parse the settings; throws ConfigError whose message is one line naming the first bad setting. */
export function parseSettings(env: Record<string, string | undefined>): Settings {
  const result = settingsSchema.safeParse(env);
  if (!result.success) {
    const first = result.error.issues[0];
    const name = first?.path[0] ? String(first.path[0]) : 'settings';
    const message = first?.message ?? 'invalid';
    throw new ConfigError(`Configuration error: ${message.startsWith(name) ? message : `${name}: ${message}`}`);
  }
  return result.data;
}

let cached: Settings | undefined;

/** The process's settings, parsed on first use and then kept. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  cached ??= parseSettings(env);
  return cached;
}
