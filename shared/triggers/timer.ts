/**
 * Timer-triggered functions: registration, one span per run (in the trace context the host hands
 * over; the invoices and proposals its storage calls touched become its attributes), and one log
 * line per run carrying the function name and invocation id.
 */
import { app } from '@azure/functions';
import { contextOfTraceParent, inSpan, SpanKind } from '../telemetry/tracing';

export function timerFunction(name: string, options: { schedule: string; handler: (log: (line: string) => void) => Promise<void> }): void {
  app.timer(name, {
    schedule: options.schedule,
    runOnStartup: false,
    handler: (timer, context) =>
      inSpan(
        `${name} run`,
        {
          kind: SpanKind.INTERNAL,
          parent: contextOfTraceParent(context.traceContext?.traceParent),
          invocation: true,
          attributes: { 'faas.name': name, 'faas.trigger': 'timer', 'faas.invocation_id': context.invocationId, ...(timer.isPastDue ? { 'faas.timer.past_due': true } : {}) },
        },
        async () => {
          await options.handler((line) => context.log(`${line} invocation=${context.invocationId}`));
        },
      ),
  });
}
