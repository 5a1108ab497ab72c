import type { CompositionRoot } from '../shared/compositionRoot';
import { httpFunction, json } from '../shared/triggers/http';

export const GET_DASHBOARD = 'getDashboard';

/** GET api/dashboard: invoices per status, ready backlog, proposals, staging rows per ImportStatus, open errors. */
export function registerDashboard(root: CompositionRoot): void {
  httpFunction(GET_DASHBOARD, {
    route: 'dashboard',
    methods: ['GET'],
    authLevel: 'function',
    handler: async () => json(200, await root.operations.dashboard()),
  });
}
