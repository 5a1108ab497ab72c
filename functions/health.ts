import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';

/** GET api/health: storage and broker reachability, and the version. 503 when something is down. */
export function registerHealth(container: Container): void {
  app.http('health', {
    route: 'health',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: async () => {
      const report = await container.health();
      return { status: report.status === 'Healthy' ? 200 : 503, jsonBody: report };
    },
  });
}
