import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { json, route } from '../shared/triggers/http';
import { dashboard } from '../shared/operations/dashboard';

export const GET_DASHBOARD = 'getDashboard';

/** GET api/dashboard: invoices per status, ready backlog, proposals, staging rows per ImportStatus, open errors. */
export function registerDashboard(container: Container): void {
  app.http(GET_DASHBOARD, {
    route: 'dashboard',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: route(GET_DASHBOARD, async () => json(200, await dashboard({ dataverse: container.dataverse, finance: container.finance, errorLog: container.errorLog }))),
  });
}
