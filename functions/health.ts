import type { CompositionRoot } from '../shared/compositionRoot';
import { httpFunction, json } from '../shared/triggers/http';

/** GET api/health: storage and broker reachability, and the version. 503 when something is down. */
export function registerHealth(root: CompositionRoot): void {
  httpFunction('health', {
    route: 'health',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: async () => {
      const report = await root.operations.health();
      return json(report.status === 'Healthy' ? 200 : 503, report);
    },
  });
}
