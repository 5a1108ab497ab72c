import type { CompositionRoot } from '../shared/compositionRoot';
import { guidParam, httpFunction, json } from '../shared/triggers/http';

export const GET_INVOICE_TRACE = 'getInvoiceTrace';

/** GET api/invoices/{invoiceId}/trace: the invoice's journey across both sides and its reconciliation. */
export function registerInvoiceTrace(root: CompositionRoot): void {
  httpFunction(GET_INVOICE_TRACE, {
    route: 'invoices/{invoiceId}/trace',
    methods: ['GET'],
    authLevel: 'function',
    handler: async (request) => json(200, await root.operations.trace(guidParam(request, 'invoiceId'))),
  });
}
