import { app } from '@azure/functions';
import type { Container } from '../shared/compositionRoot';
import { guidParam, json, route } from '../shared/triggers/http';
import { traceInvoice } from '../shared/operations/trace';

export const GET_INVOICE_TRACE = 'getInvoiceTrace';

/** GET api/invoices/{invoiceId}/trace: the invoice's journey across both sides and its reconciliation. */
export function registerInvoiceTrace(container: Container): void {
  app.http(GET_INVOICE_TRACE, {
    route: 'invoices/{invoiceId}/trace',
    methods: ['GET'],
    authLevel: 'anonymous',
    handler: route(GET_INVOICE_TRACE, async (request) => {
      const invoiceId = guidParam(request, 'invoiceId');
      return json(200, await traceInvoice({ dataverse: container.dataverse, finance: container.finance, errorLog: container.errorLog }, invoiceId));
    }),
  });
}
