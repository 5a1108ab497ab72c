/**
 * The app's metrics, over the OpenTelemetry API (no-ops until a meter provider is registered):
 * - `integration.messages.handled` (count): queue messages by function, queue and outcome
 *   (completed, recorded: a Validation or Business error row and completed, failed: thrown so
 *   Service Bus redelivers, deadLetterRecorded);
 * - `integration.errors` (count): error-log rows written, by source and category (Validation,
 *   Business, Transient, DeadLetter);
 * - `integration.import.rows` (count): staging rows an import run settled, by outcome;
 * - `integration.import.duration` (ms, histogram): how long each import run took.
 * Instruments are made on first use from the meter provider registered then, so a provider
 * registered before the app's first invocation (in Azure, in tests) receives every value.
 */
import { metrics, type Attributes, type Counter, type Histogram, type MeterProvider } from '@opentelemetry/api';
import { TELEMETRY_SCOPE } from './tracing';

interface Instruments {
  provider: MeterProvider;
  messagesHandled: Counter;
  errors: Counter;
  importRows: Counter;
  importDuration: Histogram;
}

let instruments: Instruments | undefined;

function current(): Instruments {
  const provider = metrics.getMeterProvider();
  if (instruments?.provider === provider) return instruments;
  const meter = provider.getMeter(TELEMETRY_SCOPE);
  instruments = {
    provider,
    messagesHandled: meter.createCounter('integration.messages.handled', { description: 'Queue messages handled, by function, queue and outcome' }),
    errors: meter.createCounter('integration.errors', { description: 'Error-log rows written, by source and category' }),
    importRows: meter.createCounter('integration.import.rows', { description: 'Staging rows settled by an import run, by outcome' }),
    importDuration: meter.createHistogram('integration.import.duration', { description: 'Duration of one import from staging run', unit: 'ms' }),
  };
  return instruments;
}

export type MessageOutcome = 'completed' | 'recorded' | 'failed' | 'deadLetterRecorded';

export function countMessage(fn: string, queue: string | undefined, outcome: MessageOutcome): void {
  current().messagesHandled.add(1, { function: fn, queue: queue ?? 'unknown', outcome });
}

export function countError(source: string, category: string): void {
  current().errors.add(1, { source, category });
}

/** The outcome of one import run: rows per outcome and its duration. */
export function recordImportRun(rows: Readonly<Record<string, number>>, durationMs: number, attributes: Attributes = {}): void {
  const i = current();
  for (const [outcome, n] of Object.entries(rows)) if (n > 0) i.importRows.add(n, { outcome, ...attributes });
  i.importDuration.record(durationMs, attributes);
}
