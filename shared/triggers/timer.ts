/**
 * Timer-triggered functions: registration, and one log line per run carrying the function name
 * and invocation id.
 */
import { app } from '@azure/functions';

export function timerFunction(name: string, options: { schedule: string; handler: (log: (line: string) => void) => Promise<void> }): void {
  app.timer(name, {
    schedule: options.schedule,
    runOnStartup: false,
    handler: async (_timer, context) => {
      await options.handler((line) => context.log(`${line} invocation=${context.invocationId}`));
    },
  });
}
