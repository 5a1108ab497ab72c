/** host.json reading, TimeSpan parsing and `%Setting%` resolution for the local host. */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../paths';

export interface HostConfig {
  /** The file read, or undefined when none was found (defaults apply). */
  readonly path: string | undefined;
  /** Route prefix without slashes ('' = none). */
  readonly routePrefix: string;
  readonly serviceBus: {
    readonly maxConcurrentCalls: number;
    readonly maxAutoLockRenewalDurationMs: number;
    readonly maxMessageBatchSize: number;
    readonly maxBatchWaitTimeMs: number;
  };
  readonly functionTimeoutMs: number | undefined;
  readonly raw: Record<string, unknown>;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses a .NET TimeSpan string ("00:05:00", "1.02:03:04", "00:00:30.5") into milliseconds.
 * Returns undefined when the text is not a TimeSpan.
 */
export function parseTimeSpan(text: string): number | undefined {
  const match = /^\s*(-)?(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?\s*$/.exec(text);
  if (!match) return undefined;
  const [, negative, days, hours, minutes, seconds, fraction] = match;
  const ms =
    Number(days ?? 0) * 86_400_000 +
    Number(hours) * 3_600_000 +
    Number(minutes) * 60_000 +
    Number(seconds ?? 0) * 1000 +
    (fraction ? Math.round(Number(`0.${fraction}`) * 1000) : 0);
  return negative ? -ms : ms;
}

function candidatesFor(explicit: string | undefined): string[] {
  if (explicit) return [path.resolve(explicit)];
  // The working folder's host.json, else the repository's.
  return [path.resolve(process.cwd(), 'host.json'), path.join(REPO_ROOT, 'host.json')];
}

function positiveNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

function timeSpanMs(value: unknown): number | undefined {
  return typeof value === 'string' ? parseTimeSpan(value) : undefined;
}

export function readHostConfig(hostJsonPath: string | undefined): HostConfig {
  let found: string | undefined;
  let raw: Record<string, unknown> = {};
  for (const candidate of candidatesFor(hostJsonPath)) {
    if (fs.existsSync(candidate)) {
      found = candidate;
      const text = fs.readFileSync(candidate, 'utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw new Error(`host.json at ${candidate} is not valid JSON: ${(error as Error).message}`);
      }
      if (!isRecord(parsed)) throw new Error(`host.json at ${candidate} must hold a JSON object`);
      raw = parsed;
      break;
    }
  }
  if (hostJsonPath && !found) throw new Error(`host.json not found at ${path.resolve(hostJsonPath)}`);

  const extensions = isRecord(raw.extensions) ? raw.extensions : {};
  const http = isRecord(extensions.http) ? extensions.http : {};
  const sb = isRecord(extensions.serviceBus) ? extensions.serviceBus : {};
  const handlerOptions = isRecord(sb.messageHandlerOptions) ? sb.messageHandlerOptions : {};
  const batchOptions = isRecord(sb.batchOptions) ? sb.batchOptions : {};

  const routePrefix = typeof http.routePrefix === 'string' ? http.routePrefix.replace(/^\/+|\/+$/g, '') : 'api';

  return {
    path: found,
    routePrefix,
    serviceBus: {
      maxConcurrentCalls:
        positiveNumber(sb.maxConcurrentCalls) ?? positiveNumber(handlerOptions.maxConcurrentCalls) ?? 16,
      maxAutoLockRenewalDurationMs:
        timeSpanMs(sb.maxAutoLockRenewalDuration) ?? timeSpanMs(handlerOptions.maxAutoRenewDuration) ?? 5 * 60_000,
      maxMessageBatchSize:
        positiveNumber(sb.maxMessageBatchSize) ?? positiveNumber(batchOptions.maxMessageCount) ?? 1000,
      maxBatchWaitTimeMs: timeSpanMs(sb.maxBatchWaitTime) ?? 1000,
    },
    functionTimeoutMs: timeSpanMs(raw.functionTimeout),
    raw,
  };
}

/**
 * Resolves `%Name%` references against the app settings (process.env), as the host does for
 * binding expressions such as `schedule: '%ImportFromStagingSchedule%'` or queue names.
 */
export function resolveSettingExpression(value: string, what: string): string {
  return value.replace(/%([^%]+)%/g, (_whole, name: string) => {
    const resolved = process.env[name];
    if (resolved === undefined) {
      throw new Error(`${what}: the app setting '${name}' referenced as '%${name}%' is not set`);
    }
    return resolved;
  });
}

/** `AzureWebJobs.<name>.Disabled` = "true" or "1" (case-insensitive) disables a function. */
export function isFunctionDisabled(name: string): boolean {
  const keys = [`AzureWebJobs.${name}.Disabled`, `AzureWebJobs__${name}__Disabled`];
  for (const key of keys) {
    let value = process.env[key];
    if (value === undefined) {
      const lower = key.toLowerCase();
      const match = Object.keys(process.env).find((k) => k.toLowerCase() === lower);
      value = match ? process.env[match] : undefined;
    }
    if (value !== undefined) {
      const normalized = value.trim().toLowerCase();
      return normalized === 'true' || normalized === '1';
    }
  }
  return false;
}
