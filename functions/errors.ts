import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { describeZodError } from '../shared/core/fields';
import { ValidationError } from '../shared/core/errors';
import { json, route } from '../shared/triggers/http';
import { errorsQuerySchema, listErrors } from '../shared/operations/dashboard';

export const LIST_INTEGRATION_ERRORS = 'listIntegrationErrors';

/** GET api/errors?source=&status=&top=: the integration error log, newest first. */
export function registerErrors(container: Container): void {
  app.http(LIST_INTEGRATION_ERRORS, {
    route: 'errors',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: route(LIST_INTEGRATION_ERRORS, async (request) => {
      const query = Object.fromEntries(request.query.entries());
      delete query.code; // a function key, when the caller sends one
      const parsed = errorsQuerySchema.safeParse(query);
      if (!parsed.success) throw new ValidationError(`The query is not valid: ${describeZodError(parsed.error)}. Use ?source=<function name>&status=Open|Resolved&top=<1..1000>.`);
      return json(200, await listErrors({ errorLog: container.errorLog }, parsed.data));
    }),
  });
}
