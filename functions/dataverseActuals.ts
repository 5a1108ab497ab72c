import type { CompositionRoot } from '../shared/compositionRoot';
import { readyRequestSchema } from '../shared/dataverse/backlog';
import { httpFunction, json, problem, readJson } from '../shared/triggers/http';

export const MARK_ACTUALS_READY = 'markActualsReady';
export const REFUSE_ACTUAL_CHANGE = 'refuseActualChange';

/** POST api/dataverse/actuals/ready: mark unbilled actuals and milestones ready to invoice, or not ready (domain step 4). */
export function registerDataverseActuals(root: CompositionRoot): void {
  httpFunction(MARK_ACTUALS_READY, {
    route: 'dataverse/actuals/ready',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const body = await readJson(request, readyRequestSchema);
      const result = await root.dataverse.markReady(body);
      const changed = result.actuals.filter((a) => a.changed).length + result.milestones.filter((m) => m.changed).length;
      context.log(`[${MARK_ACTUALS_READY}] invocation=${context.invocationId} ready=${body.ready}: ${changed} record(s) changed`);
      return json(200, result);
    },
  });

  httpFunction(REFUSE_ACTUAL_CHANGE, {
    route: 'dataverse/actuals/{actualId}',
    methods: ['PUT', 'PATCH', 'DELETE'],
    authLevel: 'function',
    handler: async (request) =>
      problem(
        405,
        `${request.method} is not allowed on an actual: actuals are immutable money facts. Mark unbilled actuals ready or not ready with POST /api/dataverse/actuals/ready; correct an amount on the proforma invoice (PATCH its detail) or with a corrective invoice.`,
        {},
        { Allow: '' },
      ),
  });
}
