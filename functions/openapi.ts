import type { CompositionRoot } from '../shared/compositionRoot';
import { httpFunction, httpRegistrations, json } from '../shared/triggers/http';

export const GET_OPENAPI = 'getOpenApiDescription';

/** GET api/openapi.json: the OpenAPI 3.1 description of every HTTP route this app registered. */
export function registerOpenApi(root: CompositionRoot): void {
  httpFunction(GET_OPENAPI, {
    route: 'openapi.json',
    methods: ['GET'],
    authLevel: 'function',
    handler: async () => json(200, root.operations.openApi(httpRegistrations()), { 'cache-control': 'no-cache' }),
  });
}
