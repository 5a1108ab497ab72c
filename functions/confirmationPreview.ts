import type { CompositionRoot } from '../shared/compositionRoot';
import { guidParam, httpFunction, json } from '../shared/triggers/http';

export const PREVIEW_INVOICE_CONFIRMATION = 'previewInvoiceConfirmation';

/**
 * GET api/dataverse/invoices/{invoiceId}/confirmation-preview: what confirming the invoice would
 * create and change (the confirmation's own plan, nothing written), or every refusal it would raise.
 */
export function registerConfirmationPreview(root: CompositionRoot): void {
  httpFunction(PREVIEW_INVOICE_CONFIRMATION, {
    route: 'dataverse/invoices/{invoiceId}/confirmation-preview',
    methods: ['GET'],
    authLevel: 'function',
    handler: async (request) => json(200, await root.dataverse.previewConfirmation(guidParam(request, 'invoiceId'))),
  });
}
