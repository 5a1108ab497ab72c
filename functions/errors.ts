import type { CompositionRoot } from '../shared/compositionRoot';
import { ValidationError } from '../shared/core/errors';
import { describeZodError } from '../shared/core/fields';
import { errorsQuerySchema } from '../shared/operations/errorList';
import { httpFunction, json } from '../shared/triggers/http';

export const LIST_INTEGRATION_ERRORS = 'listIntegrationErrors';

/** GET api/errors?source=&status=&top=: the integration error log, newest first. */
export function registerErrors(root: CompositionRoot): void {
  httpFunction(LIST_INTEGRATION_ERRORS, {
    route: 'errors',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: async (request) => {
      const query = Object.fromEntries(request.query.entries());
      delete query.code; // a function key, when the caller sends one
      const parsed = errorsQuerySchema.safeParse(query);
      if (!parsed.success) throw new ValidationError(`The query is not valid: ${describeZodError(parsed.error)}. Use ?source=<function name>&status=Open|Resolved&top=<1..1000>.`);
      return json(200, await root.operations.listErrors(parsed.data));
    },
  });
}
