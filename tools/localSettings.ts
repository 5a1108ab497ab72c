/**
 * Reads local.settings.json (or, when absent, local.settings.sample.json) the way Core Tools
 * does: its Values become app settings unless the environment already sets them. Ports for the
 * local services come from its LocalPorts/Host sections, overridable by environment variables.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const fileSchema = z.object({
  IsEncrypted: z.boolean().optional(),
  Values: z.record(z.string(), z.string()).default({}),
  Host: z.object({ LocalHttpPort: z.number().int().positive().optional() }).passthrough().optional(),
  /** Function keys the local host checks (name -> value), as Azure's host keys; {} turns checking off. */
  LocalFunctionKeys: z.record(z.string(), z.string()).optional(),
  LocalPorts: z
    .object({
      AzuriteBlobPort: z.number().int().positive().optional(),
      AzuriteQueuePort: z.number().int().positive().optional(),
      AzuriteTablePort: z.number().int().positive().optional(),
      ServiceBusPort: z.number().int().positive().optional(),
    })
    .optional(),
});

export interface LocalPorts {
  http: number;
  azuriteBlob: number;
  azuriteQueue: number;
  azuriteTable: number;
  serviceBus: number;
}

export interface LocalSettings {
  file: string;
  values: Record<string, string>;
  ports: LocalPorts;
  /** The function keys the local host checks (empty: none checked). */
  functionKeys: Record<string, string>;
}

/** The documented local key: what `LOCAL_FUNCTION_KEY=local-dev-function-key npm start` turns on, and what the demo sends to a local host (docs: README, "Function keys"). */
export const DEFAULT_LOCAL_FUNCTION_KEY = 'local-dev-function-key';

/**
 * The function keys: local.settings.json's LocalFunctionKeys, or LOCAL_FUNCTION_KEY from the
 * environment as the `default` key (an empty LOCAL_FUNCTION_KEY turns checking off). None by
 * default: like Core Tools, the local host then checks no keys.
 */
function functionKeysOf(fromFile: Record<string, string> | undefined): Record<string, string> {
  const fromEnv = process.env.LOCAL_FUNCTION_KEY;
  if (fromEnv !== undefined) return fromEnv.trim() === '' ? {} : { default: fromEnv.trim() };
  return Object.fromEntries(Object.entries(fromFile ?? {}).filter(([, v]) => v.trim() !== ''));
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`Configuration error: ${name} must be a port number (1-65535), got "${raw}"`);
  return n;
}

export function readLocalSettings(root: string): LocalSettings {
  const own = path.join(root, 'local.settings.json');
  const file = existsSync(own) ? own : path.join(root, 'local.settings.sample.json');
  let parsed: z.infer<typeof fileSchema>;
  try {
    parsed = fileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    const detail = error instanceof z.ZodError ? error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : error instanceof Error ? error.message : String(error);
    throw new Error(`Configuration error: ${path.basename(file)} is not valid (${detail})`);
  }
  const values: Record<string, string> = { ...parsed.Values };
  for (const key of Object.keys(values)) {
    const fromEnv = process.env[key];
    if (fromEnv !== undefined) values[key] = fromEnv;
  }
  // Settings given only in the environment count too (e.g. AzureWebJobs.<name>.Disabled).
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && (key.startsWith('AzureWebJobs') || key in values)) values[key] = value;
  }
  const lp = parsed.LocalPorts ?? {};
  return {
    file,
    values,
    functionKeys: functionKeysOf(parsed.LocalFunctionKeys),
    ports: {
      http: portFromEnv('FUNCTIONS_HTTP_PORT', parsed.Host?.LocalHttpPort ?? 7071),
      azuriteBlob: portFromEnv('AZURITE_BLOB_PORT', lp.AzuriteBlobPort ?? 10000),
      azuriteQueue: portFromEnv('AZURITE_QUEUE_PORT', lp.AzuriteQueuePort ?? 10001),
      azuriteTable: portFromEnv('AZURITE_TABLE_PORT', lp.AzuriteTablePort ?? 10002),
      serviceBus: portFromEnv('SERVICEBUS_PORT', lp.ServiceBusPort ?? 5672),
    },
  };
}

/** Point development connection strings at the ports actually used. */
export function resolveLocalConnections(values: Record<string, string>, storageConnection: string, serviceBusPort: number): Record<string, string> {
  const out = { ...values };
  for (const key of ['AzureWebJobsStorage', 'DataverseTables', 'FinanceTables', 'IntegrationTables']) {
    if (/^\s*UseDevelopmentStorage=true;?\s*$/i.test(out[key] ?? '')) out[key] = storageConnection;
  }
  const sb = out.ServiceBusConnection;
  if (sb && /UseDevelopmentEmulator=true/i.test(sb)) {
    out.ServiceBusConnection = sb.replace(/Endpoint=sb:\/\/(127\.0\.0\.1|localhost)(:\d+)?/i, `Endpoint=sb://127.0.0.1:${serviceBusPort}`);
  }
  return out;
}
