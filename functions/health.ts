import type { CompositionRoot } from '../shared/compositionRoot';
import { summaryOf } from '../shared/operations/health';
import { httpFunction, json } from '../shared/triggers/http';

/**
 * GET api/health (anonymous): `{ "status": "Healthy" }` or 503 `{ "status": "Unhealthy" }`, nothing
 * about the parts, for load balancers and uptime probes.
 * GET api/health/details (function key): each probe with its time and auth, every connection's
 * kind of auth and account, endpoint or namespace (never a key), and the version. 503 when
 * something is down.
 */
export function registerHealth(root: CompositionRoot): void {
  httpFunction('health', {
    route: 'health',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: async () => {
      const report = await root.operations.health();
      return json(report.status === 'Healthy' ? 200 : 503, summaryOf(report));
    },
  });
  httpFunction('healthDetails', {
    route: 'health/details',
    methods: ['GET'],
    authLevel: 'function',
    handler: async () => {
      const report = await root.operations.health();
      return json(report.status === 'Healthy' ? 200 : 503, report);
    },
  });
}
