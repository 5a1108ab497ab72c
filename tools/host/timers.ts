/**
 * Timer triggers: NCRONTAB schedules with seconds (6 fields) via croner, or TimeSpan schedules
 * ("00:05:00"), in UTC unless WEBSITE_TIME_ZONE names an IANA zone. One invocation at a time per
 * timer function (a tick that comes while the previous run is still going is skipped, as the
 * host's singleton lock does). The handler receives the host's Timer object, camelCased by the
 * library: `{ schedule: { adjustForDST }, scheduleStatus: { last, next, lastUpdated }, isPastDue }`.
 */
import { Cron } from 'croner';
import { parseTimeSpan, resolveSettingExpression } from './config';
import type { Invoker, LoadedFunction } from './invoke';

/** What the host reports as "last" before the first recorded run (DateTime.MinValue). */
const NEVER = '0001-01-01T00:00:00';

export interface ParsedSchedule {
  readonly expression: string;
  readonly kind: 'cron' | 'timespan';
  readonly intervalMs?: number;
}

export function parseSchedule(fn: LoadedFunction): ParsedSchedule {
  const raw = fn.trigger.schedule;
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new Error(`Function '${fn.name}': timer trigger has no schedule`);
  }
  const expression = resolveSettingExpression(raw, `Function '${fn.name}' schedule`).trim();
  const fields = expression.split(/\s+/);
  if (fields.length === 6) {
    try {
      const probe = new Cron(expression, { paused: true, timezone: timeZone() });
      probe.stop();
    } catch (error) {
      throw new Error(
        `Function '${fn.name}': the schedule expression '${expression}' was not recognized as a valid cron expression: ${(error as Error).message}`,
      );
    }
    return { expression, kind: 'cron' };
  }
  const intervalMs = parseTimeSpan(expression);
  if (intervalMs !== undefined && intervalMs > 0) return { expression, kind: 'timespan', intervalMs };
  throw new Error(
    `Function '${fn.name}': the schedule expression '${expression}' was not recognized as a valid cron expression (6 fields, with seconds) or timespan string`,
  );
}

function timeZone(): string {
  const tz = process.env.WEBSITE_TIME_ZONE;
  return tz && tz.includes('/') ? tz : 'UTC';
}

export class TimerRunner {
  readonly #fn: LoadedFunction;
  readonly #schedule: ParsedSchedule;
  readonly #invoker: Invoker;
  #cron: Cron | undefined;
  #interval: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  #last: string = NEVER;
  #expectedNext: Date | undefined;

  constructor(fn: LoadedFunction, schedule: ParsedSchedule, invoker: Invoker) {
    this.#fn = fn;
    this.#schedule = schedule;
    this.#invoker = invoker;
  }

  /** The schedule after `%Setting%` resolution. */
  get expression(): string {
    return this.#schedule.expression;
  }

  start(): void {
    if (this.#schedule.kind === 'cron') {
      this.#cron = new Cron(this.#schedule.expression, { timezone: timeZone() }, () => {
        this.fire('Timer fired at ' + new Date().toISOString());
      });
      this.#expectedNext = this.#cron.nextRun() ?? undefined;
    } else {
      const interval = this.#schedule.intervalMs ?? 60_000;
      this.#expectedNext = new Date(Date.now() + interval);
      this.#interval = setInterval(() => this.fire('Timer fired at ' + new Date().toISOString()), interval);
    }
  }

  nextOccurrence(): Date | undefined {
    if (this.#cron) return this.#cron.nextRun() ?? undefined;
    if (this.#schedule.intervalMs) return new Date(Date.now() + this.#schedule.intervalMs);
    return undefined;
  }

  /** Runs the function now unless it is already running or the runner is stopped. */
  fire(reason: string, options: { scheduled?: boolean } = { scheduled: true }): Promise<void> | undefined {
    if (this.#stopped) return undefined;
    const now = new Date();
    const scheduledFor = options.scheduled ? this.#expectedNext ?? now : now;
    if (options.scheduled) {
      this.#expectedNext = this.#cron
        ? this.#cron.nextRun() ?? undefined
        : new Date(now.getTime() + (this.#schedule.intervalMs ?? 60_000));
    }
    if (this.#running) {
      this.#invoker.hostLog(
        `Skipping '${this.#fn.name}' occurrence at ${now.toISOString()}: the previous invocation is still running`,
      );
      return undefined;
    }
    this.#running = true;
    const next = this.nextOccurrence();
    const timerInfo = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: {
        Last: this.#last,
        Next: next ? next.toISOString() : NEVER,
        LastUpdated: now.toISOString(),
      },
      IsPastDue: now.getTime() - scheduledFor.getTime() > 5_000,
    };
    this.#last = now.toISOString();
    return this.#invoker
      .invoke(this.#fn, { inputData: [{ name: this.#fn.triggerName, data: { json: JSON.stringify(timerInfo) } }], triggerMetadata: {} }, reason)
      .then(
        () => undefined,
        () => undefined, // logged by the invoker; a timer failure does not stop the schedule
      )
      .finally(() => {
        this.#running = false;
      });
  }

  stop(): void {
    this.#stopped = true;
    this.#cron?.stop();
    this.#cron = undefined;
    if (this.#interval) clearInterval(this.#interval);
    this.#interval = undefined;
  }
}
