/** The app's lifecycle hooks on the Functions host. */
import { app } from '@azure/functions';

/** Run `close` when the host shuts the app down (clients closed, senders flushed). */
export function onAppTerminate(close: () => Promise<void>): void {
  app.hook.appTerminate(() => close());
}
