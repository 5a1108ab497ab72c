import type { CompositionRoot } from '../shared/compositionRoot';
import { ValidationError } from '../shared/core/errors';
import { describeZodError } from '../shared/core/fields';
import { errorsQuerySchema } from '../shared/operations/errorList';
import { replayManySchema } from '../shared/operations/replay';
import { httpFunction, json, readOptionalJson, type HttpRequest } from '../shared/triggers/http';

export const LIST_INTEGRATION_ERRORS = 'listIntegrationErrors';
export const REPLAY_INTEGRATION_ERROR = 'replayIntegrationError';
export const REPLAY_INTEGRATION_ERRORS = 'replayIntegrationErrors';

/** Who asked: the caller's own header, else the platform's principal name, else "api". */
function requester(request: HttpRequest): string {
  return (request.headers.get('x-requested-by') ?? request.headers.get('x-ms-client-principal-name') ?? 'api').slice(0, 200);
}

/** The integration error log: list it, page by page, and replay what can be replayed. */
export function registerErrors(root: CompositionRoot): void {
  httpFunction(LIST_INTEGRATION_ERRORS, {
    route: 'errors',
    methods: ['GET'],
    authLevel: 'function',
    handler: async (request) => {
      const query = Object.fromEntries(request.query.entries());
      delete query.code; // a function key, when the caller sends one
      const parsed = errorsQuerySchema.safeParse(query);
      if (!parsed.success) {
        throw new ValidationError(
          `The query is not valid: ${describeZodError(parsed.error)}. Use ?source=<function name>&category=Validation|Business|Transient|DeadLetter&status=Open|Resolved|Replayed&since=<ISO time>&top=<1..1000>&continuationToken=<from the last page>.`,
        );
      }
      return json(200, await root.operations.listErrors(parsed.data));
    },
  });

  httpFunction(REPLAY_INTEGRATION_ERROR, {
    route: 'errors/{errorId}/replay',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request) => {
      const errorId = (request.params.errorId ?? '').trim();
      if (!/^[0-9A-Za-z-]{1,100}$/.test(errorId)) throw new ValidationError(`errorId "${errorId.slice(0, 100)}" is not the id of an error row (the Id of GET /api/errors).`);
      return json(202, await root.operations.replayError(errorId, requester(request)));
    },
  });

  httpFunction(REPLAY_INTEGRATION_ERRORS, {
    route: 'errors/replay',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request) => {
      const body = await readOptionalJson(request, replayManySchema);
      return json(202, await root.operations.replayErrors(body, body.by ?? requester(request)));
    },
  });
}
