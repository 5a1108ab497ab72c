/**
 * The app's entry (package.json "main"): settings are parsed and clients built once, then every
 * function is registered. The Azure Functions worker, `func start` and the local host in dev/
 * all load this one module, so they run exactly the same registrations.
 */
import { app } from '@azure/functions';
import { getContainer } from '../shared/container';
import { registerHealth } from './health';

const container = getContainer();
app.hook.appTerminate(() => container.close());

registerHealth(container);
