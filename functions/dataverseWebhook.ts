import type { CompositionRoot } from '../shared/compositionRoot';
import { parseRemoteExecutionContextText, webhookPropertiesOf } from '../shared/dataverse/inbound/remoteExecutionContext';
import { httpFunction, json } from '../shared/triggers/http';

export const RECEIVE_DATAVERSE_WEBHOOK = 'receiveDataverseWebhook';

/**
 * POST api/dataverse/webhook: a RemoteExecutionContext from a Dataverse webhook (the alternative to
 * a service endpoint on the queues; docs/dataverse.md), routed like the queues route it: an actual's
 * Create or Update goes to `actuals`, an invoice confirmation to `invoice-confirmations`, as the
 * project's own message. 202 with what was queued (or why nothing was); 400 for a malformed context,
 * 409 for one that cannot be applied (an unknown currency).
 */
export function registerDataverseWebhook(root: CompositionRoot): void {
  httpFunction(RECEIVE_DATAVERSE_WEBHOOK, {
    route: 'dataverse/webhook',
    methods: ['POST'],
    authLevel: 'function',
    handler: async (request, context) => {
      const body = parseRemoteExecutionContextText(await request.text());
      const properties = webhookPropertiesOf((name) => request.headers.get(name));
      const log = (line: string) => context.log(`[${RECEIVE_DATAVERSE_WEBHOOK}] invocation=${context.invocationId} ${line}`);
      const outcome = await root.dataverseInbound.receiveWebhook(body, { properties, log });
      log(`${outcome.status}: ${outcome.detail}`);
      return json(202, outcome);
    },
  });
}
